"""A mailbox's stored OAuth authorisation (issue 15's groundwork), on SQLite and Postgres:
tokens are stored sealed, and one refresh at a time holds the row — a second process
waits, then reads what the first one wrote (a racing refresh would replay a rotated
refresh token, and providers revoke the whole family then)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from seqctl.store import auth
from seqctl.token_box import open_sealed, seal
from tests.conftest import at

NOW = at("2026-12-07T10:00:00+00:00")
SECRET = "k" * 32


def test_tokens_are_stored_sealed_and_their_state_follows_the_provider(db: Any, tmp_path: Path) -> None:
    sealed = seal(SECRET, "mailbox:ada", b'{"refresh_token": "rt-1-PLAINTEXT"}')
    with db.write() as tx:
        auth.save(tx, "ada", method="oauth", account="ada@acme.example", sealed=sealed,
                  access_expires_at=NOW, now=NOW)  # fmt: skip
    with db.read() as tx:
        found = auth.get(tx, "ada")
    assert found is not None and found.state == auth.AUTHORISED and found.account == "ada@acme.example"
    assert open_sealed(SECRET, "mailbox:ada", found.sealed) == b'{"refresh_token": "rt-1-PLAINTEXT"}'
    if db.is_sqlite:  # nothing of the token in clear in the database file
        files = [p for p in tmp_path.rglob("*.db*") if p.is_file()]
        assert files and not any(b"PLAINTEXT" in p.read_bytes() for p in files)
    with db.write() as tx:
        assert auth.mark_expired(tx, "ada", "authorisation expired: run seqctl auth login ada", NOW)
    with db.read() as tx:
        expired = auth.every(tx)
    assert [(a.mailbox_key, a.state) for a in expired] == [("ada", auth.EXPIRED)]
    with db.write() as tx:  # a new login replaces the tokens and authorises it again
        auth.save(tx, "ada", method="oauth", account="ada@acme.example", sealed=seal(SECRET, "mailbox:ada", b"{}"),
                  access_expires_at=None, now=NOW)  # fmt: skip
        assert auth.get(tx, "ada").state == auth.AUTHORISED  # type: ignore[union-attr]
        assert auth.forget(tx, "ada") and not auth.forget(tx, "ada")


def test_one_refresh_at_a_time_the_second_waits_and_reads_the_new_token(db: Any) -> None:
    with db.write() as tx:
        auth.save(tx, "ada", method="oauth", account=None, sealed="v1:old", access_expires_at=NOW, now=NOW)
    holding, refreshed_second = threading.Event(), threading.Event()
    seen: dict[str, str] = {}

    def first_refresh() -> None:
        with db.write() as tx:
            assert auth.locked(tx, "ada") is not None
            holding.set()
            # The second process is waiting now: it must not get the row before we commit.
            assert not refreshed_second.wait(0.5)
            auth.save(tx, "ada", method="oauth", account=None, sealed="v1:new", access_expires_at=NOW, now=NOW)

    def second_refresh() -> None:
        holding.wait(10)
        with db.write() as tx:
            found = auth.locked(tx, "ada")
            assert found is not None
            seen["second"] = found.sealed
            refreshed_second.set()

    threads = [threading.Thread(target=first_refresh), threading.Thread(target=second_refresh)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert seen == {"second": "v1:new"}
