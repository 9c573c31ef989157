"""Connections, transactions and the differences between SQLite and Postgres.

SQLite: WAL, a busy timeout, `synchronous=FULL` for durable writes (a committed send
intent survives power loss) and `BEGIN IMMEDIATE` for write transactions, so overlapping ticks queue for the
write lock instead of failing with "database is locked" half-way through.
Postgres: claims use `FOR UPDATE SKIP LOCKED` (see `claims.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from seqctl.errors import InvalidInput, SeqctlError

BUSY_TIMEOUT_MS = 30_000


# What services hold while a transaction is open; they pass it on to store functions.
Tx = Connection


class DatabaseUnavailable(SeqctlError):
    """The database cannot be reached."""


class NotInitialised(SeqctlError):
    """The database has no seqctl schema yet; run `seqctl init`."""


def insert_for(dialect: str, table: Any) -> Any:
    """An INSERT that can take ON CONFLICT clauses: Postgres and SQLite both have them, each
    in its own dialect's construct."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgres_insert

        return postgres_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


@cache
def insert_ignoring_conflicts(dialect: str, table: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, built once per dialect and table (`bulk.executemany`
    caches compiled statements by identity)."""
    return insert_for(dialect, table).on_conflict_do_nothing()


def normalise_url(url: str) -> str:
    """Accept postgres:// and postgresql:// and use the psycopg (v3) driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """An engine plus read/write transactions configured for its dialect."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        """`create=False` refuses a SQLite file that does not exist yet instead of creating
        an empty one: every command but `seqctl init` only reads or changes a database."""
        self._held: Connection | None = None
        self.url = normalise_url(url)
        try:
            parsed = make_url(self.url)
            self.dialect = parsed.get_backend_name()
        except (ArgumentError, ValueError):  # never echo the URL: it may hold a password
            raise InvalidInput(
                "the database URL is not valid: write sqlite:///path/to/seqctl.db or "
                "postgresql://user:password@host/db (password percent-encoded)"
            ) from None
        if self.dialect not in ("sqlite", "postgresql"):
            raise InvalidInput(f"unsupported database {self.dialect[:40]!r}: use sqlite or postgresql")
        if self.dialect == "sqlite" and not create:
            path = parsed.database or ""
            if path and path != ":memory:" and not path.startswith("file:") and not Path(path).exists():
                raise NotInitialised(f"no database at {path}: run `seqctl init` first (or check --db)")
        try:
            if self.dialect == "sqlite":
                self.engine = create_engine(self.url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
                _configure_sqlite(self.engine)
            else:
                self.engine = create_engine(self.url, pool_pre_ping=False)
        except NoSuchModuleError:
            raise InvalidInput(f"no driver for {self.dialect}: pip install 'seqctl[postgres]'") from None
        except ModuleNotFoundError as exc:
            raise InvalidInput(f"missing driver {exc.name}: pip install 'seqctl[postgres]'") from None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[Connection]:
        """A write transaction (immediate on SQLite), committed when the block ends.

        `durable=False` trades power-loss durability for speed (SQLite synchronous=NORMAL,
        Postgres synchronous_commit=off): the commit still survives the process being
        killed, and the database stays consistent. The tick uses it for everything except
        send intents, whose loss could make an email go twice.
        """
        with self._connect(immediate=True, durable=durable) as conn, conn.begin():
            if not durable and not self.is_sqlite:
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._connect(immediate=False) as conn, conn.begin():
            yield conn

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Run every transaction of the block on one connection: a tick runs thousands of
        short transactions, and a pool checkout (with its reset) for each costs more than
        the transaction itself."""
        if self._held is not None:
            yield
            return
        try:
            self._held = self.engine.connect()
        except OperationalError as exc:
            raise DatabaseUnavailable(f"cannot open the database: {_first_line(exc)}") from None
        try:
            yield
        finally:
            held, self._held = self._held, None
            held.close()

    @contextmanager
    def _connect(self, *, immediate: bool, durable: bool = True) -> Iterator[Connection]:
        if self._held is not None:
            yield self._held.execution_options(seqctl_immediate=immediate, seqctl_durable=durable)
            return
        try:
            conn = self.engine.connect()
        except OperationalError as exc:
            raise DatabaseUnavailable(f"cannot open the database: {_first_line(exc)}") from None
        try:
            yield conn.execution_options(seqctl_immediate=immediate, seqctl_durable=durable)
        finally:
            conn.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0]


def _configure_sqlite(engine: Any) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event (below) issue BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("seqctl_immediate", False):
            # FULL fsyncs the WAL at commit (survives power loss); NORMAL only at checkpoints.
            synchronous = "FULL" if options.get("seqctl_durable", True) else "NORMAL"
            info = conn.connection.info  # lives as long as the SQLite connection
            if info.get("synchronous") != synchronous:
                conn.exec_driver_sql(f"PRAGMA synchronous={synchronous}")
                info["synchronous"] = synchronous
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
