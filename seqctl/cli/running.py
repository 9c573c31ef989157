"""`seqctl tick` and `seqctl serve`: the pass cron runs and the tracking web app."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from seqctl.cli import output
from seqctl.cli.app import (
    MAX_ID,
    JsonOption,
    MetricsOption,
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
    metrics_file: MetricsOption = None,
    as_json: JsonOption = False,
) -> None:
    """One idempotent pass over everything due. Cron runs it every minute. Then the
    notifications it caused are delivered (a few seconds at most), the metrics file is
    written and SEQCTL_HEALTHCHECK_URL pinged. Exits 0 when the tick ran, even if some
    enrollments failed: notifications, metrics and pings say so.

    Example: seqctl tick --now 2026-03-02T14:00:00Z
    """
    from datetime import timedelta

    from seqctl.services.runs import observed
    from seqctl.services.tick import Tick
    from seqctl.services.tick_report import TickReport

    started = time.monotonic()
    db, at = database(), now(now_at)
    runner = Tick(db, now=at, lease=timedelta(seconds=lease))
    if dry_run:
        report = runner.preview(limit)
    else:
        report, delivered = observed(db, "tick", lambda: runner.run(limit), TickReport.outcome, now=at,
                                     metrics_file=metrics_file)  # fmt: skip
        report.notifications = delivered.counts()
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
    output.note(f"{report.summary()}, {duration}s")


@app.command()
def worker(
    tick_every: Annotated[
        str, typer.Option("--tick-every", help="Tick at least this often (s, m, h); sooner when something falls due.")
    ] = "5s",
    sync_every: Annotated[
        str, typer.Option("--sync-every", help="Read the mailboxes' IMAP folders this often; 0 never.")
    ] = "5m",
    lease: Annotated[
        int,
        typer.Option("--lease", min=5, max=86_400, help="Seconds a claim is held before another tick may take it over."),
    ] = 60,
    metrics_file: MetricsOption = None,
) -> None:
    """Run ticks, inbox syncs, notification delivery and the metrics file in one process,
    on the real clock: an email due at 10:00:17 goes out at 10:00:17, not at the next
    minute. Workers and cron ticks may run together (the same claims and fences).
    SIGTERM or Ctrl-C finishes the batch in hand and exits 0.

    Example: seqctl worker --tick-every 5s --sync-every 5m
    """
    import signal
    import threading
    from datetime import timedelta

    from seqctl.services.worker import Worker

    if state.now is not None:
        raise InvalidInput("the worker runs on the real clock: --now is for single commands")
    every, sync = _interval(tick_every, "--tick-every"), _interval(sync_every, "--sync-every", zero=True)
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    output.note(f"worker: ticking every {tick_every} at most" + (f", syncing every {sync_every}" if sync else ""))
    totals = Worker(
        database(), tick_every=every, sync_every=sync, metrics_file=metrics_file, clock=now, stop=stop,
        lease=timedelta(seconds=lease),
    ).run()  # fmt: skip
    output.note(f"worker: stopped after {totals.cycles} cycle(s): sent {totals.sent}, synced {totals.syncs} time(s)")


def _interval(text: str, option: str, *, zero: bool = False) -> Any:
    from datetime import timedelta

    from seqctl.spec.durations import parse_duration

    if zero and text.strip() in ("0", "off", "never"):
        return None
    try:
        duration = parse_duration(text)
    except ValueError as exc:
        raise InvalidInput(f"{option}: {exc}") from None
    if not duration.is_absolute or not timedelta(seconds=1) <= duration.as_timedelta() <= timedelta(days=1):
        raise InvalidInput(f"{option}: a length of time from 1s to 24h, like 5s or 5m")
    return duration.as_timedelta()


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
