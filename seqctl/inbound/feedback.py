"""Reports that are not bounces in the MTA sense: spam complaints (RFC 5965 ARF, as the
feedback loops of Yahoo, AOL, Microsoft's JMRP and the ESPs send them) and Amazon SES
notifications delivered by email through SNS.

SNS puts the SES notification's JSON in the body (the "email" protocol) or wraps it in
its own envelope (`email-json`), and appends a link to unsubscribe from the *topic*:
that link is SNS's, and must never be read as the contact asking to unsubscribe.

Pure functions over parsed messages.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses
from typing import Any

from seqctl.inbound import addresses, reasons
from seqctl.inbound.bounces import DELAYED, FAILED, DeliveryReport, Recipient
from seqctl.inbound.mime import MESSAGE_ID, attached_headers, header, own_parts, text_of

COMPLAINT_TYPES = ("abuse", "fraud", "virus", "other", "opt-out", "complaint")


@dataclass(frozen=True)
class Complaint:
    address: str | None  # the recipient who complained
    original_ids: tuple[str, ...]
    feedback_type: str


def complaint(message: Message) -> Complaint | None:
    """An ARF report's complaint; None for mail that is not one (a DMARC failure report,
    `Feedback-Type: auth-failure`, reports on the sender's domain, not a person)."""
    fields: dict[str, str] = {}
    found = False
    for part in own_parts(message):
        if part.get_content_type() == "message/feedback-report":
            found = True
            fields = _fields(part)
    if not found:
        if message.get_content_type() != "multipart/report" or (
            str(message.get_param("report-type", "")).lower() != "feedback-report"
        ):
            return None
    kind = fields.get("feedback-type", "abuse").lower()
    if kind not in COMPLAINT_TYPES:
        return None
    original = attached_headers(message)
    address = addresses.clean(fields.get("original-rcpt-to"))
    if address is None:
        for headers in original:
            tos = [addresses.clean(a) for _, a in getaddresses([header(headers, "To")])]
            address = next((a for a in tos if a), None)
            if address:
                break
    ids = [i for headers in original for i in MESSAGE_ID.findall(header(headers, "Message-ID"))]
    return Complaint(address, tuple(dict.fromkeys(ids)), kind)


def is_dmarc_report(message: Message) -> bool:
    for part in own_parts(message):
        if part.get_content_type() == "message/feedback-report":
            return _fields(part).get("feedback-type", "").lower() not in COMPLAINT_TYPES
    return False


def _fields(part: Message) -> dict[str, str]:
    payload = part.get_payload()
    if isinstance(payload, list):
        text = "\n".join(p.as_string() if isinstance(p, Message) else str(p) for p in payload)
    else:
        text = text_of(part)
    fields: dict[str, str] = {}
    for line in re.sub(r"\r?\n[ \t]+", " ", text).splitlines():
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() not in fields:
            fields[name.strip().lower()] = value.strip()
    return fields


# -- Amazon SES through SNS ----------------------------------------------------------------


@dataclass(frozen=True)
class SesNotice:
    kind: str  # bounce | complaint | delivery | other
    report: DeliveryReport


def ses_notice(message: Message, sender: str | None) -> SesNotice | None:
    """An SES notification (bounce, complaint, delivery) carried by SNS email."""
    if not sender or not re.search(r"(?:^|[@.])(?:sns\.amazonaws\.com|amazonses\.com)$", sender):
        return None
    body = "\n".join(text_of(p) for p in own_parts(message) if p.get_content_maintype() == "text")
    notice = _json_in(body)
    if notice is None:
        return None
    if notice.get("Type") in ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"):
        inner = notice.get("Message")
        notice = _json_in(inner) if isinstance(inner, str) else None
        if notice is None:
            return SesNotice("other", DeliveryReport((), ()))
    kind = str(notice.get("notificationType") or notice.get("eventType") or "").lower()
    mail = notice.get("mail")
    ids = _ses_message_ids(mail if isinstance(mail, dict) else {})
    if kind == "bounce":
        bounce = notice.get("bounce") or {}
        permanent = str(bounce.get("bounceType", "")).lower() == "permanent"
        subtype = str(bounce.get("bounceSubType", ""))
        found = []
        for item in bounce.get("bouncedRecipients") or []:
            status = reasons.first_status(str(item.get("status", ""))) or None
            diagnostic = str(item.get("diagnosticCode") or "")[:500] or None
            words = f"{diagnostic or ''} {subtype}"
            reason = reasons.ses_reason(subtype, permanent=permanent) or reasons.reason_of(
                status, reasons.first_reply_code(diagnostic or ""), words
            )
            action = str(item.get("action") or FAILED).lower()
            found.append(Recipient(addresses.clean(item.get("emailAddress")), action if action == DELAYED else FAILED,
                                   status, diagnostic, reason))  # fmt: skip
        return SesNotice("bounce", DeliveryReport(tuple(found), ids))
    if kind == "complaint":
        complained = (notice.get("complaint") or {}).get("complainedRecipients") or []
        found = [Recipient(addresses.clean(i.get("emailAddress")), "complained", None, None, None) for i in complained]
        return SesNotice("complaint", DeliveryReport(tuple(found), ids))
    if kind in ("delivery", "send", "open", "click", "deliverydelay", "delivery_delay", "rendering failure"):
        return SesNotice("delivery", DeliveryReport((), ids))
    return SesNotice("other", DeliveryReport((), ids))


def _ses_message_ids(mail: dict[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    for item in mail.get("headers") or []:
        if isinstance(item, dict) and str(item.get("name", "")).lower() == "message-id":
            found += MESSAGE_ID.findall(str(item.get("value", "")))
    common = mail.get("commonHeaders") or {}
    found += MESSAGE_ID.findall(str(common.get("messageId", "")))
    return tuple(dict.fromkeys(found))


def _json_in(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
