"""The shipped migrations produce exactly the models' schema, on both backends."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

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


def test_the_claim_uses_the_partial_due_index(db: Any) -> None:
    """The statement `claim_due` really sends, explained: a full scan here costs every
    idle tick tens of milliseconds at 1M enrollments."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import event

    from seqctl.store.claims import claim_due

    sent: list[tuple[str, Any]] = []

    def capture(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if "UPDATE enrollments" in statement:
            sent.append((statement, parameters))

    now = datetime(2026, 1, 1, tzinfo=UTC)
    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.write() as tx:
            claim_due(tx, now=now, limit=10, lease_until=now + timedelta(seconds=60))
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    [(statement, parameters)] = sent
    with db.engine.connect() as conn:
        if not db.is_sqlite:
            conn.exec_driver_sql("SET enable_seqscan = off")
        explain = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
        plan = conn.exec_driver_sql(explain + statement, parameters).all()
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


def test_0005_fills_in_the_company_of_existing_contacts(db: Any) -> None:
    from datetime import UTC, datetime

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
    now = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    with db.engine.begin() as conn:
        for email in ("ada@sales.acme.co.uk", "bob@gmail.com", "eve@localhost"):
            conn.exec_driver_sql(
                "INSERT INTO contacts (email, fields, created_at, updated_at) VALUES (%s, '{}', %s, %s)"
                if not db.is_sqlite
                else "INSERT INTO contacts (email, fields, created_at, updated_at) VALUES (?, '{}', ?, ?)",
                (email, now, now),
            )
    upgrade(db)
    with db.engine.connect() as conn:
        companies = dict(conn.exec_driver_sql("SELECT email, company FROM contacts").all())
    assert companies == {"ada@sales.acme.co.uk": "acme.co.uk", "bob@gmail.com": "gmail.com", "eve@localhost": None}
