"""A sequence as a whole: pause it (no step of any of its enrollments runs, including
contacts enrolled meanwhile), resume it, archive it (its open enrollments exit with reason
`archived`; nothing can be enrolled; history and stats stay), and list what the database
holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seqctl.errors import InvalidInput
from seqctl.services.catalog import Catalog, LoadedSequence
from seqctl.services.progress import calendar_of, resume_time
from seqctl.states import EnrollmentStatus, ExitReason, SequenceStatus
from seqctl.store import activity
from seqctl.store import catalog as catalog_store
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store.db import Database, Tx


def pause_sequence(db: Database, key: str, *, now: datetime) -> tuple[bool, int]:
    """(whether it was active before, how many enrollments it now holds from running)."""
    loaded = _changeable(Catalog.load(db), key)
    with db.write() as tx:
        changed = catalog_store.set_sequence_status(tx, loaded.record.id, SequenceStatus.PAUSED, now)
        held = enrollment_store.hold_for_sequence(tx, loaded.record.id, now)
    return changed, held


def resume_sequence(db: Database, key: str, *, now: datetime) -> tuple[bool, int]:
    """(whether it was paused, how many enrollments it released). A step already due runs at
    the next time its calendar allows; no wait is restarted."""
    catalog = Catalog.load(db)
    loaded = _changeable(catalog, key)
    with db.write() as tx:
        changed = catalog_store.set_sequence_status(tx, loaded.record.id, SequenceStatus.ACTIVE, now)
        held = enrollment_store.held_for_sequence(tx, loaded.record.id)
        contacts = contact_store.load_many(tx, [e.contact_id for e in held])
        due = []
        for e in held:
            calendar = calendar_of(catalog, loaded.model, contacts[e.contact_id])
            due.append((e.id, resume_time(e, loaded.model, calendar, now) or now))
        enrollment_store.release_held(tx, due, now)
    return changed, len(due)


def archive_sequence(db: Database, key: str, *, now: datetime) -> int:
    """Retire the sequence; returns how many open enrollments exited."""
    catalog = Catalog.load(db)
    loaded = catalog.sequence(key)
    if loaded.record.status == SequenceStatus.ARCHIVED:
        return 0
    with db.write() as tx:
        return archive_in(tx, loaded.record.id, key, now)


def archive_in(tx: Tx, sequence_id: int, key: str, now: datetime) -> int:
    """Archive within a transaction (`import --prune` archives with its other changes)."""
    catalog_store.set_sequence_status(tx, sequence_id, SequenceStatus.ARCHIVED, now)
    detail = f"sequence {key} archived"
    ended = enrollment_store.exit_open(tx, sequence_id, ExitReason.ARCHIVED, detail, now)
    activity.close_tasks_of_many(tx, [e.id for e in ended], "skipped", now)
    activity.record_executions(tx, [
        {
            "enrollment_id": e.id, "step_id": e.current_step, "kind": "exit", "outcome": EnrollmentStatus.EXITED,
            "at": now, "detail": {"reason": ExitReason.ARCHIVED, "detail": detail},
        }
        for e in ended
    ])  # fmt: skip
    return len(ended)


def _changeable(catalog: Catalog, key: str) -> LoadedSequence:
    loaded = catalog.sequence(key)
    if loaded.record.status == SequenceStatus.ARCHIVED:
        raise InvalidInput(f"{key} is archived (import it again to bring it back)")
    return loaded


def sequences_overview(db: Database, *, include_archived: bool) -> list[dict[str, Any]]:
    """Each sequence with its status, mailbox, steps and enrollments by status."""
    catalog = Catalog.load(db)
    with db.read() as tx:
        counts = enrollment_store.count_by_sequence_and_status(tx)
    listed = []
    for key in sorted(catalog.sequences):
        loaded = catalog.sequences[key]
        if loaded.record.status == SequenceStatus.ARCHIVED and not include_archived:
            continue
        by_status = counts.get(loaded.record.id, {})
        listed.append({
            "key": key, "name": loaded.model.name, "status": loaded.record.status, "mailbox": loaded.model.mailbox,
            "steps": len(loaded.model.steps), "version": loaded.record.version, "exclusive": loaded.model.exclusive,
            "enrollments": {status: by_status.get(status, 0) for status in EnrollmentStatus},
        })  # fmt: skip
    return listed
