"""`seqctl event` and `seqctl events import`: engagement and delivery facts, by hand or from a provider."""

from __future__ import annotations

from typing import Annotated

import typer

from seqctl.cli import output
from seqctl.cli.app import (
    JsonOption,
    app,
    database,
    events_app,
    now,
    parse_instant,
)


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
    report = record_event(
        database(), event_type, email, message_id=message_id, at=when, now=current, detail=detail, url=url
    )
    output.note(
        f"recorded {event_type} for {email}"
        + (" (address suppressed)" if report.suppressed else "")
        + (f"; exited enrollment(s) {', '.join(map(str, report.exited))}" if report.exited else "")
    )


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
    from seqctl.services.runs import deliver_due

    db, at = database(), now()
    report = import_events(db, file, fmt, now=at)
    delivered = deliver_due(db, now=at)  # the notifications the events caused
    for problem in delivered.errors:
        output.note(problem)
    if as_json:
        output.print_json(report.as_json())
    else:
        output.note("events: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.as_json().items()))
