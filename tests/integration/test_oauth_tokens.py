"""A mailbox's access token (issue 15's groundwork), on SQLite and Postgres, against the
real authorization server on loopback: kept sealed, refreshed before it expires by one
process while the others wait and read the new one, and marked expired (with what to do)
when the provider refuses. Only the provider's clock is moved, never the protocol."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from seqctl.oauth import client, presets
from seqctl.services import oauth_tokens
from seqctl.store import auth as auth_store
from tests.oauth_server import OAuthServer

SECRET = "q" * 32


@pytest.fixture
def server(oauth_server: OAuthServer) -> OAuthServer:
    return oauth_server


def logged_in(db: Any, server: OAuthServer) -> oauth_tokens.OAuthClient:
    provider = presets.custom(
        device_authorization_url=f"{server.url}/device", token_url=f"{server.url}/token", scopes=("mail",)
    )
    login = client.start_device_login(provider, server.client_id)
    server.approve(login.user_code, "ada@acme.example")
    tokens = client.finish_device_login(provider, server.client_id, None, login, sleep=lambda s: None)
    oauth_tokens.store_tokens(db, "ada", tokens, secret=SECRET, account="ada@acme.example", real_now=datetime.now(UTC))
    return oauth_tokens.OAuthClient(provider, server.client_id)


def refreshes(server: OAuthServer) -> int:
    return sum(1 for path, form in server.requests if path == "/token" and form.get("grant_type") == "refresh_token")


def later(seconds: float) -> Any:
    return lambda: datetime.now(UTC) + timedelta(seconds=seconds)


def test_a_good_token_is_used_as_it_is_and_one_about_to_expire_is_refreshed(db: Any, server: OAuthServer) -> None:
    oauth = logged_in(db, server)
    first = oauth_tokens.access_token(db, "ada", oauth, secret=SECRET, real_now=later(0))
    assert refreshes(server) == 0 and server.access_tokens[first]["user"] == "ada@acme.example"
    # 30 s before expiry: within the one-minute margin.
    second = oauth_tokens.access_token(db, "ada", oauth, secret=SECRET, real_now=later(3600 - 30))
    assert refreshes(server) == 1 and second != first
    with db.read() as tx:
        stored = auth_store.get(tx, "ada")
    assert stored is not None and second not in stored.sealed and "refresh" not in stored.sealed


def test_four_processes_at_once_refresh_once_and_never_replay_a_rotated_token(db: Any, server: OAuthServer) -> None:
    oauth = logged_in(db, server)
    got: list[str] = []
    errors: list[BaseException] = []

    def needs_token() -> None:
        try:
            got.append(oauth_tokens.access_token(db, "ada", oauth, secret=SECRET, real_now=later(3600)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=needs_token) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(got) == 4 and len(set(got)) == 1
    assert refreshes(server) == 1 and server.revoked_families == set()


def test_a_refused_refresh_marks_the_mailbox_expired_with_what_to_do(db: Any, server: OAuthServer) -> None:
    oauth = logged_in(db, server)
    server.revoked_families.update(r["family"] for r in server.refresh_tokens.values())  # consent withdrawn
    with pytest.raises(oauth_tokens.AuthorisationExpired) as refused:
        oauth_tokens.access_token(db, "ada", oauth, secret=SECRET, real_now=later(3600))
    assert str(refused.value) == "authorisation expired: run seqctl auth login ada (custom: invalid_grant)"
    with db.read() as tx:
        stored = auth_store.get(tx, "ada")
    assert stored is not None and stored.state == auth_store.EXPIRED and stored.reason == str(refused.value)
    asked = refreshes(server)
    with pytest.raises(oauth_tokens.AuthorisationExpired):  # no more refreshes until a new login
        oauth_tokens.access_token(db, "ada", oauth, secret=SECRET, real_now=later(3600))
    assert refreshes(server) == asked
