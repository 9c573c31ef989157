"""Contacts, their fields and tags."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from seqctl.store import bulk
from seqctl.store.db import insert_ignoring_conflicts
from seqctl.store.records import Contact
from seqctl.store.tables import ContactRow, ContactTagRow, table_of

C = table_of(ContactRow)
T = table_of(ContactTagRow)


def _tags(tx: Connection, ids: list[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        for contact_id, tag in tx.execute(
            select(T.c.contact_id, T.c.tag).where(T.c.contact_id.in_(chunk)).order_by(T.c.tag)
        ):
            found.setdefault(contact_id, []).append(tag)
    return {key: tuple(value) for key, value in found.items()}


# Built once: inbox syncs and event imports look one address up per message.
_BY_EMAIL = select(C.c.id, C.c.email, C.c.fields).where(C.c.email == bindparam("email"))
_TAGS_OF = select(T.c.tag).where(T.c.contact_id == bindparam("contact_id")).order_by(T.c.tag)


def by_email(tx: Connection, email: str) -> Contact | None:
    row = tx.execute(_BY_EMAIL, {"email": email.lower()}).first()
    if row is None:
        return None
    tags = tuple(tx.execute(_TAGS_OF, {"contact_id": row.id}).scalars())
    return Contact(row.id, row.email, dict(row.fields), tags)


def by_emails(tx: Connection, emails: Iterable[str]) -> dict[str, Contact]:
    wanted = sorted({e.lower() for e in emails})
    rows: list[Any] = []
    for start in range(0, len(wanted), 500):
        rows.extend(
            tx.execute(
                select(C.c.id, C.c.email, C.c.fields).where(C.c.email.in_(wanted[start : start + 500]))
            )
        )
    tags = _tags(tx, [row.id for row in rows])
    return {row.email: Contact(row.id, row.email, dict(row.fields), tags.get(row.id, ())) for row in rows}


def by_id(tx: Connection, contact_id: int) -> Contact | None:
    row = tx.execute(select(C.c.id, C.c.email, C.c.fields).where(C.c.id == contact_id)).first()
    if row is None:
        return None
    return Contact(row.id, row.email, dict(row.fields), _tags(tx, [row.id]).get(row.id, ()))


def by_tag(tx: Connection, tag: str) -> list[Contact]:
    rows = tx.execute(
        select(C.c.id, C.c.email, C.c.fields)
        .select_from(C.join(T, T.c.contact_id == C.c.id))
        .where(T.c.tag == tag)
        .order_by(C.c.id)
    ).all()
    tags = _tags(tx, [row.id for row in rows])
    return [Contact(row.id, row.email, dict(row.fields), tags.get(row.id, ())) for row in rows]


def listing(tx: Connection, *, tag: str | None, limit: int | None) -> list[Contact]:
    """Contacts by address (erased ones left out), with a tag or all."""
    query = select(C.c.id, C.c.email, C.c.fields).where(C.c.email.not_like("erased:%"))
    if tag is not None:
        query = query.where(C.c.id.in_(select(T.c.contact_id).where(T.c.tag == tag)))
    rows = tx.execute(query.order_by(C.c.email).limit(limit)).all()
    tags = _tags(tx, [row.id for row in rows])
    return [Contact(row.id, row.email, dict(row.fields), tags.get(row.id, ())) for row in rows]


def company_of(email: str) -> str | None:
    """The registrable domain stored with a contact, so one company's contacts are one
    indexed lookup (`exit_on: domain_replied`)."""
    from seqctl.engine.domains import registrable_domain

    return registrable_domain(email.rpartition("@")[2])


_INSERT_CONTACT = insert(C)


def upsert_many(
    tx: Connection, rows: Iterable[tuple[str, dict[str, Any], Iterable[str]]], now: datetime
) -> dict[str, str]:
    """Merge each row's fields and tags into its contact (created when new), all in a few
    statements; an address given twice gets both rows merged in order. Returns each
    address's outcome: created, updated or unchanged."""
    wanted: dict[str, tuple[dict[str, Any], set[str]]] = {}
    for email, fields, tags in rows:
        merged_fields, merged_tags = wanted.setdefault(email.lower(), ({}, set()))
        merged_fields.update(fields)
        merged_tags.update(tags)
    emails = list(wanted)
    existing: dict[str, tuple[int, dict[str, Any]]] = {}
    for start in range(0, len(emails), 5000):
        query = select(C.c.id, C.c.email, C.c.fields).where(C.c.email.in_(emails[start : start + 5000]))
        existing.update((row.email, (row.id, row.fields)) for row in tx.execute(query))
    outcome = dict.fromkeys(existing, "unchanged")
    new = [
        {"email": email, "company": company_of(email), "fields": fields, "created_at": now, "updated_at": now}
        for email, (fields, _) in wanted.items()
        if email not in existing
    ]
    bulk.executemany(tx, _INSERT_CONTACT, new)
    changed = []
    for email, (contact_id, stored) in existing.items():
        merged = {**stored, **wanted[email][0]}
        if merged != stored:
            changed.append((contact_id, merged))
            outcome[email] = "updated"
    bulk_set_fields(tx, changed, now)
    ids = {email: contact_id for email, (contact_id, _) in existing.items()}
    created = [email for email in wanted if email not in existing]
    for start in range(0, len(created), 5000):
        chunk = created[start : start + 5000]
        ids.update((row[0], row[1]) for row in tx.execute(select(C.c.email, C.c.id).where(C.c.email.in_(chunk))))
        outcome.update(dict.fromkeys(chunk, "created"))
    have = _tags(tx, [ids[email] for email in existing]) if existing else {}
    pairs = []
    for email, (_, tags) in wanted.items():
        added = tags - set(have.get(ids[email], ()))
        pairs += [(ids[email], tag) for tag in added]
        if added and outcome[email] == "unchanged":
            outcome[email] = "updated"
    bulk_add_tags(tx, pairs)
    return outcome


def load_many(tx: Connection, ids: list[int]) -> dict[int, Contact]:
    rows: list[Any] = []
    for start in range(0, len(ids), 5000):  # Postgres takes at most 65,535 parameters
        rows += tx.execute(select(C.c.id, C.c.email, C.c.fields).where(C.c.id.in_(ids[start : start + 5000]))).all()
    tags = _tags(tx, ids)
    return {row.id: Contact(row.id, row.email, dict(row.fields), tags.get(row.id, ())) for row in rows}


_SET_FIELDS = (
    update(C)
    .where(C.c.id == bindparam("b_id"))
    .values(fields=bindparam("b_fields"), updated_at=bindparam("b_now"))
)
_REMOVE_TAG = delete(T).where(T.c.contact_id == bindparam("b_id"), T.c.tag == bindparam("b_tag"))


def bulk_set_fields(tx: Connection, rows: list[tuple[int, dict[str, Any]]], now: datetime) -> None:
    bulk.executemany(
        tx,
        _SET_FIELDS,
        [{"b_id": contact_id, "b_fields": fields, "b_now": now} for contact_id, fields in rows],
    )


def bulk_add_tags(tx: Connection, pairs: list[tuple[int, str]]) -> None:
    if not pairs:
        return
    bulk.executemany(
        tx, insert_ignoring_conflicts(tx.dialect.name, T), [{"contact_id": contact_id, "tag": tag} for contact_id, tag in sorted(set(pairs))]
    )


def bulk_remove_tags(tx: Connection, pairs: list[tuple[int, str]]) -> None:
    bulk.executemany(tx, _REMOVE_TAG, [{"b_id": contact_id, "b_tag": tag} for contact_id, tag in pairs])
