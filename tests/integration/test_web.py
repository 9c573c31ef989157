"""`seqctl serve` over real HTTP on loopback: pixel, click redirect, one-click unsubscribe,
scanners flagged, forged tokens and open-redirect attempts refused."""

from __future__ import annotations

import contextlib
import http.client
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Cli, at, events_by_email, outbox_messages, write

SECRET = "test-secret-0123456789abcdef"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SEQ = """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>", tracking_url: "https://t.example.com"}
sequences:
  - key: s
    mailbox: ada
    tracking: true
    steps:
      - id: intro
        type: email
        subject: "Hello"
        body: "Pricing: https://example.com/pricing"
        html: '<p>See <a href="https://example.com/pricing?plan=pro&amp;y=1">pricing</a> or
          <a href="https://example.com/blog">the blog</a>, {{ contact.first_name | default("there") }}.</p>'
      - id: hot
        type: branch
        wait: 2d
        if: {event: clicked, step: intro, url: "*/pricing*"}
        then: call
        else: end
      - {id: call, type: task, kind: call, note: "Call them"}
"""


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class Web:
    def __init__(self, port: int, clock: Clock) -> None:
        self.port, self.clock = port, clock

    def request(self, method: str, url: str, *, agent: str = BROWSER, body: str | None = None) -> Any:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"User-Agent": agent} if agent else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.text = response.read().decode("utf-8", "replace")
        conn.close()
        return response


@pytest.fixture
def web(cli: Cli, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    from seqctl.store.db import Database
    from seqctl.web import TrackingApp, make_server

    monkeypatch.setenv("SEQCTL_SECRET", SECRET)
    clock = Clock(at("2026-11-23T12:00:00+00:00"))
    db = Database(db_url)
    server = make_server(TrackingApp(db, SECRET, clock), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Web(server.server_port, clock)
    finally:
        server.shutdown()
        server.server_close()
        db.dispose()


def _links(message: Any) -> dict[str, str]:
    html = message.get_body(preferencelist=("html",)).get_content()
    clicks = [part.split('"')[0].replace("&amp;", "&") for part in html.split('href="')[1:]]
    pixel = html.split('src="')[1].split('"')[0].replace("&amp;", "&")
    unsubscribe = str(message["List-Unsubscribe"]).split(">")[0].lstrip("<")
    return {"pricing": clicks[0], "blog": clicks[1], "pixel": pixel, "unsubscribe": unsubscribe}


def _send(cli: Cli, tmp_path: Path, outbox: Path, *people: str) -> dict[str, dict[str, str]]:
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ)))
    cli.add_contacts_for("s", *[a for p in people for a in ("--email", p)])
    cli.ok("enroll", "s", *[a for p in people for a in ("--email", p)], now="2026-11-23T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    return {str(m["To"]): _links(m) for m in outbox_messages(outbox)}


def test_tracked_email_opens_clicks_and_branches_on_a_link(
    cli: Cli, db_url: str, tmp_path: Path, outbox: Path, web: Web
) -> None:
    sent = _send(cli, tmp_path, outbox, "person@a.com", "scanned@b.com", "quiet@c.com")
    links = sent["person@a.com"]
    assert all(link.startswith("https://t.example.com/") for link in links.values())
    message = next(m for m in outbox_messages(outbox) if str(m["To"]) == "person@a.com")
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert "https://example.com/pricing" in message.get_body(preferencelist=("plain",)).get_content()

    pixel = web.request("GET", links["pixel"])
    assert pixel.status == 200 and pixel.getheader("Content-Type") == "image/gif"
    click = web.request("GET", links["pricing"] + "?url=https://evil.example")
    assert click.status == 302 and click.getheader("Location") == "https://example.com/pricing?plan=pro&y=1"

    # A scanner fetches every link of its message at once, with a scanner's user agent or not.
    scanned = sent["scanned@b.com"]
    web.request("GET", scanned["pricing"], agent="Mozilla/5.0")
    web.request("GET", scanned["blog"], agent="Mozilla/5.0")
    web.request("GET", scanned["pixel"], agent="Mozilla/5.0 (compatible; Barracuda Sentinel)")
    events = events_by_email(db_url)
    assert events["person@a.com"] == [("opened", BROWSER[:100]), ("clicked", BROWSER[:100])]
    assert len(events["scanned@b.com"]) == 3
    scanned_log = cli.ok("log", "s", "--email", "scanned@b.com", "--json").json()[0]["timeline"]
    reasons = sorted(e["detail"].get("automated") for e in scanned_log if e["what"] == "event")
    assert reasons == ["every link at once", "every link at once", "scanner user agent"]

    stats = cli.ok("stats", "s", "--json").json()[0]["steps"][0]
    assert (stats["sent"], stats["opened"], stats["clicked"]) == (3, 1, 1)
    everything = cli.ok("stats", "s", "--include-automated", "--json").json()[0]["steps"][0]
    assert (everything["opened"], everything["clicked"]) == (2, 2)

    # Two days on, the branch sees the person's pricing click only: one call task.
    cli.ok("tick", "--now", "2026-11-25T10:00:00Z")
    tasks = cli.ok("tasks", "--json").json()
    assert [t["email"] for t in tasks] == ["person@a.com"]


def test_one_click_unsubscribe_only_on_post(
    cli: Cli, db_url: str, tmp_path: Path, outbox: Path, web: Web
) -> None:
    links = _send(cli, tmp_path, outbox, "leaving@a.com")["leaving@a.com"]
    page = web.request("GET", links["unsubscribe"])
    assert page.status == 200 and '<form method="post">' in page.text
    assert cli.ok("suppress", "list", "--json").json() == []
    assert web.request("POST", links["unsubscribe"], body="something=else").status == 400
    assert cli.ok("suppress", "list", "--json").json() == []

    done = web.request("POST", links["unsubscribe"], body="List-Unsubscribe=One-Click")
    assert done.status == 200 and "Unsubscribed" in done.text
    again = web.request("POST", links["unsubscribe"], body="List-Unsubscribe=One-Click")
    assert again.status == 200
    assert [(r["value"], r["reason"]) for r in cli.ok("suppress", "list", "--json").json()] == [
        ("leaving@a.com", "unsubscribed")
    ]
    assert events_by_email(db_url)["leaving@a.com"] == [("unsubscribed", None)]
    log = cli.ok("log", "s", "--email", "leaving@a.com", "--json").json()
    assert (log[0]["status"], log[0]["exit_reason"]) == ("exited", "unsubscribed")


def test_forged_altered_and_misused_tokens_do_nothing(
    cli: Cli, db_url: str, tmp_path: Path, outbox: Path, web: Web
) -> None:
    from seqctl.delivery.tracking import CLICK, UNSUBSCRIBE, Token, tracking_url

    links = _send(cli, tmp_path, outbox, "target@a.com")["target@a.com"]
    message_id = str(outbox_messages(outbox)[0]["Message-ID"])
    forged = tracking_url("https://t.example.com", "not-the-secret-at-all", Token(CLICK, message_id, "https://evil.example"))
    assert web.request("GET", forged).status == 404
    forged_unsubscribe = tracking_url("https://t.example.com", "not-the-secret-at-all", Token(UNSUBSCRIBE, message_id))
    assert web.request("POST", forged_unsubscribe, body="List-Unsubscribe=One-Click").status == 404
    # An altered link: one character of the signed payload changed.
    token = links["pricing"].rsplit("/", 1)[1]
    altered = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    assert web.request("GET", f"/c/{altered}").status == 404
    # A click token used as an unsubscribe one; a token for a message seqctl never sent.
    assert web.request("POST", f"/u/{token}", body="List-Unsubscribe=One-Click").status == 404
    unknown = tracking_url("https://t.example.com", SECRET, Token(CLICK, "<nope@example.com>", "https://example.com"))
    assert web.request("GET", unknown).status == 404
    assert web.request("GET", "/c/").status == 404 and web.request("GET", "/healthz").status == 200
    assert events_by_email(db_url) == {}
    assert cli.ok("suppress", "list", "--json").json() == []


def test_tracking_without_the_secret_holds_the_email_and_says_why(
    cli: Cli, tmp_path: Path, outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEQCTL_SECRET", raising=False)
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ)))
    cli.add_contacts_for("s", "--email", "a@a.com")
    cli.ok("enroll", "s", "--email", "a@a.com", now="2026-11-23T10:00:00Z")
    tick = cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()
    assert tick["sent"] == 0 and tick["deferred"] == 1
    assert any("SEQCTL_SECRET is not set" in error for error in tick["errors"])
    queue = cli.ok("queue", "--json").json()
    assert "SEQCTL_SECRET" in queue[0]["why"]
    monkeypatch.setenv("SEQCTL_SECRET", SECRET)
    assert cli.ok("tick", "--now", "2026-11-23T10:06:00Z", "--json").json()["sent"] == 1


def test_tracking_needs_the_mailbox_tracking_url(cli: Cli, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", SEQ.replace(', tracking_url: "https://t.example.com"', ""))
    result = cli("import", str(bad))
    assert result.code == 2 and "bad.yaml:6:" in result.stderr and "tracking_url" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_click_recorded_by_hand_can_name_its_link(cli: Cli, tmp_path: Path, outbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQCTL_SECRET", SECRET)
    _send(cli, tmp_path, outbox, "pricing@a.com", "blog@b.com")
    ids = {str(m["To"]): str(m["Message-ID"]) for m in outbox_messages(outbox)}
    for email, url in (("pricing@a.com", "https://example.com/pricing"), ("blog@b.com", "https://example.com/blog")):
        cli.ok("event", "clicked", "--email", email, "--message-id", ids[email], "--url", url, now="2026-11-23T15:00:00Z")
    wrong = cli("event", "opened", "--email", "blog@b.com", "--url", "https://example.com")
    assert wrong.code == 2 and "--url goes with a clicked event" in wrong.stderr
    cli.ok("tick", "--now", "2026-11-25T10:00:00Z")
    assert [t["email"] for t in cli.ok("tasks", "--json").json()] == ["pricing@a.com"]


def test_a_mailbox_that_loses_its_tracking_url_holds_tracked_emails(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQCTL_SECRET", SECRET)
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ)))
    cli.ok("import", str(write(tmp_path / "m.yaml", 'mailboxes:\n  - {key: ada, from: "Ada <ada@example.com>"}\n')))
    cli.add_contacts_for("s", "--email", "a@a.com")
    cli.ok("enroll", "s", "--email", "a@a.com", now="2026-11-23T10:00:00Z")
    tick = cli.ok("tick", "--now", "2026-11-23T10:00:00Z", "--json").json()
    assert (tick["sent"], tick["deferred"], tick["failed"]) == (0, 1, 0)
    assert "mailbox ada has no tracking_url" in cli.ok("queue", "--json").json()[0]["why"]


def _raw(port: int, request: bytes, *, read: bool = True) -> bytes:
    """Send bytes as they are (no HTTP client would send these) and read the whole answer."""
    import socket

    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        # The server may answer (414, 431) and close before it has read all of a request
        # this large: what it answered is what counts.
        with contextlib.suppress(OSError):
            conn.sendall(request)
            conn.shutdown(socket.SHUT_WR)
        if not read:
            return b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := conn.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


def test_oversized_and_garbled_requests_get_an_answer_and_the_server_lives_on(
    web: Web, caplog: pytest.LogCaptureFixture
) -> None:
    from seqctl.web import MAX_HEADER_LINE, MAX_HEADERS, MAX_REQUEST_LINE

    long_line = _raw(web.port, b"GET /c/" + b"A" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert long_line.startswith(b"HTTP/1.0 414")
    just_over = _raw(web.port, b"GET /c/" + b"A" * MAX_REQUEST_LINE + b" HTTP/1.1\r\n\r\n")
    assert just_over.startswith(b"HTTP/1.0 414")
    long_header = _raw(web.port, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"b" * (MAX_HEADER_LINE + 10) + b"\r\n\r\n")
    assert long_header.startswith(b"HTTP/1.0 431")
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(MAX_HEADERS + 5))
    assert _raw(web.port, b"GET /healthz HTTP/1.1\r\n" + many + b"\r\n").startswith(b"HTTP/1.0 431")
    big_body = _raw(web.port, b"POST /u/x.y HTTP/1.1\r\nContent-Length: 10000000\r\n\r\nList-Unsubscribe=One-Click")
    assert big_body.split(b"\r\n")[0].endswith(b"404 Not Found")  # a bad token is refused before the body
    assert _raw(web.port, b"GET /healthz\r\n") == b"ok\n"  # HTTP/0.9: a body, no headers
    garbage = _raw(web.port, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(256)))
    assert b"400 - Bad request" in garbage  # read as HTTP/0.9: the error page without a status line
    assert _raw(web.port, b"\r\n\r\n") == b""  # an empty request line: closed, no answer to give
    _raw(web.port, b"GET /healthz HTTP/1.1\r\nHost: x", read=False)  # hangs up mid-request
    assert web.request("GET", "/healthz").text == "ok\n"
    assert "Traceback" not in caplog.text and "A" * 100 not in caplog.text


def test_a_large_unsubscribe_body_is_refused_with_413(cli: Cli, tmp_path: Path, outbox: Path, web: Web) -> None:
    links = _send(cli, tmp_path, outbox, "a@a.com")["a@a.com"]
    path = urlsplit(links["unsubscribe"]).path.encode()
    answer = _raw(web.port, b"POST " + path + b" HTTP/1.1\r\nContent-Length: 10000\r\n\r\n" + b"x" * 10000)
    assert answer.split(b"\r\n")[0].endswith(b"413 Content Too Large")
    assert cli.ok("suppress", "list", "--json").json() == []


def test_a_burst_of_concurrent_requests_is_answered_in_full(web: Web) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(index: int) -> int:
        method = "POST" if index % 2 else "GET"
        return int(web.request(method, "/healthz" if method == "GET" else "/u/forged.token", body="a=b").status)

    with ThreadPoolExecutor(max_workers=64) as pool:
        statuses = list(pool.map(one, range(256)))
    assert statuses.count(200) == 128 and statuses.count(404) == 128
