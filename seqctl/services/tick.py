"""`seqctl tick`: one idempotent pass over everything due.

Per claimed enrollment, each step runs in its own write transaction, fenced by the
claim's lease token. An email takes two: the first commits the send intent (rendered
message, Message-ID) after the exit, suppression and limit checks; the SMTP
conversation happens outside any transaction; the second records the outcome.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from seqctl import settings
from seqctl.delivery.message import Outgoing, build, new_message_id, thread_subject
from seqctl.delivery.pool import TransportPool
from seqctl.delivery.render import contact_context, render
from seqctl.delivery.transports import SendOutcome, SendResult
from seqctl.engine.calendar import SendCalendar
from seqctl.engine.flow import EventFact, choose_variant, condition_holds, exit_reason
from seqctl.engine.limits import day_start, held_until
from seqctl.engine.retry import backoff, mailbox_pause
from seqctl.errors import TemplateProblem
from seqctl.services.catalog import Catalog, LoadedSequence
from seqctl.services.operations import start_enrollment
from seqctl.services.progress import advance_values, calendar_of, facts_for
from seqctl.spec.models import ActionStep, BranchStep, EmailStep, Mailbox, TaskStep
from seqctl.store import activity, sends
from seqctl.store import catalog as catalog_store
from seqctl.store import contacts as contact_store
from seqctl.store import enrollments as enrollment_store
from seqctl.store.db import Database, DatabaseUnavailable
from seqctl.store.records import Claim, Contact, Enrollment, Message

DEFAULT_LEASE = timedelta(seconds=60)
DEFAULT_BATCH = 100
# Steps one claim may run back to back (action → branch → email …) before yielding.
MAX_STEPS_PER_CLAIM = 25
SUPPRESSION_EXIT = {"bounced": "bounced", "unsubscribed": "unsubscribed"}


@dataclass
class TickReport:
    now: datetime
    claimed: int = 0
    sent: int = 0
    tasks: int = 0
    branched: int = 0
    actions: int = 0
    exited: int = 0
    completed: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    lost_lease: int = 0
    errors: list[str] = field(default_factory=list)
    due: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["now"] = self.now.isoformat()
        return data


@dataclass(frozen=True)
class PreparedSend:
    row_id: int
    message_id: str
    raw: str
    subject: str
    variant: str | None
    mailbox: Mailbox


@dataclass(frozen=True)
class Context:
    """What one step of one enrollment is run with."""

    claim: Claim
    enrollment: Enrollment
    contact: Contact
    loaded: LoadedSequence
    calendar: SendCalendar
    facts: list[EventFact]


class Tick:
    def __init__(
        self,
        db: Database,
        *,
        now: datetime,
        pool: TransportPool | None = None,
        lease: timedelta = DEFAULT_LEASE,
        batch_size: int = DEFAULT_BATCH,
        max_attempts: int | None = None,
    ) -> None:
        self.db = db
        self.now = now
        self.lease_until = now + lease
        self.pool = pool or TransportPool()
        self.batch_size = batch_size
        self.max_attempts = max_attempts or settings.max_attempts()
        self.catalog = Catalog.load(db)
        self.report = TickReport(now=now)
        self.mailbox_paused = {
            key: r.paused_until for key, r in self.catalog.mailbox_records.items() if r.paused_until
        }
        self.mailbox_outages = {
            key: r.outages for key, r in self.catalog.mailbox_records.items() if r.outages
        }

    def preview(self, limit: int | None) -> TickReport:
        """What is due, without claiming or changing anything (`--dry-run`)."""
        with self.db.read() as tx:
            due = enrollment_store.peek_due(tx, now=self.now, limit=limit or 1000)
        for e in due:
            step = self.catalog.by_id[e.sequence_id].model.step(e.current_step) if e.current_step else None
            self.report.due.append({
                "id": e.id, "sequence": e.sequence_key, "email": e.email, "step": e.current_step,
                "type": step.type if step else None, "due": e.step_due_at.isoformat() if e.step_due_at else None,
            })  # fmt: skip
        return self.report

    def run(self, limit: int | None = None) -> TickReport:
        remaining = limit
        try:
            while remaining is None or remaining > 0:
                size = self.batch_size if remaining is None else min(self.batch_size, remaining)
                with self.db.write() as tx:
                    claims = enrollment_store.claim_due(
                        tx, now=self.now, limit=size, lease_until=self.lease_until
                    )
                if not claims:
                    break
                self.report.claimed += len(claims)
                if remaining is not None:
                    remaining -= len(claims)
                for claim in claims:
                    self._process(claim)
        finally:
            self.pool.close()
        return self.report

    def _process(self, claim: Claim) -> None:
        try:
            for _ in range(MAX_STEPS_PER_CLAIM):
                if not self._run_step(claim):
                    return
        except DatabaseUnavailable:
            raise
        except Exception as exc:  # one bad enrollment must not stop the rest
            message = f"enrollment {claim.enrollment_id}: {type(exc).__name__}: {exc}"
            self.report.errors.append(message)
            with self.db.write() as tx:
                e = enrollment_store.get(tx, claim.enrollment_id)
                step = e.current_step if e else None
                self._fail_enrollment(tx, claim, step, message)

    # -- one step ------------------------------------------------------------------

    def _run_step(self, claim: Claim) -> bool:
        """Run the enrollment's current step; True when the next one is due right away."""
        with self.db.write() as tx:
            ctx = self._context(tx, claim)
            if ctx is None:
                return False
            e = ctx.enrollment
            reason = exit_reason(ctx.loaded.model.exit_on, ctx.facts)
            if reason is not None:
                self._exit(tx, ctx, reason, f"{reason} event")
                return False
            if e.current_step not in ctx.loaded.model.step_ids():
                self._fail_enrollment(
                    tx,
                    claim,
                    e.current_step,
                    f"step {e.current_step!r} no longer exists in {e.sequence_key}",
                )
                return False
            if e.status == "scheduled":  # its start time has come
                enrollment_store.fenced_update(tx, claim, self.now, status="active")
            step = ctx.loaded.model.step(e.current_step)
            if not isinstance(step, EmailStep):
                return self._run_local(tx, ctx, step)
            prepared = self._prepare_email(tx, ctx, step)
            if not isinstance(prepared, PreparedSend):
                return prepared
        result = self.pool.get(prepared.mailbox).send(
            _address(prepared.mailbox.from_), ctx.contact.email, prepared.raw
        )
        with self.db.write() as tx:
            return self._settle(tx, ctx, step, prepared, result)

    def _context(self, tx: Any, claim: Claim) -> Context | None:
        e = enrollment_store.get(tx, claim.enrollment_id, lock=True)
        if e is None or e.lease_token != claim.lease_token or e.status not in ("scheduled", "active"):
            self.report.lost_lease += 1
            return None
        contact = contact_store.by_id(tx, e.contact_id)
        assert contact is not None
        loaded = self.catalog.by_id[e.sequence_id]
        calendar = calendar_of(self.catalog, loaded.model, contact)
        facts = facts_for(e, activity.events_for_contact(tx, contact.id))
        return Context(claim, e, contact, loaded, calendar, facts)

    def _run_local(self, tx: Any, ctx: Context, step: TaskStep | BranchStep | ActionStep) -> bool:
        if isinstance(step, TaskStep):
            return self._run_task(tx, ctx, step)
        if isinstance(step, BranchStep):
            sent_at = {m.step_id: m.sent_at for m in sends.for_enrollment(tx, ctx.enrollment.id) if m.sent_at}
            holds = condition_holds(step.if_, ctx.facts, sent_at, self.now)
            chosen = step.then if holds else step.else_
            self._record(
                tx,
                ctx,
                step.id,
                "branch",
                "then" if holds else "else",
                detail={
                    "next": chosen,
                    "condition": step.if_.model_dump(by_alias=True, mode="json", exclude_none=True),
                },
            )
            self.report.branched += 1
            return self._advance(tx, ctx, step.id, chosen=chosen)
        return self._run_action(tx, ctx, step)

    def _run_task(self, tx: Any, ctx: Context, step: TaskStep) -> bool:
        e = ctx.enrollment
        existing = activity.task_for_step(tx, e.id, step.id)
        if existing is None:
            try:
                note = render(step.note, self._template_context(ctx), what=f"step {step.id} note")
            except TemplateProblem as exc:
                self._fail_enrollment(tx, ctx.claim, step.id, str(exc))
                return False
            owner = e.owner or ctx.contact.fields.get("owner") or ctx.loaded.model.owner
            activity.create_task(
                tx,
                enrollment_id=e.id,
                step_id=step.id,
                kind=step.kind,
                note=note,
                owner=owner,
                due_at=self.now,
                now=self.now,
            )
            self._record(tx, ctx, step.id, "task", "created", detail={"kind": step.kind, "owner": owner})
            self.report.tasks += 1
            auto = ctx.calendar.add_wait(self.now, step.auto_complete) if step.auto_complete else None
            enrollment_store.fenced_update(
                tx,
                ctx.claim,
                self.now,
                status="active",
                waiting_on="task",
                next_run_at=auto,
                leased_until=None,
                last_ran_at=self.now,
            )
            return False
        if existing.status == "open":  # claimed because auto_complete elapsed
            activity.close_task(tx, existing.id, "auto", "auto-completed", self.now)
            self._record(tx, ctx, step.id, "task", "auto_completed", detail={"task": existing.id})
        return self._advance(tx, ctx, step.id)

    def _run_action(self, tx: Any, ctx: Context, step: ActionStep) -> bool:
        _e, contact = ctx.enrollment, ctx.contact
        done: dict[str, Any] = {}
        if step.tag is not None:
            contact_store.add_tags(tx, contact.id, step.tags("tag"))
            done["tag"] = step.tags("tag")
        if step.untag is not None:
            contact_store.remove_tags(tx, contact.id, step.tags("untag"))
            done["untag"] = step.tags("untag")
        if step.set is not None:
            contact_store.set_fields(tx, contact.id, dict(step.set), self.now)
            done["set"] = dict(step.set)
        if step.assign is not None:
            enrollment_store.fenced_update(tx, ctx.claim, self.now, owner=step.assign)
            done["assign"] = step.assign
        if step.enroll is not None:
            new_id, why = start_enrollment(
                tx, self.catalog, step.enroll, contact, start_at=self.now, now=self.now
            )
            done["enroll"] = {"sequence": step.enroll, "enrollment": new_id, "skipped": why or None}
        self.report.actions += 1
        if step.exit is not None:
            self._record(tx, ctx, step.id, "action", "done", detail=done)
            self._exit(tx, ctx, "action", step.exit)
            return False
        self._record(tx, ctx, step.id, "action", "done", detail=done)
        return self._advance(tx, ctx, step.id, chosen=step.goto)

    # -- email ---------------------------------------------------------------------

    def _prepare_email(self, tx: Any, ctx: Context, step: EmailStep) -> PreparedSend | bool:
        e, contact = ctx.enrollment, ctx.contact
        existing = sends.get(tx, e.id, step.id)
        if existing is not None and existing.status == "sent":
            return self._advance(tx, ctx, step.id)
        if existing is not None and existing.status in ("sending", "unknown"):
            # A tick died between committing this intent and recording the outcome.
            sends.settle_send(
                tx,
                existing.id,
                "unknown",
                now=self.now,
                error="the tick sending it stopped before recording the outcome",
            )
            self._hold_unknown(tx, ctx, step.id, existing.message_id, "previous tick stopped mid-send")
            return False
        if existing is not None and existing.status == "bounced":
            self._exit(tx, ctx, "bounced", "recipient refused")
            return False
        mailbox = self.catalog.mailbox_for(ctx.loaded.model)
        if mailbox is None:
            self._fail_enrollment(
                tx, ctx.claim, step.id, f"mailbox {ctx.loaded.model.mailbox!r} is not imported"
            )
            return False
        suppressed = activity.suppression_for(tx, contact.email)
        if suppressed is not None:
            value, why = suppressed
            self._exit(tx, ctx, SUPPRESSION_EXIT.get(why, "manual"), f"suppressed: {value} ({why})")
            return False
        paused_until = self.mailbox_paused.get(mailbox.key)
        if paused_until is not None and paused_until > self.now:
            self._defer(tx, ctx, paused_until, "mailbox", f"mailbox {mailbox.key} paused")
            return False
        if self._held_by_limits(tx, ctx, mailbox):
            return False
        try:
            subject, text, html, variant, history = self._render_email(tx, ctx, step, mailbox)
        except TemplateProblem as exc:
            self._fail_enrollment(tx, ctx.claim, step.id, str(exc))
            return False
        message_id = existing.message_id if existing else new_message_id(mailbox.from_)
        raw = build(Outgoing(
            sender=mailbox.from_, recipient=contact.email, recipient_name=_display_name(contact),
            subject=subject, text=text, html=html, message_id=message_id, date=self.now,
            in_reply_to=history[-1].message_id if step.thread and history else None,
            references=tuple(m.message_id for m in history) if step.thread else (),
            reply_to=mailbox.reply_to, unsubscribe_url=self._unsubscribe_url(mailbox, message_id, contact.email),
        ))  # fmt: skip
        if existing is not None:
            sends.retry_send(tx, existing.id, raw=raw, subject=subject, now=self.now)
            row_id = existing.id
        else:
            row_id = sends.begin_send(
                tx, enrollment_id=e.id, step_id=step.id, message_id=message_id, mailbox_key=mailbox.key,
                recipient=contact.email, subject=subject, variant=variant, raw=raw, now=self.now,
            )  # fmt: skip
        return PreparedSend(row_id, message_id, raw, subject, variant, mailbox)

    def _held_by_limits(self, tx: Any, ctx: Context, mailbox: Mailbox) -> bool:
        limits = mailbox.limits
        if limits.per_day is None and limits.per_hour is None and limits.min_gap is None:
            return False
        sends.lock_mailbox(tx, mailbox.key)
        mailbox_calendar = SendCalendar.build(mailbox.timezone or "UTC")
        usage = sends.usage(
            tx,
            mailbox.key,
            hour_start=self.now - timedelta(hours=1),
            day_start=day_start(mailbox_calendar, self.now),
        )
        held = held_until(
            limits, now=self.now, last_hour=usage.last_hour, since_day_start=usage.since_day_start,
            oldest_in_hour=usage.oldest_in_hour, latest=usage.latest, calendar=mailbox_calendar,
        )  # fmt: skip
        if held is None:
            return False
        until, why = held
        step = ctx.loaded.model.step(ctx.enrollment.current_step or "")
        if isinstance(step, EmailStep):
            until = ctx.calendar.next_opening(until)
        self._defer(tx, ctx, until, "limit", f"mailbox {mailbox.key}: {why}")
        return True

    def _render_email(
        self, tx: Any, ctx: Context, step: EmailStep, mailbox: Mailbox
    ) -> tuple[str, str, str | None, str | None, list[Message]]:
        history = sorted(
            (
                m
                for m in sends.for_enrollment(tx, ctx.enrollment.id)
                if m.status == "sent" and m.step_id != step.id
            ),
            key=lambda m: (m.sent_at, m.id),
        )
        variant = choose_variant(step.variants, ctx.enrollment.id, step.id) if step.variants else None
        source = variant or step
        context = self._template_context(ctx, mailbox)
        where = f"step {step.id}" + (f" variant {variant.id}" if variant else "")
        if source.subject is not None:
            subject = render(source.subject, context, what=f"{where} subject")
        elif history:
            subject = thread_subject(history[0].subject)
        else:
            raise TemplateProblem(f"{where}: a threaded email has no earlier email to reply to")
        text = render(source.body or "", context, what=f"{where} body")
        html = (
            render(source.html, context, html=True, what=f"{where} html") if source.html is not None else None
        )
        return subject, text, html, variant.id if variant else None, history

    def _template_context(self, ctx: Context, mailbox: Mailbox | None = None) -> dict[str, Any]:
        from email.utils import parseaddr

        sequence = ctx.loaded.model
        context: dict[str, Any] = {
            "contact": contact_context(ctx.contact.email, ctx.contact.fields, list(ctx.contact.tags)),
            "sequence": {"key": sequence.key, "name": sequence.name or sequence.key},
            "owner": ctx.enrollment.owner or ctx.contact.fields.get("owner") or sequence.owner,
        }
        if mailbox is not None:
            name, address = parseaddr(mailbox.from_)
            context["sender"] = {
                "name": name or address,
                "email": address,
                "first_name": (name or address).split()[0],
            }
        return context

    def _unsubscribe_url(self, mailbox: Mailbox, message_id: str, email: str) -> str | None:
        if mailbox.unsubscribe_url is None:
            return None
        return render(
            mailbox.unsubscribe_url,
            {"message_id": quote(message_id, safe=""), "email": quote(email, safe="")},
            what="unsubscribe_url",
        )

    def _settle(
        self, tx: Any, ctx: Context, step: EmailStep, prepared: PreparedSend, result: SendResult
    ) -> bool:
        outcome = result.outcome
        detail = {"subject": prepared.subject, "server": result.detail}
        if outcome is SendOutcome.SENT:
            sends.settle_send(tx, prepared.row_id, "sent", now=self.now)
            if self.mailbox_outages.pop(prepared.mailbox.key, None) is not None:
                catalog_store.clear_outage(tx, prepared.mailbox.key)
                self.mailbox_paused.pop(prepared.mailbox.key, None)
            self._record(
                tx,
                ctx,
                step.id,
                "email",
                "sent",
                detail=detail,
                variant=prepared.variant,
                message_id=prepared.message_id,
            )
            self.report.sent += 1
            return self._advance(tx, ctx, step.id)
        if outcome is SendOutcome.UNKNOWN:
            sends.settle_send(tx, prepared.row_id, "unknown", now=self.now, error=result.detail)
            self._hold_unknown(tx, ctx, step.id, prepared.message_id, result.detail)
            return False
        if outcome is SendOutcome.MAILBOX_DOWN:
            sends.settle_send(tx, prepared.row_id, "not_sent", now=self.now, error=result.detail)
            outages = catalog_store.record_outage(tx, prepared.mailbox.key, result.detail)
            until = self.now + mailbox_pause(outages)
            catalog_store.pause_mailbox(tx, prepared.mailbox.key, until)
            self.mailbox_paused[prepared.mailbox.key] = until
            self.mailbox_outages[prepared.mailbox.key] = outages
            self.report.errors.append(result.detail)
            self._defer(tx, ctx, until, "mailbox", result.detail)
            return False
        if outcome is SendOutcome.REJECTED:
            sends.settle_send(tx, prepared.row_id, "bounced", now=self.now, error=result.detail)
            activity.record_event(
                tx,
                contact_id=ctx.contact.id,
                type="bounced",
                detail="hard",
                occurred_at=self.now,
                now=self.now,
                message_id=prepared.message_id,
                source="smtp",
            )
            activity.suppress(tx, ctx.contact.email, "address", "bounced", self.now)
            self._record(
                tx,
                ctx,
                step.id,
                "email",
                "bounced",
                detail=detail,
                variant=prepared.variant,
                message_id=prepared.message_id,
            )
            self._exit(tx, ctx, "bounced", result.detail)
            return False
        if outcome is SendOutcome.FAILED:
            sends.settle_send(tx, prepared.row_id, "failed", now=self.now, error=result.detail)
            self._fail_enrollment(tx, ctx.claim, step.id, result.detail)
            return False
        # TRANSIENT: certainly not sent; back off and try again, up to max_attempts.
        sends.settle_send(tx, prepared.row_id, "retry", now=self.now, error=result.detail)
        attempts = ctx.enrollment.attempts + 1
        if attempts >= self.max_attempts:
            self._fail_enrollment(
                tx, ctx.claim, step.id, f"gave up after {attempts} attempts: {result.detail}"
            )
            return False
        self._record(
            tx,
            ctx,
            step.id,
            "email",
            "retry",
            detail={**detail, "attempt": attempts},
            message_id=prepared.message_id,
            error=result.detail,
        )
        retry_at = self.now + backoff(attempts, ctx.enrollment.id)
        enrollment_store.fenced_update(
            tx,
            ctx.claim,
            self.now,
            attempts=attempts,
            waiting_on="retry",
            next_run_at=retry_at,
            leased_until=None,
            last_error=result.detail,
        )
        self.report.retried += 1
        return False

    # -- shared transitions -----------------------------------------------------------

    def _advance(self, tx: Any, ctx: Context, step_id: str, *, chosen: str | None = None) -> bool:
        values = advance_values(
            ctx.loaded.model,
            ctx.calendar,
            step_id,
            self.now,
            chosen=chosen,
            keep_until=self.lease_until,
        )
        if not enrollment_store.fenced_update(tx, ctx.claim, self.now, **values):
            self.report.lost_lease += 1
            return False
        if values["status"] == "completed":
            self._record(tx, ctx, step_id, "complete", "completed")
            self.report.completed += 1
            return False
        return bool(values["step_due_at"] <= self.now)  # due already: this tick runs it too

    def _record(
        self, tx: Any, ctx: Context, step_id: str | None, kind: str, outcome: str, **extra: Any
    ) -> None:
        activity.record_execution(
            tx,
            enrollment_id=ctx.enrollment.id,
            step_id=step_id,
            kind=kind,
            outcome=outcome,
            at=self.now,
            **extra,
        )

    def _exit(self, tx: Any, ctx: Context, reason: str, detail: str) -> None:
        values = enrollment_store.finished_values("exited", self.now, reason=reason, detail=detail)
        if enrollment_store.fenced_update(tx, ctx.claim, self.now, **values):
            activity.close_tasks_of(tx, ctx.enrollment.id, "skipped", self.now)
            self._record(
                tx,
                ctx,
                ctx.enrollment.current_step,
                "exit",
                "exited",
                detail={"reason": reason, "detail": detail},
            )
            self.report.exited += 1

    def _defer(self, tx: Any, ctx: Context, until: datetime, waiting_on: str, why: str) -> None:
        enrollment_store.fenced_update(
            tx,
            ctx.claim,
            self.now,
            next_run_at=until,
            waiting_on=waiting_on,
            leased_until=None,
            last_error=why if waiting_on == "mailbox" else None,
        )
        self.report.deferred += 1

    def _hold_unknown(self, tx: Any, ctx: Context, step_id: str, message_id: str, why: str) -> None:
        enrollment_store.fenced_update(
            tx,
            ctx.claim,
            self.now,
            waiting_on="unknown_send",
            next_run_at=None,
            leased_until=None,
            last_error=why,
        )
        self._record(tx, ctx, step_id, "email", "unknown", message_id=message_id, error=why)
        self.report.unknown += 1

    def _fail_enrollment(self, tx: Any, claim: Claim, step_id: str | None, error: str) -> None:
        if enrollment_store.fenced_update(
            tx,
            claim,
            self.now,
            status="failed",
            last_error=error,
            next_run_at=None,
            leased_until=None,
            waiting_on=None,
        ):
            activity.record_execution(
                tx,
                enrollment_id=claim.enrollment_id,
                step_id=step_id,
                kind="step",
                outcome="failed",
                at=self.now,
                error=error,
            )
            self.report.failed += 1
            self.report.errors.append(f"enrollment {claim.enrollment_id}: {error}")


def _address(sender: str) -> str:
    from email.utils import parseaddr

    return parseaddr(sender)[1]


def _display_name(contact: Contact) -> str:
    parts = [str(contact.fields.get(k, "")).strip() for k in ("first_name", "last_name")]
    return " ".join(p for p in parts if p) or str(contact.fields.get("name", ""))
