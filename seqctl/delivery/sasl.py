"""SASL for OAuth 2.0 bearer tokens, as SMTP and IMAP servers take them: `XOAUTH2`
(Google's and Microsoft's) and `OAUTHBEARER` (RFC 7628). Pure: the transports send what
these build and hand back what the server answers.

A bearer token is a password for as long as it lives: nothing here puts it in an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Protocol

XOAUTH2 = "XOAUTH2"
OAUTHBEARER = "OAUTHBEARER"


def mechanism(offered: set[str]) -> str | None:
    """The mechanism to use among those a server offers (XOAUTH2 first: the providers'
    own; OAUTHBEARER when that is all there is), or None."""
    names = {name.upper() for name in offered}
    for name in (XOAUTH2, OAUTHBEARER):
        if name in names:
            return name
    return None


def initial_response(name: str, user: str, token: str, *, host: str, port: int) -> bytes:
    """The client's first (and only) message for `name`, before base64."""
    _check(user, "the user name")
    _check(token, "the access token")
    if name == XOAUTH2:
        return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()
    if name == OAUTHBEARER:
        # RFC 7628 §3.1: a GS2 header naming the user (RFC 5801's saslname escapes), then
        # key=value pairs each ended by ^A, and a final ^A.
        authzid = user.replace("=", "=3D").replace(",", "=2C")
        return f"n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01".encode()
    raise ValueError(f"unknown SASL mechanism {name}")


def _check(value: str, what: str) -> None:
    if not value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError(f"{what} is empty or holds a control character")


# After a refused token the server sends a challenge; the client must answer it (^A for
# OAUTHBEARER, nothing for XOAUTH2) and the server then reports the failure.
def failure_answer(name: str) -> bytes:
    return b"\x01" if name == OAUTHBEARER else b""


def describe_failure(challenge: bytes) -> str:
    """One line from the server's error challenge (JSON with `status`, and maybe `scope`
    and `schemes`, as decoded from its base64); never the token, which the challenge does
    not carry anyway."""
    try:
        found = json.loads(challenge)
    except ValueError:
        return "the server refused the token"
    if not isinstance(found, dict):
        return "the server refused the token"
    status = "".join(c for c in str(found.get("status", "refused"))[:60] if c.isprintable())
    scope = "".join(c for c in str(found.get("scope") or "")[:200] if c.isprintable())
    return f"the server refused the token ({status}" + (f"; it wants scope {scope}" if scope else "") + ")"


class BearerExchange:
    """One SASL exchange, as smtplib's `auth` and imaplib's `authenticate` drive it: the
    first call answers with the initial response; a later one is the server's error
    challenge, which is kept (`refusal`) and answered as the mechanism requires."""

    def __init__(self, name: str, user: str, token: str, *, host: str, port: int) -> None:
        self.name = name
        self._first = initial_response(name, user, token, host=host, port=port)
        self._started = False
        self.refusal: str | None = None

    def __call__(self, challenge: bytes | None = None) -> bytes:
        if not self._started:
            self._started = True
            return self._first
        self.refusal = describe_failure(challenge or b"")
        return failure_answer(self.name)


class BearerToken(Protocol):
    """A mailbox's OAuth access token, fetched when a connection logs in: `__call__`
    gives a good one (AuthorisationExpired, TokenUnavailable when it cannot); `refused`
    says the server turned the last one down, so the next call gets a fresh one;
    `account` is whom it logs in as when the server's URL names no user."""

    account: str

    def __call__(self) -> str: ...

    def refused(self) -> None: ...


class LoginRefused(Exception):
    """The server turned the login down; the message holds no secret."""


def bearer_login(
    offered: set[str], token: BearerToken, user: str, host: str, port: int,
    authenticate: Callable[[str, BearerExchange], object],
    refused_as: type[Exception] | tuple[type[Exception], ...], protocol: str,
) -> None:  # fmt: skip
    """Log in with XOAUTH2 (or OAUTHBEARER) through `authenticate(mechanism, exchange)`.
    A refused token is thrown away and a fresh one tried once: the server's clock, or a
    revocation the token's lifetime does not show, may disagree with ours — and when the
    provider then refuses to refresh, the mailbox is known to need a new login."""
    name = mechanism(offered)
    if name is None:
        raise LoginRefused(f"{protocol} server {host}:{port} offers no XOAUTH2 or OAUTHBEARER login")
    for attempt in (1, 2):
        exchange = BearerExchange(name, user, token(), host=host, port=port)
        try:
            authenticate(name, exchange)
            return
        except refused_as as exc:
            if attempt == 2:
                why = exchange.refusal or "the server refused the token"
                raise LoginRefused(f"{protocol} {name} login refused: {_server_words(exc)}{why}") from None
            token.refused()


def _server_words(exc: BaseException) -> str:
    """An SMTP reply's code and text (Microsoft's says why: "5.7.139 … SmtpClientAuthentication
    is disabled for the Tenant"), printable and short; servers do not echo the token."""
    code, text = getattr(exc, "smtp_code", None), getattr(exc, "smtp_error", b"")
    words = text.decode(errors="replace") if isinstance(text, bytes) else str(exc)
    words = "".join(c for c in words if c.isprintable())[:200]
    return f"{code} {words}; " if code else (f"{words}; " if words else "")
