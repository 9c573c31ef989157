"""Committing a batch's collected writes, fenced by the claims' lease tokens.

Every write of a tick goes through `fenced`: a write transaction that first keeps only the
work items whose claim is still current (an operator or another tick may have changed
one since), then writes what they collected along with whatever the block adds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from seqctl.services.batch.context import Batch
from seqctl.services.batch.work import STOPPED, Work
from seqctl.store import activity
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store.db import DatabaseUnavailable, Tx


class Commits:
    def __init__(self, batch: Batch) -> None:
        self.batch = batch

    @contextmanager
    def fenced(self, works: list[Work], *, durable: bool = False) -> Iterator[tuple[Tx, list[Work]]]:
        """A write transaction holding the works whose claim is still current; their
        collected writes are committed with whatever the block adds."""
        with self.batch.db.write(durable=durable) as tx:
            held = self._fence(tx, works)
            yield tx, held
            self._write(tx, held)
        for work in held:
            self.batch.report.add(work.counts, work.errors)
            work.forget_writes()

    def commit(self, works: list[Work]) -> None:
        """The batch's collected writes in one transaction; when one item's write fails,
        the others are committed one by one and that item fails alone."""
        pending = [w for w in works if w.has_writes()]
        if not pending:
            return
        try:
            with self.fenced(pending):
                pass
        except DatabaseUnavailable:
            raise
        except Exception:
            for work in pending:
                self.commit_alone(work)

    def commit_alone(self, work: Work) -> None:
        try:
            with self.fenced([work]):
                pass
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            work.forget_writes()
            self.batch.fail_with(work, exc)
            with self.fenced([work]):
                pass

    def _fence(self, tx: Tx, works: list[Work]) -> list[Work]:
        tokens = enrollment_store.current_tokens(tx, [w.id for w in works]) if works else {}
        held = []
        for work in works:
            if tokens.get(work.id) == work.claim.lease_token:
                held.append(work)
            else:  # an operator or another tick changed it since the claim
                work.forget_writes()
                work.phase = STOPPED
                self.batch.report.lost_lease += 1
        return held

    def _write(self, tx: Tx, works: list[Work]) -> None:
        now = self.batch.now
        for work in works:
            for op in work.ops:
                op(tx)
        if updates := [(w.id, w.values) for w in works if w.values]:
            enrollment_store.bulk_update(tx, updates, now)
        if executions := [x for w in works for x in w.executions]:
            activity.record_executions(tx, executions)
        if new_tasks := [t for w in works for t in w.new_tasks]:
            activity.create_tasks(tx, new_tasks)
        if closed_tasks := [t for w in works for t in w.closed_tasks]:
            activity.close_tasks(tx, closed_tasks, now)
        if any(w.tag_changes or w.field_changes for w in works):
            self._write_contacts(tx, works)

    def _write_contacts(self, tx: Tx, works: list[Work]) -> None:
        tag_changes: dict[tuple[int, str], bool] = {}
        field_changes: dict[int, dict[str, Any]] = {}
        for work in works:
            for tag, present in work.tag_changes.items():
                tag_changes[(work.contact.id, tag)] = present
            if work.field_changes:
                field_changes.setdefault(work.contact.id, {}).update(work.field_changes)
        contact_store.bulk_add_tags(tx, [pair for pair, present in tag_changes.items() if present])
        contact_store.bulk_remove_tags(tx, [pair for pair, present in tag_changes.items() if not present])
        if field_changes:
            # Merge into the fields as stored now: a contacts import may have run since the load.
            current = contact_store.load_many(tx, sorted(field_changes))
            contact_store.bulk_set_fields(
                tx,
                [(cid, {**current[cid].fields, **changes}) for cid, changes in sorted(field_changes.items())],
                self.batch.now,
            )
