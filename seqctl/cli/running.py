"""`seqctl tick` and `seqctl serve`: the pass cron runs and the tracking web app."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from seqctl.cli import output
from seqctl.cli.app import (
    MAX_ID,
    JsonOption,
    NowOption,
    app,
    database,
    now,
    state,
)
from seqctl.errors import InvalidInput


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
            optional=["type", "sequence"],
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
