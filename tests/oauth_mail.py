"""Mail servers that take OAuth 2.0 bearer tokens, for the tests: an aiosmtpd submission
server whose XOAUTH2 and OAUTHBEARER logins introspect the token (RFC 7662) at the
loopback authorization server — the way Microsoft's and Google's check theirs — and
answer a bad one with the JSON error challenge then 535. (Dovecot's `oauth2` passdb does
the same for IMAP: `tests/imap_server.py`.)"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from tests.conftest import RecordingHandler, free_port


def _introspect(url: str, token: str) -> dict[str, Any]:
    body = urllib.parse.urlencode({"token": token}).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as answer:
        found: dict[str, Any] = json.loads(answer.read())
        return found


def parse_bearer(mechanism: str, message: bytes) -> tuple[str, str] | None:
    """(user, token) from an XOAUTH2 or OAUTHBEARER initial response, or None."""
    text = message.decode("utf-8", "replace")
    fields = text.split("\x01")
    if mechanism == "OAUTHBEARER":
        header, _, _ = text.partition("\x01")
        parts = header.split(",")
        if len(parts) < 2 or not parts[1].startswith("a="):
            return None
        user = parts[1][2:].replace("=2C", ",").replace("=3D", "=")
    else:
        if not fields[0].startswith("user="):
            return None
        user = fields[0][5:]
    auth = next((f for f in fields if f.startswith("auth=Bearer ")), None)
    return (user, auth.removeprefix("auth=Bearer ")) if auth else None


class BearerHandler(RecordingHandler):
    """A RecordingHandler that logs in with bearer tokens only (`logins` records who)."""

    def __init__(self, introspection_url: str) -> None:
        super().__init__()
        self.introspection_url = introspection_url
        self.logins: list[tuple[str, str]] = []  # (mechanism, user)
        self.refused: list[tuple[str, str]] = []

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        # As a submission server does: no mail before a login. (aiosmtpd's own
        # `auth_required` warns on every connection without TLS: this is loopback.)
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
        return await self._bearer(server, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server: Any, args: list[str]) -> Any:
        return await self._bearer(server, args, "OAUTHBEARER")

    async def _bearer(self, server: Any, args: list[str], mechanism: str) -> Any:
        from aiosmtpd.smtp import MISSING, AuthResult

        if len(args) > 1:
            try:
                message: Any = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return AuthResult(success=False, handled=False, message="501 5.5.2 Cannot decode base64")
        else:
            message = await server.challenge_auth("")
            if message is MISSING:
                return AuthResult(success=False, handled=True)
        parsed = parse_bearer(mechanism, message)
        if parsed is not None:
            user, token = parsed
            loop = asyncio.get_running_loop()
            found = await loop.run_in_executor(None, _introspect, self.introspection_url, token)
            if found.get("active") and found.get("username") == user:
                self.logins.append((mechanism, user))
                return AuthResult(success=True, auth_data=user)
            self.refused.append((mechanism, user))
        error = json.dumps({"status": "invalid_token", "schemes": "bearer", "scope": "mail"})
        await server.challenge_auth(error)  # the client answers, then hears the failure
        return AuthResult(success=False, handled=False, message="535 5.7.8 Authentication unsuccessful")


@contextlib.contextmanager
def bearer_smtp(introspection_url: str, *, mechanisms: tuple[str, ...] = ("XOAUTH2", "OAUTHBEARER")) -> Iterator[tuple[BearerHandler, int]]:
    """An SMTP server on a free loopback port that wants a bearer login before MAIL FROM
    and offers only `mechanisms`."""
    from aiosmtpd.controller import Controller

    handler = BearerHandler(introspection_url)
    port = free_port()
    excluded = [m for m in ("PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER") if m not in mechanisms]
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, auth_require_tls=False, auth_exclude_mechanism=excluded
    )
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
