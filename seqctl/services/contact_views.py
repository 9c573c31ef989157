"""`seqctl contacts list|show|export`: the people in the database, one person's whole
story across sequences, and a CSV that `contacts import` reads back."""

from __future__ import annotations

from typing import Any

from seqctl import settings
from seqctl.errors import NotFound
from seqctl.files import write_new_csv
from seqctl.services.contacts import normalise_email
from seqctl.services.reports import iso
from seqctl.store import activity
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store.db import Database
from seqctl.store.records import Contact

# Columns of an export that are not fields (a field of that name is left out).
RESERVED = ("email", "tags")


def listing(db: Database, *, tag: str | None, limit: int) -> list[dict[str, Any]]:
    with db.read() as tx:
        contacts = contact_store.listing(tx, tag=tag, limit=limit)
    return [_contact(c) for c in contacts]


def _contact(contact: Contact) -> dict[str, Any]:
    return {"id": contact.id, "email": contact.email, "fields": contact.fields, "tags": list(contact.tags)}


def show(db: Database, address: str) -> dict[str, Any]:
    """The contact's fields (as `set:` actions left them), tags, suppression, every
    enrollment in any sequence and every event."""
    email = normalise_email(address)
    with db.read() as tx:
        contact = contact_store.by_email(tx, email)
        if contact is None:
            raise NotFound(f"no contact {email}")
        suppressed = activity.suppression_for(tx, email, settings.tracking_secret())
        enrollments = enrollment_store.find(tx, contact_id=contact.id)
        events = activity.events_for_contact(tx, contact.id)
    return {
        **_contact(contact),
        "suppressed": {"value": suppressed[0], "reason": suppressed[1]} if suppressed else None,
        "enrollments": [
            {"id": e.id, "sequence": e.sequence_key, "status": e.status, "step": e.current_step,
             "exit_reason": e.exit_reason, "owner": e.owner, "enrolled_at": iso(e.created_at),
             "next_run_at": iso(e.next_run_at), "finished_at": iso(e.finished_at)}
            for e in enrollments
        ],
        "events": [
            {"type": ev.type, "at": iso(ev.occurred_at), "detail": ev.detail, "reason": ev.reason,
             "sequence_step": ev.step_id, "message_id": ev.message_id, "source": ev.source, "url": ev.url,
             "automated": ev.automated}
            for ev in events
        ],
    }  # fmt: skip


def export(db: Database, path: str, *, tag: str | None) -> int:
    """Write the contacts (with a tag, or all) as CSV: `email`, one column per field, `tags`
    joined by `;`. Returns how many were written; an existing file is never overwritten."""
    with db.read() as tx:
        contacts = contact_store.listing(tx, tag=tag, limit=None)
    fields = sorted({name for c in contacts for name in c.fields if name not in RESERVED})
    rows = (
        [c.email, *("" if c.fields.get(name) is None else str(c.fields[name]) for name in fields), ";".join(c.tags)]
        for c in contacts
    )
    write_new_csv(path, [["email", *fields, "tags"], *rows])
    return len(contacts)
