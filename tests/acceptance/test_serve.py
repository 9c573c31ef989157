"""`seqctl serve` as an operator runs it: the real binary, a real port, a real click."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port, outbox_messages, wait_until_listening, write

SEQ = """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>", tracking_url: "https://t.example.com/"}
sequences:
  - key: s
    mailbox: ada
    tracking: {opens: false, clicks: true}
    steps:
      - {id: intro, type: email, subject: "Hi", body: "Hi", html: '<a href="https://example.com/x">x</a>'}
"""


def test_serve_redirects_a_real_click_and_stops_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "SEQCTL_SECRET": "acceptance-secret-123456", "SEQCTL_OUTBOX": str(tmp_path / "outbox")}
    db = ["--db", f"sqlite:///{tmp_path / 'seqctl.db'}"]

    def seqctl(*args: str, now: str = "2026-11-23T10:00:00Z") -> None:
        subprocess.run([sys.executable, "-m", "seqctl", *db, "--now", now, *args], cwd=tmp_path, env=env, check=True,
                       capture_output=True, timeout=60)  # fmt: skip

    seqctl("init")
    seqctl("import", str(write(tmp_path / "s.yaml", SEQ)))
    seqctl("contacts", "import", str(write(tmp_path / "c.csv", "email\ngrace@example.org\n")))
    seqctl("enroll", "s", "--email", "grace@example.org")
    seqctl("tick")
    html = outbox_messages(tmp_path / "outbox")[0].get_body(preferencelist=("html",)).get_content()
    assert "/o/" not in html  # opens not tracked: no pixel
    path = html.split('href="https://t.example.com/')[1].split('"')[0]

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "seqctl", *db, "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wait_until_listening(port, server), server.stderr and server.stderr.read()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", f"/{path}", headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Firefox/128.0"})
        response = conn.getresponse()
        assert response.status == 302 and response.getheader("Location") == "https://example.com/x"
        conn.close()
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=20)
    assert server.returncode == 130 and "Traceback" not in stderr
    assert path.split("/", 1)[1] not in stderr  # tokens are not logged
