"""A webhook receiver on loopback for the tests: a real HTTP server that checks every
Standard Webhooks signature with the `standardwebhooks` package (as a customer's
receiver would), records what it took, and fails on demand (500s, a slow answer).
Health-check pings land here too (any path not /hook or /slack)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass
class Receiver:
    secret: str = field(default_factory=new_secret)
    hooks: list[dict[str, Any]] = field(default_factory=list)  # verified: headers, type, data
    slack: list[dict[str, Any]] = field(default_factory=list)
    pings: list[tuple[str, str]] = field(default_factory=list)  # (path, body)
    bad_signatures: int = 0
    fail_next: int = 0  # answer this many requests with 500
    delay: float = 0.0  # seconds before answering
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def webhook_ids(self) -> list[str]:
        return [hook["webhook-id"] for hook in self.hooks]


def running(receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if receiver.delay:
                time.sleep(receiver.delay)
            with receiver.lock:
                failing = receiver.fail_next > 0
                receiver.fail_next -= failing
                status = self._take(body) if not failing else 500
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _take(self, body: bytes) -> int:
            if self.path == "/hook":
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload = Webhook(receiver.secret).verify(body, headers)
                except Exception:
                    receiver.bad_signatures += 1
                    return 400
                receiver.hooks.append({"webhook-id": headers["webhook-id"], **payload})
            elif self.path == "/slack":
                receiver.slack.append(json.loads(body))
            else:
                receiver.pings.append((self.path, body.decode()))
            return 200

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
