"""A real out-of-office: Dovecot's LDA delivers seqctl's emails to two contacts whose Sieve
vacation (Pigeonhole, RFC 5230) is on. The responder stays silent to the email that
carries `List-Unsubscribe` (RFC 5230 §4.6: it looks like list mail) and answers the one
whose sequence sends `list_unsubscribe: none`; seqctl reads that answer and pauses the
contact until the return date it names.

Skips with a reason where Dovecot's LDA or the Sieve plugin is missing (`apt-get install
dovecot-imapd dovecot-sieve`; `.ci/run` installs them) and fails under CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli, outbox_messages, write
from tests.imap_server import MAIL_UID

LDA = Path("/usr/lib/dovecot/dovecot-lda")
SIEVE_PLUGIN = Path("/usr/lib/dovecot/modules/lib90_sieve_plugin.so")

SEQ = """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>"}
sequences:
  - key: heard
    mailbox: ada
    list_unsubscribe: none
    exit_on: [replied, bounced, unsubscribed]
    steps:
      - {id: one, type: email, subject: "Quick question", body: "Hi"}
      - {id: two, type: email, wait: 1d, thread: true, body: "Bump"}
  - key: unheard
    mailbox: ada
    steps:
      - {id: one, type: email, subject: "Quick question", body: "Hi"}
      - {id: two, type: email, wait: 1d, thread: true, body: "Bump"}
"""
VACATION = 'require ["vacation"];\nvacation :days 1 :subject "Out of office" "I am out of the office until Friday, December 4.";\n'


class Lda:
    """Dovecot's delivery agent with Sieve, run as the mail user (no server needed); the
    responses it sends go, through a `sendmail_path` script, to the Maildir `replies`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.replies = root / "replies"

    def deliver(self, user: str, raw: bytes, *, sender: str, recipient: str) -> None:
        command = [str(LDA), "-c", str(self.root / "dovecot.conf"), "-f", sender, "-a", recipient]
        env = {"HOME": str(self.root / "home" / user), "USER": user, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        if os.getuid() == 0:  # Dovecot delivers as the mailbox's owner, never as root
            command = ["setpriv", f"--reuid={MAIL_UID}", f"--regid={MAIL_UID}", "--clear-groups", *command]
        done = subprocess.run(command, input=raw, env=env, capture_output=True, timeout=30, check=False)
        log = self.root / "state" / "dovecot.log"
        assert done.returncode == 0, (done.stderr, log.read_text() if log.exists() else "")


@pytest.fixture
def lda() -> Iterator[Lda]:
    if not LDA.exists() or not SIEVE_PLUGIN.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must run the Sieve test: install dovecot-imapd and dovecot-sieve (.ci/run does)")
        pytest.skip("the Sieve test needs Dovecot's LDA and Pigeonhole: apt-get install dovecot-sieve")
    # Not under pytest's tmp_path: the delivery runs as MAIL_UID, which cannot enter it.
    root = Path(tempfile.mkdtemp(prefix="seqctl-sieve-"))
    root.chmod(0o755)
    for folder in ("state", "run", "replies/new", "replies/tmp", "replies/cur", "home/grace", "home/lin"):
        (root / folder).mkdir(parents=True)
    for user in ("grace", "lin"):
        (root / "home" / user / ".dovecot.sieve").write_text(VACATION)
    sendmail = root / "sendmail.sh"
    sendmail.write_text(
        f'#!/bin/sh\nf="{root}/replies/tmp/$$.$(date +%s%N)"\ncat > "$f" && mv "$f" "{root}/replies/new/"\n'
    )
    sendmail.chmod(0o755)
    (root / "dovecot.conf").write_text(f"""\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/state/dovecot.log
protocols =
ssl = no
mail_location = maildir:~/Maildir
postmaster_address = postmaster@example.org
sendmail_path = {sendmail}
protocol lda {{
  mail_plugins = sieve
}}
plugin {{
  sieve = file:~/sieve;active=~/.dovecot.sieve
}}
""")
    for path in [root, *root.rglob("*")]:
        os.chown(path, MAIL_UID, MAIL_UID)
    try:
        yield Lda(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_without_list_unsubscribe_a_real_out_of_office_arrives_and_pauses(
    cli: Cli, tmp_path: Path, outbox: Path, lda: Lda
) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ)))
    cli.add_contacts_for("heard", "--email", "grace@example.org")
    cli.ok("enroll", "heard", "--email", "grace@example.org", now="2026-12-01T10:00:00Z")
    cli.add_contacts_for("unheard", "--email", "lin@example.org")
    cli.ok("enroll", "unheard", "--email", "lin@example.org", now="2026-12-01T10:00:00Z")
    assert cli.ok("tick", "--now", "2026-12-01T10:00:00Z", "--json").json()["sent"] == 2
    sent = {str(m["To"]): m for m in outbox_messages(outbox)}
    assert sent["grace@example.org"]["List-Unsubscribe"] is None
    assert sent["lin@example.org"]["List-Unsubscribe"] is not None
    assert all(m["X-Mailer"] is None for m in sent.values())

    for path in sorted((outbox / "new").iterdir()):
        raw = path.read_bytes()
        user = "grace" if b"grace@example.org" in raw else "lin"
        lda.deliver(user, raw, sender="ada@example.com", recipient=f"{user}@example.org")

    replies = list((lda.replies / "new").iterdir())
    assert len(replies) == 1  # the responder kept quiet to the email with List-Unsubscribe
    # Dovecot dates its answer by the real clock; the test's clock is simulated. A return
    # date is read relative to the reply's Date, so the answer is dated when it came.
    reply = replies[0].read_bytes()
    date = re.search(rb"^Date: [^\r\n]*", reply, re.M | re.I)
    assert date is not None
    replies[0].write_bytes(reply.replace(date.group(), b"Date: Tue, 01 Dec 2026 10:01:00 +0000", 1))
    report = cli.ok(
        "inbox", "sync", "--maildir", str(lda.replies), "--mailbox", "ada", "--json", now="2026-12-01T10:05:00Z"
    ).json()
    assert (report["read"], report["auto_reply"], report["paused"], report["exited"]) == (1, 1, 1, 0)
    [listed] = cli.ok("inbox", "list", "--json").json()
    assert (listed["kind"], listed["contact"], listed["returns_on"]) == ("auto_reply", "grace@example.org", "2026-12-05")

    # The bump waits for the return date; the contact who was never heard from gets hers.
    assert cli.ok("tick", "--now", "2026-12-02T10:00:00Z", "--json").json()["sent"] == 1
    assert cli.ok("tick", "--now", "2026-12-04T23:00:00Z", "--json").json()["sent"] == 0
    assert cli.ok("tick", "--now", "2026-12-05T00:00:00Z", "--json").json()["sent"] == 1
