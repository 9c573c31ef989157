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

import contextlib
import html
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, cast
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
# Bounds on what one request may make the server read (README "Limits"): a tracking token
# carries the signed link, so the request line allows long marketing URLs and no more.
MAX_REQUEST_LINE = 16 * 1024  # past it: 414
MAX_HEADER_LINE = 8 * 1024  # past it, or past MAX_HEADERS lines: 431
MAX_HEADERS = 100
_MAX_BODY = 4096  # past it: 413
# What a refused request may still send before its connection is closed.
DISCARD_BYTES = 1024 * 1024
DISCARD_SECONDS = 1.0
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
        try:
            declared = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _page("400 Bad Request", "Unsubscribe", "This request is not an unsubscribe request.")
        if declared > _MAX_BODY:
            return _page("413 Content Too Large", "Unsubscribe", "This request is too large.")
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
    db = Database(settings.database_url(db_url), create=False)
    require_current(db)
    return TrackingApp(db, secret)


def make_server(app: TrackingApp, host: str, port: int) -> Any:
    """A threaded WSGI server (the standard library's) that logs no tokens and bounds what
    a request may send before the application sees it."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer
    from wsgiref.simple_server import make_server as wsgiref_server

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        # The listen backlog: the default of 5 resets connections under a burst of clicks.
        request_queue_size = 256

        def handle_error(self, request: Any, client_address: Any) -> None:
            # A client that hangs up mid-answer is no server failure; say so in one line.
            log.warning("request from %s ended early: %s", client_address[0], _last_error())

    class Handler(WSGIRequestHandler):
        def handle(self) -> None:
            # wsgiref's own handle(), with seqctl's bounds instead of 64 KiB lines.
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.requestline, self.request_version, self.command = "", "HTTP/1.1", ""
                self.send_error(414)
                self._discard_input()
                return
            if not self.raw_requestline:
                return
            if not self.parse_request():
                self._discard_input()
                return
            handler = ServerHandler(
                cast(Any, self.rfile), cast(Any, self.wfile), self.get_stderr(), self.get_environ(), multithread=True
            )
            handler.request_handler = self  # type: ignore[attr-defined]
            handler.run(self.server.get_app())  # type: ignore[attr-defined]

        def _discard_input(self) -> None:
            # A request refused before it was read whole: read (a bounded amount of) what
            # is left before closing, or the close resets the connection and the client
            # may lose the answer it was sent.
            with contextlib.suppress(OSError):
                self.wfile.flush()
                self.connection.settimeout(DISCARD_SECONDS)
                left = DISCARD_BYTES
                while left > 0 and (chunk := self.rfile.read1(min(left, 65536))):
                    left -= len(chunk)

        def parse_request(self) -> bool:
            # http.server reads the headers with http.client's bounds (64 KiB lines); read
            # them through seqctl's smaller ones. Its errors become 431 there.
            body = self.rfile
            self.rfile = _HeaderReader(body)  # type: ignore[assignment]
            try:
                return bool(super().parse_request())
            finally:
                self.rfile = body

        def log_message(self, format: str, *args: Any) -> None:
            # Tokens are bearer links (an unsubscribe one acts for the recipient): log the route
            # only. A request refused before it was parsed has no path yet.
            path = getattr(self, "path", "") or ""
            route = path.split("?")[0].strip("/").split("/")[0][:16]
            command = (getattr(self, "command", "") or "-")[:16]
            status = args[1] if len(args) > 1 and isinstance(args[1], str | int) else ""
            log.info("%s %s /%s … %s", self.address_string(), ascii(command)[1:-1], ascii(route)[1:-1], status)

    return wsgiref_server(host, port, app, server_class=Server, handler_class=Handler)


class _HeaderReader:
    """The request's stream while its headers are read: a line over MAX_HEADER_LINE, or
    more than MAX_HEADERS of them, ends the read with http.client's own errors."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.lines = 0

    def readline(self, size: int = -1) -> bytes:
        import http.client

        line: bytes = self.stream.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE:
            raise http.client.LineTooLong("header line")
        self.lines += 1
        if self.lines > MAX_HEADERS + 1:  # the blank line that ends them is one more
            raise http.client.HTTPException(f"more than {MAX_HEADERS} headers")
        return line


def _last_error() -> str:
    import sys

    exc = sys.exc_info()[1]
    return type(exc).__name__ if exc is not None else "unknown"
