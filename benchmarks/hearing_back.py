"""Benchmarks for what comes back (issue 5): provider event import, the tracking web app,
and IMAP sync against a real Dovecot. Called by `run.py`; each figure is a whole
`seqctl` process (or, for the web app, requests over loopback to a `seqctl serve`
process), median of --repeat runs."""

from __future__ import annotations

import email
import email.policy
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from run import NOW, populate, seqctl, sqlite_db  # benchmarks/ is on sys.path when run.py runs

from tests.conftest import free_port, wait_until_listening

SECRET = "benchmark-secret-0123456789"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
TRACKED = """\
mailboxes:
  - key: bench
    from: "Bench <bench@example.com>"
    tracking_url: "https://t.example.com"
sequences:
  - key: emails
    mailbox: bench
    tracking: true
    steps:
      - id: e1
        type: email
        subject: "Hello {{ contact.first_name }}"
        body: "Hi"
        html: '<p>Hi, see <a href="https://example.com/pricing">pricing</a> and <a href="https://example.com/blog">blog</a></p>'
"""


def _sent_outbox(db: str, workdir: Path, emails: int) -> list[tuple[str, str, str]]:
    """Send `emails` tracked emails into an outbox; (recipient, Message-ID, click path) of each."""
    populate(db, workdir, idle=0, emails=emails)
    (workdir / "tracked.yaml").write_text(TRACKED)
    env = {"SEQCTL_OUTBOX": str(workdir / "outbox"), "SEQCTL_SECRET": SECRET}
    seqctl(db, "import", str(workdir / "tracked.yaml"), env=env)
    while True:
        _, report, _ = seqctl(db, "--now", NOW.isoformat(), "tick", "--json", env=env)
        if report["sent"] == 0:
            break
    sent = []
    for path in sorted((workdir / "outbox" / "new").iterdir()):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        html = message.get_body(preferencelist=("html",)).get_content()
        click = html.split('href="https://t.example.com', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        sent.append((parseaddr(str(message["To"]))[1], str(message["Message-ID"]), click))
    return sent


def bench_events_import(emails: int, repeat: int) -> dict[str, Any]:
    """SendGrid events for `emails` messages: per message a delivered (ignored), an open and
    a click (no smtp-id: matched through the recipient) and every tenth a bounce."""
    first, again = [], []
    events = 0
    for _ in range(repeat):
        with sqlite_db() as (db, workdir):
            sent = _sent_outbox(db, workdir, emails)
            batch = []
            for n, (to, message_id, _) in enumerate(sent):
                at = int(NOW.timestamp()) + 3600 + n
                batch += [
                    {"email": to, "timestamp": at - 3000, "smtp-id": message_id, "event": "delivered", "sg_event_id": f"d{n}"},
                    {"email": to, "timestamp": at, "event": "open", "sg_event_id": f"o{n}", "useragent": BROWSER},
                    {"email": to, "timestamp": at + 5, "event": "click", "sg_event_id": f"c{n}", "url": "https://example.com/pricing", "useragent": BROWSER},
                ]  # fmt: skip
                if n % 10 == 0:
                    batch.append({"email": to, "timestamp": at, "smtp-id": message_id, "event": "bounce", "type": "bounce", "sg_event_id": f"b{n}"})
            path = workdir / "sendgrid.json"
            path.write_text(json.dumps(batch))
            events = len(batch)
            wall, report, _ = seqctl(db, "events", "import", str(path), "--format", "sendgrid", "--json")
            assert report["recorded"] == events - len(sent), report
            first.append(wall)
            wall, report, _ = seqctl(db, "events", "import", str(path), "--format", "sendgrid", "--json")
            assert report["recorded"] == 0, report
            again.append(wall)
    return {
        "what": "events import (SendGrid)", "events": events,
        "first_s": round(statistics.median(first), 2), "first_per_s": round(events / statistics.median(first)),
        "again_s": round(statistics.median(again), 2), "again_per_s": round(events / statistics.median(again)),
    }  # fmt: skip


def bench_web(emails: int, requests: int, clients: int, repeat: int) -> dict[str, Any]:
    """Click redirects through a `seqctl serve` process, `clients` at a time."""
    rates = []
    for _ in range(repeat):
        with sqlite_db() as (db, workdir):
            sent = _sent_outbox(db, workdir, emails)
            port = free_port()
            server = subprocess.Popen(
                [sys.executable, "-m", "seqctl", "--db", db, "serve", "--port", str(port)],
                env={**os.environ, "SEQCTL_SECRET": SECRET}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                if not wait_until_listening(port, server):
                    raise SystemExit(f"seqctl serve did not listen on {port}")
                paths = [sent[n % len(sent)][2] for n in range(requests)]
                failures: list[int] = []

                def client(part: list[str], port: int, failures: list[int]) -> None:
                    for path in part:
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                        conn.request("GET", path, headers={"User-Agent": BROWSER})
                        response = conn.getresponse()
                        response.read()
                        conn.close()
                        if response.status != 302:
                            failures.append(response.status)

                threads = [threading.Thread(target=client, args=(paths[i::clients], port, failures)) for i in range(clients)]
                started = time.perf_counter()
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                elapsed = time.perf_counter() - started
                assert not failures, failures[:5]
                rates.append(requests / elapsed)
            finally:
                server.terminate()
                server.wait(10)
    return {"what": "click redirects (seqctl serve)", "requests": requests, "clients": clients,
            "per_s": round(statistics.median(rates))}  # fmt: skip


def bench_imap(messages: int, repeat: int) -> dict[str, Any] | None:
    """`seqctl inbox sync` of `messages` replies from Dovecot, then a sync with nothing new."""
    if not (shutil.which("dovecot") or os.access("/usr/sbin/dovecot", os.X_OK)):
        print("IMAP benchmark skipped: Dovecot is not installed (apt-get install dovecot-imapd)", file=sys.stderr)
        return None
    from tests.imap_server import running_dovecot

    first, idle = [], []
    for _ in range(repeat):
        with sqlite_db() as (db, workdir), running_dovecot() as server:
            sent = _sent_outbox(db, workdir, messages)
            spec = (workdir / "tracked.yaml").read_text().replace("    tracking_url:", '    imap: "${BENCH_IMAP_URL}"\n    tracking_url:')
            (workdir / "tracked.yaml").write_text(spec)
            env = {"BENCH_IMAP_URL": server.url("INBOX"), "SEQCTL_SECRET": SECRET}
            seqctl(db, "import", str(workdir / "tracked.yaml"), env=env)
            with server.client() as conn:
                for n, (to, message_id, _) in enumerate(sent):
                    raw = (f"From: {to}\r\nTo: bench@example.com\r\nSubject: Re: Hello\r\nMessage-ID: <r{n}@bench>\r\n"
                           f"In-Reply-To: {message_id}\r\nDate: Mon, 23 Nov 2026 16:00:00 +0000\r\n\r\nSounds good.\r\n")  # fmt: skip
                    conn.append("INBOX", None, None, raw.encode())
            wall, report, _ = seqctl(db, "--now", NOW.isoformat(), "inbox", "sync", "--json", env=env)
            assert report["reply"] == len(sent), report
            first.append(wall)
            wall, report, _ = seqctl(db, "--now", NOW.isoformat(), "inbox", "sync", "--json", env=env)
            assert report["read"] == 0, report
            idle.append(wall)
    return {"what": "inbox sync over IMAP (Dovecot)", "messages": messages,
            "first_s": round(statistics.median(first), 2), "per_s": round(messages / statistics.median(first)),
            "nothing_new_s": round(statistics.median(idle), 3)}  # fmt: skip


def bench_classify(messages: int, repeat: int) -> dict[str, Any]:
    """`seqctl inbox sync --maildir` over a mixed corpus (issue 11): for each email sent, one
    message made from a fixture of tests/fixtures/mail (replies, out-of-office, DSNs and
    prose bounces, complaints, SES notices, delay notices …) answering it, plus the real
    bounces of tests/fixtures/bounces/flufl (which match no one). Also the classifier alone,
    in this process, over the same messages."""
    from seqctl.inbound.classify import classify

    root = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
    fixtures = sorted((root / "mail").glob("*.eml"))
    real = [p.read_bytes() for p in sorted((root / "bounces" / "flufl").glob("*.txt"))]
    whole, alone, kinds = [], [], {}
    for _ in range(repeat):
        with sqlite_db() as (db, workdir):
            sent = _sent_outbox(db, workdir, messages)
            maildir = workdir / "replies"
            for sub in ("new", "cur", "tmp"):
                (maildir / sub).mkdir(parents=True)
            corpus = []
            for n, (to, message_id, _) in enumerate(sent):
                text = fixtures[n % len(fixtures)].read_text()
                text = text.replace("{{ORIGINAL}}", message_id).replace("{{CONTACT}}", to)
                # Each message its own Message-ID: copies of one fixture are different mail.
                text = re.sub(r"(?im)^Message-ID: <", f"Message-ID: <b{n}.", text, count=1)
                corpus.append(text.replace("\n", "\r\n").encode())
            corpus += real
            for n, raw in enumerate(corpus):
                (maildir / "new" / f"{n}.bench").write_bytes(raw)
            wall, report, _ = seqctl(db, "--now", NOW.isoformat(), "inbox", "sync", "--maildir", str(maildir),
                                     "--mailbox", "bench", "--json")  # fmt: skip
            assert report["read"] + report["already_read"] == len(corpus), report
            whole.append(wall)
            kinds = {k: v for k, v in report.items() if k in ("reply", "auto_reply", "bounce", "complaint",
                     "unsubscribe", "delivery_report", "unclassified")}  # fmt: skip
            started = time.perf_counter()
            for raw in corpus:
                classify(raw)
            alone.append(time.perf_counter() - started)
    total = messages + len(real)
    return {"what": "inbox sync --maildir, mixed corpus", "messages": total, "kinds": kinds,
            "first_s": round(statistics.median(whole), 2), "per_s": round(total / statistics.median(whole)),
            "classify_only_per_s": round(total / statistics.median(alone))}  # fmt: skip
