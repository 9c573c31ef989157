"""The OAuth client against a real authorization server on loopback
(`tests/oauth_server.py`): the RFC 8628 device login — approved, pending, slow_down,
denied, expired — refresh-token rotation, where replaying a rotated token revokes the
whole family, and the first request of Google's browser login as Google documents it.
Only the wait between polls is injected (the clock), never the protocol."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from seqctl.oauth import client, presets
from tests.oauth_server import OAuthServer


@pytest.fixture
def server(oauth_server: OAuthServer) -> OAuthServer:
    return oauth_server


def provider(server: OAuthServer) -> presets.Provider:
    return presets.custom(
        device_authorization_url=f"{server.url}/device", token_url=f"{server.url}/token", scopes=("mail",)
    )


def test_an_approved_device_login_gets_tokens_after_pending_and_slow_down(server: OAuthServer) -> None:
    login = client.start_device_login(provider(server), server.client_id)
    assert login.user_code and login.verification_uri.endswith("/activate") and login.interval == 1
    server.devices[login.device_code].slow_down_once = True
    waits: list[float] = []

    def wait(seconds: float) -> None:  # the person approves while the client waits a second time
        waits.append(seconds)
        if len(waits) == 3:
            server.approve(login.user_code, "ada@acme.example")

    tokens = client.finish_device_login(provider(server), server.client_id, None, login, sleep=wait)
    assert waits == [1, 6, 6]  # slow_down adds 5 s to the interval (RFC 8628 §3.5); pending keeps it
    assert tokens["token_type"].lower() == "bearer" and tokens["refresh_token"] and tokens["access_token"]
    polls = [form for path, form in server.requests if path == "/token"]
    assert polls[-1]["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code"


def test_a_denied_or_expired_login_fails_in_one_line(server: OAuthServer) -> None:
    login = client.start_device_login(provider(server), server.client_id)
    server.deny(login.user_code)
    with pytest.raises(client.LoginFailed) as denied:
        client.finish_device_login(provider(server), server.client_id, None, login, sleep=lambda s: None)
    assert "access_denied" in str(denied.value) and "\n" not in str(denied.value)
    login = client.start_device_login(provider(server), server.client_id)
    moments = iter([0.0, 0.0, 10_000.0])  # the code's expires_in passes while waiting
    with pytest.raises(client.LoginFailed) as expired:
        client.finish_device_login(provider(server), server.client_id, None, login, sleep=lambda s: None,
                                   clock=lambda: next(moments))  # fmt: skip
    assert "expired" in str(expired.value)
    with pytest.raises(client.LoginFailed):
        client.start_device_login(provider(server), "someone-else")


def test_refresh_tokens_rotate_and_a_replay_revokes_the_family(server: OAuthServer) -> None:
    login = client.start_device_login(provider(server), server.client_id)
    server.approve(login.user_code, "ada@acme.example")
    first = client.finish_device_login(provider(server), server.client_id, None, login, sleep=lambda s: None)
    second = client.refresh(provider(server), server.client_id, None, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    with pytest.raises(client.RefreshRefused) as replayed:
        client.refresh(provider(server), server.client_id, None, first["refresh_token"])
    message = str(replayed.value)
    assert "invalid_grant" in message and first["refresh_token"] not in message
    with pytest.raises(client.RefreshRefused):  # the whole family is gone, the newest token too
        client.refresh(provider(server), server.client_id, None, second["refresh_token"])


def test_the_google_browser_login_asks_for_offline_access_with_pkce_and_a_loopback_redirect() -> None:
    shown: list[str] = []
    with pytest.raises(client.LoginFailed) as nobody:
        client.browser_login(presets.google(), "123.apps.googleusercontent.com", "secret", show=shown.append,
                             open_browser=False, seconds=0.2)  # fmt: skip
    assert "nobody signed in" in str(nobody.value)
    [url] = shown
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://accounts.google.com/o/oauth2/v2/auth"
    assert query["response_type"] == "code" and query["client_id"] == "123.apps.googleusercontent.com"
    assert query["scope"] == "https://mail.google.com/"
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["redirect_uri"].startswith("http://127.0.0.1:") and query["redirect_uri"].endswith("/")
    assert len(query["state"]) >= 20 and "secret" not in url
