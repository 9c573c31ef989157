"""Alembic, driven from code: the migrations ship inside the package.

Alembic is imported only by `seqctl init` and the tests: every other command checks the
schema version with one query against HEAD, which tests/migration keeps equal to the
newest migration (importing Alembic would cost cron's every-minute tick ~90 ms).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from seqctl.store.db import Database, NotInitialised

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0009"


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest migration shipped, as Alembic sees it."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def current_revision(db: Database) -> str | None:
    """The revision the database is at (None before `seqctl init`), by one plain query."""
    try:
        with db.read() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:  # no such table: never initialised
        return None


def upgrade(db: Database) -> tuple[str | None, str]:
    """Create or upgrade the schema to the newest revision; returns (before, after)."""
    from alembic import command

    before = current_revision(db)
    with db.write() as conn:
        config = _config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return before, head_revision()


def require_current(db: Database) -> None:
    """Refuse to run against a database that `seqctl init` has not brought up to date."""
    revision = current_revision(db)
    if revision is None:
        raise NotInitialised()
    if revision != HEAD:
        raise NotInitialised(f"the database schema is at {revision}, seqctl needs {HEAD}: run `seqctl init`")
