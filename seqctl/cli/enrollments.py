"""`seqctl enroll`, `pause`, `resume`, `cancel`, `retry`, `queue`, `resolve` and `log`: contacts in sequences."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from seqctl.cli import output
from seqctl.cli.app import (
    MAX_ID,
    EmailOpt,
    IdOpt,
    JsonOption,
    SequenceArg,
    app,
    database,
    now,
    parse_instant,
)
from seqctl.errors import InvalidInput


@app.command()
def enroll(
    sequence: Annotated[str, typer.Argument(help="Sequence key.")],
    email: Annotated[
        list[str] | None, typer.Option("--email", help="Address to enroll (repeatable).")
    ] = None,
    csv: Annotated[str | None, typer.Option("--csv", help="CSV of contacts to upsert and enroll.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Enroll every contact with this tag.")] = None,
    start_at: Annotated[
        str | None, typer.Option("--start-at", help="Start later (ISO 8601 with offset).")
    ] = None,
    step: Annotated[
        str | None, typer.Option("--step", help="Start at this step instead of the first.")
    ] = None,
    again: Annotated[
        bool,
        typer.Option(
            "--again",
            help="Re-enroll contacts whose earlier enrollment completed or was cancelled (never one "
            "that replied, bounced, unsubscribed or complained).",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List each skipped contact and why.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Enroll contacts. A contact who is or ever was in the sequence is skipped (see --again),
    and so is one that is suppressed or, with `exclusive: true`, in another exclusive
    sequence; an address with no contact is skipped too (--email creates no contact: import
    contacts first, or use --csv).

    Example: seqctl enroll cold-outreach --csv leads.csv --start-at 2026-12-01T09:00:00-05:00
    """
    from seqctl.services.enrolling import enroll as enroll_contacts

    if sum(x is not None and x != [] for x in (email, csv, tag)) != 1:
        raise InvalidInput("give exactly one of --email, --csv or --tag")
    start = parse_instant(start_at, "--start-at") if start_at else None
    with output.progress_bar(f"enrolling in {sequence}", as_json=as_json) as progress:
        report = enroll_contacts(
            database(), sequence, emails=email, csv_path=csv, tag=tag, start_at=start, step=step, again=again,
            now=now(), progress=progress,
        )  # fmt: skip
    if as_json:
        output.print_json({"enrolled": report.enrolled, "skipped": report.skipped, "invalid": report.invalid})
        return
    for item in report.invalid:
        output.note(
            f"invalid: {item.get('email') or (csv or '') + ':' + str(item.get('line'))}: {item['error']}"
        )
    if verbose:
        for item in report.skipped:
            output.note(f"skipped {item['email']}: {item['reason']}")
    hint = "" if verbose or not report.skipped else " (--verbose lists them)"
    output.note(
        f"enrolled {len(report.enrolled)}, skipped {len(report.skipped)}{hint}, invalid {len(report.invalid)}"
    )


def _targets(sequence: str | None, email: str | None, enrollment_id: int | None) -> Any:
    from seqctl.services.enrolling import select_enrollments

    return select_enrollments(database(), enrollment_id=enrollment_id, sequence_key=sequence, email=email)




@app.command()
def pause(sequence: SequenceArg = None, email: EmailOpt = None, enrollment_id: IdOpt = None) -> None:
    """Pause an enrollment (--id), a contact in a sequence (SEQUENCE --email), or a whole
    SEQUENCE: then the sequence itself is held, so no step of any of its enrollments runs,
    including contacts enrolled while it is paused, until `resume SEQUENCE`.

    Example: seqctl pause cold-outreach --email ada@example.com
    """
    if sequence is not None and email is None and enrollment_id is None:
        from seqctl.services.sequence_lifecycle import pause_sequence

        changed, held = pause_sequence(database(), sequence, now=now())
        state = "paused" if changed else "was paused already"
        output.note(f"sequence {sequence}: {state}; {held} enrollment(s) held")
        return
    from seqctl.services.interventions import pause as pause_enrollments

    paused = pause_enrollments(database(), _targets(sequence, email, enrollment_id), now=now())
    output.note(f"paused {len(paused)} enrollment(s)")


@app.command()
def resume(sequence: SequenceArg = None, email: EmailOpt = None, enrollment_id: IdOpt = None) -> None:
    """Resume a paused enrollment (--id, SEQUENCE --email) or a paused SEQUENCE; a step
    already due runs at the next time its calendar allows (no wait is restarted).

    Example: seqctl resume cold-outreach
    """
    if sequence is not None and email is None and enrollment_id is None:
        from seqctl.services.sequence_lifecycle import resume_sequence

        changed, released = resume_sequence(database(), sequence, now=now())
        state = "resumed" if changed else "was not paused"
        output.note(f"sequence {sequence}: {state}; {released} enrollment(s) released")
        return
    from seqctl.services.interventions import resume as resume_enrollments

    resumed = resume_enrollments(database(), _targets(sequence, email, enrollment_id), now=now())
    output.note(f"resumed {len(resumed)} enrollment(s)")


@app.command()
def cancel(sequence: SequenceArg = None, email: EmailOpt = None, enrollment_id: IdOpt = None) -> None:
    """End enrollments now (exit reason: manual); open tasks are skipped.

    Example: seqctl cancel --id 42
    """
    from seqctl.services.interventions import cancel as cancel_enrollments

    changed = cancel_enrollments(database(), _targets(sequence, email, enrollment_id), now=now())
    output.note(f"cancelled {len(changed)} enrollment(s)")


@app.command()
def move(
    sequence: SequenceArg = None,
    email: EmailOpt = None,
    enrollment_id: IdOpt = None,
    step: Annotated[str, typer.Option("--step", help="The step to put it on.")] = "",
) -> None:
    """Put an open enrollment (--id, or SEQUENCE --email) on another step of its sequence,
    due as if the step before it had just run. The email thread is kept; an email step it
    already got is not sent again.

    Example: seqctl move cold-outreach --email ada@example.com --step breakup
    """
    from seqctl.services.interventions import move as move_enrollments

    if not step:
        raise InvalidInput("name the step to move to: --step STEP")
    if enrollment_id is None and (sequence is None or email is None):
        raise InvalidInput("name an enrollment: --id ID, or SEQUENCE --email ADDR")
    moved = move_enrollments(database(), _targets(sequence, email, enrollment_id), step, now=now())
    output.note(f"moved {len(moved)} enrollment(s) to {step}")


@app.command()
def enrollments(
    sequence: SequenceArg = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", help="Only these statuses (repeatable): scheduled, active, paused, completed, "
                     "exited, failed."),
    ] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Only enrollments this owner holds.")] = None,
    email: EmailOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=MAX_ID)] = 200,
    as_json: JsonOption = False,
) -> None:
    """Every enrollment, finished ones included, newest first: status, step, when it runs
    next or how it ended.

    Example: seqctl enrollments cold-outreach --status exited
    """
    from seqctl.services.reports import enrollments as enrollment_listing

    rows = enrollment_listing(
        database(), sequence_key=sequence, statuses=status or [], owner=owner, email=email, limit=limit, now=now()
    )
    for row in rows:
        row["next"] = row["next_run_at"] or row["exit_reason"] or row["why"]
    output.listing(rows, ["id", "sequence", "email", "status", "step", "next"], as_json=as_json,
                   empty="no enrollments", optional=["step", "sequence"])  # fmt: skip


@app.command()
def queue(
    sequence: SequenceArg = None,
    due: Annotated[bool, typer.Option("--due", help="Only what is due (overdue) now.")] = False,
    failed: Annotated[bool, typer.Option("--failed", help="Failed (dead-lettered) enrollments.")] = False,
    unknown: Annotated[bool, typer.Option("--unknown", help="Sends whose outcome is unknown.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=MAX_ID)] = 200,
    as_json: JsonOption = False,
) -> None:
    """What runs next and when, and why it waits; what is overdue, failed or unknown.

    Example: seqctl queue cold-outreach --due
    """
    from seqctl.services.reports import queue as queue_report

    rows = queue_report(
        database(),
        now=now(),
        sequence_key=sequence,
        due=due,
        failed=failed,
        unknown=unknown,
        limit=limit,
    )
    if unknown:
        columns, empty = ["id", "sequence", "email", "step", "message_id", "attempted_at", "error"], "no unknown sends"
        optional = ["message_id", "sequence", "step"]
    else:
        columns, empty = ["id", "sequence", "email", "status", "step", "due", "why"], "queue is empty"
        optional = ["status", "sequence", "step"]
    output.listing(rows, columns, as_json=as_json, empty=empty, optional=optional)


@app.command()
def resolve(
    send_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="The send's id from `seqctl queue --unknown`.")],
    sent: Annotated[bool, typer.Option("--sent", help="It was delivered: move the enrollment on.")] = False,
    not_sent: Annotated[
        bool, typer.Option("--not-sent", help="It was not delivered: send it again.")
    ] = False,
) -> None:
    """Settle a send whose outcome is unknown.

    Example: seqctl resolve 17 --not-sent
    """
    from seqctl.services.resolving import resolve as resolve_send

    if sent == not_sent:
        raise InvalidInput("give exactly one of --sent or --not-sent")
    enrollment = resolve_send(database(), send_id, sent=sent, now=now())
    output.note(
        f"send {send_id} resolved as {'sent' if sent else 'not sent'}; enrollment {enrollment.id} is {enrollment.status} at {enrollment.current_step}"
    )


@app.command()
def log(
    sequence: SequenceArg = None,
    email: EmailOpt = None,
    enrollment_id: IdOpt = None,
    as_json: JsonOption = False,
) -> None:
    """An enrollment's timeline: steps run, emails, tasks, events.

    Example: seqctl log cold-outreach --email ada@example.com
    """
    from seqctl.services.reports import timeline

    found = timeline(database(), enrollment_id=enrollment_id, sequence_key=sequence, email=email)
    if as_json:
        output.print_json(found)
        return
    for item in found:
        output.line(
            f"enrollment {item['id']} · {item['sequence']} · {item['email']} · {item['status']}"
            + (f" ({item['exit_reason']})" if item["exit_reason"] else "")
            + (f" · next {item['step']} at {output.when(item['next_run_at'])}" if item["next_run_at"] else "")
        )
        for entry in item["timeline"]:  # the Message-ID is in --json; here, what happened, in words
            entry["details"] = {"variant": entry["variant"], "error": entry["error"], **(entry["detail"] or {})}
        output.table(item["timeline"], ["at", "what", "step", "outcome", "details"])


@app.command()
def retry(enrollment_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Enrollment id.")]) -> None:
    """Put a failed enrollment back in the queue, due now.

    Example: seqctl retry 42
    """
    from seqctl.services.interventions import retry as retry_enrollment

    retry_enrollment(database(), enrollment_id, now=now())
    output.note(f"enrollment {enrollment_id} queued again")


@app.command()
def sends(
    since: Annotated[
        str | None, typer.Option("--since", help="From (ISO 8601; default: today's midnight in the display zone).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Until, not included (ISO 8601; default: now).")] = None,
    mailbox: Annotated[str | None, typer.Option("--mailbox", help="Only this mailbox's.")] = None,
    sequence: Annotated[str | None, typer.Option("--sequence", help="Only this sequence's.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=MAX_ID)] = 500,
    as_json: JsonOption = False,
) -> None:
    """The emails that went out (and those of unknown outcome), newest first: time,
    mailbox, recipient, sequence, step, variant, subject, Message-ID.

    Example: seqctl sends --since 2026-12-01T00:00:00Z --mailbox ada
    """
    from seqctl.services.sent_mail import went_out

    clock = now()
    start = parse_instant(since, "--since") if since else output.day_start(clock)
    end = parse_instant(until, "--until") if until else clock + timedelta(seconds=1)
    rows = went_out(database(), since=start, until=end, mailbox_key=mailbox, sequence_key=sequence, limit=limit)
    output.listing(rows, ["at", "email", "sequence", "step", "subject", "status", "mailbox", "variant"],
                   as_json=as_json, empty="nothing went out", optional=["variant", "mailbox", "status", "step", "sequence"])  # fmt: skip
