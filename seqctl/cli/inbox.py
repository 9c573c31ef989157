"""`seqctl inbox sync|list`: replies, bounces and out-of-office mail."""

from __future__ import annotations

from typing import Annotated

import typer

from seqctl.cli import output
from seqctl.cli.app import (
    MAX_ID,
    JsonOption,
    MetricsOption,
    database,
    inbox_app,
    now,
)
from seqctl.errors import InvalidInput


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
    metrics_file: MetricsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Classify every message not read before: replies exit, bounces exit and suppress,
    out-of-office pauses until the return date, unsubscribe requests suppress.

    Without --maildir, reads the IMAP folder of every mailbox with `imap: ${VAR}` (or
    only --mailbox). A mailbox that cannot be read is reported and the others are still
    read; the exit code is then 1.

    Then the notifications it caused (a reply…) are delivered, the metrics file written
    and SEQCTL_HEALTHCHECK_URL pinged.

    Example: seqctl inbox sync --mailbox ada
    """
    from seqctl.services.inbox import SyncReport, sync_imap, sync_maildir
    from seqctl.services.runs import observed

    db, at = database(), now()

    def sync() -> SyncReport:
        if maildir is not None:
            return sync_maildir(db, maildir, mailbox_key=mailbox, now=at, away_days=away_days)
        return sync_imap(db, mailbox_key=mailbox, now=at, away_days=away_days)

    report, delivered = observed(db, "inbox_sync", sync, SyncReport.outcome, now=at, metrics_file=metrics_file)
    summary = {
        "read": report.read, "already_read": report.skipped, **report.kinds, "unmatched": report.unmatched,
        "exited": report.exited, "paused": report.paused, "errors": report.errors,
        "notifications": delivered.counts(),
    }  # fmt: skip
    if as_json:
        output.print_json(summary)
    else:
        output.note("inbox: " + ", ".join(f"{k} {v}" for k, v in summary.items() if k not in ("errors", "notifications")))
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
        columns = ["id", "received_at", "kind", "reason", "address", "contact", "outcome"]
        output.table(rows, columns, optional=["contact", "reason", "id"])
