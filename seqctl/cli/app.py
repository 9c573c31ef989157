"""The command line's shared parts: the typer apps, the options every command takes, the
one clock reading and the database a command opens. Commands live in the other modules of
`seqctl.cli` and register themselves on these apps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from seqctl import settings
from seqctl.cli import output
from seqctl.errors import InvalidInput

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
SequenceArg = Annotated[str | None, typer.Argument(help="Sequence key.")]
EmailOpt = Annotated[str | None, typer.Option("--email", help="The contact's address.")]
IdOpt = Annotated[int | None, typer.Option("--id", min=1, max=MAX_ID, help="Enrollment id.")]
MetricsOption = Annotated[
    str | None,
    typer.Option("--metrics-file", help="Write Prometheus metrics here (default: $SEQCTL_METRICS_FILE)."),
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
    display_tz: Annotated[
        str | None,
        typer.Option("--tz", help="Show times in tables in this zone (default: $SEQCTL_DISPLAY_TZ, else the machine's)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    state.db_url = settings.database_url(db)
    output.show_times_in(settings.display_zone(display_tz))
    state.now = parse_instant(now_at, "--now") if now_at else None
    state.debug = debug
