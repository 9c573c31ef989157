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


def line(text: str) -> None:
    _console(False).print(text, markup=False, highlight=False)


def note(text: str) -> None:
    """A status line for people, on stderr so that stdout stays clean for pipes."""
    sys.stderr.write(text + "\n")


def error(text: str) -> None:
    sys.stderr.write(f"seqctl: {text}\n")
