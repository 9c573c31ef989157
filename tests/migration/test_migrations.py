"""The shipped migrations produce exactly the models' schema, on both backends."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from seqctl.store.migrate import HEAD, MIGRATIONS, current_revision, head_revision, upgrade
from seqctl.store.tables import metadata


def _differences(db: Any) -> list[Any]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_migrations_match_the_models(db: Any) -> None:
    assert current_revision(db) == head_revision() == HEAD, "update store.migrate.HEAD with a new migration"
    assert _differences(db) == []


def test_upgrade_is_idempotent_and_downgrade_works(db: Any) -> None:
    before, after = upgrade(db)
    assert before == after == head_revision()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert current_revision(db) is None
    upgrade(db)
    assert _differences(db) == []


def test_due_query_uses_the_partial_index(db: Any) -> None:
    with db.engine.connect() as conn:
        if db.is_sqlite:
            plan = conn.execute(text(
                "EXPLAIN QUERY PLAN SELECT id FROM enrollments "
                "WHERE status IN ('scheduled', 'active') AND next_run_at <= '2026-01-01' ORDER BY next_run_at LIMIT 10"
            )).all()  # fmt: skip
            assert any("ix_enrollments_due" in str(row) for row in plan), plan
        else:
            conn.execute(text("SET enable_seqscan = off"))
            plan = conn.execute(text(
                "EXPLAIN SELECT id FROM enrollments "
                "WHERE status IN ('scheduled', 'active') AND next_run_at <= '2026-01-01' ORDER BY next_run_at LIMIT 10"
            )).all()  # fmt: skip
            assert any("ix_enrollments_due" in str(row) for row in plan), plan


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(db: Any) -> None:
    if not db.is_sqlite:
        return
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    # Durable writes (send intents) fsync at commit; the tick's other writes need not.
    with db.write() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    with db.write(durable=False) as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    with db.write() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
