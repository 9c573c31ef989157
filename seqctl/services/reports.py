"""queue, log, stats and tasks: read-only views shaped for people and for --json."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from seqctl.errors import InvalidInput, NotFound
from seqctl.services.catalog import Catalog
from seqctl.services.enrolling import select_enrollments
from seqctl.services.mailboxes import Room, rooms
from seqctl.spec.models import EmailStep
from seqctl.states import LIVE, EnrollmentStatus, SendStatus, WaitingReason
from seqctl.store import activity, sends
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store import reports as report_store
from seqctl.store.db import Database
from seqctl.store.records import Enrollment

WAITING: dict[str, str] = {
    WaitingReason.TASK: "waiting for a manual task",
    WaitingReason.UNKNOWN_SEND: "send outcome unknown: resolve it",
    WaitingReason.LIMIT: "held by a mailbox limit",
    WaitingReason.MAILBOX: "mailbox paused",
    WaitingReason.RETRY: "retrying after a transient failure",
    WaitingReason.OUT_OF_OFFICE: "out of office until the return date",
    WaitingReason.CONFIG: "held until the configuration is fixed",
    WaitingReason.SEQUENCE: "sequence paused: resume SEQUENCE",
}


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def why_waiting(catalog: Catalog, e: Enrollment, now: datetime, rooms: dict[str, Room] | None = None) -> str:
    if e.status == EnrollmentStatus.SCHEDULED:
        return "scheduled start"
    if e.status == EnrollmentStatus.PAUSED:
        return "paused"
    if e.status == EnrollmentStatus.FAILED:
        return f"failed: {e.last_error}"
    if e.waiting_on in WAITING:
        reason = WAITING[e.waiting_on]
        if e.waiting_on == WaitingReason.RETRY:
            reason += f" (attempt {e.attempts}: {e.last_error})"
        elif e.waiting_on in (WaitingReason.LIMIT, WaitingReason.MAILBOX, WaitingReason.CONFIG) and e.last_error:
            reason += f" ({e.last_error})"
        return reason
    if e.next_run_at is None:
        return "not scheduled"
    if e.next_run_at <= now:
        return _held(catalog, e, rooms or {}) or "due now"
    if e.leased_until is not None and e.leased_until > now:
        return "claimed by a running tick"
    sequence = catalog.by_id[e.sequence_id].model
    step = sequence.step(e.current_step) if e.current_step in sequence.step_ids() else None
    if isinstance(step, EmailStep) and (
        (step.wait is None and step.at is None) or (e.step_due_at and e.next_run_at > e.step_due_at)
    ):
        return "outside the send window"
    if step is not None and step.wait is not None:
        return f"wait {step.wait}" + (f" then {step.at:%H:%M}" if step.at else "")
    if step is not None and step.at is not None:
        return f"at {step.at:%H:%M}"
    return "send window"


def _held(catalog: Catalog, e: Enrollment, rooms: dict[str, Room]) -> str | None:
    """Why a due email waits although nothing deferred it: its mailbox may send none now,
    so ticks leave it unclaimed (see `mailboxes.rooms`)."""
    sequence = catalog.by_id[e.sequence_id].model
    room = rooms.get(sequence.mailbox)
    if room is None or room.sendable != 0 or e.current_step not in sequence.step_ids():
        return None
    if not isinstance(sequence.step(e.current_step), EmailStep):
        return None
    return f"{WAITING[room.waiting]} ({room.why})"


def queue(
    db: Database,
    *,
    now: datetime,
    sequence_key: str | None,
    due: bool,
    failed: bool,
    unknown: bool,
    limit: int,
) -> list[dict[str, Any]]:
    catalog = Catalog.load(db)
    if unknown:
        with db.read() as tx:
            rows = sends.with_status(tx, SendStatus.UNKNOWN) + sends.with_status(tx, SendStatus.SENDING)
            owners = {
                e.id: e.sequence_key for e in enrollment_store.find(tx, ids={m.enrollment_id for m in rows})
            }
        return [
            {"id": m.id, "enrollment": m.enrollment_id, "sequence": owners[m.enrollment_id], "email": m.recipient,
             "step": m.step_id, "message_id": m.message_id, "subject": m.subject, "status": m.status,
             "attempted_at": iso(m.created_at), "error": m.last_error}
            for m in rows
            if sequence_key is None or owners[m.enrollment_id] == sequence_key
        ]  # fmt: skip
    sequence_id = catalog.sequence(sequence_key).record.id if sequence_key else None
    statuses = (EnrollmentStatus.FAILED,) if failed else LIVE
    with db.read() as tx:
        found = report_store.queue(
            tx, sequence_id=sequence_id, statuses=statuses, due_by=now if due else None, limit=limit
        )
        room = rooms(tx, catalog, now)
    return [
        {"id": e.id, "sequence": e.sequence_key, "email": e.email, "status": e.status, "step": e.current_step,
         "due": iso(e.step_due_at), "next_run_at": iso(e.next_run_at), "attempts": e.attempts,
         "why": why_waiting(catalog, e, now, room), "error": e.last_error}
        for e in found
    ]  # fmt: skip


def enrollments(
    db: Database,
    *,
    sequence_key: str | None,
    statuses: list[str],
    owner: str | None,
    email: str | None,
    limit: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """Every enrollment (finished ones too), newest first, with where it stands."""
    if unknown := sorted(set(statuses) - set(EnrollmentStatus)):
        raise InvalidInput(f"--status {unknown[0]}: not one of {', '.join(EnrollmentStatus)}")
    catalog = Catalog.load(db)
    sequence_id = catalog.sequence(sequence_key).record.id if sequence_key else None
    with db.read() as tx:
        contact_id = None
        if email is not None:
            contact = contact_store.by_email(tx, email)
            if contact is None:
                raise NotFound(f"no contact {email}")
            contact_id = contact.id
        found = report_store.enrollments(
            tx, sequence_id=sequence_id, statuses=statuses, owner=owner, contact_id=contact_id, limit=limit
        )
        room = rooms(tx, catalog, now)
    return [
        {"id": e.id, "sequence": e.sequence_key, "email": e.email, "status": e.status, "step": e.current_step,
         "next_run_at": iso(e.next_run_at), "exit_reason": e.exit_reason, "owner": e.owner,
         "enrolled_at": iso(e.created_at), "started_at": iso(e.started_at), "finished_at": iso(e.finished_at),
         "why": why_waiting(catalog, e, now, room) if e.status in LIVE else None,
         "error": e.last_error}
        for e in found
    ]  # fmt: skip


def timeline(
    db: Database, *, enrollment_id: int | None, sequence_key: str | None, email: str | None
) -> list[dict[str, Any]]:
    """Every enrollment matched, each with its executions, messages and the contact's events in time order."""
    if enrollment_id is None and (sequence_key is None or email is None):
        raise InvalidInput("name an enrollment: --id ID, or SEQUENCE --email ADDR")
    found = select_enrollments(db, enrollment_id=enrollment_id, sequence_key=sequence_key, email=email)
    result = []
    with db.read() as tx:
        for e in found:
            entries: list[dict[str, Any]] = []
            for x in activity.executions(tx, e.id):
                entries.append({"at": iso(x.at), "what": x.kind, "step": x.step_id, "outcome": x.outcome,
                                "variant": x.variant, "message_id": x.message_id, "error": x.error, "detail": x.detail})  # fmt: skip
            for ev in activity.events_for_contact(tx, e.contact_id):
                if ev.enrollment_id in (None, e.id) and (
                    ev.enrollment_id == e.id or ev.occurred_at >= e.started_at
                ):
                    entries.append({"at": iso(ev.occurred_at), "what": "event", "step": ev.step_id, "outcome": ev.type,
                                    "variant": None, "message_id": ev.message_id, "error": None,
                                    "detail": {"detail": ev.detail, "source": ev.source,
                                               **({"url": ev.url} if ev.url else {}),
                                               **({"automated": ev.automated} if ev.automated else {})}})  # fmt: skip
            entries.sort(key=lambda item: item["at"] or "")
            result.append({
                "id": e.id, "sequence": e.sequence_key, "email": e.email, "status": e.status,
                "exit_reason": e.exit_reason, "step": e.current_step, "next_run_at": iso(e.next_run_at),
                "error": e.last_error, "timeline": entries,
            })  # fmt: skip
    return result


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def stats(db: Database, *, sequence_key: str | None, include_automated: bool = False) -> list[dict[str, Any]]:
    """Per sequence: enrollments by status and exit reason; per step and variant: sends and
    engagement (opens and clicks that look automated left out unless asked)."""
    catalog = Catalog.load(db)
    wanted = (
        [catalog.sequence(sequence_key)]
        if sequence_key
        else sorted(catalog.sequences.values(), key=lambda s: s.record.key)
    )
    with db.read() as tx:
        enrollment_rows = report_store.enrollment_counts(tx)
        message_rows = report_store.message_counts(tx)
        engagement_rows = report_store.engagement_counts(tx, include_automated=include_automated)
        execution_rows = report_store.execution_counts(tx)
    result = []
    for loaded in wanted:
        sid = loaded.record.id
        statuses: dict[str, int] = defaultdict(int)
        exits: dict[str, int] = defaultdict(int)
        for row in enrollment_rows:
            if row["sequence_id"] == sid:
                statuses[row["status"]] += row["count"]
                if row["exit_reason"]:
                    exits[row["exit_reason"]] += row["count"]
        current = [(step.id, step.type, _variant_ids(step), False) for step in loaded.model.steps]
        removed = [
            (d["id"], d["type"], [v["id"] for v in d.get("variants") or []] or [None], True)
            for d in loaded.record.removed_steps
        ]
        steps = [
            _step_counts(sid, step_id, kind, variants, message_rows, engagement_rows, execution_rows)
            | ({"removed": True} if gone else {})
            for step_id, kind, variants, gone in current + removed
        ]
        result.append({
            "sequence": loaded.record.key, "name": loaded.model.name, "version": loaded.record.version,
            "status": loaded.record.status,
            "enrollments": {"total": sum(statuses.values()), **dict(statuses)}, "exits": dict(exits), "steps": steps,
        })  # fmt: skip
    return result


ENGAGEMENT = ("opened", "clicked", "replied", "unsubscribed")


def _variant_ids(step: Any) -> list[str | None]:
    if isinstance(step, EmailStep) and step.variants:
        return [v.id for v in step.variants]
    return [None]


def _step_counts(
    sid: int,
    step_id: str,
    kind: str,
    variant_ids: list[str | None],
    message_rows: list[dict[str, Any]],
    engagement_rows: list[dict[str, Any]],
    execution_rows: list[dict[str, Any]],
) -> dict[str, Any]:
    """One step's line of `stats`: an email's sends and engagement (per variant when it has
    variants), another step's outcomes."""
    entry: dict[str, Any] = {"step": step_id, "type": kind}
    if kind == "email":
        per_variant = [_email_counts(sid, step_id, v, message_rows, engagement_rows) for v in variant_ids]
        entry.update(_sum_counts(per_variant))
        if variant_ids != [None]:
            entry["variants"] = [{"variant": v, **c} for v, c in zip(variant_ids, per_variant, strict=True)]
        return entry
    outcomes: dict[str, int] = defaultdict(int)
    for row in execution_rows:
        if row["sequence_id"] == sid and row["step"] == step_id:
            outcomes[row["outcome"]] += row["count"]
    entry["outcomes"] = dict(outcomes)
    return entry


def _email_counts(
    sid: int,
    step_id: str,
    variant: str | None,
    message_rows: list[dict[str, Any]],
    engagement_rows: list[dict[str, Any]],
) -> dict[str, Any]:
    counts = dict.fromkeys(("sent", "unknown", "failed", "bounced", *ENGAGEMENT), 0)
    bounce_events = 0
    for row in message_rows:
        if row["sequence_id"] == sid and row["step"] == step_id and row["variant"] == variant:
            if row["status"] in ("sent", "unknown", "failed", "bounced"):
                counts[row["status"]] += row["count"]
    for row in engagement_rows:
        if row["sequence_id"] == sid and row["step"] == step_id and row["variant"] == variant:
            if row["type"] in ENGAGEMENT:
                counts[row["type"]] += row["count"]
            elif row["type"] == "bounced":  # hard or soft: not delivered (delays are no events)
                bounce_events += row["count"]
    # A bounce may be both a message refused while sending and a report that came back.
    counts["bounced"] = max(counts["bounced"], bounce_events)
    return _with_rates(counts)


def _with_rates(counts: dict[str, Any]) -> dict[str, Any]:
    delivered = counts["sent"]
    return {
        **counts,
        **{
            f"{kind}_rate": _rate(counts[kind], delivered)
            for kind in ("opened", "clicked", "replied", "bounced")
        },
    }


def _sum_counts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("sent", "unknown", "failed", "bounced", *ENGAGEMENT)
    return _with_rates({key: sum(p[key] for p in parts) for key in keys})


def tasks(db: Database, *, owner: str | None, include_closed: bool) -> list[dict[str, Any]]:
    statuses = ("open", "done", "skipped", "auto") if include_closed else ("open",)
    with db.read() as tx:
        found = activity.tasks(tx, owner=owner, statuses=statuses)
    return [
        {"id": t.id, "email": t.email, "kind": t.kind, "note": t.note, "owner": t.owner, "sequence": t.sequence_key,
         "step": t.step_id, "due": iso(t.due_at), "status": t.status, "outcome": t.outcome,
         "enrollment": t.enrollment_id, "completed_at": iso(t.completed_at)}
        for t in found
    ]  # fmt: skip
