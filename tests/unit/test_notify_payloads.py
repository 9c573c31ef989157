"""What notifications say (pure): type names, the Standard Webhooks signature as the
`standardwebhooks` package verifies it, Slack text that contact data cannot turn into
mentions or links, the owner's email, and the retry schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from seqctl.notify import payloads
from seqctl.services.notify_delivery import backoff

DATA = {"enrollment_id": 7, "email": "grace@example.org", "sequence": "cold", "step": "intro",
        "text": "<!channel> see <https://evil.example|here> & more"}  # fmt: skip
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_type_names() -> None:
    assert payloads.type_name("replied") == "enrollment.replied"
    assert payloads.type_name("mailbox_paused") == "mailbox.paused"
    assert payloads.type_name("step") == "enrollment.notify"


def test_a_signed_body_verifies_with_the_standard_webhooks_library() -> None:
    at = datetime.now(UTC)
    body = payloads.webhook_body("replied", DATA, datetime(2026, 11, 24, 15, 4, tzinfo=UTC))
    headers = payloads.signed_headers(SECRET, "msg_1", body, at)
    found = Webhook(SECRET).verify(body, headers)
    assert found == {"type": "enrollment.replied", "timestamp": "2026-11-24T15:04:00+00:00", "data": DATA}
    assert headers["webhook-id"] == "msg_1" and headers["webhook-timestamp"] == str(int(at.timestamp()))
    with pytest.raises(ValueError):
        payloads.signed_headers("not base64 at all!", "msg_1", body, at)


def test_slack_text_cannot_mention_or_link() -> None:
    text = json.loads(payloads.slack_body("replied", DATA))["text"]
    assert text.startswith("grace@example.org replied in cold (step intro)\n>")
    assert "<!channel>" not in text and "<https://" not in text and "&lt;!channel&gt;" in text and "&amp; more" in text


def test_the_owners_email_says_who_what_and_how_to_see_the_rest() -> None:
    subject, text = payloads.email_message("replied", DATA)
    assert subject == "[seqctl] grace@example.org replied in cold (step intro)"
    assert DATA["text"] in text and text.rstrip().endswith("seqctl log --id 7")
    subject, _ = payloads.email_message("mailbox_paused", {"mailbox": "ada", "reason": "bounce rate 6%"})
    assert subject == "[seqctl] mailbox ada paused: bounce rate 6%"


def test_retries_back_off_to_an_hour() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2)]
    assert backoff(30) == timedelta(hours=1)
