"""Running it for real (issue 16): notification delivery rate, and the worker's lateness.

    python benchmarks/running.py [--notifications 2000] [--per-minute 10000] [--minutes 2] [--repeat 3]
                                 [--postgres URL]   (the worker's lateness on Postgres too)

- Delivery: N `enrolled` notifications (Standard Webhooks JSON, signed) to a receiver on
  loopback that answers 204 at once; the rate is N / the wall time of one
  `seqctl notify deliver` process.
- Lateness: `--per-minute` emails fall due each minute for `--minutes` minutes, due times
  spread uniformly over each minute, on the real clock; one `seqctl worker --tick-every
  5s` process sends them into the Maildir outbox. An email's lateness is its file's
  mtime minus its due time. (cron's every-minute tick under the same load is
  `benchmarks/run.py`'s lateness table.)
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import median, populate, postgres_db, seqctl, sqlite_db

NOTIFY = """\
notify:
  - {key: crm, url: "${BENCH_HOOK_URL}", format: json, secret: "${BENCH_HOOK_SECRET}", events: [enrolled]}
"""
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class _Quick(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def bench_delivery(n: int, repeat: int) -> dict[str, Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Quick)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"BENCH_HOOK_URL": f"http://127.0.0.1:{server.server_address[1]}/hook", "BENCH_HOOK_SECRET": SECRET}
    rates = []
    try:
        for _ in range(repeat):
            with sqlite_db() as (db, workdir):
                populate(db, workdir, idle=0)
                spec = workdir / "notify.yaml"
                spec.write_text(NOTIFY)
                seqctl(db, "import", str(workdir / "bench.yaml"), str(spec), env=env)
                (workdir / "people.csv").write_text("email\n" + "".join(f"n{i}@example.com\n" for i in range(n)))
                seqctl(db, "enroll", "emails", "--csv", str(workdir / "people.csv"), env=env)
                wall, found, _ = seqctl(db, "notify", "deliver", "--budget", "3600", "--json", env=env)
                assert found["delivered"] == n, found
                rates.append(n / wall)
    finally:
        server.shutdown()
    return {"notifications": n, "per_s": round(median(rates)), "runs": [round(r) for r in rates]}


def bench_worker_lateness(per_minute: int, minutes: int, db_factory: Any = sqlite_db) -> dict[str, Any]:
    rng = random.Random(11)
    total = per_minute * minutes
    start = datetime.now(UTC) + timedelta(seconds=40)  # after the set-up below
    due = sorted(start + timedelta(seconds=rng.uniform(0, 60 * minutes)) for _ in range(total))
    with db_factory() as (db, workdir):
        populate(db, workdir, idle=0, emails=total, email_due=lambda i: due[i])
        outbox = workdir / "outbox"
        contact_due = {f"c{i}@example.com": due[i] for i in range(total)}
        env = {**os.environ, "SEQCTL_OUTBOX": str(outbox)}
        wait = (start - datetime.now(UTC)).total_seconds() - 3
        if wait > 0:
            time.sleep(wait)
        worker = subprocess.Popen(
            [sys.executable, "-m", "seqctl", "--db", db, "worker", "--tick-every", "5s", "--sync-every", "0"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60 * minutes + 120
            while time.monotonic() < deadline:
                sent = len(os.listdir(outbox / "new")) if (outbox / "new").exists() else 0
                if sent >= total:
                    break
                time.sleep(0.5)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(120)
        late = []
        for path in (outbox / "new").iterdir():
            recipient = next(line for line in path.read_text().splitlines() if line.startswith("To:")).split("<")[-1].rstrip(">")
            late.append(datetime.fromtimestamp(path.stat().st_mtime, UTC).timestamp() - contact_due[recipient].timestamp())
    late.sort()
    assert len(late) == total, (len(late), total)
    return {
        "per_minute": per_minute, "emails": total, "p50_s": round(late[len(late) // 2], 2),
        "p95_s": round(late[int(len(late) * 0.95)], 2), "max_s": round(late[-1], 2),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notifications", type=int, default=2000)
    parser.add_argument("--per-minute", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default=None, help="also measure the worker's lateness on this Postgres")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, SQLite")
    found = bench_delivery(args.notifications, args.repeat)
    print(f"notification delivery: {found['notifications']} in one `notify deliver`: median {found['per_s']}/s (runs {found['runs']})")
    backends: list[tuple[str, Any]] = [("sqlite", sqlite_db)]
    if args.postgres:
        backends.append(("postgres", lambda: postgres_db(args.postgres)))
    for name, factory in backends:
        for run in range(args.repeat):
            lateness = bench_worker_lateness(args.per_minute, args.minutes, factory)
            print(f"worker lateness, {name}, run {run + 1}: {lateness}")


if __name__ == "__main__":
    main()
