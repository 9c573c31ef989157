"""`seqctl contacts import`: upsert contacts from CSV, reporting bad rows by line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from seqctl.errors import InvalidInput
from seqctl.files import normalise_header, read_csv_records
from seqctl.services.steps_done import Progress
from seqctl.store import contacts as contact_store
from seqctl.store.db import Database
from seqctl.zones import check_timezone

# Contacts upserted per round of statements (and per step of a progress bar).
CHUNK = 5000

# Deliberately plain: a dot-atom local part (RFC 5322 atext, so nothing that could break a
# header), one @, a dotted domain of LDH labels.
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")
_TAG_SPLIT = re.compile(r"[;|,]")


def normalise_email(value: str) -> str:
    """Lower-cased address with an internationalised domain in its ASCII (IDNA) form, or
    InvalidInput saying why it is not one. A non-ASCII local part (`jösé@…`) is refused:
    it needs SMTPUTF8 end to end, which seqctl does not send."""
    shown = value if len(value) <= 80 else value[:80] + "…"
    address = value.strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or len(address) > 320:
        raise InvalidInput(f"{shown!r} is not a valid email address")
    if not local.isascii():
        raise InvalidInput(f"{shown!r}: a non-ASCII local part (before the @) is not supported (SMTPUTF8)")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidInput(f"{shown!r} is not a valid email address (its domain)") from None
    if not _LOCAL_PART.match(local) or not _DOMAIN.match(domain):
        raise InvalidInput(f"{shown!r} is not a valid email address")
    return f"{local}@{domain}"


@dataclass(frozen=True)
class ContactInput:
    email: str
    fields: dict[str, Any]
    tags: tuple[str, ...]


@dataclass
class RowProblem:
    line: int
    message: str


@dataclass
class CsvContacts:
    rows: list[ContactInput] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


def read_csv(path: str) -> CsvContacts:
    """Parse a contacts CSV. A bad file is InvalidInput; a bad row is reported and skipped."""
    records = read_csv_records(path)
    header = next(records, None)
    if header is None:
        raise InvalidInput(f"{path}: the file is empty; it needs a header row with an 'email' column")
    names = [normalise_header(name) for name in header[1]]
    if "email" not in names:
        shown = ", ".join(name[:40] for name in names[:20])
        raise InvalidInput(f"{path}:{header[0]}: no 'email' column in the header ({shown})")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates or "" in names:
        raise InvalidInput(
            f"{path}:{header[0]}: column names must be unique and non-empty: {', '.join(duplicates) or '(empty)'}"
        )
    result = CsvContacts()
    seen: dict[str, int] = {}
    for line, cells in records:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(names):
            result.problems.append(RowProblem(line, f"expected {len(names)} cells, found {len(cells)}"))
            continue
        values = dict(zip(names, cells, strict=True))
        try:
            email = normalise_email(values.pop("email"))
            tags = tuple(t.strip() for t in _TAG_SPLIT.split(values.pop("tags", "")) if t.strip())
            fields = {key: value.strip() for key, value in values.items() if value.strip() != ""}
            if "timezone" in fields:
                check_timezone(fields["timezone"])
        except (InvalidInput, ValueError) as exc:
            result.problems.append(RowProblem(line, str(exc)))
            continue
        if email in seen:
            result.problems.append(
                RowProblem(line, f"{email} already appeared on line {seen[email]}; the later row wins")
            )
        seen[email] = line
        result.rows.append(ContactInput(email, fields, tags))
    return result


@dataclass
class ContactImport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)


def import_csv(db: Database, path: str, *, now: datetime, progress: Progress | None = None) -> ContactImport:
    parsed = read_csv(path)
    report = ContactImport(problems=parsed.problems)
    rows = [(r.email, r.fields, r.tags) for r in parsed.rows]
    outcomes: dict[str, str] = {}
    if progress is not None:
        progress.total(len(rows))
    with db.write() as tx:  # all or nothing, a chunk of upserts at a time
        for start in range(0, len(rows), CHUNK):
            for email, state in contact_store.upsert_many(tx, rows[start : start + CHUNK], now).items():
                # An address on rows of two chunks: created beats updated beats unchanged.
                earlier = outcomes.get(email, "unchanged")
                outcomes[email] = earlier if earlier == "created" or state == "unchanged" else state
            if progress is not None:
                progress.advance(len(rows[start : start + CHUNK]))
    for state in outcomes.values():
        setattr(report, state, getattr(report, state) + 1)
    report.emails = list(outcomes)
    return report
