"""Rules that span fields: references between steps, cycles, template syntax."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Any

from seqctl.spec.models import (
    END,
    ActionStep,
    BranchStep,
    Calendar,
    EmailStep,
    Sequence,
    SpecFile,
    TaskStep,
)

Finding = tuple[tuple[Any, ...], str, bool]  # (data path, message, points at the key)


def check_spec(spec: SpecFile) -> Iterator[Finding]:
    yield from _unique_keys(spec.mailboxes, "mailboxes")
    yield from _unique_keys(spec.sequences, "sequences")
    yield from _unique_keys(spec.owners, "owners")
    for o_index, owner in enumerate(spec.owners):
        yield from _check_calendar(owner.calendar, ("owners", o_index, "calendar"))
    for s_index, sequence in enumerate(spec.sequences):
        yield from check_sequence(sequence, ("sequences", s_index))


def _unique_keys(items: list[Any], where: str) -> Iterator[Finding]:
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.key in seen:
            yield (where, index, "key"), f"duplicate key {item.key!r} in {where}", False
        seen.add(item.key)


def _check_calendar(spec: Calendar | None, here: tuple[Any, ...]) -> Iterator[Finding]:
    """A calendar must allow some time within a year from any moment, or ticks would find
    no send time; probed from the start of each year and each explicit holiday."""
    from seqctl.engine.calendar import NoSendTime
    from seqctl.engine.schedule import build_calendar

    if spec is None:
        return
    calendar = build_calendar(spec, spec.timezone)
    probes = {date(year, 1, 1) for year in range(2026, 2030)} | set(calendar.holidays.dates)
    for day in sorted(probes):
        try:
            calendar.next_opening(datetime.combine(day, time(0), tzinfo=UTC))
        except NoSendTime:
            yield here, f"no allowed day within a year from {day}: the window's days are all holidays", False
            return


def check_sequence(sequence: Sequence, at: tuple[Any, ...]) -> Iterator[Finding]:
    ids: set[str] = set()
    for index, step in enumerate(sequence.steps):
        if step.id in ids:
            yield (*at, "steps", index, "id"), f"duplicate step id {step.id!r}", False
        ids.add(step.id)
    if END in ids:
        yield (*at, "steps"), f"'{END}' is reserved and cannot be a step id", False
    email_ids = {s.id for s in sequence.steps if isinstance(s, EmailStep)}
    seen_email = False
    window = sequence.calendar.window if sequence.calendar else None
    for index, step in enumerate(sequence.steps):
        here = (*at, "steps", index)
        for field, target in _references(step):
            if target != END and target not in ids:
                yield (*here, field), f"step {target!r} does not exist in {sequence.key!r}", False
            if field in ("then", "else") and target == step.id:
                yield (*here, field), "a branch cannot lead to itself", False
        if isinstance(step, BranchStep) and step.if_.step is not None:
            if step.if_.step not in email_ids:
                yield (
                    (*here, "if", "step"),
                    f"{step.if_.step!r} is not an email step of {sequence.key!r}",
                    False,
                )
        if isinstance(step, EmailStep):
            yield from _check_email(step, here, has_earlier_email=seen_email)
            seen_email = True
            if (
                window
                and step.at is not None
                and not any(start <= step.at < end for start, end in window.day_hours().values())
            ):
                yield (*here, "at"), "'at' is outside the sequence's send window on every day", False
        if isinstance(step, TaskStep):
            yield from _check_templates(
                ((*here, "note"), step.note),
            )
        if isinstance(step, ActionStep):
            yield from _check_action(step, here)
    yield from _check_cycles(sequence, at)
    yield from _check_calendar(sequence.calendar, (*at, "calendar"))


def _references(step: Any) -> Iterator[tuple[str, str]]:
    if isinstance(step, BranchStep):
        yield "then", step.then
        yield "else", step.else_
        return
    if getattr(step, "next", None) is not None:
        yield "next", step.next
    if isinstance(step, ActionStep) and step.goto is not None:
        yield "goto", step.goto


def _check_email(step: EmailStep, here: tuple[Any, ...], has_earlier_email: bool) -> Iterator[Finding]:
    needs_subject = not (step.thread and has_earlier_email)
    if step.thread and not has_earlier_email and step.subject is None:
        yield (*here, "thread"), "a threaded email needs an earlier email to reply to", False
    if step.variants is not None:
        if step.body is not None or step.subject is not None or step.html is not None:
            yield (
                (*here, "variants"),
                "put subject/body/html inside each variant, not beside variants",
                False,
            )
        if not step.variants:
            yield (*here, "variants"), "variants needs at least one variant", False
        seen: set[str] = set()
        for v_index, variant in enumerate(step.variants):
            where = (*here, "variants", v_index)
            if variant.id in seen:
                yield (*where, "id"), f"duplicate variant id {variant.id!r}", False
            seen.add(variant.id)
            if variant.subject is None and needs_subject:
                yield where, "missing required key 'subject'", False
            yield from _check_templates(
                ((*where, "subject"), variant.subject),
                ((*where, "body"), variant.body),
                ((*where, "html"), variant.html),
            )
        return
    if step.body is None:
        yield here, "missing required key 'body' (or 'variants')", False
    if step.subject is None and needs_subject:
        yield here, "missing required key 'subject'", False
    yield from _check_templates(
        ((*here, "subject"), step.subject),
        ((*here, "body"), step.body),
        ((*here, "html"), step.html),
    )


def _check_templates(*fields: tuple[tuple[Any, ...], str | None]) -> Iterator[Finding]:
    from seqctl.delivery.render import runaway_problem, template_syntax_error

    for path, source in fields:
        if source is not None:
            html = path[-1] == "html"
            problem = template_syntax_error(source, html=html) or runaway_problem(source, html=html)
            if problem:
                yield path, problem, False


def _check_action(step: ActionStep, here: tuple[Any, ...]) -> Iterator[Finding]:
    operations = ("tag", "untag", "set", "assign", "enroll", "exit", "goto", "notify")
    if step.notify is not None and not step.message:
        yield (*here, "notify"), "notify needs a message (a template) to send", False
    if step.message is not None and step.notify is None:
        yield (*here, "message"), "message is what a notify action sends: name the target with notify", False
    yield from _check_templates(((*here, "message"), step.message))
    if not any(getattr(step, name) is not None for name in operations):
        yield here, f"an action needs one of: {', '.join(operations)}", False
    if step.goto is not None and step.next is not None:
        yield (*here, "goto"), "use either goto or next, not both", False
    if step.exit is not None and (step.goto is not None or step.next is not None):
        yield (*here, "exit"), "an exit ends the enrollment; it cannot also go on", False


def _check_cycles(sequence: Sequence, at: tuple[Any, ...]) -> Iterator[Finding]:
    """A loop whose steps all lack `wait` would spin forever inside one tick."""
    index_of = {step.id: i for i, step in enumerate(sequence.steps)}
    waits = {step.id for step in sequence.steps if step.wait is not None}
    graph = {
        step.id: [t for t in sequence.successors(i) if t in index_of and t not in waits]
        for i, step in enumerate(sequence.steps)
    }
    reported: set[frozenset[str]] = set()
    for start in graph:
        if start in waits:
            continue
        path = _find_cycle(graph, start, waits)
        if path and frozenset(path) not in reported:
            reported.add(frozenset(path))
            loop = " → ".join([*path, path[0]])
            yield (
                (*at, "steps", index_of[path[0]]),
                f"the steps loop without any wait ({loop}); add a wait to one of them",
                False,
            )


def _find_cycle(graph: dict[str, list[str]], start: str, waits: set[str]) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    visited: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, []):
            if nxt == start:
                return path
            if nxt not in visited and nxt not in waits:
                visited.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None
