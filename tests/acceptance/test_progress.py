"""Long operations show progress on a terminal, and never in --json or piped output
(SPEC §3): the real binary with its stderr on a pseudo-terminal, then on a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.conftest import write

FILE = """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>"}
sequences:
  - key: s
    mailbox: ada
    steps:
      - {id: e, type: email, subject: "x", body: "y"}
"""


def run(db: str, cwd: Path, *args: str, terminal: bool) -> tuple[str, str]:
    """(stdout, stderr) of one seqctl process, its stderr a terminal or a pipe."""
    command = [sys.executable, "-m", "seqctl", "--db", db, *args]
    if not terminal:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, check=True)
        return done.stdout, done.stderr
    controller, terminal_end = pty.openpty()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=terminal_end)
    os.close(terminal_end)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the process closed its end
            break
        if not chunk:
            break
        seen += chunk
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, seen
    os.close(controller)
    return out.decode(), seen.decode(errors="replace")


def test_enrolling_and_importing_show_a_bar_on_a_terminal_only(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'seqctl.db'}"
    run(db, tmp_path, "init", terminal=False)
    run(db, tmp_path, "import", str(write(tmp_path / "s.yaml", FILE)), terminal=False)
    csv = write(tmp_path / "c.csv", "email\n" + "".join(f"p{n}@example.com\n" for n in range(7000)))
    _, shown = run(db, tmp_path, "contacts", "import", str(csv), terminal=True)
    assert "importing contacts" in shown and "7000/7000" in shown
    assert "contacts: 7000 created" in shown
    _, shown = run(db, tmp_path, "--now", "2026-11-23T10:00:00Z", "enroll", "s", "--csv", str(csv), terminal=True)
    assert "enrolling in s" in shown and "7000/7000" in shown and "enrolled 7000" in shown
    out, piped = run(db, tmp_path, "contacts", "import", str(csv), "--json", terminal=True)
    assert "importing" not in piped and out.startswith("{")
    _, piped = run(db, tmp_path, "contacts", "import", str(csv), terminal=False)
    assert piped == "contacts: 0 created, 0 updated, 7000 unchanged, 0 row problem(s)\n"
