"""Erasing a person (GDPR Art. 17): every column that holds their address, their fields,
what they wrote or what was written to them is cleared or overwritten, in every table.

Rows stay (with what names nobody: statuses, times, step ids, Message-IDs), so counts
and stats of sequences stay true. The contact row keeps its id under a placeholder that
is not an address (`erased:<id>`), since enrollments, events and tasks refer to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, delete, func, insert, or_, select, update

from seqctl.store.tables import (
    ContactRow,
    ContactTagRow,
    EnrollmentRow,
    EventRow,
    ExecutionRow,
    InboundRow,
    MessageRow,
    SuppressionRow,
    TaskRow,
    table_of,
)

C = table_of(ContactRow)
TAGS = table_of(ContactTagRow)
E = table_of(EnrollmentRow)
EV = table_of(EventRow)
X = table_of(ExecutionRow)
IN = table_of(InboundRow)
MSG = table_of(MessageRow)
SUP = table_of(SuppressionRow)
T = table_of(TaskRow)

PLACEHOLDER = "erased:"  # + the contact's id: what the contact row's email becomes
ERASED = "(erased)"


def erase_contact(tx: Connection, contact_id: int | None, email: str) -> None:
    """Clear every trace of the person with this address (and contact, if there is one)."""
    email = email.lower()
    enrollments = select(E.c.id).where(E.c.contact_id == contact_id).scalar_subquery()
    if contact_id is not None:
        tx.execute(delete(TAGS).where(TAGS.c.contact_id == contact_id))
        tx.execute(
            update(C).where(C.c.id == contact_id).values(email=f"{PLACEHOLDER}{contact_id}", company=None, fields={})
        )
        tx.execute(update(E).where(E.c.contact_id == contact_id).values(exit_detail=None, last_error=None))
        tx.execute(update(T).where(T.c.enrollment_id.in_(enrollments)).values(note=ERASED, outcome=None))
        tx.execute(update(X).where(X.c.enrollment_id.in_(enrollments)).values(detail={}, error=None))
        # A click's link and why an open looked automated (a user agent) are theirs; the
        # fact of the event and its Message-ID are not.
        tx.execute(
            update(EV)
            .where(EV.c.contact_id == contact_id)
            .values(url=None, dedupe_key=None, automated=_kept_flag(EV.c.automated))
        )
    mine = MSG.c.recipient == email
    if contact_id is not None:
        mine = or_(mine, MSG.c.enrollment_id.in_(enrollments))
    tx.execute(update(MSG).where(mine).values(recipient=ERASED, subject=ERASED, raw="", last_error=None))
    # A sender may be stored with its display name: "Ada <ada@example.com>".
    theirs = or_(func.lower(IN.c.sender).contains(email, autoescape=True), func.lower(IN.c.address) == email)
    if contact_id is not None:
        theirs = or_(theirs, IN.c.contact_id == contact_id)
    tx.execute(update(IN).where(theirs).values(sender=None, subject=None, address=None, outcome=ERASED))


def _kept_flag(column: Any) -> Any:
    """Keep whether an event looked automated (stats leave those out), not why."""
    return case((column.is_not(None), "erased"), else_=None)


def keep_suppressed(tx: Connection, email: str, digest: str, now: datetime) -> None:
    """Replace the address's own suppression (if any) by its digest, so it stays unmailed."""
    tx.execute(delete(SUP).where(SUP.c.value == email.lower()))
    if tx.execute(select(SUP.c.id).where(SUP.c.value == digest)).first() is None:
        tx.execute(insert(SUP).values(value=digest, kind="erased", reason="erased", created_at=now))
