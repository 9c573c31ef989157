"""The only module that renders for people: rich tables, or JSON for --json."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

# rich is imported on first use: `--json` runs and cron's quiet ticks never pay for it.


@cache
def _console(err: bool) -> Any:
    from rich.console import Console

    return Console(stderr=err, soft_wrap=True, highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def table(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str],
    *,
    title: str | None = None,
    empty: str = "nothing to show",
) -> None:
    from rich.table import Table

    rows = list(rows)
    if not rows:
        _console(False).print(f"[dim]{empty}[/dim]")
        return
    grid = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*(_cell(row.get(column)) for column in columns))
    _console(False).print(grid)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items() if v not in (None, "", [], {}))
    if isinstance(value, float):
        return f"{value:.1%}"
    return str(value)


def timeline(steps: list[dict[str, Any]], depth: int = 0) -> None:
    """A preview's steps, indented under each way of a branch."""
    pad = "    " * depth
    for step in steps:
        if step["type"] in ("loop", "end"):
            line(f"{pad}↳ {step['note']}")
            continue
        line(f"{pad}{step['local']}  ({step['utc']})  {step['step']} [{step['type']}]")
        for key in ("subject", "subject_error", "body", "body_error", "html_error"):
            if key in step:
                line(f"{pad}    {key}: " + str(step[key]).replace("\n", f"\n{pad}          "))
        for variant in step.get("variants", []):
            line(
                f"{pad}    variant {variant['variant']}: {variant.get('subject', variant.get('subject_error', ''))}"
            )
        if "task" in step:
            task = step["task"]
            line(f"{pad}    {task['kind']} task for {task['owner'] or 'nobody'}, due {task['due_local']}: "
                 + task.get("note", task.get("note_error", "")))  # fmt: skip
        if "action" in step:
            line(f"{pad}    {_cell(step['action'])}")
        if "if" in step:
            line(f"{pad}    if {_cell(step['if'])}:")
            for way in ("then", "else"):
                line(f"{pad}    {way}:")
                timeline(step[way], depth + 2)
        if "end" in step:
            line(f"{pad}↳ {step['end']}")


def line(text: str) -> None:
    _console(False).print(text, markup=False, highlight=False)


def note(text: str) -> None:
    """A status line for people, on stderr so that stdout stays clean for pipes."""
    sys.stderr.write(text + "\n")


def error(text: str) -> None:
    sys.stderr.write(f"seqctl: {text}\n")
