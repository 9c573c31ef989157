"""Engagement and delivery events exported by email providers, read into seqctl's events.

Pure parsing (no database, no clock): a file's text becomes `ProviderEvent`s, each with
the line it came from, seqctl's event type, the Message-ID of the email it concerns when
the provider names it, and a key that makes importing the same event twice a no-op.

Formats:
- `jsonl`: seqctl's own, one object per line:
  `{"type": "clicked", "message_id": "<…>", "at": "2026-11-23T10:00:00Z", "url": "…"}`
  (or `"email"` instead of `"message_id"`; optional `"id"`, `"detail"`, `"user_agent"`).
- `sendgrid`: the Event Webhook's JSON (an array per POST; arrays or objects, one per
  line or one document). The Message-ID is `smtp-id`; events without one (opens and
  clicks) are matched through the recipient.
- `mailgun`: webhook payloads (`{"signature": …, "event-data": …}`), bare event objects
  or an Events API page (`{"items": […]}`), one document or one per line.
- `ses`: Amazon SES event publishing records, bare or inside SNS notifications.

Provider events seqctl has no use for (delivered, processed, deferred …) are skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from seqctl.errors import InvalidInput
from seqctl.inbound import reasons
from seqctl.states import EVENT_TYPES

FORMATS = ("jsonl", "sendgrid", "mailgun", "ses")


@dataclass(frozen=True)
class ProviderEvent:
    line: int
    type: str  # one of EVENT_TYPES
    at: datetime
    dedupe_key: str
    message_id: str | None = None  # with angle brackets
    email: str | None = None  # the recipient, when the provider names it
    url: str | None = None
    detail: str | None = None  # bounces: hard | soft
    reason: str | None = None  # bounces: SPEC §6's reason
    user_agent: str | None = None
    automated: str | None = None  # the provider's own verdict (e.g. SendGrid machine opens)


@dataclass(frozen=True)
class Parsed:
    events: list[ProviderEvent]
    skipped: int  # provider events that mean nothing to seqctl


def parse_file(text: str, fmt: str, *, name: str) -> Parsed:
    if fmt not in FORMATS:
        raise InvalidInput(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    events: list[ProviderEvent] = []
    skipped = 0
    reader = {"jsonl": _jsonl, "sendgrid": _sendgrid, "mailgun": _mailgun, "ses": _ses}[fmt]
    for line, item in _documents(text, name):
        try:
            found = reader(item, line)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, OSError, RecursionError) as exc:
            raise InvalidInput(f"{name}:{line}: not a {fmt} event ({_why(exc)})") from None
        if found is None:
            skipped += 1
        else:
            events.append(found)
    return Parsed(events, skipped)


def _why(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing {str(exc.args[0])[:40]!r}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, OverflowError | OSError):
        return "a number out of range"
    return (str(exc) or type(exc).__name__)[:200]


def _documents(text: str, name: str) -> Iterator[tuple[int, Any]]:
    """Each event object with its line: a whole-file JSON document (array or object), or
    one document per line; arrays and `items` pages are opened up."""
    stripped = text.strip()
    whole: Any = None
    if stripped.startswith(("[", "{")):
        try:
            whole = json.loads(stripped)
        except (ValueError, RecursionError):  # also a number of 4,300 digits, or deep nesting
            whole = None  # one document per line, then: the error gets its line
    if whole is not None:
        yield from ((1, item) for item in _items(whole))
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{name}:{number}: not JSON ({exc.msg})") from None
        except ValueError:
            raise InvalidInput(f"{name}:{number}: not JSON (a number too long)") from None
        except RecursionError:
            raise InvalidInput(f"{name}:{number}: JSON nested too deeply") from None
        yield from ((number, item) for item in _items(document))


def _items(document: Any, depth: int = 0) -> list[Any]:
    if isinstance(document, list) and depth < 2:  # an array, or an array of pages
        return [item for part in document for item in _items(part, depth + 1)]
    if isinstance(document, dict) and isinstance(document.get("items"), list):
        return list(document["items"])
    return [document]


def _key(fmt: str, own_id: Any, item: Any) -> str:
    """The provider's event id, else a digest of the event itself."""
    if own_id:
        key = f"{fmt}:{own_id}"
        if len(key) <= 255:
            return key
    digest = hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()
    return f"{fmt}:sha256:{digest}"


def _angle(message_id: Any) -> str | None:
    if not isinstance(message_id, str) or not message_id.strip():
        return None
    value = message_id.strip()
    return value if value.startswith("<") else f"<{value}>"


def _instant(value: Any) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        if value.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(value), UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError(f"time {value!r} has no UTC offset")
        return parsed.astimezone(UTC)
    raise ValueError(f"no time in {value!r}")


def _bounce(kind: str, *, status: str | None, text: str, reason: str | None = None) -> dict[str, str | None]:
    """A bounce's hard or soft and its reason, read the way bounces by mail are
    (`inbound.reasons`): hard only when the address is gone."""
    if kind != "bounced":
        return {}
    found = reason or reasons.reason_of(reasons.first_status(status or "") or reasons.first_status(text),
                                        reasons.first_reply_code(text), text)  # fmt: skip
    return {"detail": "hard" if reasons.is_hard(found) else "soft", "reason": found}


def _object(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError("an event is a JSON object")
    return item


# -- seqctl's own JSONL -----------------------------------------------------------------


def _jsonl(item: Any, line: int) -> ProviderEvent:
    item = _object(item)
    kind = item["type"]
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown type {kind!r}; use one of {', '.join(EVENT_TYPES)}")
    message_id, email = _angle(item.get("message_id")), item.get("email")
    if message_id is None and not email:
        raise ValueError("an event names its message_id or the contact's email")
    detail, reason = item.get("detail"), item.get("reason")
    if reason is not None and reason not in reasons.REASONS:
        raise ValueError(f"unknown reason {reason!r}; use one of {', '.join(reasons.REASONS)}")
    if kind == "bounced":
        soft = item.get("soft") or detail == "soft" or (reason is not None and not reasons.is_hard(reason))
        detail = "soft" if soft else "hard"
    return ProviderEvent(
        line=line, type=kind, at=_instant(item["at"]), dedupe_key=_key("jsonl", item.get("id"), item),
        message_id=message_id, email=email, url=item.get("url"), detail=detail, reason=reason,
        user_agent=item.get("user_agent"),
    )  # fmt: skip


# -- SendGrid Event Webhook ---------------------------------------------------------------

_SENDGRID = {
    "open": "opened",
    "click": "clicked",
    "bounce": "bounced",
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
}


def _sendgrid(item: Any, line: int) -> ProviderEvent | None:
    item = _object(item)
    kind = _SENDGRID.get(item["event"])
    if kind is None:
        return None
    # "blocked" is a refusal of this message, not of the address.
    bounce = _bounce(kind, status=str(item.get("status") or ""), text=str(item.get("reason") or ""),
                     reason="blocked" if item.get("type") == "blocked" else None)  # fmt: skip
    return ProviderEvent(
        line=line, type=kind, at=_instant(item["timestamp"]), dedupe_key=_key("sendgrid", item.get("sg_event_id"), item),
        message_id=_angle(item.get("smtp-id")), email=item.get("email"), url=item.get("url"), **bounce,
        user_agent=item.get("useragent"), automated="machine open (SendGrid)" if item.get("sg_machine_open") else None,
    )  # fmt: skip


# -- Mailgun webhooks and Events API ----------------------------------------------------------

_MAILGUN = {
    "opened": "opened",
    "clicked": "clicked",
    "failed": "bounced",
    "unsubscribed": "unsubscribed",
    "complained": "complained",
}


def _mailgun(item: Any, line: int) -> ProviderEvent | None:
    item = _object(item)
    data = _object(item["event-data"]) if "event-data" in item else item
    kind = _MAILGUN.get(data["event"])
    if kind is None or (kind == "bounced" and data.get("severity") == "temporary"):
        return None  # Mailgun retries a temporary failure: a delay, not a bounce
    status = data.get("delivery-status") or {}
    bounce = _bounce(kind, status=str(status.get("enhanced-code") or ""),
                     text=f"{status.get('code') or ''} {status.get('message') or ''} {status.get('description') or ''} "
                          f"{data.get('reason') or ''}")  # fmt: skip
    headers = (data.get("message") or {}).get("headers") or {}
    client = data.get("client-info") or {}
    return ProviderEvent(
        line=line, type=kind, at=_instant(data["timestamp"]), dedupe_key=_key("mailgun", data.get("id"), data),
        message_id=_angle(headers.get("message-id")), email=data.get("recipient"), url=data.get("url"),
        user_agent=client.get("user-agent"), **bounce,
    )  # fmt: skip


# -- Amazon SES event publishing (SNS or Firehose) -------------------------------------------

_SES = {"open": "opened", "click": "clicked", "bounce": "bounced", "complaint": "complained"}


def _ses(item: Any, line: int) -> ProviderEvent | None:
    item = _object(item)
    if item.get("Type") == "Notification" and isinstance(item.get("Message"), str):
        item = _object(json.loads(item["Message"]))  # an SNS envelope
    name = str(item.get("eventType") or item.get("notificationType") or "").lower()
    kind = _SES.get(name)
    if kind is None:
        return None
    mail = _object(item["mail"])
    body = _object(item.get(name) or {})
    headers = {h.get("name", "").lower(): h.get("value") for h in mail.get("headers") or [] if isinstance(h, dict)}
    message_id = headers.get("message-id") or (mail.get("commonHeaders") or {}).get("messageId")
    recipients = body.get("bouncedRecipients") or body.get("complainedRecipients") or []
    first = next((r for r in recipients if isinstance(r, dict)), {})
    subtype = str(body.get("bounceSubType") or "")
    bounce = _bounce(kind, status=str(first.get("status") or ""), text=f"{first.get('diagnosticCode') or ''} {subtype}",
                     reason=reasons.ses_reason(subtype, permanent=body.get("bounceType") == "Permanent"))  # fmt: skip
    email = next((r.get("emailAddress") for r in recipients if isinstance(r, dict)), None)
    destination = mail.get("destination") or []
    own_id = f"{mail.get('messageId')}:{name}:{body.get('timestamp') or body.get('feedbackId') or ''}:{body.get('link') or ''}"
    return ProviderEvent(
        line=line, type=kind, at=_instant(body.get("timestamp") or mail["timestamp"]),
        dedupe_key=_key("ses", own_id, item), message_id=_angle(message_id),
        email=email or (destination[0] if destination else None), url=body.get("link"),
        user_agent=body.get("userAgent"), **bounce,
    )  # fmt: skip
