"""`seqctl notifications [--failed]`, `seqctl notifications retry ID` and `seqctl notify
deliver`: the notification outbox."""

from __future__ import annotations

from typing import Annotated

import typer

from seqctl.cli import output
from seqctl.cli.app import MAX_ID, JsonOption, app, database, now

notifications_app = typer.Typer(
    help="Notifications: what was told to Slack, webhooks and owners, and what failed.",
    invoke_without_command=True, rich_markup_mode=None,
)  # fmt: skip
app.add_typer(notifications_app, name="notifications")
notify_app = typer.Typer(help="Deliver the notification outbox.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(notify_app, name="notify")


@notifications_app.callback()
def notifications(
    ctx: typer.Context,
    failed: Annotated[bool, typer.Option("--failed", help="Only those that gave up (retry with `retry ID`).")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=MAX_ID, help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Notifications, newest first: target, event, status (pending, delivered, failed),
    attempts and the last error.

    Example: seqctl notifications --failed
    """
    if ctx.invoked_subcommand is not None:
        return
    from seqctl.services.notify_delivery import listing

    rows = listing(database(), failed_only=failed, limit=limit)
    output.listing(
        rows, ["id", "target_key", "event", "status", "attempts", "occurred_at", "last_error"], as_json=as_json,
        empty="no notifications" + (" failed" if failed else ""), optional=["occurred_at", "attempts"],
    )  # fmt: skip


@notifications_app.command("retry")
def notifications_retry(
    notification_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="The notification's id.")],
) -> None:
    """Try a failed notification again (with the same webhook-id), for another 24 hours.

    Example: seqctl notifications retry 42
    """
    from seqctl.services.notify_delivery import retry

    retry(database(), notification_id, now=now())
    output.note(f"notification {notification_id}: pending again")


@notify_app.command("deliver")
def notify_deliver(
    budget: Annotated[
        float, typer.Option("--budget", min=0.1, max=3600, help="Seconds to spend at most.")
    ] = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Deliver the notifications that are due (tick, inbox sync and the worker do this
    too, for a few seconds each run).

    Example: seqctl notify deliver --budget 30
    """
    from seqctl.services.runs import deliver_due

    report = deliver_due(database(), now=now(), budget_s=budget)
    if as_json:
        output.print_json({**report.counts(), "errors": report.errors})
        return
    for problem in report.errors:
        output.note(problem)
    output.note(report.words())
