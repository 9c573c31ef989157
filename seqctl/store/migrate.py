"""Alembic, driven from code: the migrations ship inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from seqctl.store.db import Database, NotInitialised

MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database) -> tuple[str | None, str]:
    """Create or upgrade the schema to the newest revision; returns (before, after)."""
    before = current_revision(db)
    with db.engine.begin() as conn:
        config = _config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return before, head_revision()


def require_current(db: Database) -> None:
    """Refuse to run against a database that `seqctl init` has not brought up to date."""
    revision = current_revision(db)
    if revision is None:
        raise NotInitialised()
    if revision != head_revision():
        raise NotInitialised(
            f"the database schema is at {revision}, seqctl needs {head_revision()}: run `seqctl init`"
        )
