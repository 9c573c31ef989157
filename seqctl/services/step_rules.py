"""What a step does, decided without the database: which variant an email uses, what its
subject, text and HTML render to, and whom a task is for, when it is due and what its note
says. The tick (`batch/steps.py`, `batch/compose.py`) and `preview` both call these, so the
timeline preview shows is the one the tick runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from seqctl.delivery.message import thread_subject
from seqctl.delivery.render import render
from seqctl.engine.flow import choose_variant
from seqctl.errors import TemplateProblem
from seqctl.services.catalog import Catalog
from seqctl.services.progress import owner_of
from seqctl.spec.models import ActionStep, EmailStep, Sequence, TaskStep, Variant


def email_variant(step: EmailStep, enrollment_id: int) -> Variant | None:
    """The variant this enrollment gets (stable per enrollment and step), or None."""
    return choose_variant(step.variants, enrollment_id, step.id) if step.variants else None


@dataclass(frozen=True)
class EmailParts:
    """An email's rendered subject and bodies; a part that could not be rendered is None
    and its reason is in `problems` (preview shows each; the tick fails on the first)."""

    where: str
    subject: str | None
    text: str | None
    html: str | None
    problems: dict[str, str] = field(default_factory=dict)

    def checked(self) -> EmailParts:
        """These parts, or TemplateProblem with the first reason one could not be rendered."""
        for problem in self.problems.values():
            raise TemplateProblem(problem)
        return self


def render_email(
    step: EmailStep, variant: Variant | None, context: dict[str, Any], *, first_subject: str | None
) -> EmailParts:
    """Render `step` (or its `variant`) for a contact. `first_subject` is the thread's first
    email's subject: an email without its own subject replies to it ("Re: …")."""
    source = variant or step
    where = f"step {step.id}" + (f" variant {variant.id}" if variant else "")
    rendered: dict[str, str | None] = {"subject": None, "text": None, "html": None}
    problems: dict[str, str] = {}

    def part(name: str, template: str, *, html: bool = False) -> None:
        what = "body" if name == "text" else name
        try:
            rendered[name] = render(template, context, html=html, what=f"{where} {what}")
        except TemplateProblem as exc:
            problems[name] = str(exc)

    if source.subject is not None:
        part("subject", source.subject)
    elif first_subject is not None:
        rendered["subject"] = thread_subject(first_subject)
    else:
        problems["subject"] = f"{where}: a threaded email has no earlier email to reply to"
    part("text", source.body or "")
    if source.html is not None:
        part("html", source.html, html=True)
    return EmailParts(where, rendered["subject"], rendered["text"], rendered["html"], problems)


@dataclass(frozen=True)
class TaskPlan:
    """A manual task as a step creates it; `note` is None when it could not be rendered."""

    kind: str
    owner: str | None
    due_at: datetime
    note: str | None
    problem: str | None


def plan_task(
    step: TaskStep,
    catalog: Catalog,
    sequence: Sequence,
    *,
    assigned: str | None,
    contact_fields: dict[str, Any],
    context: dict[str, Any],
    at: datetime,
) -> TaskPlan:
    """The task `step` creates at `at`: for the enrollment's owner (see `owner_of`), due when
    that owner next works (a task created at 03:00 is due at 09:00)."""
    owner = owner_of(assigned, contact_fields, sequence)
    due = catalog.working_hours(owner, sequence).next_opening(at)
    try:
        note, problem = render(step.note, context, what=f"step {step.id} note"), None
    except TemplateProblem as exc:
        note, problem = None, str(exc)
    return TaskPlan(step.kind, owner, due, note, problem)


def notify_message(step: ActionStep, context: dict[str, Any]) -> str:
    """A `notify` action's message, rendered (TemplateProblem when it cannot be)."""
    return render(step.message or "", context, what=f"step {step.id} message")
