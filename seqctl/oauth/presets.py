"""Each provider as data — endpoints, scopes, the login flow — so that `custom` (any RFC
6749 / RFC 8628 provider, and the tests' own server) runs the same code as Google and
Microsoft. Values as the providers document them:

- Microsoft identity platform v2.0: `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/
  devicecode` and `/token`; `tenant` is a tenant id or domain, or `organizations` (work and
  school accounts; the default), `common` or `consumers`. Exchange Online's scopes for
  SMTP AUTH and IMAP, and `offline_access` for a refresh token.
- Google: the installed-app flow (its device flow does not grant the Gmail scope) with a
  loopback redirect, `https://accounts.google.com/o/oauth2/v2/auth` and
  `https://oauth2.googleapis.com/token`, the scope `https://mail.google.com/`, and
  `access_type=offline` with `prompt=consent` for a refresh token; PKCE (S256).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

DEVICE = "device"  # RFC 8628 device authorization grant
LOOPBACK = "loopback"  # installed-app authorization code flow with a loopback redirect (RFC 8252)


@dataclass(frozen=True)
class Provider:
    name: str
    flow: str  # DEVICE or LOOPBACK
    token_url: str
    scopes: tuple[str, ...]
    device_authorization_url: str | None = None
    authorization_url: str | None = None
    # Extra parameters of the authorization request (LOOPBACK): what gets a refresh token.
    authorization_params: tuple[tuple[str, str], ...] = ()


MICROSOFT_SCOPES = (
    "https://outlook.office.com/SMTP.Send",
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "offline_access",
)
GOOGLE_SCOPES = ("https://mail.google.com/",)


def microsoft(tenant: str = "organizations") -> Provider:
    base = f"https://login.microsoftonline.com/{quote(tenant, safe='')}/oauth2/v2.0"
    return Provider(
        name="microsoft", flow=DEVICE, token_url=f"{base}/token", scopes=MICROSOFT_SCOPES,
        device_authorization_url=f"{base}/devicecode",
    )  # fmt: skip


def google() -> Provider:
    return Provider(
        name="google", flow=LOOPBACK, token_url="https://oauth2.googleapis.com/token", scopes=GOOGLE_SCOPES,
        authorization_url="https://accounts.google.com/o/oauth2/v2/auth",
        authorization_params=(("access_type", "offline"), ("prompt", "consent")),
    )  # fmt: skip


def custom(
    *, token_url: str, scopes: tuple[str, ...], device_authorization_url: str | None = None,
    authorization_url: str | None = None,
) -> Provider:  # fmt: skip
    """Any RFC 6749 provider: the device login when it has a device endpoint, else the
    browser login with a loopback redirect (PKCE)."""
    return Provider(
        name="custom", flow=DEVICE if device_authorization_url else LOOPBACK, token_url=token_url, scopes=scopes,
        device_authorization_url=device_authorization_url, authorization_url=authorization_url,
    )  # fmt: skip


def device_authorization_request(provider: Provider, client_id: str) -> tuple[str, dict[str, str]]:
    """The RFC 8628 §3.1 request that starts a device login: (URL, form fields to POST)."""
    if provider.flow != DEVICE or provider.device_authorization_url is None:
        raise ValueError(f"{provider.name} does not log in with a device code")
    return provider.device_authorization_url, {"client_id": client_id, "scope": " ".join(provider.scopes)}


def device_token_request(provider: Provider, client_id: str, device_code: str) -> tuple[str, dict[str, str]]:
    """The RFC 8628 §3.4 poll for the tokens: (URL, form fields to POST)."""
    return provider.token_url, {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "device_code": device_code,
        "client_id": client_id,
    }
