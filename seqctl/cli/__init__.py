"""The command line: parse, read the clock once, call one service, render.

Every command's docstring is its --help text, with an example.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from seqctl import settings
from seqctl.cli import output
from seqctl.errors import EXIT_INTERRUPTED, InvalidInput, SeqctlError, SpecError

app = typer.Typer(
    help="Outreach sequences as YAML in git, state in your own database, run by cron.",
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
contacts_app = typer.Typer(help="Manage contacts.", no_args_is_help=True, rich_markup_mode=None)
task_app = typer.Typer(help="Complete or skip manual tasks.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(contacts_app, name="contacts")
app.add_typer(task_app, name="task")
suppress_app = typer.Typer(
    help="Addresses and domains no sequence may mail.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(suppress_app, name="suppress")
inbox_app = typer.Typer(
    help="Read replies, bounces and out-of-office mail.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(inbox_app, name="inbox")
events_app = typer.Typer(
    help="Import engagement and delivery events from email providers.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(events_app, name="events")


class State:
    db_url: str = settings.DEFAULT_DATABASE_URL
    now: datetime | None = None
    debug: bool = False
    opened: list[Any] = []  # noqa: RUF012 - one process, one command


state = State()
# The largest id or count a command accepts: what a 64-bit database integer holds.
MAX_ID = 2**63 - 1


def parse_instant(value: str, option: str) -> datetime:
    """An ISO 8601 instant with a UTC offset (Z or ±HH:MM); naive times are refused."""
    shown = value if len(value) <= 40 else value[:40] + "…"
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T"))
        if parsed.tzinfo is None:
            # A date alone reads as midnight: suggest a full time, which is accepted as it stands.
            whole = parsed.isoformat(timespec="seconds")
            raise InvalidInput(f"{option} {shown!r}: add a UTC offset, e.g. {whole}Z or {whole}+01:00")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidInput(f"{option} {shown!r}: not an ISO 8601 time like 2026-03-02T09:00:00Z") from None


def now(override: str | None = None) -> datetime:
    """The one clock reading of this command (`--now` replaces it)."""
    if override is not None:
        return parse_instant(override, "--now")
    return state.now or datetime.now(UTC)


def database(*, require_schema: bool = True) -> Any:
    from seqctl.store.db import Database
    from seqctl.store.migrate import require_current

    db = Database(state.db_url, create=not require_schema)
    state.opened.append(db)
    if require_schema:
        require_current(db)
    return db


JsonOption = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON on stdout and nothing else.")
]
NowOption = Annotated[str | None, typer.Option("--now", help="Simulate the clock (ISO 8601 with offset).")]


@app.callback()
def main_options(
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (default: $SEQCTL_DATABASE_URL or sqlite:///seqctl.db)."),
    ] = None,
    now_at: Annotated[
        str | None,
        typer.Option("--now", help="Simulate the clock for any command (ISO 8601 with offset)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    state.db_url = settings.database_url(db)
    state.now = parse_instant(now_at, "--now") if now_at else None
    state.debug = debug


@app.command()
def init() -> None:
    """Create or upgrade the database schema (runs the migrations).

    Example: seqctl --db postgresql://localhost/seqctl init
    """
    from seqctl.store.migrate import upgrade

    before, after = upgrade(database(require_schema=False))
    output.note(
        f"schema at {after}"
        + (
            " (created)"
            if before is None
            else " (already current)"
            if before == after
            else f" (upgraded from {before})"
        )
    )


@app.command()
def validate(files: Annotated[list[str], typer.Argument(help="Sequence files.")]) -> None:
    """Check YAML and templates without touching the database.

    Example: seqctl validate sequences/*.yaml
    """
    from seqctl.spec.loader import load_files

    loaded = load_files(files)
    count = sum(len(spec.sequences) for _, spec in loaded)
    output.note(f"ok: {len(files)} file(s), {count} sequence(s)")


@app.command("import")
def import_(
    files: Annotated[list[str], typer.Argument(help="Sequence files.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    on_removed: Annotated[
        str | None,
        typer.Option(
            "--on-removed",
            help="For enrollments on removed steps: 'exit', or a step id to move them to.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create or update mailboxes and sequences, all or nothing; prints the plan.

    Example: seqctl import sequences.example.yaml --dry-run
    """
    from seqctl.services.importer import import_files

    plan = import_files(database(), files, now=now(), dry_run=dry_run, on_removed=on_removed)
    if as_json:
        output.print_json(plan.as_json())
        if plan.refusal:
            raise typer.Exit(2)
        return
    for change in plan.changes:
        details = f" ({'; '.join(change.details)})" if change.details and change.state != "unchanged" else ""
        stranded = "".join(
            f"\n    {n} enrollment(s) on removed step {sid}: {on_removed or 'needs --on-removed'}"
            for sid, n in change.stranded.items()
        )
        output.line(f"{change.kind} {change.key}: {change.state}{details}{stranded}")
    if plan.refusal:  # only a dry run gets here with one: the real import raises it
        raise InvalidInput(f"the import would be refused: {plan.refusal}")
    output.note("dry run: nothing changed" if dry_run else "imported")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the sequence file format (for editors).

    Example: seqctl schema > seqctl.schema.json
    """
    from seqctl.spec.schema import json_schema

    output.print_json(json_schema())


@contacts_app.command("import")
def contacts_import(
    file: Annotated[
        str,
        typer.Argument(help="CSV with an 'email' column; other columns become fields, 'tags' tags."),
    ],
    as_json: JsonOption = False,
) -> None:
    """Upsert contacts by email from a CSV; bad rows are reported by line, the rest imported.

    Example: seqctl contacts import leads.csv
    """
    from seqctl.services.contacts import import_csv

    report = import_csv(database(), file, now=now())
    problems = [{"line": p.line, "error": p.message} for p in report.problems]
    if as_json:
        output.print_json(
            {
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "problems": problems,
            }
        )
    else:
        for p in report.problems:
            output.note(f"{file}:{p.line}: {p.message}")
        output.note(
            f"contacts: {report.created} created, {report.updated} updated, {report.unchanged} unchanged, {len(problems)} row problem(s)"
        )


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
    as_json: JsonOption = False,
) -> None:
    """Enroll contacts; one already enrolled, or an address with no contact, is reported and
    skipped (--email creates no contact: import contacts first, or use --csv).

    Example: seqctl enroll cold-outreach --csv leads.csv --start-at 2026-12-01T09:00:00-05:00
    """
    from seqctl.services.operations import enroll as enroll_contacts

    if sum(x is not None and x != [] for x in (email, csv, tag)) != 1:
        raise InvalidInput("give exactly one of --email, --csv or --tag")
    start = parse_instant(start_at, "--start-at") if start_at else None
    report = enroll_contacts(
        database(),
        sequence,
        emails=email,
        csv_path=csv,
        tag=tag,
        start_at=start,
        step=step,
        now=now(),
    )
    if as_json:
        output.print_json({"enrolled": report.enrolled, "skipped": report.skipped, "invalid": report.invalid})
        return
    for item in report.invalid:
        output.note(
            f"invalid: {item.get('email') or (csv or '') + ':' + str(item.get('line'))}: {item['error']}"
        )
    for item in report.skipped:
        output.note(f"skipped {item['email']}: {item['reason']}")
    output.note(
        f"enrolled {len(report.enrolled)}, skipped {len(report.skipped)}, invalid {len(report.invalid)}"
    )


@app.command()
def preview(
    sequence: Annotated[str, typer.Argument(help="Sequence key.")],
    email: Annotated[str | None, typer.Option("--email", help="Preview for this contact.")] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="The contact's time zone (IANA name), e.g. Asia/Kolkata.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="Enrollment time (ISO 8601 with offset; default now).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The whole timeline a contact would get, both ways of each branch, rendered; queues nothing.

    Without --email a sample contact is used. Each step is assumed to run when due, each task
    to be done when due.

    Example: seqctl preview cold-outreach --timezone Europe/Berlin --start 2026-11-27T16:00:00Z
    """
    from seqctl.services.preview import preview as build_preview

    begin = parse_instant(start, "--start") if start else now()
    found = build_preview(database(), sequence, start=begin, email=email, timezone=timezone)
    if as_json:
        output.print_json(found)
        return
    who = found["contact"]["email"] + (" (sample contact)" if found["contact"]["sample"] else "")
    output.line(f"{found['sequence']} for {who}, in {found['timezone']}, starting {found['start']}")
    output.timeline(found["steps"])
    if found["truncated"]:
        output.note("(stopped after 200 steps)")


def _targets(sequence: str | None, email: str | None, enrollment_id: int | None) -> Any:
    from seqctl.services.operations import select_enrollments

    return select_enrollments(database(), enrollment_id=enrollment_id, sequence_key=sequence, email=email)


SequenceArg = Annotated[str | None, typer.Argument(help="Sequence key.")]
EmailOpt = Annotated[str | None, typer.Option("--email", help="The contact's address.")]
IdOpt = Annotated[int | None, typer.Option("--id", min=1, max=MAX_ID, help="Enrollment id.")]


@app.command()
def pause(sequence: SequenceArg = None, email: EmailOpt = None, enrollment_id: IdOpt = None) -> None:
    """Pause an enrollment (--id), a contact in a sequence (SEQUENCE --email), or a whole SEQUENCE.

    Example: seqctl pause cold-outreach --email ada@example.com
    """
    from seqctl.services.operations import pause as pause_enrollments

    changed = pause_enrollments(database(), _targets(sequence, email, enrollment_id), now=now())
    output.note(f"paused {len(changed)} enrollment(s)")


@app.command()
def resume(sequence: SequenceArg = None, email: EmailOpt = None, enrollment_id: IdOpt = None) -> None:
    """Resume paused enrollments; a step already due runs at the next allowed time.

    Example: seqctl resume cold-outreach
    """
    from seqctl.services.operations import resume as resume_enrollments

    changed = resume_enrollments(database(), _targets(sequence, email, enrollment_id), now=now())
    output.note(f"resumed {len(changed)} enrollment(s)")


@app.command()
def cancel(sequence: SequenceArg = None, email: EmailOpt = None, enrollment_id: IdOpt = None) -> None:
    """End enrollments now (exit reason: manual); open tasks are skipped.

    Example: seqctl cancel --id 42
    """
    from seqctl.services.operations import cancel as cancel_enrollments

    changed = cancel_enrollments(database(), _targets(sequence, email, enrollment_id), now=now())
    output.note(f"cancelled {len(changed)} enrollment(s)")


@app.command()
def tick(
    now_at: NowOption = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, max=MAX_ID, help="Claim at most N enrollments.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what is due; change nothing.")] = False,
    lease: Annotated[
        int,
        typer.Option("--lease", min=5, max=86_400, help="Seconds a claim is held before another tick may take it over."),
    ] = 60,
    as_json: JsonOption = False,
) -> None:
    """One idempotent pass over everything due. Cron runs it every minute.

    Example: seqctl tick --now 2026-03-02T14:00:00Z
    """
    from datetime import timedelta

    from seqctl.services.tick import Tick

    started = time.monotonic()
    runner = Tick(database(), now=now(now_at), lease=timedelta(seconds=lease))
    report = runner.preview(limit) if dry_run else runner.run(limit)
    duration = round(time.monotonic() - started, 3)
    if as_json:
        output.print_json({**report.as_json(), "dry_run": dry_run, "duration_s": duration})
        return
    if dry_run:
        output.table(
            report.due,
            ["id", "sequence", "email", "step", "type", "due"],
            title="due now",
            empty="nothing due",
        )
        return
    for message in report.errors:
        output.note(message)
    for key, why in sorted(report.paused_mailboxes.items()):
        output.note(f"mailbox {key} paused: {why}")
    output.note(
        f"tick {report.now:%Y-%m-%dT%H:%M:%SZ}: claimed {report.claimed}, sent {report.sent}, tasks {report.tasks}, "
        f"branched {report.branched}, actions {report.actions}, exited {report.exited}, completed {report.completed}, "
        f"deferred {report.deferred}, retried {report.retried}, failed {report.failed}, unknown {report.unknown}, "
        f"{duration}s"
    )


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
    if as_json:
        output.print_json(rows)
    elif unknown:
        output.table(
            rows,
            ["id", "sequence", "email", "step", "message_id", "attempted_at", "error"],
            empty="no unknown sends",
        )
    else:
        output.table(
            rows,
            ["id", "sequence", "email", "status", "step", "due", "why"],
            empty="queue is empty",
        )


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
    from seqctl.services.operations import resolve as resolve_send

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
            + (f" · next {item['step']} at {item['next_run_at']}" if item["next_run_at"] else "")
        )
        output.table(
            item["timeline"],
            ["at", "what", "step", "outcome", "variant", "message_id", "error", "detail"],
        )


@app.command()
def tasks(
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's tasks.")] = None,
    include_closed: Annotated[bool, typer.Option("--all", help="Include done and skipped tasks.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Open manual tasks (call, LinkedIn, email, to-do), oldest due first.

    Example: seqctl tasks --owner ada --json
    """
    from seqctl.services.reports import tasks as task_report

    rows = task_report(database(), owner=owner, include_closed=include_closed)
    if as_json:
        output.print_json(rows)
    else:
        output.table(
            rows,
            ["id", "due", "owner", "kind", "email", "sequence", "step", "note", "status"],
            empty="no open tasks",
        )


@task_app.command("done")
def task_done(
    task_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Task id.")],
    outcome: Annotated[str | None, typer.Option("--outcome", help="What happened, for the log.")] = None,
) -> None:
    """Complete a manual task; its enrollment moves on.

    Example: seqctl task done 12 --outcome "left voicemail"
    """
    from seqctl.services.operations import finish_task

    finish_task(database(), task_id, outcome=outcome, skipped=False, now=now())
    output.note(f"task {task_id} done")


@task_app.command("skip")
def task_skip(
    task_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Task id.")],
    outcome: Annotated[str | None, typer.Option("--outcome", help="Why, for the log.")] = None,
) -> None:
    """Skip a manual task; its enrollment moves on.

    Example: seqctl task skip 12 --outcome "no phone number"
    """
    from seqctl.services.operations import finish_task

    finish_task(database(), task_id, outcome=outcome, skipped=True, now=now())
    output.note(f"task {task_id} skipped")


@app.command()
def event(
    event_type: Annotated[
        str,
        typer.Argument(
            metavar="TYPE",
            help="opened, clicked, replied, auto_replied, bounced, unsubscribed, meeting_booked",
        ),
    ],
    email: Annotated[str, typer.Option("--email", help="The contact's address.")],
    message_id: Annotated[
        str | None,
        typer.Option("--message-id", help="The Message-ID it concerns (brackets optional)."),
    ] = None,
    at: Annotated[str | None, typer.Option("--at", help="When it happened (default: now).")] = None,
    soft: Annotated[bool, typer.Option("--soft", help="For bounced: a soft (temporary) bounce.")] = False,
    url: Annotated[str | None, typer.Option("--url", help="For clicked: the link that was clicked.")] = None,
) -> None:
    """Record an event by hand; exit rules and suppression apply at once.

    Example: seqctl event replied --email ada@example.com
    """
    from seqctl.services.events import record_event

    current = now()
    when = parse_instant(at, "--at") if at else current
    detail = ("soft" if soft else "hard") if event_type == "bounced" else None
    if url is not None and event_type != "clicked":
        raise InvalidInput("--url goes with a clicked event")
    report = record_event(
        database(), event_type, email, message_id=message_id, at=when, now=current, detail=detail, url=url
    )
    output.note(
        f"recorded {event_type} for {email}"
        + (" (address suppressed)" if report.suppressed else "")
        + (f"; exited enrollment(s) {', '.join(map(str, report.exited))}" if report.exited else "")
    )


@suppress_app.command("add")
def suppress_add(
    values: Annotated[list[str], typer.Argument(help="Addresses, or domains (example.com or @example.com).")],
    reason: Annotated[
        str, typer.Option("--reason", help="manual, unsubscribed, bounced, complained.")
    ] = "manual",
) -> None:
    """Suppress addresses or whole domains for every sequence, at once.

    Example: seqctl suppress add ada@example.com competitor.com
    """
    from seqctl.services.suppressions import add

    for entry, added in add(database(), values, reason=reason, now=now()):
        output.note(f"{entry.kind} {entry.value}: " + ("suppressed" if added else "already suppressed"))


@suppress_app.command("remove")
def suppress_remove(values: Annotated[list[str], typer.Argument(help="Addresses or domains.")]) -> None:
    """Take addresses or domains off the list (their enrollments stay as they are).

    Example: seqctl suppress remove ada@example.com
    """
    from seqctl.services.suppressions import remove

    missing = []
    for entry, removed in remove(database(), values):
        output.note(f"{entry.kind} {entry.value}: " + ("removed" if removed else "was not suppressed"))
        if not removed:
            missing.append(entry.value)
    if missing and len(missing) == len(values):
        raise typer.Exit(1)


@suppress_app.command("list")
def suppress_list(
    kind: Annotated[str | None, typer.Option("--kind", help="address or domain.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The suppression list.

    Example: seqctl suppress list --kind domain
    """
    from seqctl.services.suppressions import listing

    rows = listing(database(), kind)
    if as_json:
        output.print_json(rows)
    else:
        output.table(rows, ["value", "kind", "reason", "created_at"], empty="nothing is suppressed")


@suppress_app.command("import")
def suppress_import(
    file: Annotated[str, typer.Argument(help="One address or domain per line, or CSV: value[,reason].")],
) -> None:
    """Suppress every address and domain of a file; a bad line refuses the whole file.

    Example: seqctl suppress import do-not-contact.csv
    """
    from seqctl.services.suppressions import import_file

    added, already = import_file(database(), file, now=now())
    output.note(f"suppressed {added} new, {already} already on the list")


@inbox_app.command("sync")
def inbox_sync(
    maildir: Annotated[
        str | None, typer.Option("--maildir", help="Read this Maildir instead of the mailboxes' IMAP folders.")
    ] = None,
    mailbox: Annotated[
        str | None, typer.Option("--mailbox", help="Only this mailbox (with --maildir: the one it belongs to).")
    ] = None,
    away_days: Annotated[
        int, typer.Option("--away-days", max=MAX_ID, help="Pause after an out-of-office that names no return date.")
    ] = 3,
    as_json: JsonOption = False,
) -> None:
    """Classify every message not read before: replies exit, bounces exit and suppress,
    out-of-office pauses until the return date, unsubscribe requests suppress.

    Without --maildir, reads the IMAP folder of every mailbox with `imap: ${VAR}` (or
    only --mailbox). A mailbox that cannot be read is reported and the others are still
    read; the exit code is then 1.

    Example: seqctl inbox sync --mailbox ada
    """
    from seqctl.services.inbox import sync_imap, sync_maildir

    if not 0 <= away_days <= 60:
        raise InvalidInput("--away-days is between 0 and 60")
    if maildir is not None:
        report = sync_maildir(database(), maildir, mailbox_key=mailbox, now=now(), away_days=away_days)
    else:
        report = sync_imap(database(), mailbox_key=mailbox, now=now(), away_days=away_days)
    summary = {
        "read": report.read, "already_read": report.skipped, **report.kinds, "unmatched": report.unmatched,
        "exited": report.exited, "paused": report.paused, "errors": report.errors,
    }  # fmt: skip
    if as_json:
        output.print_json(summary)
    else:
        output.note("inbox: " + ", ".join(f"{k} {v}" for k, v in summary.items() if k != "errors"))
    for problem in report.errors:
        output.error(problem)
    if report.errors:
        raise typer.Exit(1)


@inbox_app.command("list")
def inbox_list(
    unmatched: Annotated[
        bool, typer.Option("--unmatched", help="Only messages that matched no contact (or could not be parsed).")
    ] = False,
    mailbox: Annotated[str | None, typer.Option("--mailbox", help="Only this mailbox's messages.")] = None,
    limit: Annotated[int, typer.Option("--limit", max=MAX_ID, help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """What inbox syncs read and what became of each message: newest first.

    Example: seqctl inbox list --unmatched
    """
    from seqctl.services.inbox import read_messages

    if limit < 1:
        raise InvalidInput("--limit is at least 1")
    rows = read_messages(database(), unmatched_only=unmatched, mailbox_key=mailbox, limit=limit)
    if as_json:
        output.print_json(rows)
    elif not rows:
        output.note("no inbound messages" + (" that matched nothing" if unmatched else ""))
    else:
        output.table(rows, ["id", "received_at", "kind", "reason", "address", "contact", "outcome"])


@events_app.command("import")
def events_import(
    file: Annotated[str, typer.Argument(help="The exported events (JSON or JSON lines).")],
    fmt: Annotated[
        str, typer.Option("--format", help="jsonl (seqctl's own), sendgrid, mailgun or ses.")
    ] = "jsonl",
    as_json: JsonOption = False,
) -> None:
    """Apply a provider's opens, clicks, bounces, unsubscribes and spam complaints (or
    seqctl's own JSONL events) to the emails seqctl sent; importing a file again adds
    nothing. A bad line refuses the whole file with file:line.

    Example: seqctl events import sendgrid-events.json --format sendgrid
    """
    from seqctl.services.events_import import import_events

    report = import_events(database(), file, fmt, now=now())
    if as_json:
        output.print_json(report.as_json())
    else:
        output.note("events: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.as_json().items()))


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (behind a reverse proxy).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", max=MAX_ID, help="Port to listen on.")] = 8080,
) -> None:
    """Run the tracking web app: open pixel, click redirects, one-click unsubscribe.

    Needs SEQCTL_SECRET (the key that signs every link) and mailboxes with a
    `tracking_url` that reaches this server through an HTTPS reverse proxy. Any WSGI
    server can host it instead: `gunicorn 'seqctl.web:application'`.

    Example: seqctl serve --port 8080   (with SEQCTL_SECRET set)
    """
    import logging

    from seqctl.web import app_from_environment, make_server

    if not 0 < port < 65536:
        raise InvalidInput("--port is between 1 and 65535")
    web_app = app_from_environment(state.db_url)
    state.opened.append(web_app.db)
    if state.now is not None:
        fixed = state.now
        web_app.clock = lambda: fixed
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        server = make_server(web_app, host, port)
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    output.note(f"seqctl serve: listening on http://{host}:{server.server_port}/ (Ctrl-C stops)")
    with server:
        server.serve_forever()


@app.command()
def stats(
    sequence: SequenceArg = None,
    include_automated: Annotated[
        bool, typer.Option("--include-automated", help="Count opens and clicks that look like mail scanners.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Per-sequence, per-step and per-variant counts and rates.

    Opens and clicks that look automated (a mail scanner fetching every link on arrival)
    are left out unless --include-automated.

    Example: seqctl stats cold-outreach --json
    """
    from seqctl.services.reports import stats as stats_report

    data = stats_report(database(), sequence_key=sequence, include_automated=include_automated)
    if as_json:
        output.print_json(data)
        return
    for item in data:
        output.line(
            f"{item['sequence']} (v{item['version']}): enrollments {item['enrollments']}; exits {item['exits'] or '{}'}"
        )
        rows = []
        for step in item["steps"]:
            rows.append({**step, "variant": ""})
            rows.extend({"step": "", "type": "", **v} for v in step.get("variants", []))
        output.table(
            rows,
            [
                "step",
                "type",
                "variant",
                "sent",
                "opened",
                "clicked",
                "replied",
                "bounced",
                "opened_rate",
                "replied_rate",
                "outcomes",
            ],
        )


@app.command()
def retry(enrollment_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Enrollment id.")]) -> None:
    """Put a failed enrollment back in the queue, due now.

    Example: seqctl retry 42
    """
    from seqctl.services.operations import retry as retry_enrollment

    retry_enrollment(database(), enrollment_id, now=now())
    output.note(f"enrollment {enrollment_id} queued again")


# Commands kept in modules of their own register themselves on `app`.
from seqctl.cli import mailbox_commands  # noqa: E402, F401


def main() -> None:
    """Entry point: the one error boundary. Exit 0 ok, 1 failure, 2 bad input, 130 interrupted."""
    try:
        try:
            code = app(standalone_mode=False)
        finally:
            while state.opened:
                state.opened.pop().dispose()
    except SpecError as exc:
        for problem in exc.problems:
            output.note(str(problem))  # compiler-style, so editors can jump to it
        sys.exit(exc.exit_code)
    except SeqctlError as exc:
        if state.debug:
            raise
        output.error(exc.message)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        sys.exit(EXIT_INTERRUPTED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: typer prints them with the usage line
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            output.error(exc.message)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if state.debug:
            raise
        output.error(_unexpected(exc))
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _unexpected(exc: Exception) -> str:
    """A one-line description, for failures that are not seqctl's own (database, OS)."""
    from seqctl.store.errors import describe

    return describe(exc) or f"{type(exc).__name__}: {exc}".splitlines()[0]
