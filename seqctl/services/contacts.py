"""`seqctl contacts import`: upsert contacts from CSV, reporting bad rows by line."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from seqctl.errors import InvalidInput
from seqctl.files import read_input
from seqctl.spec.fields import check_timezone
from seqctl.store import contacts as contact_store
from seqctl.store.db import Database

# Deliberately plain: one @, no spaces or header-breaking characters, a dotted domain.
_EMAIL = re.compile(
    r"^[^@\s<>()\[\],;:\"\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_TAG_SPLIT = re.compile(r"[;|,]")


def normalise_email(value: str) -> str:
    """Lower-cased address, or InvalidInput saying why it is not one."""
    address = value.strip().lower()
    if not _EMAIL.match(address) or len(address) > 320:
        raise InvalidInput(f"{value!r} is not a valid email address")
    return address


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
    text = read_input(path, encoding="utf-8-sig")
    reader = csv.reader(text.splitlines())
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput(
            f"{path}: the file is empty; it needs a header row with an 'email' column"
        ) from None
    names = [name.strip().lower() for name in header]
    if "email" not in names:
        raise InvalidInput(f"{path}:1: no 'email' column in the header ({', '.join(names)})")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates or "" in names:
        raise InvalidInput(
            f"{path}:1: column names must be unique and non-empty: {', '.join(duplicates) or '(empty)'}"
        )
    result = CsvContacts()
    seen: dict[str, int] = {}
    for line, cells in enumerate(reader, start=2):
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


def import_csv(db: Database, path: str, *, now: datetime) -> ContactImport:
    parsed = read_csv(path)
    report = ContactImport(problems=parsed.problems)
    with db.write() as tx:
        for row in parsed.rows:
            _, state = contact_store.upsert(tx, row.email, row.fields, row.tags, now)
            setattr(report, state, getattr(report, state) + 1)
            report.emails.append(row.email)
    return report
