"""Inbound mail classification and out-of-office return dates, from fixture messages."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from seqctl.inbound.classify import BOUNCE, REPLY, UNSUBSCRIBE, classify
from seqctl.inbound.dates import return_date

MAIL = Path(__file__).resolve().parent.parent / "fixtures" / "mail"
ORIGINAL = "<20261123100000.abc123@example.com>"
CONTACT = "grace@example.org"


def fixture(name: str, original: str = ORIGINAL, contact: str = CONTACT) -> bytes:
    text = (MAIL / name).read_text(encoding="utf-8")
    return (
        text.replace("{{ORIGINAL}}", original).replace("{{CONTACT}}", contact).replace("\n", "\r\n").encode()
    )


def _expected() -> list[tuple[str, ...]]:
    rows = []
    for line in (MAIL / "expected.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(tuple(line.split("\t")))
    return rows


def _value(text: str) -> str | None:
    return None if text == "-" else text.replace("{{CONTACT}}", CONTACT)


def test_every_fixture_is_in_the_table() -> None:
    assert {row[0] for row in _expected()} == {path.name for path in MAIL.glob("*.eml")}


@pytest.mark.parametrize(
    ("name", "kind", "bounce", "reason", "address", "returns_on", "refers"), _expected(), ids=lambda v: str(v)
)
def test_each_fixture_is_classified(
    name: str, kind: str, bounce: str, reason: str, address: str, returns_on: str, refers: str
) -> None:
    found = classify(fixture(name))
    assert (found.kind, found.bounce, found.reason, found.address) == (
        kind, _value(bounce), _value(reason), _value(address),
    )  # fmt: skip
    assert found.returns_on == (date.fromisoformat(returns_on) if returns_on != "-" else None)
    assert (ORIGINAL in found.refers_to) == (refers == "yes")
    if kind == BOUNCE:
        assert found.bounced == CONTACT and found.failures[0].address == CONTACT


def test_bounce_status_and_diagnostic() -> None:
    hard = classify(fixture("dsn_hard.eml"))
    assert hard.status == "5.1.1" and "User unknown" in (hard.diagnostic or "")
    assert classify(fixture("dsn_soft.eml")).status == "4.2.2"  # a delay notice keeps its status
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
        ("I am out of the office Friday.", date(2026, 11, 28)),  # Friday away: back the day after
        ("Traveling December 10-14, limited email.", date(2026, 12, 15)),
        ("Ich bin vom 10.-14. Dezember nicht im Büro.", date(2026, 12, 15)),
        ("Estoy fuera del 10 al 14 de diciembre.", date(2026, 12, 15)),
        ("Away from 1 to 4 December.", date(2026, 12, 5)),
        ("Out of office 12/01/2026 - 12/04/2026.", date(2026, 12, 5)),
        ("Back on 2026-12-03.", date(2026, 12, 3)),
        ("Sono fuori ufficio fino al 4 dicembre.", date(2026, 12, 5)),
        ("Rientrerò in ufficio il 9 dicembre.", date(2026, 12, 9)),
        ("Estarei fora do escritório até 4 de dezembro.", date(2026, 12, 5)),
        ("Voltarei no dia 9 de dezembro.", date(2026, 12, 9)),
        ("Ik ben afwezig tot en met 4 december.", date(2026, 12, 5)),
        ("Ik ben weer aanwezig op maandag 7 december.", date(2026, 12, 7)),
        ("Our office hours are 9-17, call us.", None),
        ("Thanks for your email, I will answer soon.", None),
        ("I was back on 1 November.", None),  # in the past: no date to wait for
    ],
)
def test_return_dates(text: str, back: date | None) -> None:
    assert return_date(text, RECEIVED) == back


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("Please unsubscribe me.", UNSUBSCRIBE),
        ("Please opt me out.", UNSUBSCRIBE),
        ("Stop emailing me!", UNSUBSCRIBE),
        ("Bitte abmelden.", UNSUBSCRIBE),
        ("I do not want to unsubscribe, just send less often.", REPLY),
        ("No need to remove me, happy to hear from you.", REPLY),
        ("We can opt out of the renewal later.", REPLY),
    ],
)
def test_an_unsubscribe_request_is_the_writers_own(body: str, kind: str) -> None:
    assert classify(f"From: g@example.org\r\nSubject: Re: hi\r\n\r\n{body}\r\n".encode()).kind == kind
