"""Notifications (SPEC §8), on SQLite and Postgres, against a real webhook receiver on
loopback that verifies every signature with the `standardwebhooks` package: a reply
delivered signed within the same `inbox sync`, retries with the same webhook-id, failing
after 24 hours and `notifications retry`, a dead receiver held to the run's budget, the
owner's email, a `notify` step, kill -9 during delivery, the metrics file (`promtool
check metrics`) and health pings."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, mail_fixture, outbox_messages, write
from tests.webhook_receiver import Receiver, running

SEQ = """\
mailboxes:
  - {key: ada, from: "Ada <ada@example.com>"}
owners:
  - {key: olga, name: Olga, email: olga@example.com}
notify:
  - {key: crm, url: "${CRM_URL}", format: json, secret: "${CRM_SECRET}", events: [all]}
  - {key: chat, url: "${CHAT_URL}", format: slack, events: [replied, failed], sequences: [s]}
  - {key: owners, email: owner, events: [replied]}
sequences:
  - key: s
    mailbox: ada
    owner: olga
    steps:
      - {id: one, type: email, subject: "Quick question", body: "Hi {{ contact.first_name | default('there') }}"}
      - {id: ping, type: action, wait: 1d, notify: crm, message: "{{ contact.email }} reached step two"}
      - {id: two, type: email, thread: true, body: "Bump"}
"""
NOW = "2026-11-23T10:00:00Z"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    found = Receiver()
    server = running(found)
    monkeypatch.setenv("CRM_URL", f"{found.url}/hook")
    monkeypatch.setenv("CRM_SECRET", found.secret)
    monkeypatch.setenv("CHAT_URL", f"{found.url}/slack")
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


def start(cli: Cli, tmp_path: Path, *people: str, seq: str = SEQ) -> dict[str, str]:
    """Import, enroll `people`, tick the first emails out; their Message-IDs by address."""
    cli.ok("import", str(write(tmp_path / "s.yaml", seq)))
    args = [a for p in people for a in ("--email", p)]
    cli.add_contacts_for(*args)
    cli.ok("enroll", "s", *args, now=NOW)
    cli.ok("tick", now=NOW)
    return {str(m["To"]): str(m["Message-ID"]) for m in outbox_messages(tmp_path / "outbox")}


def reply(tmp_path: Path, original: str, contact: str) -> Path:
    inbox = tmp_path / "inbox"
    for sub in ("new", "cur", "tmp"):
        (inbox / sub).mkdir(parents=True, exist_ok=True)
    (inbox / "new" / f"{contact}.eml").write_bytes(mail_fixture("reply.eml", original=original, contact=contact))
    return inbox


def test_a_reply_is_delivered_signed_within_the_same_inbox_sync(
    cli: Cli, tmp_path: Path, outbox: Path, receiver: Receiver
) -> None:
    sent = start(cli, tmp_path, "grace@example.org")
    enrolled = [h for h in receiver.hooks if h["type"] == "enrollment.enrolled"]
    assert len(enrolled) == 1 and enrolled[0]["data"]["email"] == "grace@example.org"
    before = len(outbox_messages(outbox))

    inbox = reply(tmp_path, sent["grace@example.org"], "grace@example.org")
    synced = cli.ok("inbox", "sync", "--maildir", str(inbox), "--json", now="2026-11-24T16:00:00Z").json()
    assert synced["reply"] == 1 and synced["notifications"]["failed"] == 0
    [replied] = [h for h in receiver.hooks if h["type"] == "enrollment.replied"]
    data = replied["data"]
    assert (data["email"], data["sequence"], data["step"]) == ("grace@example.org", "s", "one")
    assert data["enrollment_id"] == 1 and data["text"] == "Sounds interesting, can we talk on Thursday?"
    assert replied["timestamp"].startswith("2026-11-24T15:04:00")
    assert [h["data"]["reason"] for h in receiver.hooks if h["type"] == "enrollment.exited"] == ["replied"]
    assert receiver.bad_signatures == 0 and len(set(receiver.webhook_ids())) == len(receiver.hooks)
    [chat] = receiver.slack
    assert chat["text"].startswith("grace@example.org replied in s (step one)") and "&gt;" not in chat["text"][:40]

    # The owner's email: through the sequence's mailbox, no send row, untracked.
    owner_mail = [m for m in outbox_messages(outbox) if str(m["To"]) == "Olga <olga@example.com>"]
    assert len(outbox_messages(outbox)) == before + 1 and len(owner_mail) == 1
    body = owner_mail[0].get_content()
    assert "can we talk on Thursday?" in body and "On Mon, 23 Nov" not in body and "seqctl log --id 1" in body
    assert "List-Unsubscribe" not in owner_mail[0]
    assert [s["email"] for s in cli.ok("sends", "--since", "2026-11-01T00:00:00Z", "--json").json()] == [
        "grace@example.org"
    ]
    listed = cli.ok("notifications", "--json").json()
    assert {n["status"] for n in listed} == {"delivered"} and {n["target_key"] for n in listed} == {"crm", "chat", "owners"}


def test_a_notify_step_tells_its_target(cli: Cli, tmp_path: Path, outbox: Path, receiver: Receiver) -> None:
    start(cli, tmp_path, "grace@example.org")
    cli.ok("tick", now="2026-11-24T10:00:00Z")
    [told] = [h for h in receiver.hooks if h["type"] == "enrollment.notify"]
    assert told["data"]["message"] == "grace@example.org reached step two" and told["data"]["step"] == "ping"
    assert receiver.slack == []  # the step names crm only


def test_failures_are_retried_with_the_same_webhook_id_then_given_up_and_retried_by_hand(
    cli: Cli, tmp_path: Path, outbox: Path, receiver: Receiver
) -> None:
    receiver.fail_next = 1
    start(cli, tmp_path, "grace@example.org")  # enrolled: refused once (500)
    [pending] = cli.ok("notifications", "--json").json()
    assert (pending["status"], pending["attempts"]) == ("pending", 1) and "500" in pending["last_error"]
    assert receiver.hooks == []
    cli.ok("tick", now="2026-11-23T10:01:00Z")  # 30 s later it is due again: the same webhook-id
    [delivered] = cli.ok("notifications", "--json").json()
    assert delivered["status"] == "delivered" and receiver.webhook_ids() == [pending["webhook_id"]]

    receiver.fail_next = 10_000
    cli.ok("tick", now="2026-11-24T10:00:00Z")  # the notify step: refused …
    for hour in range(11, 36, 4):  # … and refused on every retry for a day
        cli.ok("notify", "deliver", now=f"2026-11-{24 + hour // 24}T{hour % 24:02d}:00:00Z")
    failed = [n for n in cli.ok("notifications", "--failed", "--json").json() if n["event"] == "step"]
    assert len(failed) == 1 and failed[0]["attempts"] >= 5
    table = cli.ok("notifications", "--failed")
    assert "step" in table.stdout and "500" in table.stdout
    receiver.fail_next = 0
    assert cli("notifications", "retry", "999").code == 2
    cli.ok("notifications", "retry", str(failed[0]["id"]), now="2026-11-26T10:00:00Z")
    delivered_now = cli.ok("notify", "deliver", "--json", now="2026-11-26T10:00:00Z").json()
    assert delivered_now["delivered"] == 1 and receiver.webhook_ids()[-1] == failed[0]["webhook_id"]


def test_a_dead_receiver_costs_a_tick_its_budget_at_most(
    cli: Cli, tmp_path: Path, outbox: Path, receiver: Receiver, monkeypatch: Any
) -> None:
    silent = socket.socket()  # accepts connections (the backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    monkeypatch.setenv("CRM_URL", f"http://127.0.0.1:{silent.getsockname()[1]}/hook")
    try:
        cli.ok("import", str(write(tmp_path / "s.yaml", SEQ)))
        people = [f"p{i}@example.org" for i in range(20)]
        args = [a for p in people for a in ("--email", p)]
        cli.add_contacts_for(*args)
        cli.ok("enroll", "s", *args, now=NOW)
        tick = cli.ok("tick", "--json", now=NOW).json()
    finally:
        silent.close()
    assert tick["sent"] == 20  # sending came first
    assert tick["duration_s"] < 3.0 + 6.0  # the delivery budget (3 s), and the tick's own work
    assert tick["notifications"]["retrying"] >= 1


def test_kill_9_during_delivery_loses_nothing(cli: Cli, tmp_path: Path, outbox: Path, receiver: Receiver) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ.replace("events: [all]", "events: [enrolled]"))))
    people = [f"p{i}@example.org" for i in range(30)]
    args = [a for p in people for a in ("--email", p)]
    cli.add_contacts_for(*args)
    receiver.fail_next = 10_000
    cli.ok("enroll", "s", *args, now=NOW)  # 30 notifications written with the enrollments
    receiver.fail_next, receiver.delay = 0, 0.15
    process = subprocess.Popen(
        [sys.executable, "-m", "seqctl", "--db", cli.db_url, "--now", "2026-11-23T10:05:00Z", "notify", "deliver"],
        cwd=tmp_path, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while len(receiver.hooks) < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert 8 <= len(receiver.hooks) < 30
    receiver.delay = 0
    cli.ok("notify", "deliver", now="2026-11-23T10:12:00Z")  # the killed claims' lease (5 min) has passed
    ids = {n["webhook_id"] for n in cli.ok("notifications", "--limit", "100", "--json").json()}
    assert len(ids) == 30 and set(receiver.webhook_ids()) == ids  # every one delivered, at least once
    assert {n["status"] for n in cli.ok("notifications", "--limit", "100", "--json").json()} == {"delivered"}


def test_three_deliverers_at_once_deliver_each_notification_once(
    cli: Cli, tmp_path: Path, outbox: Path, receiver: Receiver
) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ.replace("events: [all]", "events: [enrolled]"))))
    people = [f"p{i}@example.org" for i in range(60)]
    args = [a for p in people for a in ("--email", p)]
    cli.add_contacts_for(*args)
    cli.ok("enroll", "s", *args, now=NOW)  # enroll delivers nothing itself
    receiver.delay = 0.03
    deliverers = [
        subprocess.Popen(
            [sys.executable, "-m", "seqctl", "--db", cli.db_url, "--now", "2026-11-23T10:01:00Z", "notify", "deliver"],
            cwd=tmp_path, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(3)
    ]
    for process in deliverers:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert len(receiver.hooks) == 60 and len(set(receiver.webhook_ids())) == 60


def test_notify_settings_are_checked_at_import(cli: Cli, tmp_path: Path) -> None:
    def refused(notify: str, step: str = "") -> str:
        text = SEQ.split("notify:\n")[0] + "notify:\n" + notify + "sequences:\n  - key: s\n    mailbox: ada\n    steps:\n"
        text += step or '      - {id: one, type: email, subject: "Hi", body: "Hi"}\n'
        result = cli("import", str(write(tmp_path / "bad.yaml", text)))
        assert result.code == 2 and "Traceback" not in result.stderr, result.stderr
        return result.stderr

    assert "bad.yaml:6:" in refused('  - {key: x, url: "${U}", events: [replied]}\n')  # json needs a secret
    assert "unknown event 'replyed'" in refused('  - {key: x, url: "${U}", format: slack, events: [replyed]}\n')
    assert "https://" in refused('  - {key: x, url: "http://crm.example/hook", format: slack, events: [all]}\n')
    assert "either url" in refused("  - {key: x, events: [all]}\n")
    assert "secrets never live in YAML" in refused('  - {key: x, url: "${U}", secret: whsec_abc, events: [all]}\n')
    out = refused('  - {key: x, url: "${U}", format: slack, events: [all], sequences: [nope]}\n')
    assert "no sequence 'nope'" in out
    out = refused('  - {key: x, url: "${U}", format: slack, events: [all]}\n',
                  '      - {id: one, type: action, notify: nobody, message: "hi"}\n')  # fmt: skip
    assert "no notify target 'nobody'" in out and "bad.yaml:11:" in out
    out = refused('  - {key: x, url: "${U}", format: slack, events: [all]}\n',
                  '      - {id: one, type: action, notify: x}\n')  # fmt: skip
    assert "notify needs a message" in out


def test_the_metrics_file_passes_promtool_and_names_what_the_spec_asks(
    cli: Cli, tmp_path: Path, outbox: Path, receiver: Receiver
) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("CI must check the metrics file: install prometheus (.ci/run does)")
        pytest.skip("the metrics check needs promtool: apt-get install prometheus")
    start(cli, tmp_path, "grace@example.org", "lin@example.org")
    path = tmp_path / "metrics" / "seqctl.prom"
    cli.ok("tick", "--metrics-file", str(path), now=NOW)
    cli.ok("inbox", "sync", "--maildir", str(reply(tmp_path, "<x@y>", "x@example.org")), "--metrics-file",
           str(path), now=NOW)  # fmt: skip
    text = path.read_text()
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for line in (
        'seqctl_emails_sent_total{mailbox="ada"} 2.0', 'seqctl_enrollments{sequence="s",status="active"} 2.0',
        'seqctl_mailbox_paused{mailbox="ada"} 0.0', "seqctl_unknown_sends 0.0", "seqctl_notifications_pending 0.0",
        "seqctl_due 0.0",
    ):  # fmt: skip
        assert line in text, text
    jobs = {line.split('"')[1] for line in text.splitlines() if line.startswith("seqctl_last_success_timestamp_seconds{")}
    assert jobs == {"tick", "inbox_sync"}  # a later writer keeps the other job's value
    assert not list(path.parent.glob("*.tmp*")) and sorted(p.name for p in path.parent.iterdir()) == ["seqctl.prom"]


def test_health_pings_start_success_and_fail_and_a_dead_one_fails_nothing(
    cli: Cli, tmp_path: Path, outbox: Path, receiver: Receiver, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SEQCTL_HEALTHCHECK_URL", f"{receiver.url}/ping/abc")
    start(cli, tmp_path, "grace@example.org")
    assert [path for path, _ in receiver.pings] == ["/ping/abc/start", "/ping/abc"]
    assert receiver.pings[1][1].startswith("tick: tick 2026-11-23T10:00:00Z: claimed 1, sent 1")
    broken = SEQ.replace("reached step two", "{{ contact.missing_field }}").replace(
        '"{{ contact.email }} reached', '"{{ contact.email }} reached'
    )
    cli.ok("import", str(write(tmp_path / "s.yaml", broken.replace('body: "Bump"', 'body: "{{ contact.nope }}"'))))
    receiver.pings.clear()
    cli.ok("tick", now="2026-11-24T10:00:00Z")  # the notify step fails on its missing variable
    assert [path for path, _ in receiver.pings] == ["/ping/abc/start", "/ping/abc/fail"]
    assert "failed 1" in receiver.pings[1][1] and "missing_field" in receiver.pings[1][1]
    monkeypatch.setenv("SEQCTL_HEALTHCHECK_URL", "http://127.0.0.1:9/nothing-listens")
    assert cli("tick", now="2026-11-25T10:00:00Z").code == 0
