"""The MIME builder, checked by parsing its output back with the standard library."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest

from seqctl.delivery.message import Outgoing, build
from tests.conftest import at


def parse(raw: str) -> Any:
    assert "\n" not in raw.replace("\r\n", ""), "every line ends in CRLF"
    assert all(len(line) <= 998 for line in raw.split("\r\n")), "SMTP's line limit"
    # As a receiving server stores it: local line endings.
    return email.message_from_string(raw.replace("\r\n", "\n"), policy=email.policy.default)


def outgoing(**overrides: Any) -> Outgoing:
    values: dict[str, Any] = {
        "sender": "Ada <ada@example.com>", "recipient": "bo@example.com", "recipient_name": "Bo",
        "subject": "Hello", "text": "Hi Bo,\nsee you.\n", "html": None,
        "message_id": "<1@example.com>", "date": at("2026-11-23T15:00:00Z"),
    }  # fmt: skip
    return Outgoing(**{**values, **overrides})


def test_plain_ascii_message_is_7bit_with_every_header() -> None:
    raw = build(outgoing(reply_to="Help <help@example.com>", in_reply_to="<0@example.com>",
                         references=("<a@example.com>", "<0@example.com>")))  # fmt: skip
    parsed = parse(raw)
    assert parsed["Content-Transfer-Encoding"] == "7bit"
    assert parsed.get_content() == "Hi Bo,\nsee you.\n"
    assert (parsed["From"], parsed["To"], parsed["Subject"]) == (
        "Ada <ada@example.com>",
        "Bo <bo@example.com>",
        "Hello",
    )
    assert parsed["Date"].datetime == at("2026-11-23T15:00:00Z")
    assert parsed["Reply-To"] == "Help <help@example.com>" and parsed["In-Reply-To"] == "<0@example.com>"
    assert parsed["References"].split() == ["<a@example.com>", "<0@example.com>"]
    assert parsed["Message-ID"] == "<1@example.com>" and parsed["MIME-Version"] == "1.0"
    assert parsed.defects == []


def test_non_ascii_names_subject_and_bodies_round_trip() -> None:
    long_line = "ü" * 700  # over SMTP's 998 octets once encoded as UTF-8
    raw = build(outgoing(
        sender="Zoë Ådal <zoe@example.com>", recipient_name="Jörg Ünal",
        subject="Grüße aus Köln — " + "é" * 120, text=f"Hallo Jörg 😀\n{long_line}\n.\nbye  ",
        html="<p>Hallo <b>Jörg</b></p>",
    ))  # fmt: skip
    assert raw.isascii()
    parsed = parse(raw)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["From"].addresses[0].display_name == "Zoë Ådal"
    assert parsed["To"].addresses[0].display_name == "Jörg Ünal"
    assert str(parsed["Subject"]) == "Grüße aus Köln — " + "é" * 120
    assert parsed.get_body(("plain",)).get_content() == f"Hallo Jörg 😀\n{long_line}\n.\nbye  \n"
    assert parsed.get_body(("html",)).get_content() == "<p>Hallo <b>Jörg</b></p>\n"
    assert all(part.defects == [] for part in parsed.walk())


def test_a_line_break_in_a_header_value_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        build(outgoing(in_reply_to="<0@example.com>\r\nBcc: x@example.com"))


@pytest.mark.parametrize(
    ("mode", "unsubscribe", "post"),
    [
        (None, "<https://u.example.com/1>, <mailto:ada@example.com?subject=unsubscribe>", "List-Unsubscribe=One-Click"),
        ("one-click", "<https://u.example.com/1>, <mailto:ada@example.com?subject=unsubscribe>",
         "List-Unsubscribe=One-Click"),
        ("mailto", "<mailto:ada@example.com?subject=unsubscribe>", None),
        ("none", None, None),  # out-of-office responders then answer (RFC 5230 §4.6)
    ],
)
def test_list_unsubscribe_follows_the_chosen_mode(mode: str | None, unsubscribe: str | None, post: str | None) -> None:
    parsed = parse(build(outgoing(unsubscribe_url="https://u.example.com/1", list_unsubscribe=mode)))
    assert (parsed["List-Unsubscribe"], parsed["List-Unsubscribe-Post"]) == (unsubscribe, post)
    assert parsed["X-Mailer"] is None  # SpamAssassin's XM_RANDOM scores an unknown short one
