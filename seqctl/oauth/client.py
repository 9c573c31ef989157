"""Talking to a provider's OAuth 2.0 endpoints, through authlib (one generic client for
Google, Microsoft and `custom` alike; the differences are `presets`' data): the RFC 8628
device login and the refresh grant. Errors come back as one line, never with a token."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from seqctl.errors import SeqctlError
from seqctl.oauth.presets import Provider, device_authorization_request, device_token_request

TIMEOUT_S = 30
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class LoginFailed(SeqctlError):
    """The provider refused the login (denied, expired) or could not be reached."""


class RefreshRefused(SeqctlError):
    """The provider will not refresh these tokens any more (revoked, expired, consent
    withdrawn): the mailbox needs a new `seqctl auth login`."""


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


def refresh(provider: Provider, client_id: str, client_secret: str | None, refresh_token: str) -> dict[str, Any]:
    """New tokens for a refresh token (which the provider may rotate: keep the new one)."""
    with _session(client_id, client_secret) as session:
        try:
            return dict(session.refresh_token(provider.token_url, refresh_token=refresh_token, timeout=TIMEOUT_S))
        except OAuthError as exc:
            raise RefreshRefused(_refusal(provider, exc)) from None


def _refusal(provider: Provider, exc: OAuthError) -> str:
    return f"{provider.name}: {exc.error}" + (f" ({str(exc.description)[:120]})" if exc.description else "")
