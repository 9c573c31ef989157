"""SASL for OAuth 2.0 bearer tokens, as SMTP and IMAP servers take them: `XOAUTH2`
(Google's and Microsoft's) and `OAUTHBEARER` (RFC 7628). Pure: the transports send what
these build and hand back what the server answers.

A bearer token is a password for as long as it lives: nothing here puts it in an error.
"""

from __future__ import annotations

import base64
import binascii
import json

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


def describe_failure(challenge: str | bytes) -> str:
    """One line from the server's error challenge (base64 JSON with `status`, and maybe
    `scope` and `schemes`); never the token, which the challenge does not carry anyway."""
    try:
        raw = base64.b64decode(challenge, validate=True)
        found = json.loads(raw)
    except (binascii.Error, ValueError):
        return "the server refused the token"
    if not isinstance(found, dict):
        return "the server refused the token"
    status = str(found.get("status", "refused"))[:60]
    scope = found.get("scope")
    return f"the server refused the token ({status}" + (f"; it wants scope {str(scope)[:200]}" if scope else "") + ")"
