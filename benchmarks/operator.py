"""The operator's bulk commands, as real processes: `contacts import`, `enroll --csv` and
`enroll --tag` of N contacts, and a tick while a mailbox limit holds N due emails.

    python benchmarks/operator.py --sizes 10000,100000 [--postgres URL]

(`benchmarks/run.py` runs the 10k case too.) Rates are N / whole-process wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import NOW, SEQUENCES, median, populate, postgres_db, seqctl, sqlite_db

SEQUENCE = """\
mailboxes:
  - key: bulk
    from: "Bulk <bulk@example.com>"
    limits: {per_day: 200}
sequences:
  - key: bulk
    mailbox: bulk
    calendar: {timezone: America/New_York, window: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}}
    steps:
      - {id: e1, type: email, subject: "Hello {{ contact.first_name }}", body: "Hi"}
      - {id: e2, type: email, wait: 3d, thread: true, body: "Bump"}
  - key: other
    mailbox: bulk
    steps:
      - {id: e1, type: email, subject: "Hello {{ contact.first_name }}", body: "Hi"}
"""


def write_contacts(path: Path, n: int, offset: int = 0) -> None:
    zones = ["America/New_York", "Europe/Berlin", "Asia/Tokyo", ""]
    with path.open("w") as out:
        out.write("Email,First Name,Company,Time Zone,Tags\n")
        for i in range(offset, offset + n):
            out.write(f"p{i}@example.com,P{i},Co{i % 997},{zones[i % 4]},lead\n")


def bench_bulk(db_factory: Any, n: int, repeat: int) -> dict[str, Any]:
    """contacts import, enroll --csv (contacts known), enroll --tag: rows per second."""
    imports, csv_enrolls, tag_enrolls = [], [], []
    for _ in range(repeat):
        with db_factory() as (db, workdir):
            seqctl(db, "init")
            seqctl(db, "import", str(_write(workdir / "bulk.yaml", SEQUENCE)))
            contacts = workdir / "contacts.csv"
            write_contacts(contacts, n)
            wall, _, _ = seqctl(db, "contacts", "import", str(contacts), "--json", cwd=workdir)
            imports.append(n / wall)
            wall, report, _ = seqctl(db, "--now", NOW.isoformat(), "enroll", "bulk", "--csv", str(contacts), "--json")
            assert len(report["enrolled"]) == n, len(report["enrolled"])
            csv_enrolls.append(n / wall)
            wall, report, _ = seqctl(db, "--now", NOW.isoformat(), "enroll", "other", "--tag", "lead", "--json")
            assert len(report["enrolled"]) == n, len(report["enrolled"])
            tag_enrolls.append(n / wall)
    return {
        "n": n,
        "contacts_import_per_s": round(median(imports)),
        "enroll_csv_per_s": round(median(csv_enrolls)),
        "enroll_tag_per_s": round(median(tag_enrolls)),
    }


def bench_held_by_limit(db_factory: Any, n: int, repeat: int) -> dict[str, Any]:
    """Ticks when N emails are due and the mailbox may send 200 a day, whole process each:
    the first (sends the 200, claims no more), the next (finds the limit reached and defers
    the rest together) and a later one (nothing of it due)."""
    firsts, nexts, laters, claimed = [], [], [], []
    for _ in range(repeat):
        with db_factory() as (db, workdir):
            populate(db, workdir, idle=0, emails=n)
            limited = workdir / "limited.yaml"
            limited.write_text(SEQUENCES.replace('    from: "Bench <bench@example.com>"\n', '    from: "Bench <bench@example.com>"\n    limits: {per_day: 200}\n'))
            seqctl(db, "import", str(limited))
            env = {"SEQCTL_OUTBOX": str(workdir / "outbox"), "SEQCTL_SMTP_URL": ""}
            walls, reports = [], []
            for minute in range(3):
                wall, report, _ = seqctl(db, "tick", "--now", NOW.replace(minute=minute).isoformat(), "--json", env=env)
                walls.append(wall)
                reports.append(report)
            assert reports[0]["sent"] == 200 and reports[1]["deferred"] == n - 200, reports
            firsts.append(walls[0])
            nexts.append(walls[1])
            laters.append(walls[2])
            claimed.append(max(r["claimed"] for r in reports[1:]))
    return {"n": n, "first_tick_s": round(median(firsts), 3), "next_tick_s": round(median(nexts), 3),
            "later_tick_s": round(median(laters), 3), "claimed": max(claimed)}  # fmt: skip


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("SEQCTL_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    backends: list[tuple[str, Any]] = [("sqlite", sqlite_db)]
    if args.postgres:
        backends.append(("postgres", lambda: postgres_db(args.postgres)))
    print("| backend | N | contacts import | enroll --csv | enroll --tag | per_day 200: first tick | next tick (defers the rest) | later tick | claims after the first |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, factory in backends:
        for n in (int(s) for s in args.sizes.split(",")):
            bulk = bench_bulk(factory, n, args.repeat)
            held = bench_held_by_limit(factory, n, args.repeat)
            print(f"| {name} | {n:,} | {bulk['contacts_import_per_s']:,}/s | {bulk['enroll_csv_per_s']:,}/s | "
                  f"{bulk['enroll_tag_per_s']:,}/s | {held['first_tick_s']} s | {held['next_tick_s']} s | {held['later_tick_s']} s | "
              f"{held['claimed']:,} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
