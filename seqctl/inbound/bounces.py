"""Delivery status notifications: is this one, which recipients does it concern, and what
happened to each.

RFC 3464 reports carry per-recipient blocks (`Final-Recipient`, `Action`, `Status`,
`Diagnostic-Code`); the prose notices of Postfix, qmail, Exim, Sendmail, Exchange,
Lotus, GroupWise, Yahoo and the rest name the recipient somewhere in their text, among
the sender's address, the returned message's headers, help-desk addresses and Message-IDs.
Candidates are scored by where they stand (a recipient line of the MTA's own format
beats an address on a line of its own, which beats one mentioned in passing); addresses
that belong to the sender or the mail system never count.

Pure functions over parsed messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses, parseaddr

from seqctl.inbound import addresses, phrases, reasons
from seqctl.inbound.mime import (
    MESSAGE_ID,
    attached_headers,
    header,
    own_parts,
    report_text,
    returned_copy,
    text_of,
)

FAILED, DELAYED = "failed", "delayed"
DELIVERED_ACTIONS = ("delivered", "relayed", "expanded")


@dataclass(frozen=True)
class Recipient:
    """What a report says of one recipient."""

    address: str | None
    action: str  # failed | delayed | delivered | relayed | expanded
    status: str | None  # its enhanced status code, e.g. 5.1.1
    diagnostic: str | None
    reason: str | None  # SPEC §6 vocabulary, for failed and delayed


@dataclass(frozen=True)
class DeliveryReport:
    recipients: tuple[Recipient, ...]
    original_ids: tuple[str, ...]  # Message-IDs of the returned message


# An MDN (RFC 8098) by which a delivery agent says it threw the message away (Dovecot's
# quota or sieve rejections): a bounce in all but format.
_FAILED_DISPOSITION = re.compile(r"\b(?:deleted|denied|failed|rejected|error)\b", re.I)
_LOOKS_LIKE_DSN = re.compile(r"^(?:final|original)-recipient:.*\n(?:.*\n){0,6}?(?:action|status):", re.I | re.M)
_REPLY_PREFIX = re.compile(r"^\s*(?:re|fwd?|aw|wg|tr|sv|vs|rv|r)\s*:", re.I)
_QUOTED_THREAD = re.compile(r"^on .{3,200} wrote:$|^-{3,} ?forwarded message", re.I | re.M)

# Where a line names its recipient in an MTA's own format: the strongest evidence.
_RECIPIENT_LINE = re.compile(
    r"^\s*(?:<(?P<angle>[^<>\s]+)>(?:\s*\(expanded from[^)]*\))?\s*:"  # Postfix, qmail: "<addr>: …"
    r"|(?:final-recipient|original-recipient|x-failed-recipients?|x-actual-recipient|recipient address|intended recipient|"
    r"original address|failed recipient|recipient|rcpt to|address)\s*:\s*(?:rfc822\s*;)?\s*<?(?P<named>[^<>\s,;]+))",
    re.I,
)
_RCPT = re.compile(r"rcpt to:?\s*<?(?P<address>[^<>\s]+@[^<>\s]+)>?", re.I)
_MAIL_FROM = re.compile(r"mail from:?\s*<([^<>\s]+)>", re.I)
_FAILURE_WORDS = re.compile(
    r"unknown|not exist|doesn'?t exist|no such|fail|reject|invalid|undeliver|could not|couldn'?t|unable|error|"
    r"refused|quota|full|disabled|inactive|blocked|denied|not found|did not|wasn'?t|not delivered|"
    r"\b5\d\d\b|\b4\d\d\b|#5\.|#4\.|following (?:address|recipient)|bounced|suspended|expired|delivery to|"
    r"addressed to|message to",
    re.I,
)
# Lines that quote the returned message's headers or the session with the sender's server.
_HEADER_LINE = re.compile(
    r"^\s*(?:>\s*)?(?:from|to|cc|bcc|reply-to|sender|return-path|message-id|in-reply-to|references|received|"
    r"delivered-to|envelope-(?:from|to)|x-[\w-]+|date|subject|sent)\s*:|^\s*from\s|original message was received|"
    r"please (?:contact|reply|send)|contact (?:your|the|us)|\bsent by\b|reply to|mail from",
    re.I,
)
_BARE_LOCAL = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._+-]{0,63})\s*$")
_RECIPIENTS_HEADING = re.compile(r"(?:recipients?|address(?:es)?|\((?:e?s)\)|following)\b.*:\s*$|(?:recipients?|address(?:es)?)\s*$", re.I)


def is_report(message: Message, sender: str | None, subject: str) -> bool:
    """Whether the message reports on the delivery of a message (a DSN or an MTA's notice)."""
    if _has_delivery_status(message):
        return True
    if header(message, "X-Failed-Recipients") or header(message, "X-MS-Exchange-Message-Is-Ndr"):
        return True
    display = parseaddr(header(message, "From"))[0]
    daemon = addresses.is_daemon(sender) or bool(phrases.DAEMON_NAME.search(display)) or (
        bool(sender) and bool(re.match(r"^[\w.+-]*-(?:admin|bounces?|owner)@", sender or ""))
    )
    subject_says = bool(phrases.SUBJECT.search(subject))
    text = report_text(message)[:4000]
    body_says = bool(phrases.BODY.search(text))
    if daemon and (subject_says or body_says or phrases.SUBJECT_FROM_DAEMON.search(subject)):
        return True
    if subject_says and body_says:
        # A person forwarding or discussing a bounce writes above a quoted thread.
        return not (_REPLY_PREFIX.match(subject) and _QUOTED_THREAD.search(text))
    # The mail system returning a message to its sender.
    return daemon and bool(attached_headers(message))


def read_receipt(message: Message) -> str | None:
    """An MDN's disposition (RFC 8098: "displayed", "dispatched" …) when the message is a
    read receipt rather than a delivery agent's rejection; None otherwise."""
    for part in own_parts(message):
        if part.get_content_type() == "message/disposition-notification":
            blocks = _status_blocks(part)
            disposition = next((b["disposition"] for b in blocks if "disposition" in b), "")
            if not _FAILED_DISPOSITION.search(disposition):
                return disposition.rsplit(";", 1)[-1].strip().lower() or "displayed"
    return None


def _has_delivery_status(message: Message) -> bool:
    if message.get_content_type() == "multipart/report" and (
        str(message.get_param("report-type", "")).lower() == "delivery-status"
    ):
        return True
    return any(
        p.get_content_type() == "message/delivery-status"
        or (p.get_content_type() == "message/disposition-notification" and _FAILED_DISPOSITION.search(
            _status_blocks(p)[0].get("disposition", "") if _status_blocks(p) else ""))
        for p in own_parts(message)
    )  # fmt: skip


def read_report(message: Message, sender: str | None, subject: str) -> DeliveryReport:
    """Every recipient the report concerns, with what happened to each."""
    if not _has_delivery_status(message):
        # A report forwarded as an attachment (a gateway wrapping the DSN it received).
        for part in own_parts(message):
            inner = part.get_payload()
            if part.get_content_type() == "message/rfc822" and isinstance(inner, list) and inner:
                if isinstance(inner[0], Message) and _has_delivery_status(inner[0]):
                    return read_report(inner[0], sender, subject)
    excluded = _senders(message)
    text = report_text(message)
    found = [r for r in _dsn_recipients(message, text) if r.address not in excluded]
    if not any(r.address for r in found):
        found = _prose_recipients(message, text, subject, excluded, dsn=found)
    original_ids = _original_ids(message, text)
    return DeliveryReport(tuple(found), original_ids)


# -- RFC 3464 ---------------------------------------------------------------------------


def _dsn_recipients(message: Message, text: str) -> list[Recipient]:
    blocks: list[dict[str, str]] = []
    for part in own_parts(message):
        if part.get_content_type() == "message/delivery-status" or (
            part.get_content_type() == "text/plain" and _LOOKS_LIKE_DSN.search(text_of(part))
        ):  # a status part mislabelled by a broken MIME structure is still read
            blocks += _status_blocks(part)
        elif part.get_content_type() == "message/disposition-notification":
            for block in _status_blocks(part):
                if "disposition" in block:
                    failed = _FAILED_DISPOSITION.search(block["disposition"])
                    blocks.append({**block, "action": FAILED if failed else DELIVERED_ACTIONS[0]})
    recipients = [b for b in blocks if "final-recipient" in b or "original-recipient" in b or "action" in b]
    found = []
    for block in recipients:
        if "final-recipient" not in block and "original-recipient" not in block and "status" not in block:
            continue  # the per-message block
        address = (
            # The address as the sender gave it (ORCPT) is the one seqctl mailed; the final one
            # may be an alias's expansion.
            addresses.clean(block.get("original-recipient"))
            or addresses.clean(block.get("final-recipient"))
            or addresses.clean(block.get("x-actual-recipient"))
        )
        action = _action(block.get("action", ""))
        status = reasons.first_status(block.get("status", ""))
        if not status and (ok := reasons.STATUS.search(block.get("status", ""))) and ok.group(1) == "2":
            status = ok.group(0)
        diagnostic = re.sub(r"^\s*(?:smtp|x-[\w-]+)\s*;\s*", "", block.get("diagnostic-code", ""), flags=re.I)
        if not action:
            action = DELIVERED_ACTIONS[0] if status and status.startswith("2") else (
                DELAYED if status and status.startswith("4") and phrases.DELAY.search(text) else FAILED
            )
        near = " ".join(filter(None, [diagnostic, block.get("status", "")]))
        if not status:
            status = reasons.first_status(diagnostic)
        # With one recipient, the report's prose is about it too.
        context = text[:3000] if len(recipients) <= 2 else ""
        found.append(_recipient(address, action, status, diagnostic or None, near, context))
    return found


def _action(value: str) -> str:
    """RFC 3464's action, from what MTAs write there ("failure", "error", "Delayed")."""
    word = value.strip().lower()
    for prefix, action in (("fail", FAILED), ("error", FAILED), ("bounce", FAILED), ("undeliver", FAILED),
                           ("delay", DELAYED), ("deliver", "delivered"), ("success", "delivered"),
                           ("relay", "relayed"), ("expand", "expanded")):  # fmt: skip
        if word.startswith(prefix):
            return action
    return ""


def _status_blocks(part: Message) -> list[dict[str, str]]:
    payload = part.get_payload()
    if isinstance(payload, list):
        chunks = [block.as_string() if isinstance(block, Message) else str(block) for block in payload]
    else:
        chunks = re.split(r"\r?\n[ \t]*\r?\n", text_of(part))
    blocks = []
    for chunk in chunks:
        fields: dict[str, str] = {}
        for line in re.sub(r"\r?\n[ \t]+", " ", chunk).splitlines():
            name, colon, value = line.partition(":")
            name = name.strip().lower()
            if colon and value.strip() and name not in fields and " " not in name:
                fields[name] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def _recipient(
    address: str | None, action: str, status: str | None, diagnostic: str | None, near: str, context: str = ""
) -> Recipient:
    """`near` is what the report says of this recipient; `context` the rest of its words,
    read for a cause only when `near` names none."""
    reason = None
    if action in (FAILED, DELAYED):
        words = near if reasons.text_reason(near) or not context else f"{near}\n{context}"
        code = reasons.first_reply_code(diagnostic or "") or reasons.first_reply_code(words)
        reason = reasons.reason_of(status, code, words, final=action == FAILED)
    return Recipient(address, action, status, (diagnostic or "")[:500] or None, reason)


# -- prose ------------------------------------------------------------------------------


def _prose_recipients(
    message: Message, text: str, subject: str, excluded: set[str], *, dsn: list[Recipient]
) -> list[Recipient]:
    lines = text.splitlines()
    mail_from = {a for a in (addresses.clean(m) for m in _MAIL_FROM.findall(text)) if a}
    scored: dict[str, tuple[int, int]] = {}  # address → (score, line)
    for number, line in enumerate(lines):
        if _HEADER_LINE.search(line) and not _RCPT.search(line):
            continue
        named = _RECIPIENT_LINE.match(line)
        rcpt = _RCPT.search(line)
        strong = {addresses.clean(named.group("angle") or named.group("named"))} if named else set()
        if rcpt:
            strong.add(addresses.clean(rcpt.group("address")))
        for _, address in addresses.in_text(line):
            if address in excluded or address in mail_from or addresses.is_daemon(address):
                continue
            if address in strong:
                score = 3
            elif _alone(line, address) or _FAILURE_WORDS.search(line):
                score = 2
            else:
                score = 1
            if scored.get(address, (0, 0))[0] < score:
                scored[address] = (score, scored.get(address, (0, number))[1])
    if not scored:
        fallback = _bare_local(lines, header(message, "From")) or _returned_to(message, excluded)
        if fallback:
            scored[fallback] = (1, 0)
    best = max((score for score, _ in scored.values()), default=0)
    chosen = sorted((line, a) for a, (score, line) in scored.items() if score == best)[:50]
    returned_to = _returned_to(message, excluded)
    chosen.sort(key=lambda item: item[1] != returned_to)
    action = _prose_action(text, subject)
    found = []
    for number, address in chosen:
        block = "\n".join(lines[number : number + 6])
        status = reasons.first_status(block) or (reasons.first_status(text) if len(chosen) == 1 else None)
        diagnostic = _diagnostic(lines, number)
        found.append(_recipient(address, action, status, diagnostic, block, text[:3000]))
    if not found:  # a report that names no one we can read: still a report, of no one
        status = dsn[0].status if dsn else reasons.first_status(text)
        found.append(_recipient(None, dsn[0].action if dsn else action, status, None, text[:3000]))
    return found


def _alone(line: str, address: str) -> bool:
    rest = line.lower().replace(address, "", 1)
    return not re.sub(r"[\s<>\"'()\[\]:;,.*>#|-]|\bon\b.*$|\.\.\..*$", "", rest)


def _diagnostic(lines: list[str], number: int) -> str | None:
    """The MTA's words about the recipient on its line: what follows the address, and the
    indented lines under it."""
    block = [re.sub(r"^\s*<[^>]*>:?\s*", "", lines[number]).strip()]
    for line in lines[number + 1 : number + 6]:
        if not line.strip() or addresses.in_text(line):
            break
        block.append(line.strip())
    text = " ".join(part for part in block if part)
    return text[:500] or None


def _prose_action(text: str, subject: str) -> str:
    if (phrases.DELAY.search(subject) or phrases.DELAY.search(text)) and not phrases.FINAL.search(text):
        return DELAYED
    if (phrases.SUCCESS.search(subject) or phrases.SUCCESS.search(text)) and not phrases.BODY.search(text):
        return DELIVERED_ACTIONS[0]
    return FAILED


def _bare_local(lines: list[str], from_header: str) -> str | None:
    """AOL-style: a screen name under "the following recipients", at the reporter's domain."""
    domain = parseaddr(from_header)[1].rpartition("@")[2]
    for number, line in enumerate(lines[:-1]):
        if _RECIPIENTS_HEADING.search(line) and (bare := _BARE_LOCAL.match(lines[number + 1])):
            return addresses.clean(f"{bare.group(1)}@{domain}")
    return None


def _returned_to(message: Message, excluded: set[str]) -> str | None:
    """The returned message's one recipient, when its headers came back with it."""
    for headers in attached_headers(message):
        found = [addresses.clean(a) for _, a in getaddresses([header(headers, "To")])]
        valid = [a for a in found if a and a not in excluded]
        if len(valid) == 1 and len(found) == 1:
            return valid[0]
    inline = re.search(r"^\s*to:\s*(.+)$", returned_copy(message)[:5000], re.I | re.M) or re.search(
        r"^\s*to:\s*(.+)$", report_text(message), re.I | re.M
    )
    if inline:
        found = [addresses.clean(a) for _, a in getaddresses([inline.group(1)])]
        if len(found) == 1 and found[0] and found[0] not in excluded:
            return found[0]
    return None


def _senders(message: Message) -> set[str]:
    """The addresses of whoever sent the returned message (the report goes back to them):
    never the recipient that bounced. (A message its sender also addressed to itself
    keeps that address as a recipient.)"""
    names = ["To", "Delivered-To", "Return-Path", "Reply-To", "Sender", "From"]
    found = _addresses([header(message, name) for name in names])
    for headers in attached_headers(message):
        sent_by = _addresses([header(headers, name) for name in ("From", "Sender", "Reply-To", "Return-Path")])
        found |= sent_by - _addresses([header(headers, "To"), header(headers, "Cc")])
    return found


def _addresses(values: list[str]) -> set[str]:
    return {a for a in (addresses.clean(a) for _, a in getaddresses(values)) if a}


def _original_ids(message: Message, text: str) -> tuple[str, ...]:
    found: list[str] = []
    for headers in attached_headers(message):
        found += MESSAGE_ID.findall(header(headers, "Message-ID"))
    found += re.findall(r"^\s*message-id:\s*(<[^>\s]+>)", returned_copy(message), re.I | re.M)
    found += re.findall(r"^\s*message-id:\s*(<[^>\s]+>)", text, re.I | re.M)
    return tuple(dict.fromkeys(found))
