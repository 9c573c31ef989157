"""Talking to a provider's OAuth 2.0 endpoints, through authlib (one generic client for
Google, Microsoft and `custom` alike; the differences are `presets`' data): the RFC 8628
device login, the installed-app login with a loopback redirect (RFC 8252, PKCE), the
refresh grant, and the JWT bearer grant (RFC 7523) of a Google service account with
domain-wide delegation. Errors come back as one line, never with a token."""

from __future__ import annotations

import contextlib
import secrets
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from seqctl.errors import InvalidInput, RefreshRefused, SeqctlError, TokenUnavailable
from seqctl.oauth.presets import Provider, device_authorization_request, device_token_request

TIMEOUT_S = 30
# A refresh holds the mailbox's row (on SQLite, the database's write lock) while it waits.
REFRESH_TIMEOUT_S = 10
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_SECONDS = 3600  # Google's longest


class LoginFailed(SeqctlError):
    """The provider refused the login (denied, expired) or could not be reached."""


@dataclass(frozen=True)
class DeviceLogin:
    device_code: str
    user_code: str
    verification_uri: str
    interval: int
    expires_in: int


def _session(client_id: str, client_secret: str | None) -> OAuth2Session:
    return OAuth2Session(client_id, client_secret, token_endpoint_auth_method="client_secret_post"
                         if client_secret else "none")  # fmt: skip


def start_device_login(provider: Provider, client_id: str, client_secret: str | None = None) -> DeviceLogin:
    url, form = device_authorization_request(provider, client_id)
    with _session(client_id, client_secret) as session:
        try:
            answer = session.post(url, data=form, timeout=TIMEOUT_S, withhold_token=True)
            found = answer.json()
        except (OSError, ValueError) as exc:
            raise LoginFailed(f"{provider.name}: the device login could not start ({type(exc).__name__})") from None
    if answer.status_code != 200 or "device_code" not in found:
        raise LoginFailed(f"{provider.name}: the device login was refused ({str(found.get('error', answer.status_code))[:80]})")
    return DeviceLogin(
        str(found["device_code"]), str(found["user_code"]),
        str(found.get("verification_uri") or found.get("verification_url") or ""),
        int(found.get("interval", 5)), int(found.get("expires_in", 900)),
    )  # fmt: skip


def finish_device_login(
    provider: Provider,
    client_id: str,
    client_secret: str | None,
    login: DeviceLogin,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll the token endpoint at the provider's interval (5 s more after each `slow_down`,
    RFC 8628 §3.5) until the person approves; the tokens, or LoginFailed when they deny it
    or the code expires."""
    url, form = device_token_request(provider, client_id, login.device_code)
    give_up_at = clock() + login.expires_in
    interval = login.interval
    with _session(client_id, client_secret) as session:
        while clock() < give_up_at:
            sleep(interval)
            try:
                return dict(session.fetch_token(url, timeout=TIMEOUT_S, **form))
            except OAuthError as exc:
                if exc.error == "authorization_pending":
                    continue
                if exc.error == "slow_down":
                    interval += 5
                    continue
                raise LoginFailed(_refusal(provider, exc)) from None
            except (OSError, ValueError) as exc:
                raise LoginFailed(f"{provider.name}: the token endpoint could not be read ({type(exc).__name__})") from None
    raise LoginFailed(f"{provider.name}: the code expired before it was approved (expired_token)")


BROWSER_LOGIN_SECONDS = 600
_DONE_PAGE = (
    b"<!doctype html><meta charset=utf-8><title>seqctl</title>"
    b"<p>seqctl has the answer. You can close this window and go back to the terminal.</p>"
)


class _Redirected(HTTPServer):
    answer: dict[str, str] | None = None


class _RedirectHandler(BaseHTTPRequestHandler):
    """Takes the provider's redirect (`?code=…&state=…`, or `?error=…`) and shows a page
    that echoes nothing of it."""

    server: _Redirected

    def do_GET(self) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if "code" in query or "error" in query:
            self.server.answer = query
        self.send_response(200 if self.server.answer else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(_DONE_PAGE if self.server.answer else b"")

    def log_message(self, format: str, *args: Any) -> None:
        return


def browser_login(
    provider: Provider, client_id: str, client_secret: str | None, *, show: Callable[[str], None],
    open_browser: bool, seconds: float = BROWSER_LOGIN_SECONDS, clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:  # fmt: skip
    """The installed-app login (RFC 8252): `show` the authorization URL (and open it in a
    browser unless told not to), take the provider's redirect on a loopback port, and
    trade the code (with its PKCE verifier) for the tokens."""
    if provider.authorization_url is None:
        raise ValueError(f"{provider.name} does not log in through a browser")
    listener = _Redirected(("127.0.0.1", 0), _RedirectHandler)
    try:
        redirect_uri = f"http://127.0.0.1:{listener.server_address[1]}/"
        verifier = secrets.token_urlsafe(64)
        session = OAuth2Session(
            client_id, client_secret, scope=" ".join(provider.scopes), redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_post" if client_secret else "none",
        )  # fmt: skip
        with session:
            url, state = session.create_authorization_url(
                provider.authorization_url, code_verifier=verifier, **dict(provider.authorization_params)
            )
            show(url)
            if open_browser:
                with contextlib.suppress(Exception):  # no browser here: the URL is on the screen
                    webbrowser.open(url)
            give_up_at = clock() + seconds
            while listener.answer is None or listener.answer.get("state") != state:
                listener.answer = None
                if (left := give_up_at - clock()) <= 0:
                    raise LoginFailed(f"{provider.name}: nobody signed in within {int(seconds)} s")
                listener.timeout = left
                listener.handle_request()
            answer = listener.answer
            if "error" in answer:
                raise LoginFailed(f"{provider.name}: {answer['error'][:80]}")
            try:
                return dict(session.fetch_token(
                    provider.token_url, grant_type="authorization_code", code=answer["code"],
                    code_verifier=verifier, timeout=TIMEOUT_S,
                ))  # fmt: skip
            except OAuthError as exc:
                raise LoginFailed(_refusal(provider, exc)) from None
            except (OSError, ValueError) as exc:
                raise LoginFailed(_unreachable(provider, exc)) from None
    finally:
        listener.server_close()


def refresh(provider: Provider, client_id: str, client_secret: str | None, refresh_token: str) -> dict[str, Any]:
    """New tokens for a refresh token (which the provider may rotate: keep the new one);
    RefreshRefused when the provider says no, TokenUnavailable when it cannot be asked."""
    with _session(client_id, client_secret) as session:
        try:
            return dict(
                session.refresh_token(provider.token_url, refresh_token=refresh_token, timeout=REFRESH_TIMEOUT_S)
            )
        except OAuthError as exc:
            raise RefreshRefused(_refusal(provider, exc)) from None
        except (OSError, ValueError) as exc:
            raise TokenUnavailable(_unreachable(provider, exc)) from None


@dataclass(frozen=True)
class ServiceAccount:
    """A Google service account's key (the JSON Google Cloud gives), read once."""

    client_email: str
    private_key: RSAKey
    token_uri: str
    key_id: str | None = None

    @classmethod
    def from_json(cls, info: Any, *, where: str) -> ServiceAccount:
        if not isinstance(info, dict) or not all(isinstance(info.get(k), str) for k in ("client_email", "private_key")):
            raise InvalidInput(f"{where}: not a service account key (it needs client_email and private_key)")
        try:
            key = RSAKey.import_key(info["private_key"])
        except (JoseError, ValueError, TypeError):
            raise InvalidInput(f"{where}: the service account's private_key is not an RSA key in PEM") from None
        return cls(info["client_email"], key, str(info.get("token_uri") or ""), info.get("private_key_id"))


def service_account_token(
    provider: Provider, account: ServiceAccount, subject: str, *, issued_at: int
) -> dict[str, Any]:
    """An access token for `subject`'s mailbox through the service account (RFC 7523: a
    JWT signed with its key, `sub` the user it acts for under domain-wide delegation)."""
    token_url = account.token_uri or provider.token_url
    claims = {
        "iss": account.client_email, "sub": subject, "scope": " ".join(provider.scopes), "aud": token_url,
        "iat": issued_at, "exp": issued_at + ASSERTION_SECONDS,
    }  # fmt: skip
    header = {"alg": "RS256", "typ": "JWT"} | ({"kid": account.key_id} if account.key_id else {})
    assertion = jwt.encode(header, claims, account.private_key)
    with OAuth2Session(token_endpoint_auth_method="none") as session:
        try:
            return dict(session.fetch_token(
                token_url, grant_type=JWT_BEARER_GRANT, assertion=assertion, timeout=REFRESH_TIMEOUT_S
            ))  # fmt: skip
        except OAuthError as exc:
            raise RefreshRefused(_refusal(provider, exc)) from None
        except (OSError, ValueError) as exc:
            raise TokenUnavailable(_unreachable(provider, exc)) from None


def _unreachable(provider: Provider, exc: BaseException) -> str:
    return f"{provider.name}: the token endpoint could not be reached ({type(exc).__name__})"


def _refusal(provider: Provider, exc: OAuthError) -> str:
    return f"{provider.name}: {exc.error}" + (f" ({str(exc.description)[:120]})" if exc.description else "")
