"""What an inbound message is: a bounce, an auto-reply, an unsubscribe request or a reply.

Pure functions over the message's bytes (no database, no clock beyond the message's own
Date). The order is SPEC §6: a delivery status notification (RFC 3464, or a provider's
own bounce format) is a bounce; else mail marked automatic is an auto-reply; else a
request to unsubscribe in the sender's own words (not the quoted thread) is an
unsubscribe; else it is a reply.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from seqctl.inbound.dates import return_date

BOUNCE, AUTO_REPLY, UNSUBSCRIBE, REPLY = "bounce", "auto_reply", "unsubscribe", "reply"

_MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s]+>")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"\b([45])\d\d\b")
_ADDRESS = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")

# Senders and subjects of bounces that are not RFC 3464 reports (Gmail's, Exchange's,
# Exim's and Postfix's plain-text notices).
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailer_daemon)@", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"^(delivery status notification|undeliverable|undelivered mail|mail delivery (failed|failure)|"
    r"returned mail|failure notice|delivery failure|nondeliverable|unzustellbar|non remis|no se puede entregar)",
    re.I,
)
_TEMPORARY_WORDS = re.compile(
    r"(delay|temporar|will (retry|keep trying)|has not yet been delivered|try again later|mailbox (is )?full|quota)",
    re.I,
)
_RECIPIENT_HINTS = re.compile(
    r"(?:wasn't delivered to|was not delivered to|could not be delivered to|failed to these recipients[^:]*:|"
    r"following (?:address|recipient)\(?e?s?\)? failed:?|delivery to the following recipient[s]? failed[^:]*:?|"
    r"recipient address(?:es)?:|final-recipient:\s*rfc822;)\s*<?(" + _ADDRESS.pattern + ")",
    re.I,
)

# RFC 3834 and what vendors use instead of it.
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-mailer-autoreply")
_AUTO_PRECEDENCE = ("auto_reply", "bulk", "junk", "list")
_AUTO_SUBJECT = re.compile(
    r"(out of (the )?office|automatic reply|auto[- ]?reply|autoresponse|auto:|on vacation|away from (the )?office|"
    r"abwesenheit|automatische antwort|nicht im büro|réponse automatique|absence|absent du bureau|"
    r"respuesta automática|respuesta automatica|fuera de la oficina|ausente)",
    re.I,
)

_UNSUBSCRIBE = re.compile(
    r"\b(unsubscribe|remove me|take me off|opt[- ]?out|stop (emailing|e-mailing|mailing|contacting|sending)|"
    r"do not (email|contact)|don't (email|contact)|no more emails|"
    r"abmelden|austragen|keine (weiteren )?(e-?mails|nachrichten)|"
    r"désinscri|desinscri|désabonn|ne plus recevoir|retirez-moi|"
    r"darme de baja|dar de baja|no me (escriba|envíe|envie)|eliminarme)",
    re.I,
)
# Where the quoted thread starts in a reply.
_QUOTE_START = re.compile(
    r"^(on .{3,200} wrote:|am .{3,200} schrieb .{0,200}:|le .{3,200} a écrit ?:|el .{3,200} escribió:|"
    r"-{2,} ?(original message|ursprüngliche nachricht|message d'origine|mensaje original) ?-{2,}|"
    r"(from|von|de): .+)$",
    re.I | re.M,
)


@dataclass(frozen=True)
class Classified:
    kind: str  # bounce | auto_reply | unsubscribe | reply
    sender: str | None  # From, lower-cased
    recipients: tuple[str, ...]  # To and Cc, lower-cased
    subject: str
    message_id: str | None  # the inbound message's own
    sent_at: datetime | None  # its Date
    refers_to: tuple[str, ...]  # Message-IDs it answers or reports on, nearest first
    bounce: str | None = None  # hard | soft
    bounced: str | None = None  # the address that bounced
    status: str | None = None  # e.g. 5.1.1
    diagnostic: str | None = None
    returns_on: date | None = None  # an auto-reply's return date, when it names one


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def classify(raw: bytes) -> Classified:
    message = parse(raw)
    base = _basics(message)
    bounce = _bounce(message, base)
    if bounce is not None:
        return bounce
    if _is_automatic(message):
        when = base.sent_at.date() if base.sent_at else None
        return _with(base, kind=AUTO_REPLY, returns_on=return_date(own_text(message), when))
    if _UNSUBSCRIBE.search(base.subject) or _UNSUBSCRIBE.search(own_text(message)):
        return _with(base, kind=UNSUBSCRIBE)
    return base


def _with(base: Classified, **changes: object) -> Classified:
    from dataclasses import replace

    return replace(base, **changes)  # type: ignore[arg-type]


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # a malformed header must not stop the sync
        return ""
    return str(value).strip() if value is not None else ""


def _basics(message: Message) -> Classified:
    sender = parseaddr(_header(message, "From"))[1].lower() or None
    recipients = tuple(
        a.lower() for _, a in getaddresses([_header(message, "To"), _header(message, "Cc")]) if "@" in a
    )
    try:
        sent_at = parsedate_to_datetime(_header(message, "Date")) if _header(message, "Date") else None
        if sent_at is not None and sent_at.tzinfo is None:
            sent_at = None
    except (TypeError, ValueError):
        sent_at = None
    own = _MESSAGE_ID.findall(_header(message, "Message-ID"))
    refers = _MESSAGE_ID.findall(_header(message, "In-Reply-To"))
    refers += reversed(_MESSAGE_ID.findall(_header(message, "References")))
    return Classified(
        kind=REPLY, sender=sender, recipients=recipients, subject=_header(message, "Subject"),
        message_id=own[0] if own else None, sent_at=sent_at, refers_to=_unique(refers),
    )  # fmt: skip


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


# -- bounces -----------------------------------------------------------------------------


def _bounce(message: EmailMessage, base: Classified) -> Classified | None:
    content_type = message.get_content_type()
    if (
        content_type == "multipart/report"
        and message.get_param("report-type", "").lower() == "delivery-status"
    ):
        return _dsn(message, base)
    if (
        _BOUNCE_SENDER.match(base.sender or "")
        or _BOUNCE_SUBJECT.match(base.subject)
        or _header(message, "X-MS-Exchange-Message-Is-Ndr")
        or _header(message, "X-Failed-Recipients")
    ):
        return _plain_bounce(message, base)
    return None


def _dsn(message: EmailMessage, base: Classified) -> Classified:
    """RFC 3464: the message/delivery-status part has one block of fields per recipient."""
    fields: dict[str, str] = {}
    original: list[str] = []
    human = ""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            fields = _status_fields(part)
        elif kind in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            original += _original_ids(part)
        elif kind == "text/plain" and not human:
            human = _text_of(part)
    status = fields.get("status", "")
    action = fields.get("action", "").lower()
    match = _STATUS.search(status)
    hard = (match.group(1) == "5") if match else action == "failed"
    recipient = fields.get("final-recipient") or fields.get("original-recipient") or ""
    recipient = recipient.split(";", 1)[-1].strip().strip("<>").lower() or None
    return _with(
        base, kind=BOUNCE, bounce="hard" if hard and action != "delayed" else "soft", bounced=recipient,
        status=match.group(0) if match else None, diagnostic=fields.get("diagnostic-code") or None,
        refers_to=_unique(original + list(base.refers_to)),
    )  # fmt: skip


def _status_fields(part: Message) -> dict[str, str]:
    """The first recipient's fields (per-message fields come first and are kept too)."""
    payload = part.get_payload()
    blocks: list[str] = []
    if isinstance(payload, list):  # the email package parses the blocks as header sets
        blocks = [str(block) for block in payload]
    else:
        blocks = re.split(r"\r?\n\r?\n", str(payload))
    fields: dict[str, str] = {}
    for block in blocks:
        for line in re.sub(r"\r?\n[ \t]+", " ", block).splitlines():
            name, _, value = line.partition(":")
            if value and name.strip().lower() not in fields:
                fields[name.strip().lower()] = value.strip()
        if "final-recipient" in fields:
            break
    return fields


def _original_ids(part: Message) -> list[str]:
    payload = part.get_payload()
    if isinstance(payload, list) and payload:
        inner = payload[0]
        return _MESSAGE_ID.findall(_header(inner, "Message-ID"))
    text = payload if isinstance(payload, str) else ""
    found = re.search(r"^message-id:\s*(<[^>]+>)", text, re.I | re.M)
    return [found.group(1)] if found else []


def _plain_bounce(message: EmailMessage, base: Classified) -> Classified:
    """A provider's notice in prose: find the failed address, the status and the original."""
    text = "\n".join(_text_of(part) for part in message.walk() if part.get_content_maintype() == "text")
    attached = [i for part in message.walk() if part.get_content_type() in (
        "message/rfc822", "text/rfc822-headers") for i in _original_ids(part)]  # fmt: skip
    quoted = re.findall(r"^\s*message-id:\s*(<[^>]+>)", text, re.I | re.M)
    recipient = _header(message, "X-Failed-Recipients").split(",")[0].strip().lower() or None
    if recipient is None and (hint := _RECIPIENT_HINTS.search(text)):
        recipient = hint.group(1).lower()
    status = _STATUS.search(text)
    code = _SMTP_CODE.search(text)
    if status:
        hard = status.group(1) == "5"
    elif code:
        hard = code.group(1) == "5"
    else:
        hard = not _TEMPORARY_WORDS.search(text + " " + base.subject)
    return _with(
        base, kind=BOUNCE, bounce="hard" if hard else "soft", bounced=recipient,
        status=status.group(0) if status else None, refers_to=_unique(attached + quoted + list(base.refers_to)),
    )  # fmt: skip


# -- auto-replies and the sender's own words -----------------------------------------------


def _is_automatic(message: Message) -> bool:
    auto = _header(message, "Auto-Submitted").lower()
    if auto and auto != "no":
        return True
    if any(_header(message, name) for name in _AUTO_HEADERS):
        return True
    if _header(message, "X-Auto-Response-Suppress") and _AUTO_SUBJECT.search(_header(message, "Subject")):
        return True
    precedence = (_header(message, "Precedence") or _header(message, "X-Precedence")).lower()
    if precedence in _AUTO_PRECEDENCE:
        return True
    return bool(_AUTO_SUBJECT.match(_header(message, "Subject")))


def _text_of(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, ValueError, AssertionError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        content = re.sub(r"(?is)<(script|style).*?</\1>", " ", content)
        content = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", content)
        content = re.sub(r"<[^>]+>", " ", content)
    return content


def own_text(message: EmailMessage) -> str:
    """The sender's own words: the plain-text body (else the HTML's text) up to the quoted
    thread, without `>` lines."""
    body = message.get_body(preferencelist=("plain", "html"))
    text = _text_of(body) if body is not None else ""
    start = _QUOTE_START.search(text)
    if start:
        text = text[: start.start()]
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


def resume_after(returns_on: date | None, received: date, default_days: int) -> date:
    """The day an out-of-office contact can be mailed again."""
    if returns_on is None or returns_on <= received:
        return received + timedelta(days=default_days)
    return returns_on
