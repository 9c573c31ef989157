"""Contacts, their fields and tags."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from seqctl.store import bulk
from seqctl.store.db import insert_for
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
    ids = [
        row[0] for row in tx.execute(select(T.c.contact_id).where(T.c.tag == tag).order_by(T.c.contact_id))
    ]
    rows: Any = (
        tx.execute(select(C.c.id, C.c.email, C.c.fields).where(C.c.id.in_(ids)).order_by(C.c.id))
        if ids
        else []
    )
    tags = _tags(tx, ids)
    return [Contact(row.id, row.email, dict(row.fields), tags.get(row.id, ())) for row in rows]


def company_of(email: str) -> str | None:
    """The registrable domain stored with a contact, so one company's contacts are one
    indexed lookup (`exit_on: domain_replied`)."""
    from seqctl.engine.domains import registrable_domain

    return registrable_domain(email.rpartition("@")[2])


def upsert(
    tx: Connection, email: str, fields: dict[str, Any], tags: Iterable[str], now: datetime
) -> tuple[int, str]:
    """Merge fields into the contact (creating it); returns (id, created|updated|unchanged)."""
    email = email.lower()
    row = tx.execute(select(C.c.id, C.c.fields).where(C.c.email == email)).first()
    if row is None:
        contact_id = tx.execute(
            insert(C)
            .values(email=email, company=company_of(email), fields=fields, created_at=now, updated_at=now)
            .returning(C.c.id)
        ).scalar_one()
        state = "created"
    else:
        contact_id = row.id
        merged = {**row.fields, **fields}
        state = "unchanged"
        if merged != row.fields:
            tx.execute(update(C).where(C.c.id == contact_id).values(fields=merged, updated_at=now))
            state = "updated"
    if add_tags(tx, contact_id, tags) and state == "unchanged":
        state = "updated"
    return contact_id, state


def add_tags(tx: Connection, contact_id: int, tags: Iterable[str]) -> int:
    have = set(_tags(tx, [contact_id]).get(contact_id, ()))
    new = sorted(set(tags) - have)
    if new:
        tx.execute(insert(T), [{"contact_id": contact_id, "tag": tag} for tag in new])
    return len(new)




def load_many(tx: Connection, ids: list[int]) -> dict[int, Contact]:
    rows = tx.execute(select(C.c.id, C.c.email, C.c.fields).where(C.c.id.in_(ids)))
    tags = _tags(tx, ids)
    return {row.id: Contact(row.id, row.email, dict(row.fields), tags.get(row.id, ())) for row in rows}


_SET_FIELDS = update(C).where(C.c.id == bindparam("b_id")).values(
    fields=bindparam("b_fields"), updated_at=bindparam("b_now")
)
_REMOVE_TAG = delete(T).where(T.c.contact_id == bindparam("b_id"), T.c.tag == bindparam("b_tag"))


def bulk_set_fields(tx: Connection, rows: list[tuple[int, dict[str, Any]]], now: datetime) -> None:
    bulk.executemany(
        tx, _SET_FIELDS, [{"b_id": contact_id, "b_fields": fields, "b_now": now} for contact_id, fields in rows]
    )


def bulk_add_tags(tx: Connection, pairs: list[tuple[int, str]]) -> None:
    if not pairs:
        return
    statement = _ADD_TAG.get(tx.dialect.name)
    if statement is None:
        statement = _ADD_TAG[tx.dialect.name] = insert_for(tx.dialect.name, T).on_conflict_do_nothing()
    bulk.executemany(tx, statement, [{"contact_id": contact_id, "tag": tag} for contact_id, tag in sorted(set(pairs))])


_ADD_TAG: dict[str, Any] = {}  # per dialect: INSERT … ON CONFLICT DO NOTHING


def bulk_remove_tags(tx: Connection, pairs: list[tuple[int, str]]) -> None:
    bulk.executemany(tx, _REMOVE_TAG, [{"b_id": contact_id, "b_tag": tag} for contact_id, tag in pairs])
