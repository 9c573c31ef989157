"""`seqctl tasks` and `seqctl task done|skip`: the manual steps."""

from __future__ import annotations

from typing import Annotated

import typer

from seqctl.cli import output
from seqctl.cli.app import (
    MAX_ID,
    JsonOption,
    app,
    database,
    now,
    task_app,
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
    columns = ["id", "due", "owner", "kind", "email", "sequence", "step", "note", "status"]
    optional = ["status", "sequence", "step", "owner", "kind"]  # left out first on a narrow terminal
    output.listing(rows, columns, as_json=as_json, empty="no open tasks", optional=optional)


TaskId = Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Task id.")]


def _finish(task_id: int, outcome: str | None, *, skipped: bool) -> None:
    from seqctl.services.resolving import finish_task

    finish_task(database(), task_id, outcome=outcome, skipped=skipped, now=now())
    output.note(f"task {task_id} {'skipped' if skipped else 'done'}")


@task_app.command("done")
def task_done(
    task_id: TaskId,
    outcome: Annotated[str | None, typer.Option("--outcome", help="What happened, for the log.")] = None,
) -> None:
    """Complete a manual task; its enrollment moves on.

    Example: seqctl task done 12 --outcome "left voicemail"
    """
    _finish(task_id, outcome, skipped=False)


@task_app.command("skip")
def task_skip(
    task_id: TaskId,
    outcome: Annotated[str | None, typer.Option("--outcome", help="Why, for the log.")] = None,
) -> None:
    """Skip a manual task; its enrollment moves on.

    Example: seqctl task skip 12 --outcome "no phone number"
    """
    _finish(task_id, outcome, skipped=True)
