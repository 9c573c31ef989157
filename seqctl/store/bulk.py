"""Many rows through one statement, without SQLAlchemy's per-row work on SQLite.

A tick writes a row per step run (executions) and per enrollment moved on. SQLAlchemy
processes every bound value of every row in Python (type processors, parameter
dictionaries), which on SQLite costs more than the database does. For SQLite the
statement is compiled once per column set and each value is converted by the column's
type here (aware datetimes to the naive-UTC text `UTCDateTime` stores, JSON to text),
then handed to the driver's `executemany`. Postgres keeps SQLAlchemy's path: there the
server round trips dominate, and psycopg adapts the values itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Connection

from seqctl.store.columns import UTCDateTime

_COMPILED: dict[tuple[int, tuple[str, ...]], tuple[str, list[str], list[Callable[[Any], Any]]]] = {}


def executemany(tx: Connection, statement: Any, rows: list[dict[str, Any]]) -> None:
    """Run `statement` once per row. The statement is built once (module level) and takes
    every value from the rows: compiled forms are cached by its identity."""
    if not rows:
        return
    if tx.dialect.name != "sqlite" or len(rows) < 8:
        tx.execute(statement, rows if len(rows) > 1 else rows[0])
        return
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    for keys, group in groups.items():
        sql, names, converters = _compile(tx, statement, keys)
        values = itemgetter(*names)
        params = [values(row) for row in group] if len(names) > 1 else [(values(row),) for row in group]
        if convert := [(i, f) for i, f in enumerate(converters) if f is not _identity]:
            for n, row_values in enumerate(params):
                as_list = list(row_values)
                for i, f in convert:
                    as_list[i] = f(as_list[i])
                params[n] = tuple(as_list)
        tx.exec_driver_sql(sql, params)


def _compile(tx: Connection, statement: Any, keys: tuple[str, ...]) -> tuple[str, list[str], list[Callable[[Any], Any]]]:
    cache_key = (id(statement), keys)
    found = _COMPILED.get(cache_key)
    if found is None:
        compiled = statement.compile(dialect=tx.dialect, column_keys=list(keys))
        names = list(compiled.positiontup or [])
        if missing := [name for name in names if name not in keys]:
            raise ValueError(f"a bulk statement takes every value from its rows; none for {missing}")
        converters = [_converter(compiled.binds[name]) for name in names]
        found = _COMPILED[cache_key] = (compiled.string, names, converters)
    return found


def _converter(bind: Any) -> Callable[[Any], Any]:
    kind = bind.type
    if isinstance(kind, UTCDateTime):
        return _utc_text()
    if isinstance(kind, JSON):
        return _json_text
    return _identity


def _identity(value: Any) -> Any:
    return value


def _json_text(value: Any) -> Any:
    if value is None:
        return None
    return "{}" if value == {} else json.dumps(value)  # most executions carry no detail


def _utc_text() -> Callable[[Any], Any]:
    """UTCDateTime's storage on SQLite (SQLAlchemy's DateTime text: naive UTC with
    microseconds); a tick writes the same instant many times, so the last one is kept."""
    last: list[Any] = [None, None]

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if value is last[0]:
            return last[1]
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} reached the database; times must be aware")
        text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        last[0], last[1] = value, text
        return text

    return convert
