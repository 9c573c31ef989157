"""`seqctl mailboxes` and `seqctl mailbox pause|resume`: one mailbox's sending."""

from __future__ import annotations

from typing import Annotated

import typer

from seqctl.cli import output
from seqctl.cli.app import JsonOption, app, database, now

mailbox_app = typer.Typer(help="Hold or release one mailbox's sending.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(mailbox_app, name="mailbox")


@app.command()
def mailboxes(as_json: JsonOption = False) -> None:
    """Mailboxes with their limits, this hour's and today's sends, recent bounces and
    complaints (the reputation breaker's counts), and whether and why one is paused.

    Example: seqctl mailboxes
    """
    from seqctl.services.mailboxes import listing

    rows = listing(database(), now=now())
    if as_json:
        output.print_json(rows)
        return
    for row in rows:  # short columns: the table fits 80 columns
        row["today"] = f"{row['sent_today']}/{row['per_day'] or '-'}"
        row["hour"] = f"{row['sent_this_hour']}/{row['per_hour'] or '-'}"
        row["bounced"] = f"{row['recent_bounces']}/{row['recent_sends']}"
        row["spam"] = row["recent_complaints"]
    output.table(rows, ["key", "state", "today", "hour", "bounced", "spam", "why"], empty="no mailboxes imported")


@mailbox_app.command("pause")
def mailbox_pause(
    key: Annotated[str, typer.Argument(help="The mailbox's key.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Shown by mailboxes, queue and tick.")] = None,
) -> None:
    """Hold every email of a mailbox (tasks, waits and branches go on) until `mailbox resume`.

    Example: seqctl mailbox pause ada --reason "warming up the new domain"
    """
    from seqctl.services.mailboxes import pause

    held = pause(database(), key, reason=reason, now=now())
    output.note(f"mailbox {key}: " + ("paused" if held else "was paused already"))


@mailbox_app.command("resume")
def mailbox_resume(key: Annotated[str, typer.Argument(help="The mailbox's key.")]) -> None:
    """Release a mailbox paused by an operator or by the reputation breaker; the emails
    that waited for it are due at once.

    Example: seqctl mailbox resume ada
    """
    from seqctl.services.mailboxes import resume

    released = resume(database(), key, now=now())
    output.note(f"mailbox {key}: resumed, {released} waiting enrollment(s) due now")
