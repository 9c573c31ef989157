"""Inbound mail classification and out-of-office return dates, from fixture messages."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from seqctl.inbound.classify import AUTO_REPLY, BOUNCE, REPLY, UNSUBSCRIBE, classify
from seqctl.inbound.dates import return_date

MAIL = Path(__file__).resolve().parent.parent / "fixtures" / "mail"
ORIGINAL = "<20261123100000.abc123@example.com>"
CONTACT = "grace@example.org"


def fixture(name: str, original: str = ORIGINAL, contact: str = CONTACT) -> bytes:
    text = (MAIL / name).read_text(encoding="utf-8")
    return (
        text.replace("{{ORIGINAL}}", original).replace("{{CONTACT}}", contact).replace("\n", "\r\n").encode()
    )


@pytest.mark.parametrize(
    ("name", "kind", "bounce", "returns_on"),
    [
        ("reply.eml", REPLY, None, None),
        ("reply_quoting_without_headers.eml", REPLY, None, None),  # "unsubscribe" only in the quote
        ("out_of_office_en.eml", AUTO_REPLY, None, date(2026, 12, 5)),  # until Fri 4th: back the 5th
        ("out_of_office_de.eml", AUTO_REPLY, None, date(2026, 12, 9)),
        ("dsn_hard.eml", BOUNCE, "hard", None),
        ("dsn_soft.eml", BOUNCE, "soft", None),
        ("gmail_bounce.eml", BOUNCE, "hard", None),
        ("exchange_ndr.eml", BOUNCE, "hard", None),
        ("unsubscribe.eml", UNSUBSCRIBE, None, None),
        ("junk.eml", REPLY, None, None),  # a reply to nothing: matched to no enrollment later
    ],
)
def test_each_fixture_is_classified(
    name: str, kind: str, bounce: str | None, returns_on: date | None
) -> None:
    found = classify(fixture(name))
    assert (found.kind, found.bounce, found.returns_on) == (kind, bounce, returns_on)
    if kind == BOUNCE:
        assert found.bounced == CONTACT
        assert found.refers_to[0] == ORIGINAL
    elif (
        name != "junk.eml" and name != "reply_quoting_without_headers.eml" and name != "out_of_office_de.eml"
    ):
        assert ORIGINAL in found.refers_to
        assert found.sender == CONTACT


def test_bounce_status_and_diagnostic() -> None:
    hard = classify(fixture("dsn_hard.eml"))
    assert hard.status == "5.1.1" and "User unknown" in (hard.diagnostic or "")
    assert classify(fixture("dsn_soft.eml")).status == "4.2.2"
    assert classify(fixture("exchange_ndr.eml")).status == "5.1.10"


def test_auto_submitted_no_is_a_person() -> None:
    raw = fixture("reply.eml").replace(b"Subject:", b"Auto-Submitted: no\r\nSubject:")
    assert classify(raw).kind == REPLY


def test_a_malformed_message_still_classifies() -> None:
    assert classify(b"this is not an email at all\r\n").kind == REPLY
    assert (
        classify(b"From: <<<\r\nDate: yesterday\r\nSubject: =?bad?=\r\n\r\nunsubscribe").kind == UNSUBSCRIBE
    )


RECEIVED = date(2026, 11, 24)  # a Tuesday


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("I am out of the office until Monday, December 7 with limited access.", date(2026, 12, 8)),
        ("I will be back on 12/07/2026.", date(2026, 12, 7)),  # English: month first
        ("I am back in the office on December 1st.", date(2026, 12, 1)),
        ("Back Friday.", date(2026, 11, 27)),
        ("back on 2026-12-03", date(2026, 12, 3)),
        ("Returning 5 January.", date(2027, 1, 5)),  # no year: the next 5 January
        ("Ich bin bis einschließlich 04.12.2026 nicht im Büro.", date(2026, 12, 5)),
        ("Ab dem 8. Dezember bin ich wieder erreichbar.", date(2026, 12, 8)),
        ("Zurück am 3.12.", date(2026, 12, 3)),
        ("Je suis absent jusqu’au 7 décembre.", date(2026, 12, 8)),
        ("Je serai de retour le 8 décembre 2026.", date(2026, 12, 8)),
        ("Estaré fuera de la oficina hasta el 7 de diciembre.", date(2026, 12, 8)),
        ("Regresaré el 9 de diciembre.", date(2026, 12, 9)),
        ("Thanks for your email, I will answer soon.", None),
        ("I was back on 1 November.", None),  # in the past: no date to wait for
    ],
)
def test_return_dates_in_four_languages(text: str, back: date | None) -> None:
    assert return_date(text, RECEIVED) == back
