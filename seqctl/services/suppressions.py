"""`seqctl suppress`: addresses and whole domains that no sequence may mail.

The list is checked in the statement that commits each send intent (see `store.sends`)
and when enrolling, so adding a value here takes effect at once for every sequence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from seqctl.errors import InvalidInput
from seqctl.files import read_csv_records
from seqctl.services.contacts import normalise_email
from seqctl.store import activity
from seqctl.store.db import Database

_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)
REASONS = ("manual", "unsubscribed", "bounced", "complained")


@dataclass(frozen=True)
class Entry:
    value: str
    kind: str  # address | domain


def parse_entry(text: str) -> Entry:
    """`ada@example.com` is an address; `example.com` or `@example.com` a whole domain."""
    value = text.strip().lower()
    if value.startswith("@"):
        value = value[1:]
    if "@" in value:
        return Entry(normalise_email(value), "address")
    if not _DOMAIN.match(value):
        raise InvalidInput(f"{text.strip()!r} is neither an email address nor a domain")
    return Entry(value, "domain")


def add(db: Database, values: list[str], *, reason: str, now: datetime) -> list[tuple[Entry, bool]]:
    """Suppress each value; (entry, newly added). All values are checked before any is added."""
    if reason not in REASONS:
        raise InvalidInput(f"unknown reason {reason!r}; use one of {', '.join(REASONS)}")
    entries = [parse_entry(v) for v in values]
    with db.write() as tx:
        return [(e, activity.suppress(tx, e.value, e.kind, reason, now)) for e in entries]


def remove(db: Database, values: list[str]) -> list[tuple[Entry, bool]]:
    entries = [parse_entry(v) for v in values]
    with db.write() as tx:
        return [(e, activity.unsuppress(tx, e.value)) for e in entries]


def listing(db: Database, kind: str | None = None) -> list[dict[str, Any]]:
    if kind not in (None, "address", "domain"):
        raise InvalidInput("--kind is address or domain")
    with db.read() as tx:
        return [row for row in activity.suppressions(tx) if kind is None or row["kind"] == kind]


def read_file(path: str) -> list[tuple[Entry, str]]:
    """Entries of a suppression file: one address or domain per line, or a CSV whose
    first column holds them (an optional second column is the reason). Blank lines and
    `#` comments are skipped. Any bad line refuses the whole file, naming file and line."""
    found: list[tuple[Entry, str]] = []
    problems: list[str] = []
    for line_no, row in read_csv_records(path):
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        value = row[0].strip()
        reason = row[1].strip().lower() if len(row) > 1 and row[1].strip() else "manual"
        if line_no == 1 and value.lower() in ("email", "value", "address", "domain"):
            continue  # a header row
        try:
            if reason not in REASONS:
                raise InvalidInput(f"unknown reason {reason!r}; use one of {', '.join(REASONS)}")
            found.append((parse_entry(value), reason))
        except InvalidInput as exc:
            problems.append(f"{path}:{line_no}: {exc}")
    if problems:
        raise InvalidInput("\n".join(problems) + "\nnothing was imported")
    return found


def import_file(db: Database, path: str, *, now: datetime) -> tuple[int, int]:
    """(added, already suppressed); all or nothing."""
    entries = read_file(path)
    added = 0
    with db.write() as tx:
        for entry, reason in entries:
            added += activity.suppress(tx, entry.value, entry.kind, reason, now)
    return added, len(entries) - added
