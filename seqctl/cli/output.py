"""The only module that renders for people: rich tables, or JSON for --json."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

# rich is imported on first use: `--json` runs and cron's quiet ticks never pay for it.

# What stored text (mail subjects, CSV cells, SMTP replies) must not pass to a terminal as
# it is: control characters (escape sequences can move the cursor, retitle the window or
# fake lines), C1 controls (0x9b is CSI on some terminals) and bidirectional overrides
# (which reorder what is shown). Rich markup is the other half: every stored string
# reaches rich as a Text, never as markup.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_UNSAFE_IN_CELL = re.compile(_UNSAFE.pattern[:-1] + r"\n\t]")


def _shown(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}" if ord(match.group()) < 0x100 else f"\\u{ord(match.group()):04x}"


def safe(text: str, *, one_line: bool = False) -> str:
    """Text with every character that could act on the terminal shown as an escape."""
    return (_UNSAFE_IN_CELL if one_line else _UNSAFE).sub(_shown, text)


@cache
def _console(err: bool) -> Any:
    from rich.console import Console

    return Console(stderr=err, soft_wrap=True, highlight=False)


@contextmanager
def progress_bar(description: str, *, as_json: bool) -> Iterator[Any]:
    """A progress bar on stderr for a long operation (`services.steps_done.Progress`), or
    None: never in --json output or when stderr is not a terminal (cron, pipes, logs)."""
    if as_json or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=_console(True), transient=True,
    )  # fmt: skip
    task = bar.add_task(description, total=None)

    class Shown:
        def total(self, count: int) -> None:
            bar.update(task, total=count)

        def advance(self, count: int) -> None:
            bar.advance(task, count)

    with bar:
        yield Shown()


def print_json(data: Any) -> None:
    # JSON escapes C0 controls itself; the rest of _UNSAFE only occurs inside strings,
    # where a \u escape is the same character to a JSON reader and inert to a terminal.
    text = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write(_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


def table(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str],
    *,
    title: str | None = None,
    empty: str = "nothing to show",
) -> None:
    from rich.table import Table
    from rich.text import Text

    rows = list(rows)
    if not rows:
        _console(False).print(Text(empty, style="dim"))
        return
    grid = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*(Text(safe(_cell(row.get(column)), one_line=True)) for column in columns))
    _console(False).print(grid)


def listing(
    rows: list[dict[str, Any]], columns: Sequence[str], *, as_json: bool, empty: str = "nothing to show"
) -> None:
    """Any listing command's output: every row as JSON with `--json`, else these columns."""
    if as_json:
        print_json(rows)
    else:
        table(rows, columns, empty=empty)


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
    from rich.text import Text

    _console(False).print(Text(safe(text)), highlight=False)


def note(text: str) -> None:
    """A status line for people, on stderr so that stdout stays clean for pipes."""
    sys.stderr.write(safe(text) + "\n")


def error(text: str) -> None:
    sys.stderr.write(f"seqctl: {safe(text)}\n")
