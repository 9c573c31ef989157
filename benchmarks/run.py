"""seqctl benchmarks: one command, real processes, real databases.

    python benchmarks/run.py                       # quick: N = 10k on SQLite
    python benchmarks/run.py --sizes 10000,100000,1000000 --postgres postgresql://postgres@127.0.0.1/test

Each figure is the median of --repeat runs of a real `seqctl tick` process. Results are
printed as a Markdown table (paste into benchmarks/README.md) and, with --json, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York

SEQUENCES = """\
mailboxes:
  - key: bench
    from: "Bench <bench@example.com>"
sequences:
  - key: steps
    mailbox: bench
    steps:
      - {id: a1, type: action, tag: t1}
      - {id: b1, type: branch, if: {event: replied}, then: a3, else: a2}
      - {id: a2, type: action, set: {stage: two}}
      - {id: a3, type: action, untag: t1}
      - {id: a4, type: action, assign: owner-1}
  - key: emails
    mailbox: bench
    steps:
      - {id: e1, type: email, subject: "Hello {{ contact.first_name }}", body: "Hi {{ contact.first_name }} at {{ contact.company }}, ..."}
  - key: idle
    mailbox: bench
    steps:
      - {id: later, type: email, wait: 30d, subject: "Later", body: "x"}
"""


def seqctl(db: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, dict[str, Any], int]:
    """Run one seqctl process; (wall seconds, parsed --json output or {}, peak RSS in KiB)."""
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(
        [sys.executable, "-m", "seqctl", "--db", db, *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"seqctl {' '.join(args)} failed:\n{done.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    data = json.loads(done.stdout) if "--json" in args else {}
    return wall, data, max(peak, before)


def populate(db_url: str, workdir: Path, *, idle: int, steps: int = 0, emails: int = 0, email_due: Any = None) -> None:
    """Import the bench sequences and bulk-insert contacts and enrollments."""
    from sqlalchemy import insert, select

    from seqctl.store.db import Database
    from seqctl.store.tables import ContactRow, EnrollmentRow, SequenceRow

    spec = workdir / "bench.yaml"
    spec.write_text(SEQUENCES)
    seqctl(db_url, "init")
    seqctl(db_url, "import", str(spec))
    database = Database(db_url)
    contacts, enrollments, sequences = ContactRow.__table__, EnrollmentRow.__table__, SequenceRow.__table__
    with database.write() as tx:
        ids = dict(tx.execute(select(sequences.c.key, sequences.c.id)).all())
    plan = [("idle", "later", idle, lambda i: NOW + timedelta(days=30)), ("steps", "a1", steps, lambda i: NOW),
            ("emails", "e1", emails, email_due or (lambda i: NOW))]  # fmt: skip
    offset = 0
    for key, first, count, due in plan:
        for start in range(0, count, 20_000):
            chunk = range(offset + start, offset + min(start + 20_000, count))
            with database.write() as tx:
                first_id = tx.execute(select(contacts.c.id).order_by(contacts.c.id.desc()).limit(1)).scalar() or 0
                tx.execute(insert(contacts), [
                    {"email": f"c{n}@example.com", "fields": {"first_name": f"F{n}", "company": f"Co{n % 997}"},
                     "created_at": NOW, "updated_at": NOW} for n in chunk
                ])  # fmt: skip
                tx.execute(insert(enrollments), [
                    {"sequence_id": ids[key], "contact_id": first_id + 1 + i, "status": "active", "current_step": first,
                     "step_due_at": due(start + i), "next_run_at": due(start + i), "lease_token": 0, "attempts": 0, "started_at": NOW - timedelta(minutes=1),
                     "created_at": NOW, "updated_at": NOW} for i in range(len(chunk))
                ])  # fmt: skip
        offset += count
    if database.is_sqlite:
        with database.write() as tx:
            tx.exec_driver_sql("ANALYZE")
    else:
        with database.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    database.dispose()


@contextmanager
def sqlite_db() -> Iterator[tuple[str, Path]]:
    workdir = Path(tempfile.mkdtemp(prefix="seqctl-bench-"))
    try:
        yield f"sqlite:///{workdir / 'bench.db'}", workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def postgres_db(base: str) -> Iterator[tuple[str, Path]]:
    import sqlalchemy

    from seqctl.store.db import normalise_url

    base = normalise_url(base)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    workdir = Path(tempfile.mkdtemp(prefix="seqctl-bench-"))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}", workdir
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def smtp_sink() -> Iterator[str]:
    """An aiosmtpd server in its own process that accepts and counts everything."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "import asyncio, signal\n"
        "from aiosmtpd.controller import Controller\n"
        "class Sink:\n"
        "    async def handle_DATA(self, server, session, envelope):\n"
        "        return '250 OK'\n"
        f"c = Controller(Sink(), hostname='127.0.0.1', port={port}); c.start()\n"
        "signal.sigwait({signal.SIGTERM})\n"
        "c.stop()\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield f"smtp://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench_idle(db_factory: Any, n: int, repeat: int) -> dict[str, Any]:
    """A tick with nothing due over N enrollments: whole process, and its in-process part."""
    with db_factory() as (db, workdir):
        populate(db, workdir, idle=n)
        runs = [seqctl(db, "tick", "--now", NOW.isoformat(), "--json") for _ in range(repeat)]
    return {
        "n": n,
        "idle_tick_process_s": round(median([r[0] for r in runs]), 3),
        "idle_tick_work_s": round(median([r[1]["duration_s"] for r in runs]), 4),
        "idle_tick_peak_rss_mb": round(max(r[2] for r in runs) / 1024, 1),
    }


def bench_throughput(db_factory: Any, n: int, due: int, repeat: int, transport: str, smtp_url: str | None = None, ticks: int = 1) -> dict[str, Any]:
    """Steps/s or emails/s for `due` due enrollments among N, with `ticks` overlapping processes."""
    rates, peaks = [], []
    for _ in range(repeat):
        with db_factory() as (db, workdir):
            kind = {"steps": "steps", "outbox": "emails", "smtp": "emails"}[transport]
            populate(db, workdir, idle=max(n - due, 0), **{kind: due})
            env = {"SEQCTL_OUTBOX": str(workdir / "outbox"), "SEQCTL_SMTP_URL": smtp_url or ""}
            started = time.perf_counter()
            processes = [
                subprocess.Popen([sys.executable, "-m", "seqctl", "--db", db, "tick", "--now", NOW.isoformat(), "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
                for _ in range(ticks)
            ]  # fmt: skip
            outputs = [p.communicate() for p in processes]
            elapsed = time.perf_counter() - started
            for process, (_, err) in zip(processes, outputs, strict=True):
                if process.returncode != 0:
                    raise SystemExit(err)
            reports = [json.loads(out) for out, _ in outputs]
            done = sum(r["sent"] for r in reports) if kind == "emails" else sum(r["branched"] + r["actions"] for r in reports)
            expected = due if kind == "emails" else due * 5  # a1, b1, a2, a3, a4
            assert done == expected, (done, expected, reports)
            assert persisted(db, kind) == due, "the tick reported work that is not in the database"
            rates.append(done / elapsed)
            peaks.append(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return {"n": n, "due": due, "transport": transport, "ticks": ticks, "per_s": round(median(rates)), "peak_rss_mb": round(max(peaks), 1)}


def persisted(db_url: str, kind: str) -> int:
    """What the ticks left in the database: completed enrollments, or sent messages."""
    from seqctl.store.db import Database

    database = Database(db_url)
    try:
        with database.read() as tx:
            query = ("SELECT count(*) FROM messages WHERE status = 'sent'" if kind == "emails"
                     else "SELECT count(*) FROM enrollments WHERE status = 'completed'")  # fmt: skip
            return int(tx.exec_driver_sql(query).scalar_one())
    finally:
        database.dispose()


def bench_lateness(per_minute: int, minutes: int, spread: bool) -> dict[str, Any]:
    """Cron's every-minute tick under `per_minute` emails falling due each minute, into the outbox.

    Lateness of an email = (the tick's minute - its due time) + how far into that tick's
    real run its file was written (the Maildir file's mtime). `spread` makes due times
    uniform within each minute; otherwise they fall on the minute, as schedules derived
    from earlier ticks and send windows do.
    """
    import random

    rng = random.Random(7)
    total = per_minute * minutes
    due_times = [NOW + timedelta(minutes=i // per_minute) + (timedelta(seconds=rng.uniform(-60, 0)) if spread else timedelta()) for i in range(total)]
    with sqlite_db() as (db, workdir):
        populate(db, workdir, idle=0, emails=total, email_due=lambda i: due_times[i])
        outbox = workdir / "outbox"
        contact_due = {f"c{i}@example.com": due_times[i] for i in range(total)}
        late: list[float] = []
        longest = 0.0
        for minute in range(minutes + 1):
            tick_now = NOW + timedelta(minutes=minute)
            before = set((outbox / "new").iterdir()) if (outbox / "new").exists() else set()
            started = time.time()
            seqctl(db, "tick", "--now", tick_now.isoformat(), "--json", env={"SEQCTL_OUTBOX": str(outbox)})
            longest = max(longest, time.time() - started)
            for path in set((outbox / "new").iterdir()) - before:
                recipient = next(line for line in path.read_text().splitlines() if line.startswith("To:")).split("<")[-1].rstrip(">")
                late.append((tick_now - contact_due[recipient]).total_seconds() + path.stat().st_mtime - started)
    late.sort()
    assert len(late) == total, (len(late), total)
    return {
        "per_minute": per_minute, "spread": spread, "emails": total,
        "p50_s": round(late[len(late) // 2], 1), "p95_s": round(late[int(len(late) * 0.95)], 1),
        "longest_tick_s": round(longest, 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000", help="comma-separated N for the SQLite idle-tick benchmark")
    parser.add_argument("--due", type=int, default=5000, help="due enrollments in the throughput runs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("SEQCTL_TEST_POSTGRES_URL"), help="Postgres URL (optional)")
    parser.add_argument("--postgres-n", type=int, default=100_000)
    parser.add_argument("--per-minute", type=int, default=10_000, help="emails due each minute in the lateness run")
    parser.add_argument("--hearing-back", type=int, default=2000, help="emails in the events/web/IMAP runs (0: skip)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, Any] = {"machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}", "idle": [], "throughput": [], "lateness": [], "hearing_back": []}

    for n in sizes:
        results["idle"].append({"backend": "sqlite", **bench_idle(sqlite_db, n, args.repeat)})
        print(results["idle"][-1], file=sys.stderr)
    results["throughput"].append({"backend": "sqlite", **bench_throughput(sqlite_db, sizes[0], args.due, args.repeat, "steps")})
    print(results["throughput"][-1], file=sys.stderr)
    results["throughput"].append({"backend": "sqlite", **bench_throughput(sqlite_db, sizes[0], args.due, args.repeat, "outbox")})
    print(results["throughput"][-1], file=sys.stderr)
    with smtp_sink() as url:
        results["throughput"].append({"backend": "sqlite", **bench_throughput(sqlite_db, sizes[0], args.due, args.repeat, "smtp", url)})
    print(results["throughput"][-1], file=sys.stderr)
    for spread in (False, True):
        results["lateness"].append(bench_lateness(args.per_minute, 3, spread))
        print(results["lateness"][-1], file=sys.stderr)
    if args.hearing_back:
        from hearing_back import bench_classify, bench_events_import, bench_imap, bench_web

        for found in (bench_events_import(args.hearing_back, args.repeat),
                      bench_web(args.hearing_back, 4 * args.hearing_back, 4, args.repeat),
                      bench_imap(args.hearing_back, args.repeat),
                      bench_classify(args.hearing_back, args.repeat)):  # fmt: skip
            if found is not None:
                results["hearing_back"].append(found)
                print(found, file=sys.stderr)
    if args.postgres:
        def pg() -> Any:
            return postgres_db(args.postgres)

        results["idle"].append({"backend": "postgres", **bench_idle(pg, args.postgres_n, args.repeat)})
        print(results["idle"][-1], file=sys.stderr)
        results["throughput"].append({"backend": "postgres", **bench_throughput(pg, args.postgres_n, args.due * 2, args.repeat, "steps", ticks=4)})
        print(results["throughput"][-1], file=sys.stderr)

    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"machine: {results['machine']}; medians of {args.repeat} runs\n")
    print("| backend | N | nothing-due tick, whole process | of which in-process work | peak RSS |\n|---|---|---|---|---|")
    for r in results["idle"]:
        print(f"| {r['backend']} | {r['n']:,} | {r['idle_tick_process_s']} s | {r['idle_tick_work_s'] * 1000:.1f} ms | {r['idle_tick_peak_rss_mb']} MB |")
    print("\n| backend | N | due | what | ticks | rate | peak RSS |\n|---|---|---|---|---|---|---|")
    for r in results["throughput"]:
        what = {"steps": "non-email steps/s", "outbox": "emails/s into the outbox", "smtp": "emails/s into an SMTP sink"}[r["transport"]]
        print(f"| {r['backend']} | {r['n']:,} | {r['due']:,} | {what} | {r['ticks']} | {r['per_s']:,} | {r['peak_rss_mb']} MB |")
    print("\n| emails due per minute | due times | emails | lateness p50 | p95 | longest tick |\n|---|---|---|---|---|---|")
    for r in results["lateness"]:
        when = "spread within the minute" if r["spread"] else "on the minute"
        print(f"| {r['per_minute']:,} | {when} | {r['emails']:,} | {r['p50_s']} s | {r['p95_s']} s | {r['longest_tick_s']} s |")
    print("\n| what | size | figure |\n|---|---|---|")
    for r in results["hearing_back"]:
        if "events" in r:
            print(f"| {r['what']} | {r['events']:,} events | first import {r['first_s']} s ({r['first_per_s']:,}/s); again, all duplicates, {r['again_s']} s ({r['again_per_s']:,}/s) |")
        elif "requests" in r:
            print(f"| {r['what']} | {r['requests']:,} requests, {r['clients']} clients | {r['per_s']:,} requests/s |")
        elif "classify_only_per_s" in r:
            print(f"| {r['what']} | {r['messages']:,} messages | whole process {r['first_s']} s ({r['per_s']:,}/s); the classifier alone {r['classify_only_per_s']:,}/s |")
        else:
            print(f"| {r['what']} | {r['messages']:,} messages | first sync {r['first_s']} s ({r['per_s']:,}/s); nothing new {r['nothing_new_s']} s |")


if __name__ == "__main__":
    main()
