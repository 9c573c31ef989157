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


# An ISO 8601 instant as services give them (JSON keeps them so; tables show them short).
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$")
_zone: list[Any] = []  # the display zone, set once per command by `show_times_in`


def show_times_in(zone: str) -> None:
    """Tables show times in this zone (`--tz`)."""
    from zoneinfo import ZoneInfo

    _zone[:] = [ZoneInfo(zone)]


def when(value: str) -> str:
    """`2026-12-17 10:00` in the display zone, for an ISO instant; anything else as it is."""
    if not _INSTANT.match(value):
        return value
    from datetime import datetime

    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return f"{instant.astimezone(_zone[0]) if _zone else instant:%Y-%m-%d %H:%M}"


def day_start(instant: Any) -> Any:
    """Midnight of `instant`'s day in the display zone (what "today" means to the reader)."""
    local = instant.astimezone(_zone[0]) if _zone else instant
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def table(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str],
    *,
    title: str | None = None,
    empty: str = "nothing to show",
    optional: Sequence[str] = (),
) -> None:
    """Rows as a table that stays readable at 80 columns: `optional` columns are left out,
    in that order, while the table is wider than the terminal; a time is never cut (its
    column does not wrap); other cells fold onto more lines rather than end in "…"."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    rows = list(rows)
    if not rows:
        _console(False).print(Text(empty, style="dim"))
        return
    shown = {column: [safe(_cell(row.get(column)), one_line=True) for row in rows] for column in columns}
    width = _console(False).width
    kept = list(columns)
    for column in optional:
        if _natural_width(shown, kept) <= width:
            break
        if column in kept:
            kept.remove(column)
    grid = Table(title=title, show_lines=False, header_style="bold", pad_edge=False, box=box.SIMPLE_HEAD)
    for column in kept:
        if any(_INSTANT.match(str(row.get(column) or "")) for row in rows):
            grid.add_column(column, no_wrap=True, min_width=16)
        else:
            grid.add_column(column, overflow="fold")
    for index in range(len(rows)):
        grid.add_row(*(Text(shown[column][index]) for column in kept))
    _console(False).print(grid)


def _natural_width(shown: dict[str, list[str]], columns: list[str]) -> int:
    """The width of the table with these columns, no cell wrapped (a space either side of
    each cell, and the box's column separators)."""
    return sum(max(len(column), *(len(cell) for cell in shown[column])) + 2 for column in columns) + len(columns) + 1


def listing(
    rows: list[dict[str, Any]],
    columns: Sequence[str],
    *,
    as_json: bool,
    empty: str = "nothing to show",
    optional: Sequence[str] = (),
) -> None:
    """Any listing command's output: every row as JSON with `--json`, else these columns
    (`optional` ones left out first when the terminal is narrow)."""
    if as_json:
        print_json(rows)
    else:
        table(rows, columns, empty=empty, optional=optional)


def _cell(value: Any) -> str:
    """A value as words: times short in the display zone, rates as percentages, a mapping
    as `key value, key value` (never a Python repr)."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(v)}" for k, v in value.items() if v not in (None, "", [], {}))
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, str):
        return when(value)
    return str(value)


def words(counts: dict[str, Any]) -> str:
    """`12 completed, 3 exited` for a mapping of counts (zeros left out)."""
    return ", ".join(f"{count} {name}" for name, count in counts.items() if count) or "none"


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

    _console(False).print(Text(safe(text)), highlight=False, soft_wrap=False)  # wrapped to the terminal


def unwrapped(text: str) -> None:
    """A line on stdout as it is, never folded (an address to copy), shown at once: the
    command may wait for a person next."""
    sys.stdout.write(safe(text, one_line=True) + "\n")
    sys.stdout.flush()


def note(text: str) -> None:
    """A status line for people, on stderr so that stdout stays clean for pipes."""
    sys.stderr.write(safe(text) + "\n")


def error(text: str) -> None:
    sys.stderr.write(f"seqctl: {safe(text)}\n")
