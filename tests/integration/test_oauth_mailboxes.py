"""Mailboxes that log in with OAuth 2.0 (SPEC §7), end to end on SQLite and Postgres,
against real servers: the loopback authorization server (`tests/oauth_server.py`), an
SMTP server that takes XOAUTH2/OAUTHBEARER and introspects the token
(`tests/oauth_mail.py`), and Dovecot whose `oauth2` passdb introspects it too.

`auth login` (device and browser logins, approved, denied, expired), sending and syncing
with the token, four overlapping ticks across an expiry refreshing once, a revoked
family pausing one mailbox while the other sends and resuming after a new login, a
Google service account, logout — and no token, secret or password anywhere it should
not be."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Cli, text_values, write
from tests.imap_server import USER, ImapServer, running_dovecot
from tests.oauth_mail import BearerHandler, bearer_smtp
from tests.oauth_server import OAuthServer

SECRET = "s" * 40
NOW = "2026-11-23T10:00:00Z"


CLIENT_SECRET = "client-secret-of-the-app-0123456789"


def mailbox_yaml(key: str, user: str, servers: Servers, *, imap: bool = True, extra: str = "") -> str:
    quoted = user.replace("@", "%40")
    lines = [
        f"  - key: {key}",
        f'    from: "{key.title()} <{user}>"',
        f"    smtp: smtp://{quoted}@127.0.0.1:{servers.smtp_port}",
    ]
    if imap:
        lines.append(f"    imap: imap://{quoted}@127.0.0.1:{servers.imap.port}/INBOX")
    lines += [
        "    oauth:",
        "      provider: custom",
        "      client_id: seqctl-test-client",
        "      client_secret: ${APP_CLIENT_SECRET}",
        f"      device_authorization_url: {servers.oauth.url}/device",
        f"      token_url: {servers.oauth.url}/token",
        "      scopes: [mail]",
    ]
    return "\n".join(lines) + "\n" + extra


def sequences_yaml(*pairs: tuple[str, str]) -> str:
    out = "sequences:\n"
    for key, mailbox in pairs:
        out += (
            f"  - key: {key}\n    mailbox: {mailbox}\n    steps:\n"
            '      - {id: one, type: email, subject: "Quick question", body: "Hi there"}\n'
            '      - {id: two, type: email, wait: 1d, thread: true, body: "Bump"}\n'
        )
    return out


@dataclass
class Servers:
    oauth: OAuthServer
    smtp: BearerHandler
    smtp_port: int
    imap: ImapServer


@pytest.fixture
def servers(oauth_server: OAuthServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    monkeypatch.setenv("SEQCTL_SECRET", SECRET)
    monkeypatch.setenv("APP_CLIENT_SECRET", CLIENT_SECRET)
    with (
        running_dovecot(introspection_url=f"{oauth_server.url}/introspect") as imap,
        bearer_smtp(f"{oauth_server.url}/introspect") as (handler, port),
    ):
        yield Servers(oauth_server, handler, port, imap)


@contextlib.contextmanager
def person_at_the_browser(server: OAuthServer, user: str, *, answer: str = "approve") -> Iterator[None]:
    """Somebody who opens the verification URL, signs in as `user` and approves (or
    denies, or lets the code expire) every device login that starts meanwhile."""
    done = threading.Event()

    def act() -> None:
        while not done.is_set():
            with server.lock:
                for device in server.devices.values():
                    if device.status == "pending":
                        if answer == "approve":
                            device.status, device.user = "approved", user
                        elif answer == "deny":
                            device.status = "denied"
                        else:
                            device.expires_at = 0
            time.sleep(0.05)

    thread = threading.Thread(target=act, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(5)


def login(cli: Cli, server: OAuthServer, key: str, user: str, *, now: str = NOW) -> Any:
    with person_at_the_browser(server, user):
        return cli.ok("auth", "login", key, now=now)


def refreshes(server: OAuthServer) -> int:
    return sum(1 for path, form in server.requests if path == "/token" and form.get("grant_type") == "refresh_token")


def secrets_of(server: OAuthServer) -> list[str]:
    return [*server.access_tokens, *server.refresh_tokens, SECRET, CLIENT_SECRET]


def assert_nothing_secret(server: OAuthServer, db_url: str, *texts: str) -> None:
    """No token (access or refresh) nor SEQCTL_SECRET in these outputs, in any value of
    any table, or (SQLite) anywhere in the database files."""
    values = " ".join(value for _, _, value in text_values(db_url))
    raw = b""
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for secret in secrets_of(server):
        assert secret not in values and secret.encode() not in raw
        for text in texts:
            assert secret not in text


def test_import_checks_oauth_settings_with_file_and_line(cli: Cli, tmp_path: Path, monkeypatch: Any) -> None:
    def problem(block: str, *, smtp: str = "smtp://ada%40example.com@smtp.example.com:587") -> str:
        text = f'mailboxes:\n  - key: ada\n    from: "Ada <ada@example.com>"\n    smtp: {smtp}\n    oauth:\n{block}'
        result = cli("import", str(write(tmp_path / "m.yaml", text + "sequences: []\n")))
        assert result.code == 2 and "Traceback" not in result.stderr, result.stderr
        return result.stderr

    assert "m.yaml:6:" in problem("      provider: yahoo\n      client_id: x\n") and "'google'" in problem(
        "      provider: yahoo\n      client_id: x\n"
    )
    assert "m.yaml:6:" in (out := problem("      provider: microsoft\n")) and "client_id" in out
    out = problem("      provider: custom\n      client_id: x\n      token_url: https://idp.example/token\n")
    assert "m.yaml:6:" in out and "device_authorization_url" in out
    out = problem("      provider: google\n      client_id: x\n      token_url: https://idp.example/token\n")
    assert "token_url: for provider: custom only" in out
    out = problem("      provider: microsoft\n      client_id: x\n      client_secret: hunter2hunter2\n")
    assert "m.yaml:8:" in out and "${SOME_ENV_VAR}" in out and "hunter2" not in out
    out = problem("      provider: microsoft\n      client_id: x\n", smtp="smtp://ada:pw123456@smtp.example.com:587")
    assert "m.yaml:4:" in out and "password" in out and "pw123456" not in out
    monkeypatch.setenv("ADA_SMTP", "smtp://ada:pw123456@smtp.example.com:587")
    out = problem("      provider: microsoft\n      client_id: x\n", smtp="${ADA_SMTP}")
    assert "holds a password, but this mailbox logs in with oauth" in out and "pw123456" not in out
    out = problem("      provider: custom\n      client_id: x\n      device_authorization_url: http://idp.example/d\n"
                  "      token_url: https://idp.example/token\n")  # fmt: skip
    assert "m.yaml:8:" in out and "https://" in out


def test_device_login_then_send_and_sync_with_the_token(
    cli: Cli, db_url: str, tmp_path: Path, servers: Servers
) -> None:
    text = "mailboxes:\n" + mailbox_yaml("ada", USER, servers) + sequences_yaml(("s", "ada"))
    cli.ok("import", str(write(tmp_path / "s.yaml", text)))
    before = cli.ok("auth", "status", "--json").json()
    assert before == [{"key": "ada", "method": "oauth custom", "account": USER, "expires_at": None,
                       "state": "not authorised", "why": "not authorised yet: run seqctl auth login ada"}]  # fmt: skip

    done = login(cli, servers.oauth, "ada", USER)
    lines = done.stdout.splitlines()
    assert lines[0] == f"Open {servers.oauth.url}/activate"
    assert lines[1].startswith("Enter the code ") and len(lines[1].split()[-1]) == 8
    assert f"mailbox ada: authorised as {USER}" in done.stderr
    [status] = cli.ok("auth", "status", "--json").json()
    assert status["state"] == "authorised" and status["account"] == USER and status["expires_at"]

    cli.add_contacts_for("--email", "grace@example.org")
    cli.ok("enroll", "s", "--email", "grace@example.org", now=NOW)
    tick = cli.ok("tick", "--json", now=NOW)
    assert tick.json()["sent"] == 1 and tick.json()["errors"] == []
    assert servers.smtp.logins == [("XOAUTH2", USER)] and len(servers.smtp.messages) == 1
    [sent] = servers.smtp.parsed()

    reply = (
        f"From: Grace <grace@example.org>\r\nTo: {USER}\r\nSubject: Re: Quick question\r\n"
        f"Message-ID: <reply-1@example.org>\r\nIn-Reply-To: {sent['Message-ID']}\r\n"
        "Date: Mon, 23 Nov 2026 12:00:00 +0000\r\n\r\nYes, let's talk.\r\n"
    )
    servers.imap.append("INBOX", reply.encode())
    synced = cli.ok("inbox", "sync", "--json", now="2026-11-23T13:00:00Z")
    assert synced.json()["read"] == 1 and synced.json()["reply"] == 1 and synced.json()["errors"] == []
    [enrollment] = cli.ok("enrollments", "s", "--json").json()
    assert enrollment["status"] == "exited"
    assert_nothing_secret(servers.oauth, db_url, done.stdout, done.stderr, tick.stdout, synced.stdout)


def test_servers_that_offer_only_oauthbearer_get_it(
    cli: Cli, tmp_path: Path, oauth_server: OAuthServer, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SEQCTL_SECRET", SECRET)
    monkeypatch.setenv("APP_CLIENT_SECRET", CLIENT_SECRET)
    introspection = f"{oauth_server.url}/introspect"
    with (
        running_dovecot(introspection_url=introspection, mechanisms="oauthbearer") as imap,
        bearer_smtp(introspection, mechanisms=("OAUTHBEARER",)) as (handler, port),
    ):
        servers = Servers(oauth_server, handler, port, imap)
        text = "mailboxes:\n" + mailbox_yaml("ada", USER, servers) + sequences_yaml(("s", "ada"))
        cli.ok("import", str(write(tmp_path / "s.yaml", text)))
        login(cli, oauth_server, "ada", USER)
        cli.add_contacts_for("--email", "grace@example.org")
        cli.ok("enroll", "s", "--email", "grace@example.org", now=NOW)
        assert cli.ok("tick", "--json", now=NOW).json()["sent"] == 1
        assert handler.logins == [("OAUTHBEARER", USER)]
        synced = cli.ok("inbox", "sync", "--json", now=NOW).json()
        assert synced["errors"] == [] and synced["read"] == 0
        oauth_server.access_tokens.clear()
        oauth_server.revoked_families.update(r["family"] for r in oauth_server.refresh_tokens.values())
        failed = cli("inbox", "sync", "--json", now=NOW)
        assert failed.code == 1
        assert failed.json()["errors"][0].startswith("mailbox ada paused: authorisation expired: run seqctl auth login ada")


def test_a_denied_or_expired_device_login_exits_1_and_keeps_nothing(cli: Cli, tmp_path: Path, servers: Servers) -> None:
    cli.ok("import", str(write(tmp_path / "s.yaml", "mailboxes:\n" + mailbox_yaml("ada", USER, servers) + "sequences: []\n")))
    for answer, words in (("deny", "access_denied"), ("expire", "expired_token")):
        with person_at_the_browser(servers.oauth, USER, answer=answer):
            result = cli("auth", "login", "ada")
        assert result.code == 1 and words in result.stderr and "Traceback" not in result.stderr
    [status] = cli.ok("auth", "status", "--json").json()
    assert status["state"] == "not authorised"


def test_a_login_needs_the_secret_and_an_oauth_mailbox(cli: Cli, tmp_path: Path, servers: Servers, monkeypatch: Any) -> None:
    text = "mailboxes:\n" + mailbox_yaml("ada", USER, servers) + '  - {key: plain, from: "P <p@example.com>"}\nsequences: []\n'
    cli.ok("import", str(write(tmp_path / "s.yaml", text)))
    assert cli("auth", "login", "plain").code == 2
    assert cli("auth", "login", "nobody").code == 2
    monkeypatch.delenv("SEQCTL_SECRET")
    refused = cli("auth", "login", "ada")
    assert refused.code == 2 and "SEQCTL_SECRET" in refused.stderr


def tick_process(db_url: str, workdir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "seqctl", "--db", db_url, "--now", NOW, "tick", "--json"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )  # fmt: skip


def test_four_overlapping_ticks_across_an_expiry_refresh_once(
    cli: Cli, db_url: str, tmp_path: Path, servers: Servers
) -> None:
    text = "mailboxes:\n" + mailbox_yaml("ada", USER, servers) + sequences_yaml(("s", "ada"))
    cli.ok("import", str(write(tmp_path / "s.yaml", text)))
    people = [f"p{i}@example.org" for i in range(40)]
    args = [a for p in people for a in ("--email", p)]
    cli.add_contacts_for(*args)
    cli.ok("enroll", "s", *args, now=NOW)
    servers.oauth.token_seconds = 2  # the login's token is within its margin a second later …
    login(cli, servers.oauth, "ada", USER)
    servers.oauth.token_seconds = 3600  # … and the refreshed one lasts
    time.sleep(1.2)

    ticks = [tick_process(db_url, tmp_path) for _ in range(4)]
    outputs = [tick.communicate(timeout=120) for tick in ticks]
    assert [tick.returncode for tick in ticks] == [0, 0, 0, 0], outputs
    assert refreshes(servers.oauth) == 1 and servers.oauth.revoked_families == set()
    assert len(servers.smtp.messages) == 40 and len({m[1][0] for m in servers.smtp.messages}) == 40
    assert servers.smtp.refused == []
    assert_nothing_secret(servers.oauth, db_url, *[out + err for out, err in outputs])


def test_a_revoked_authorisation_pauses_its_mailbox_only_until_the_next_login(
    cli: Cli, db_url: str, tmp_path: Path, servers: Servers
) -> None:
    bob = "bob@example.com"
    text = ("mailboxes:\n" + mailbox_yaml("ada", USER, servers) + mailbox_yaml("bob", bob, servers, imap=False)
            + sequences_yaml(("s", "ada"), ("b", "bob")))  # fmt: skip
    cli.ok("import", str(write(tmp_path / "s.yaml", text)))
    cli.add_contacts_for("--email", "grace@example.org", "--email", "lin@example.org")
    cli.ok("enroll", "s", "--email", "grace@example.org", now=NOW)
    cli.ok("enroll", "b", "--email", "lin@example.org", now=NOW)
    servers.oauth.token_seconds = 2
    login(cli, servers.oauth, "ada", USER)
    login(cli, servers.oauth, "bob", bob)
    servers.oauth.token_seconds = 3600
    ada_family = next(r["family"] for r in servers.oauth.refresh_tokens.values() if r["user"] == USER)
    servers.oauth.revoked_families.add(ada_family)  # consent withdrawn for ada
    time.sleep(1.2)

    tick = cli.ok("tick", "--json", now=NOW).json()
    reason = "authorisation expired: run seqctl auth login ada"
    assert tick["sent"] == 1 and [to for _, [to], _ in servers.smtp.messages] == ["lin@example.org"]
    assert tick["paused_mailboxes"]["ada"].startswith(reason)
    assert any(e.startswith(f"mailbox ada paused: {reason}") for e in tick["errors"])
    summary = cli.ok("tick", now="2026-11-23T10:01:00Z")
    assert reason in summary.stdout + summary.stderr
    mailboxes = {m["key"]: m for m in cli.ok("mailboxes", "--json").json()}
    assert mailboxes["ada"]["state"] == "paused" and mailboxes["ada"]["why"].startswith(reason)
    assert mailboxes["bob"]["state"] == "active"
    waiting = {q["email"]: q for q in cli.ok("queue", "--json", now="2026-11-23T10:02:00Z").json()}
    assert reason in waiting["grace@example.org"]["why"]
    status = {s["key"]: s for s in cli.ok("auth", "status", "--json").json()}
    assert status["ada"]["state"] == "expired" and status["ada"]["why"].startswith(reason)
    assert status["bob"]["state"] == "authorised"
    synced = cli("inbox", "sync", "--json", now="2026-11-23T10:03:00Z")  # exit 1: a mailbox was not read
    assert synced.code == 1 and synced.json()["errors"] == [f"mailbox ada paused: {status['ada']['why']}"]
    asked = len(servers.oauth.requests)
    cli.ok("tick", now="2026-11-23T10:04:00Z")
    assert len(servers.oauth.requests) == asked  # a held mailbox asks the provider nothing

    again = login(cli, servers.oauth, "ada", USER, now="2026-11-23T10:05:00Z")
    assert "resumed, 1 waiting enrollment(s) due now" in again.stderr
    after = cli.ok("tick", "--json", now="2026-11-23T10:05:00Z").json()
    assert after["sent"] == 1 and after["paused_mailboxes"] == {}
    assert sorted(to for _, [to], _ in servers.smtp.messages) == ["grace@example.org", "lin@example.org"]


def test_logout_forgets_the_tokens_and_the_mailbox_waits_for_a_login(
    cli: Cli, db_url: str, tmp_path: Path, servers: Servers
) -> None:
    text = "mailboxes:\n" + mailbox_yaml("ada", USER, servers) + sequences_yaml(("s", "ada"))
    cli.ok("import", str(write(tmp_path / "s.yaml", text)))
    login(cli, servers.oauth, "ada", USER)
    assert "tokens forgotten" in cli.ok("auth", "logout", "ada").stderr
    assert "had no tokens" in cli.ok("auth", "logout", "ada").stderr
    assert_nothing_secret(servers.oauth, db_url)
    cli.add_contacts_for("--email", "grace@example.org")
    cli.ok("enroll", "s", "--email", "grace@example.org", now=NOW)
    tick = cli.ok("tick", "--json", now=NOW).json()
    assert tick["sent"] == 0 and tick["paused_mailboxes"] == {"ada": "not authorised yet: run seqctl auth login ada"}
    assert servers.smtp.messages == []


def test_the_browser_login_takes_the_loopback_redirect(
    cli: Cli, db_url: str, tmp_path: Path, servers: Servers
) -> None:
    text = (f'mailboxes:\n  - key: ada\n    from: "Ada <{USER}>"\n    smtp: smtp://ada%40example.com@127.0.0.1:'
            f"{servers.smtp_port}\n    oauth:\n      provider: custom\n      client_id: seqctl-test-client\n"
            f"      authorization_url: {servers.oauth.url}/authorize\n      token_url: {servers.oauth.url}/token\n"
            "      scopes: [mail, offline]\nsequences: []\n")  # fmt: skip
    cli.ok("import", str(write(tmp_path / "s.yaml", text)))
    for user, code in ((None, 1), (USER, 0)):
        servers.oauth.browser_user = user
        process = subprocess.Popen(
            [sys.executable, "-m", "seqctl", "--db", db_url, "auth", "login", "ada", "--no-browser"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
        )  # fmt: skip
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Open this address in a browser signed in as ada@example.com")
        url = process.stdout.readline().strip()
        assert url.startswith(f"{servers.oauth.url}/authorize?") and "code_challenge_method=S256" in url
        page = requests.get(url, timeout=10)  # the browser: sign-in, then the redirect to seqctl
        assert page.status_code == 200 and "close this window" in page.text
        out, err = process.communicate(timeout=30)
        assert process.returncode == code, err
        assert_nothing_secret(servers.oauth, db_url, out, err)
    assert "authorised as ada@example.com" in err
    [status] = cli.ok("auth", "status", "--json").json()
    assert status["state"] == "authorised"


def test_a_google_service_account_needs_no_login(
    cli: Cli, db_url: str, tmp_path: Path, servers: Servers, monkeypatch: Any
) -> None:
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from joserfc.jwk import RSAKey

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()  # fmt: skip
    email = "seqctl@project.iam.gserviceaccount.com"
    servers.oauth.service_accounts[email] = RSAKey.import_key(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps({"type": "service_account", "client_email": email, "private_key": pem,
                                    "private_key_id": "k1", "token_uri": f"{servers.oauth.url}/token"}))  # fmt: skip
    monkeypatch.setenv("GOOGLE_SA", str(key_file))
    text = (f'mailboxes:\n  - key: ada\n    from: "Ada <{USER}>"\n    smtp: smtp://127.0.0.1:{servers.smtp_port}\n'
            "    oauth:\n      provider: google\n      service_account: ${GOOGLE_SA}\n" + sequences_yaml(("s", "ada")))  # fmt: skip
    cli.ok("import", str(write(tmp_path / "s.yaml", text)))
    cli.add_contacts_for("--email", "grace@example.org", "--email", "lin@example.org")
    cli.ok("enroll", "s", "--email", "grace@example.org", now=NOW)
    tick = cli.ok("tick", "--json", now=NOW).json()
    assert tick["sent"] == 1 and servers.smtp.logins == [("XOAUTH2", USER)]
    [grant] = [form for path, form in servers.oauth.requests if path == "/token"]
    assert grant["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    [status] = cli.ok("auth", "status", "--json").json()
    assert status["method"] == "oauth google service account" and status["state"] == "authorised"
    assert cli("auth", "logout", "ada").code == 2

    servers.oauth.refuse_delegation = True  # the Workspace admin withdrew the delegation
    with contextlib.ExitStack():
        from seqctl.store import auth as auth_store
        from seqctl.store.db import Database

        database = Database(db_url)
        with database.write() as tx:
            auth_store.forget_access(tx, "ada")
        database.dispose()
    cli.ok("enroll", "s", "--email", "lin@example.org", now=NOW)
    held = cli.ok("tick", "--json", now="2026-11-23T10:01:00Z").json()
    assert held["sent"] == 0 and held["paused_mailboxes"]["ada"].startswith(
        "authorisation expired: run seqctl auth login ada (google: unauthorized_client"
    )
    servers.oauth.refuse_delegation = False
    assert "resumed, 1 waiting" in cli.ok("auth", "login", "ada", now="2026-11-23T10:02:00Z").stderr
    assert cli.ok("tick", "--json", now="2026-11-23T10:02:00Z").json()["sent"] == 1
    assert_nothing_secret(servers.oauth, db_url)
    assert pem.splitlines()[1] not in " ".join(v for _, _, v in text_values(db_url))


def test_a_token_the_server_refuses_is_replaced_once_and_a_server_without_oauth_is_named(
    cli: Cli, tmp_path: Path, servers: Servers
) -> None:
    text = "mailboxes:\n" + mailbox_yaml("ada", USER, servers) + sequences_yaml(("s", "ada"))
    cli.ok("import", str(write(tmp_path / "s.yaml", text)))
    login(cli, servers.oauth, "ada", USER)
    servers.oauth.access_tokens.clear()  # revoked at the server, though not yet expired by its lifetime
    cli.add_contacts_for("--email", "grace@example.org", "--email", "lin@example.org")
    cli.ok("enroll", "s", "--email", "grace@example.org", now=NOW)
    tick = cli.ok("tick", "--json", now=NOW).json()
    assert tick["sent"] == 1 and refreshes(servers.oauth) == 1
    assert servers.smtp.refused == [("XOAUTH2", USER)] and servers.smtp.logins == [("XOAUTH2", USER)]

    with bearer_smtp(f"{servers.oauth.url}/introspect", mechanisms=()) as (_, port):
        moved = text.replace(f"127.0.0.1:{servers.smtp_port}", f"127.0.0.1:{port}")
        cli.ok("import", str(write(tmp_path / "s.yaml", moved)))
        cli.ok("enroll", "s", "--email", "lin@example.org", now=NOW)
        down = cli.ok("tick", "--json", now="2026-11-23T10:01:00Z").json()
    assert down["sent"] == 0
    assert any("offers no XOAUTH2 or OAUTHBEARER login" in e for e in down["errors"]), down["errors"]
