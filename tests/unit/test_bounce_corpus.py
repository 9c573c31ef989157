"""seqctl against real bounces it was not written from: flufl.bounce's collection.

The floor (issue 11): every bounce found, the right address in ≥95%, and each message
read for what it is (a final failure, or a warning that delivery is delayed)."""

from __future__ import annotations

from pathlib import Path

from seqctl.inbound.classify import BOUNCE, DELIVERY_REPORT, classify

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "bounces" / "flufl"


def _table() -> list[tuple[str, str, set[str]]]:
    rows = []
    for line in (CORPUS / "expected.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            name, kind, found = line.split("\t")
            rows.append((name, kind, set(found.split(","))))
    return rows


def test_the_real_bounces_are_read_right() -> None:
    rows = _table()
    assert len(rows) >= 100
    detected = right_kind = right_address = 0
    misses = []
    for name, kind, expected in rows:
        found = classify((CORPUS / name).read_bytes())
        addresses = {f.address for f in found.failures} | {found.bounced}
        detected += found.kind in (BOUNCE, DELIVERY_REPORT)
        wanted = BOUNCE if kind == "bounce" else DELIVERY_REPORT
        right_kind += found.kind == wanted and (kind == "bounce" or found.action == "delayed")
        right_address += bool(addresses & expected)
        if not addresses & expected or found.kind != wanted:
            misses.append(f"{name}: {found.kind} {sorted(a or '-' for a in addresses)}")
    assert detected == len(rows), misses
    assert right_kind / len(rows) >= 0.97, misses
    assert right_address / len(rows) >= 0.95, misses


def test_no_bounce_names_the_sender_or_the_mail_system() -> None:
    for name, _, _ in _table():
        found = classify((CORPUS / name).read_bytes())
        for failure in found.failures:
            assert failure.address is None or not failure.address.startswith(("mailer-daemon@", "postmaster@"))
            assert failure.address not in found.recipients  # the report went back to the sender
