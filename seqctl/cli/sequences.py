"""`seqctl init`, `validate`, `import`, `schema`, `preview` and `stats`: the sequence files and what they do."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from seqctl.cli import output
from seqctl.cli.app import (
    JsonOption,
    SequenceArg,
    app,
    database,
    now,
    parse_instant,
)
from seqctl.errors import InvalidInput


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
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Archive the sequences in the database that these files do not contain."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create or update mailboxes and sequences, all or nothing; prints the plan, including
    the sequences in the database that the files do not contain (left alone unless --prune).
    With --dry-run, exits 2 when the real import would refuse.

    Example: seqctl import sequences.example.yaml --dry-run
    """
    from seqctl.services.importer import import_files

    plan = import_files(database(), files, now=now(), dry_run=dry_run, on_removed=on_removed, prune=prune)
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
        counts = dict(item["enrollments"])
        total = counts.pop("total")
        state = "" if item["status"] == "active" else f", {item['status']}"
        output.line(
            f"{item['sequence']} (v{item['version']}{state}): {total} enrollment(s): {output.words(counts)}"
            + (f"; exits: {output.words(item['exits'])}" if item["exits"] else "")
        )
        rows = []
        for step in item["steps"]:
            rows.append(_stats_row(step, step["step"] + (" (removed)" if step.get("removed") else "")))
            rows.extend(_stats_row(v, f"  {v['variant']}") for v in step.get("variants", []))
        output.table(rows, ["step", "type", "sent", "opened", "clicked", "replied", "bounced", "outcomes"],
                     optional=["clicked", "type"])  # fmt: skip


def _stats_row(counts: dict[str, Any], name: str) -> dict[str, Any]:
    """One line of the stats table: counts with their rate ("12 (40.0%)"), outcomes in words."""
    row: dict[str, Any] = {"step": name, "type": counts.get("type", "variant")}
    if "sent" in counts:
        row["sent"] = counts["sent"]
        for kind in ("opened", "clicked", "replied", "bounced"):
            rate = counts.get(f"{kind}_rate")
            row[kind] = f"{counts[kind]}" + (f" ({rate:.0%})" if rate else "")
    row["outcomes"] = output.words(counts["outcomes"]) if counts.get("outcomes") else ""
    return row


@app.command()
def sequences(
    show_all: Annotated[bool, typer.Option("--all", help="Archived sequences too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The sequences in the database: status (active, paused, archived), mailbox, steps and
    enrollments by status.

    Example: seqctl sequences --all
    """
    from seqctl.services.sequence_lifecycle import sequences_overview

    rows = sequences_overview(database(), include_archived=show_all)
    if not as_json:
        for row in rows:
            counts = row["enrollments"]
            row["open"] = sum(counts[s] for s in ("scheduled", "active", "paused", "failed"))
            row["done"] = counts["completed"]
            row["exited"] = counts["exited"]
    output.listing(rows, ["key", "status", "mailbox", "steps", "open", "done", "exited"], as_json=as_json,
                   empty="no sequences imported")  # fmt: skip


@app.command()
def archive(sequence: Annotated[str, typer.Argument(help="Sequence key.")]) -> None:
    """Retire a sequence: its open enrollments exit (reason archived), nothing can be enrolled
    in it, its history and stats stay. Importing it again brings it back.

    Example: seqctl archive q3-webinar
    """
    from seqctl.services.sequence_lifecycle import archive_sequence

    ended = archive_sequence(database(), sequence, now=now())
    output.note(f"sequence {sequence}: archived; {ended} open enrollment(s) exited")


@app.command("test-send")
def test_send(
    sequence: Annotated[str, typer.Argument(help="Sequence key.")],
    step: Annotated[str, typer.Argument(help="The email step to send.")],
    to: Annotated[str, typer.Option("--to", help="Where to send it (you).")] = "",
    email: Annotated[
        str | None, typer.Option("--email", help="Render it for this contact (default: a sample contact).")
    ] = None,
    variant: Annotated[str | None, typer.Option("--variant", help="This variant (default: the first).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Send one email step to yourself now, through the sequence's mailbox, rendered for a
    contact; the subject starts with [test]. Nothing else changes: no enrollment, no limit,
    no statistic, and a reply to it is not taken for a reply to the sequence.

    Example: seqctl test-send cold-outreach intro --to me@example.com --email ada@example.com
    """
    from seqctl.services.test_send import test_send as send_test

    if not to:
        raise InvalidInput("say where to send it: --to ADDR")
    sent = send_test(database(), sequence, step, to=to, email=email, variant_id=variant, now=now())
    if as_json:
        output.print_json(sent)
        return
    output.note(f"sent {sent['subject']!r} to {sent['to']} through mailbox {sent['mailbox']} ({sent['message_id']})")
