"""`seqctl import`: plan the change, refuse what would strand enrollments, apply it whole."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from seqctl.errors import InvalidInput
from seqctl.services.sequence_lifecycle import archive_in
from seqctl.spec.loader import load_files
from seqctl.spec.models import Sequence
from seqctl.states import SequenceStatus
from seqctl.store import catalog as catalog_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store import notifications as notification_store
from seqctl.store.db import Database

EXIT_REMOVED = "exit"


@dataclass
class Change:
    kind: str  # mailbox | owner | notify | sequence
    key: str
    state: str  # created | updated | unchanged
    details: list[str] = field(default_factory=list)
    stranded: dict[str, int] = field(default_factory=dict)  # removed step → open enrollments


@dataclass
class ImportPlan:
    changes: list[Change]
    applied: bool = False
    refusal: str | None = None  # why the real import would refuse (a dry run's finding)

    @property
    def stranded(self) -> dict[str, dict[str, int]]:
        return {c.key: c.stranded for c in self.changes if c.stranded}

    def as_json(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "refused": self.refusal,
            "changes": [
                {"kind": c.kind, "key": c.key, "state": c.state, "details": c.details,
                 "enrollments_on_removed_steps": c.stranded}
                for c in self.changes
            ],
        }  # fmt: skip


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def _state(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    if before is None:
        return "created"
    return "unchanged" if before == after else "updated"


def digest_of(definition: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()


def _step_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    old_steps = {s["id"]: s for s in old.get("steps", [])}
    new_steps = {s["id"]: s for s in new["steps"]}
    details = [f"step {sid} added" for sid in new_steps if sid not in old_steps]
    details += [
        f"step {sid} changed" for sid in new_steps if sid in old_steps and old_steps[sid] != new_steps[sid]
    ]
    removed = [sid for sid in old_steps if sid not in new_steps]
    details += [f"step {sid} removed" for sid in removed]
    old_order = [s for s in old_steps if s in new_steps]
    new_order = [s for s in new_steps if s in old_steps]
    if old_order != new_order:
        details.append("steps reordered")
    return details, removed


def import_files(
    db: Database,
    paths: list[str],
    *,
    now: datetime,
    dry_run: bool,
    on_removed: str | None,
    prune: bool = False,
) -> ImportPlan:
    """Validate every file, then plan and (unless dry-run) apply in one transaction.

    Enrollments sitting on a step that the new version removes make the import refuse,
    unless `on_removed` says to exit them (`exit`) or to move them to a step id. Sequences
    in the database that the files do not contain are named and left alone, or archived
    with `prune`; an archived sequence the files contain again is restored.
    """
    with db.read() as tx:
        existing_sequences = catalog_store.sequences(tx)
        existing_mailboxes = catalog_store.mailboxes(tx)
        existing_owners = catalog_store.owners(tx)
        existing_targets = notification_store.targets(tx)
    loaded = load_files(
        paths,
        known_mailboxes=frozenset(existing_mailboxes),
        tracked_mailboxes=frozenset(
            k for k, r in existing_mailboxes.items() if r.definition.get("tracking_url")
        ),
        known_sequences=frozenset(existing_sequences),
        known_notify=frozenset(existing_targets),
    )
    mailboxes = [m for _, spec in loaded for m in spec.mailboxes]
    owners = [o for _, spec in loaded for o in spec.owners]
    targets = [t for _, spec in loaded for t in spec.notify]
    sequences = [s for _, spec in loaded for s in spec.sequences]

    # Plan and apply under one write transaction, so the plan is what gets applied.
    with db.read() if dry_run else db.write() as tx:
        changes: list[Change] = []
        for mailbox in mailboxes:
            before = existing_mailboxes.get(mailbox.key)
            changes.append(
                Change("mailbox", mailbox.key, _state(before.definition if before else None, _dump(mailbox)))
            )
        for owner in owners:
            changes.append(Change("owner", owner.key, _state(existing_owners.get(owner.key), _dump(owner))))
        for target in targets:
            changes.append(Change("notify", target.key, _state(existing_targets.get(target.key), _dump(target))))
        for sequence in sequences:
            definition = _dump(sequence)
            before_seq = existing_sequences.get(sequence.key)
            if before_seq is None:
                changes.append(Change("sequence", sequence.key, "created", [f"{len(sequence.steps)} steps"]))
                continue
            archived = before_seq.status == SequenceStatus.ARCHIVED
            if before_seq.digest == digest_of(definition):
                changes.append(Change("sequence", sequence.key, "restored" if archived else "unchanged",
                                      ["restored from the archive"] if archived else []))  # fmt: skip
                continue
            details, removed = _step_changes(before_seq.definition, definition)
            on_step = enrollment_store.count_by_step(tx, before_seq.id)
            stranded = {sid: on_step[sid] for sid in removed if on_step.get(sid)}
            details = (["restored from the archive"] if archived else []) + (details or ["settings changed"])
            changes.append(
                Change("sequence", sequence.key, "restored" if archived else "updated", details, stranded)
            )
        in_files = {sequence.key for sequence in sequences}
        absent = [
            record for key, record in sorted(existing_sequences.items())
            if key not in in_files and record.status != SequenceStatus.ARCHIVED
        ]  # fmt: skip
        for record in absent:
            open_count = sum(enrollment_store.count_by_step(tx, record.id).values())
            if prune:
                changes.append(
                    Change(
                        "sequence",
                        record.key,
                        "archived",
                        [f"not in the files: archived ({open_count} open enrollment(s) exit)"],
                    )
                )
            else:
                changes.append(
                    Change(
                        "sequence",
                        record.key,
                        "not in files",
                        [f"left alone ({open_count} open enrollment(s)); --prune archives it"],
                    )
                )
        plan = ImportPlan(changes)
        if dry_run:
            try:
                _check_on_removed(plan, sequences, on_removed)
            except InvalidInput as exc:
                plan.refusal = exc.message
            return plan
        _check_on_removed(plan, sequences, on_removed)
        for mailbox in mailboxes:
            catalog_store.upsert_mailbox(tx, mailbox.key, _dump(mailbox), now)
        for owner in owners:
            catalog_store.upsert_owner(tx, owner.key, _dump(owner), now)
        for target in targets:
            notification_store.upsert_target(tx, target.key, _dump(target), now)
        for sequence in sequences:
            definition = _dump(sequence)
            sequence_id, _ = catalog_store.upsert_sequence(
                tx, sequence.key, definition, digest_of(definition), now
            )
            before_seq = existing_sequences.get(sequence.key)
            if before_seq is not None and before_seq.status == SequenceStatus.ARCHIVED:
                catalog_store.set_sequence_status(tx, sequence_id, SequenceStatus.ACTIVE, now)
            stranded_steps = plan.stranded.get(sequence.key, {})
            for step_id in stranded_steps:
                if on_removed == EXIT_REMOVED:
                    enrollment_store.exit_on_step(
                        tx, sequence_id, step_id, "manual", f"step {step_id} removed by import", now
                    )
                elif on_removed is not None:
                    enrollment_store.move_step(tx, sequence_id, step_id, on_removed, now)
        if prune:
            for record in absent:
                archive_in(tx, record.id, record.key, now)
        plan.applied = True
        return plan


def _check_on_removed(plan: ImportPlan, sequences: list[Sequence], on_removed: str | None) -> None:
    stranded = plan.stranded
    if not stranded:
        return
    summary = "; ".join(
        f"{key}: " + ", ".join(f"{n} on {sid}" for sid, n in steps.items()) for key, steps in stranded.items()
    )
    if on_removed is None:
        raise InvalidInput(
            f"enrollments sit on steps this import removes ({summary}); "
            "re-run with --on-removed exit, or --on-removed STEP_ID to move them"
        )
    if on_removed != EXIT_REMOVED:
        for sequence in sequences:
            if sequence.key in stranded and on_removed not in sequence.step_ids():
                raise InvalidInput(f"--on-removed {on_removed}: no such step in {sequence.key!r}")
