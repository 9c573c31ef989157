"""What a notification says, per target kind. Pure: a notification's event and data in,
bytes and headers out.

- `json`: the Standard Webhooks format — body `{"type", "timestamp", "data"}`, headers
  `webhook-id` (the notification's, the same on every retry), `webhook-timestamp` (this
  attempt's, real time: receivers reject old ones) and `webhook-signature` (`v1,` +
  base64 HMAC-SHA256 over `id.timestamp.body`, by the `standardwebhooks` library).
- `slack`: an incoming-webhook message; contact data cannot turn into mentions or links
  (`<`, `>` and `&` are escaped, as Slack asks).
- `email`: a short plain-text message for the enrollment's owner.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

MAILBOX_EVENTS = {"mailbox_paused": "mailbox.paused"}
STEP_EVENT = "step"
TEXT_LIMIT = 1500  # characters of a reply quoted in a Slack message or an email


def type_name(event: str) -> str:
    """`enrollment.replied`, `mailbox.paused`, `enrollment.notify` (a notify step)."""
    if event in MAILBOX_EVENTS:
        return MAILBOX_EVENTS[event]
    return "enrollment.notify" if event == STEP_EVENT else f"enrollment.{event}"


def webhook_body(event: str, data: dict[str, Any], occurred_at: datetime) -> bytes:
    return json.dumps(
        {"type": type_name(event), "timestamp": occurred_at.isoformat(), "data": data},
        ensure_ascii=False, sort_keys=True, separators=(",", ":"),
    ).encode()  # fmt: skip


def signed_headers(secret: str, webhook_id: str, body: bytes, sent_at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (ValueError for a secret that is not
    `whsec_` + base64: the library would take its stray characters silently, and every
    signature would then fail at the receiver)."""
    encoded = secret.removeprefix("whsec_")
    try:
        if not encoded or not base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True):
            raise ValueError("empty")
        signature = Webhook(secret).sign(webhook_id, sent_at, body)
    except Exception as exc:  # the library raises its own and binascii's errors
        raise ValueError("the secret is not a Standard Webhooks secret (whsec_ + base64)") from exc
    return {
        "content-type": "application/json", "webhook-id": webhook_id,
        "webhook-timestamp": str(int(sent_at.timestamp())), "webhook-signature": signature,
    }  # fmt: skip


def summary(event: str, data: dict[str, Any]) -> str:
    """One line for a person: who, what, where."""
    who, sequence, step = data.get("email", "someone"), data.get("sequence"), data.get("step")
    where = f" in {sequence}" + (f" (step {step})" if step else "") if sequence else ""
    if event == STEP_EVENT:
        return f"{data.get('message', '')}" + (f" — {who}{where}" if who else "")
    if event == "mailbox_paused":
        return f"mailbox {data.get('mailbox')} paused: {data.get('reason')}"
    words = {
        "replied": "replied", "auto_replied": "sent an automatic reply", "opened": "opened an email",
        "clicked": "clicked a link", "bounced": "bounced", "unsubscribed": "unsubscribed",
        "complained": "marked an email as spam", "meeting_booked": "booked a meeting", "enrolled": "was enrolled",
        "completed": "completed the sequence", "exited": "left the sequence", "failed": "failed",
        "task_due": "has a task due", "unknown_send": "may or may not have been sent an email",
    }  # fmt: skip
    line = f"{who} {words.get(event, event)}{where}"
    if event == "exited" and data.get("reason"):
        line += f": {data['reason']}"
    if event in ("failed", "unknown_send") and data.get("error"):
        line += f": {data['error']}"
    if event == "task_due":
        line += f": {data.get('kind', 'task')} for {data.get('owner') or 'nobody'} — {data.get('note', '')}"
    return line


def _slack_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(event: str, data: dict[str, Any]) -> bytes:
    text = _slack_escaped(summary(event, data))
    if data.get("text"):
        quoted = _slack_escaped(str(data["text"])[:TEXT_LIMIT]).replace("\n", "\n>")
        text += f"\n>{quoted}"
    return json.dumps({"text": text}, ensure_ascii=False).encode()


def email_message(event: str, data: dict[str, Any]) -> tuple[str, str]:
    """(subject, plain text) for the owner: who, which sequence and step, the reply's own
    words, and the command that shows the rest."""
    subject = "[seqctl] " + " ".join(summary(event, data).split())[:150]
    lines = [summary(event, data), ""]
    if data.get("text"):
        lines += ["They wrote:", "", str(data["text"])[:TEXT_LIMIT], ""]
    if data.get("enrollment_id"):
        lines.append(f"The whole story: seqctl log --id {data['enrollment_id']}")
    return subject, "\n".join(lines) + "\n"
