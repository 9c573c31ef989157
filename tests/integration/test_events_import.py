"""`seqctl events import`: provider webhooks (SendGrid, Mailgun, SES) and seqctl's JSONL,
mapped onto the emails seqctl sent; a second import adds nothing; a bad line refuses all.

The provider events are written from the providers' documented webhook formats."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli, ada_sequence, events_by_email, outbox_messages, write

SEQ = ada_sequence(
    """\
      - {id: one, type: email, subject: "Quick question", body: "Hi"}
      - {id: hot, type: branch, wait: 1d, if: {event: clicked, step: one, url: "*/pricing*"}, then: call, else: end}
      - {id: call, type: task, kind: call, note: "Call"}
"""
)
PEOPLE = ["open@a.com", "hard@b.com", "blocked@c.com", "complain@d.com", "quiet@e.com"]
SENT_AT = 1795428000  # 2026-11-23T10:00:00Z
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"


def _send(cli: Cli, tmp_path: Path, outbox: Path) -> dict[str, str]:
    cli.ok("import", str(write(tmp_path / "s.yaml", SEQ)))
    cli.add_contacts_for("s", *[a for p in PEOPLE for a in ("--email", p)])
    cli.ok("enroll", "s", *[a for p in PEOPLE for a in ("--email", p)], now="2026-11-23T10:00:00Z")
    cli.ok("tick", "--now", "2026-11-23T10:00:00Z")
    return {str(m["To"]): str(m["Message-ID"]) for m in outbox_messages(outbox)}


def test_sendgrid_events_apply_once(cli: Cli, db_url: str, tmp_path: Path, outbox: Path) -> None:
    sent = _send(cli, tmp_path, outbox)
    batch = [
        {"email": "open@a.com", "timestamp": SENT_AT + 5, "smtp-id": sent["open@a.com"], "event": "processed",
         "sg_event_id": "p1", "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"},
        {"email": "open@a.com", "timestamp": SENT_AT + 3600, "event": "open", "sg_event_id": "o1",
         "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "useragent": BROWSER, "ip": "198.51.100.7"},
        {"email": "open@a.com", "timestamp": SENT_AT + 3700, "event": "click", "sg_event_id": "c1",
         "url": "https://example.com/pricing", "useragent": BROWSER},
        {"email": "open@a.com", "timestamp": SENT_AT + 3, "event": "open", "sg_event_id": "o2", "sg_machine_open": True,
         "useragent": "Mozilla/5.0"},
        {"email": "hard@b.com", "timestamp": SENT_AT + 60, "smtp-id": sent["hard@b.com"], "event": "bounce",
         "type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 The email account does not exist", "sg_event_id": "b1"},
        {"email": "blocked@c.com", "timestamp": SENT_AT + 60, "smtp-id": sent["blocked@c.com"], "event": "bounce",
         "type": "blocked", "status": "5.7.1", "reason": "550 5.7.1 blocked by policy", "sg_event_id": "b2"},
        {"email": "complain@d.com", "timestamp": SENT_AT + 7200, "event": "spamreport", "sg_event_id": "s1"},
        {"email": "quiet@e.com", "timestamp": SENT_AT + 5, "smtp-id": sent["quiet@e.com"], "event": "delivered",
         "sg_event_id": "d1", "response": "250 OK"},
        {"email": "stranger@x.com", "timestamp": SENT_AT + 9, "event": "open", "sg_event_id": "x1", "useragent": BROWSER},
    ]  # fmt: skip
    path = tmp_path / "sendgrid.json"
    path.write_text(json.dumps(batch[:5]) + "\n" + json.dumps(batch[5:]) + "\n")  # two POST bodies, one per line

    first = cli.ok("events", "import", str(path), "--format", "sendgrid", "--json").json()
    assert first == {
        "events": 7, "recorded": 6, "already_imported": 0, "ignored": 2, "unmatched": 1, "automated": 1,
        "suppressed": 2, "exited": 3,
    }  # fmt: skip
    events = events_by_email(db_url)
    assert events["open@a.com"] == [("opened", None), ("clicked", None), ("opened", None)]
    assert events["hard@b.com"] == [("bounced", "hard")]
    assert events["blocked@c.com"] == [("bounced", "soft")]  # blocked: the message, not the address
    assert events["complain@d.com"] == [("complained", None)]
    suppressed = {r["value"]: r["reason"] for r in cli.ok("suppress", "list", "--json").json()}
    assert suppressed == {"hard@b.com": "bounced", "complain@d.com": "complained"}

    again = cli.ok("events", "import", str(path), "--format", "sendgrid", "--json").json()
    assert again["recorded"] == 0 and again["already_imported"] == 6
    assert events_by_email(db_url) == events

    stats = cli.ok("stats", "s", "--json").json()[0]["steps"][0]
    assert (stats["opened"], stats["clicked"], stats["bounced"]) == (1, 1, 2)  # the machine open left out
    cli.ok("tick", "--now", "2026-11-24T10:00:00Z")
    assert [t["email"] for t in cli.ok("tasks", "--json").json()] == ["open@a.com"]


def test_mailgun_webhooks_and_event_pages(cli: Cli, db_url: str, tmp_path: Path, outbox: Path) -> None:
    sent = _send(cli, tmp_path, outbox)

    def payload(event: str, email: str, **extra: object) -> dict[str, object]:
        data = {
            "event": event, "id": f"{event}-{email}", "timestamp": SENT_AT + 600.25, "recipient": email,
            "message": {"headers": {"message-id": sent[email].strip("<>"), "from": "Ada <ada@example.com>"}},
            **extra,
        }  # fmt: skip
        return {"signature": {"timestamp": "1529006854", "token": "a8ce0edb", "signature": "d2271d12"}, "event-data": data}

    lines = [
        payload("clicked", "open@a.com", url="https://example.com/pricing?x=1",
                **{"client-info": {"user-agent": BROWSER, "client-type": "browser"}}),
        payload("failed", "hard@b.com", severity="permanent", reason="bounce",
                **{"delivery-status": {"code": 550, "message": "5.1.1 No such user"}}),
        payload("failed", "blocked@c.com", severity="temporary", reason="generic"),
        payload("complained", "complain@d.com"),
        payload("delivered", "quiet@e.com"),
    ]  # fmt: skip
    webhooks = tmp_path / "mailgun.jsonl"
    webhooks.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = cli.ok("events", "import", str(webhooks), "--format", "mailgun", "--json").json()
    # A temporary failure is Mailgun still retrying: a delay, not a bounce.
    assert (report["recorded"], report["ignored"], report["suppressed"], report["unmatched"]) == (3, 2, 2, 0)
    # The Events API returns the same events as pages of items: nothing new.
    page = tmp_path / "mailgun-page.json"
    page.write_text(json.dumps({"items": [line["event-data"] for line in lines], "paging": {}}))
    assert cli.ok("events", "import", str(page), "--format", "mailgun", "--json").json()["already_imported"] == 3
    events = events_by_email(db_url)
    assert "blocked@c.com" not in events and events["complain@d.com"] == [("complained", None)]
    assert events["hard@b.com"] == [("bounced", "hard")]


def test_ses_notifications(cli: Cli, db_url: str, tmp_path: Path, outbox: Path) -> None:
    sent = _send(cli, tmp_path, outbox)

    def notification(event_type: str, email: str, body: dict[str, object]) -> dict[str, object]:
        mail = {
            "timestamp": "2026-11-23T10:00:01.000Z", "messageId": f"ses-{email}", "destination": [email],
            "headers": [{"name": "Message-ID", "value": sent[email]}],
            "commonHeaders": {"messageId": sent[email], "subject": "Quick question"},
        }  # fmt: skip
        message = {"eventType": event_type, "mail": mail, event_type.lower(): body}
        return {"Type": "Notification", "MessageId": f"sns-{email}", "Message": json.dumps(message)}

    records = [
        notification("Bounce", "hard@b.com", {"bounceType": "Permanent", "bounceSubType": "General",
                     "bouncedRecipients": [{"emailAddress": "hard@b.com", "status": "5.1.1"}],
                     "timestamp": "2026-11-23T10:00:05.000Z", "feedbackId": "fb-1"}),
        notification("Open", "open@a.com", {"timestamp": "2026-11-23T11:00:00.000Z", "userAgent": BROWSER,
                     "ipAddress": "198.51.100.7"}),
        notification("Delivery", "quiet@e.com", {"timestamp": "2026-11-23T10:00:02.000Z"}),
    ]  # fmt: skip
    path = tmp_path / "ses.json"
    path.write_text(json.dumps(records))
    report = cli.ok("events", "import", str(path), "--format", "ses", "--json").json()
    assert (report["recorded"], report["ignored"], report["suppressed"]) == (2, 1, 1)
    events = events_by_email(db_url)
    assert events["hard@b.com"] == [("bounced", "hard")] and events["open@a.com"] == [("opened", None)]


def test_seqctl_jsonl_and_a_bad_line_refuses_the_file(cli: Cli, db_url: str, tmp_path: Path, outbox: Path) -> None:
    sent = _send(cli, tmp_path, outbox)
    good = [
        {"type": "opened", "message_id": sent["open@a.com"].strip("<>"), "at": "2026-11-23T12:00:00Z"},
        {"type": "meeting_booked", "email": "open@a.com", "at": "2026-11-23T13:00:00+01:00", "id": "cal-1"},
        {"type": "clicked", "message_id": "<never-sent@example.com>", "at": "2026-11-23T12:00:00Z"},
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(good[0]) + "\n" + json.dumps(good[1]) + "\n" + '{"type": "waved", "email": "x@y.z", "at": "2026-11-23T12:00:00Z"}\n')
    result = cli("events", "import", str(bad))
    assert result.code == 2 and f"{bad}:3:" in result.stderr and "waved" in result.stderr
    assert "Traceback" not in result.stderr and events_by_email(db_url) == {}
    naive = tmp_path / "naive.jsonl"
    naive.write_text('{"type": "opened", "email": "open@a.com", "at": "2026-11-23T12:00:00"}\n')
    assert cli("events", "import", str(naive)).code == 2
    assert cli("events", "import", str(tmp_path / "missing.jsonl")).code == 2
    assert cli("events", "import", str(bad), "--format", "postmark").code == 2

    path = write(tmp_path / "good.jsonl", "".join(json.dumps(line) + "\n" for line in good))
    report = cli.ok("events", "import", str(path), "--json").json()
    assert (report["recorded"], report["unmatched"], report["exited"]) == (2, 1, 1)
    assert cli.ok("events", "import", str(path), "--json").json()["already_imported"] == 2
    log = cli.ok("log", "s", "--email", "open@a.com", "--json").json()
    assert (log[0]["status"], log[0]["exit_reason"]) == ("exited", "meeting_booked")


def test_a_soft_bounce_exits_and_the_third_within_30_days_suppresses(cli: Cli, tmp_path: Path, outbox: Path) -> None:
    _send(cli, tmp_path, outbox)

    def soft(day: int, reason: str = "mailbox_full") -> str:
        return json.dumps({"type": "bounced", "reason": reason, "email": "blocked@c.com", "at": f"2026-11-{day}T12:00:00Z"})

    # A final soft bounce: the message was thrown away, the address may live.
    path = write(tmp_path / "soft.jsonl", soft(23) + "\n" + soft(24) + "\n" + soft(24, "blocked") + "\n")
    report = cli.ok("events", "import", str(path), "--json").json()
    assert (report["exited"], report["suppressed"]) == (1, 0)
    log = cli.ok("log", "s", "--email", "blocked@c.com", "--json").json()
    assert (log[0]["status"], log[0]["exit_reason"]) == ("exited", "bounced")
    assert cli.ok("suppress", "list", "--json").json() == []  # "blocked" is the sender's problem: not counted
    third = write(tmp_path / "third.jsonl", soft(25) + "\n")
    report = cli.ok("events", "import", str(third), "--json").json()
    assert report["suppressed"] == 1
    assert [r["reason"] for r in cli.ok("suppress", "list", "--json").json()] == ["bounced"]
