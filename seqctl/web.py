"""`seqctl serve`: the open pixel, click redirects and RFC 8058 one-click unsubscribe.

A plain WSGI application, so that any WSGI server can host it (`seqctl.web:application`
reads SEQCTL_DATABASE_URL and SEQCTL_SECRET from the environment), and `seqctl serve`
runs it with the standard library's threaded server behind a reverse proxy.

    GET|HEAD /o/TOKEN.gif   a 1x1 GIF; records an open
    GET|HEAD /c/TOKEN       302 to the link that was in the email; records a click
    GET      /u/TOKEN       a page asking to confirm; changes nothing (scanners fetch it)
    POST     /u/TOKEN       List-Unsubscribe=One-Click: unsubscribes and suppresses
    GET      /healthz       200 "ok"

A token that is forged, altered, of the wrong kind or for a message seqctl did not send
gets 404 and records nothing. Nothing is redirected anywhere but the signed URL.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from seqctl.delivery.tracking import CLICK, OPEN, UNSUBSCRIBE, Token, verify
from seqctl.store.db import Database

Clock = Callable[[], datetime]
StartResponse = Callable[..., Any]
log = logging.getLogger("seqctl.web")

# The smallest transparent GIF.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
_MAX_BODY = 4096
_SECURITY_HEADERS = [
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
]
_PAGE_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"),
    ("X-Frame-Options", "DENY"),
]


def _system_clock() -> datetime:
    return datetime.now(UTC)


class TrackingApp:
    def __init__(self, db: Database, secret: str, clock: Clock = _system_clock) -> None:
        self.db = db
        self.secret = secret
        self.clock = clock

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "")
        try:
            status, headers, body = self._route(method, path, environ)
        except Exception:  # never show a traceback to the world; the log has it
            log.exception("%s %s failed", method, path.split("/")[1:2])
            status, headers, body = _page("500 Internal Server Error", "Something went wrong", "Please try again later.")
        start_response(status, headers + _SECURITY_HEADERS)
        return [b"" if method == "HEAD" else body]

    def _route(self, method: str, path: str, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        if path == "/healthz":
            return "200 OK", [("Content-Type", "text/plain")], b"ok\n"
        parts = path.strip("/").split("/")
        if len(parts) != 2 or parts[0] not in ("o", "c", "u"):
            return _not_found()
        kind = {"o": OPEN, "c": CLICK, "u": UNSUBSCRIBE}[parts[0]]
        text = parts[1].removesuffix(".gif") if kind == OPEN else parts[1]
        token = verify(self.secret, text)
        if token is None or token.kind != kind or (kind == CLICK and not token.url):
            return _not_found()
        if kind == UNSUBSCRIBE:
            return self._unsubscribe(method, token, environ)
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", [("Allow", "GET, HEAD")], b""
        return self._engagement(method, token, environ)

    def _engagement(
        self, method: str, token: Token, environ: dict[str, Any]
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        from seqctl.services.engagement import record_engagement

        try:
            record_engagement(
                self.db, token, method=method, user_agent=environ.get("HTTP_USER_AGENT", ""), now=self.clock()
            )
        except LookupError:
            return _not_found()
        if token.kind == OPEN:
            return "200 OK", [("Content-Type", "image/gif"), ("Content-Length", str(len(PIXEL)))], PIXEL
        assert token.url is not None
        return "302 Found", [("Location", token.url), ("Content-Length", "0")], b""

    def _unsubscribe(
        self, method: str, token: Token, environ: dict[str, Any]
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        from seqctl.services.engagement import unsubscribe

        if method in ("GET", "HEAD"):  # a GET never unsubscribes: link scanners fetch every URL
            return _page(
                "200 OK", "Unsubscribe",
                "Do you want to stop receiving these emails?",
                form='<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
                '<button type="submit">Unsubscribe</button></form>',
            )  # fmt: skip
        if method != "POST":
            return "405 Method Not Allowed", [("Allow", "GET, HEAD, POST")], b""
        form = parse_qs(_read_body(environ))
        if form.get("List-Unsubscribe") != ["One-Click"]:
            return _page("400 Bad Request", "Unsubscribe", "This request is not an unsubscribe request.")
        try:
            unsubscribe(self.db, token, now=self.clock())
        except LookupError:
            return _not_found()
        return _page("200 OK", "Unsubscribed", "You will not receive these emails any more.")


def _read_body(environ: dict[str, Any]) -> str:
    try:
        length = min(int(environ.get("CONTENT_LENGTH") or 0), _MAX_BODY)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    return stream.read(length).decode("utf-8", "replace") if stream is not None and length > 0 else ""


def _not_found() -> tuple[str, list[tuple[str, str]], bytes]:
    return _page("404 Not Found", "Not found", "This link is not valid.")


def _page(status: str, title: str, text: str, form: str = "") -> tuple[str, list[tuple[str, str]], bytes]:
    body = (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}"
        "button{font-size:1rem;padding:.5rem 1rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{form}</body></html>"
    ).encode()
    return status, [*_PAGE_HEADERS, ("Content-Length", str(len(body)))], body


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """For WSGI servers (gunicorn 'seqctl.web:application'): configured from the environment."""
    global _from_environment
    if _from_environment is None:
        _from_environment = app_from_environment()
    return _from_environment(environ, start_response)


_from_environment: TrackingApp | None = None


def app_from_environment(db_url: str | None = None) -> TrackingApp:
    from seqctl import settings
    from seqctl.errors import InvalidInput
    from seqctl.store.migrate import require_current

    secret = settings.tracking_secret()
    if secret is None:
        raise InvalidInput(f"{settings.SECRET_VARIABLE} is not set: it signs and checks every tracking link")
    db = Database(settings.database_url(db_url))
    require_current(db)
    return TrackingApp(db, secret)


def make_server(app: TrackingApp, host: str, port: int) -> Any:
    """A threaded WSGI server (the standard library's) that logs no tokens."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
    from wsgiref.simple_server import make_server as wsgiref_server

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Handler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            # Tokens are bearer links (an unsubscribe one acts for the recipient): log the route only.
            route = self.path.split("?")[0].strip("/").split("/")[0]
            log.info("%s %s /%s … %s", self.address_string(), self.command, route, args[1] if len(args) > 1 else "")

    return wsgiref_server(host, port, app, server_class=Server, handler_class=Handler)
