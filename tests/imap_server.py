"""A real IMAP server for tests: Dovecot on loopback with its own config, users and Maildirs.

Tests skip with a reason where Dovecot is not installed (`apt-get install dovecot-imapd`;
`.ci/run` installs it) and fail under CI, which must never skip them.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import free_port, wait_until_listening

USER, PASSWORD = "ada@example.com", "s3cret/@pw%"  # characters a URL must escape; no ":" (the users file separator)
# Dovecot will not run mail processes as root; an unprivileged id owns the mail folders.
MAIL_UID = os.getuid() or 65534


def _dovecot() -> str:
    found = shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("CI must run the IMAP tests: install dovecot-imapd (.ci/run does)")
    pytest.skip("IMAP tests need Dovecot: apt-get install dovecot-imapd")


class ImapServer:
    def __init__(self, root: Path, port: int, tls: bool, starttls: bool = False) -> None:
        self.root, self.port, self.tls, self.starttls = root, port, tls, starttls

    def url(self, folder: str = "INBOX") -> str:
        scheme = "imaps" if self.tls and not self.starttls else "imap"
        return f"{scheme}://{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@127.0.0.1:{self.port}/{folder}"

    @contextlib.contextmanager
    def client(self) -> Iterator[imaplib.IMAP4]:
        if self.tls and not self.starttls:
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                "127.0.0.1", self.port, ssl_context=ssl.create_default_context()
            )
        else:
            conn = imaplib.IMAP4("127.0.0.1", self.port)
            if self.starttls:
                conn.starttls(ssl_context=ssl.create_default_context())
        conn.login(USER, PASSWORD)
        try:
            yield conn
        finally:
            conn.logout()

    def append(self, folder: str, raw: bytes) -> None:
        with self.client() as conn:
            conn.create(folder)  # NO when it exists, which is fine
            status, data = conn.append(folder, None, None, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
            assert status == "OK", data

    def recreate(self, folder: str) -> None:
        """Delete and create the folder: the server gives it a new UIDVALIDITY."""
        with self.client() as conn:
            conn.delete(folder)
            conn.create(folder)


@contextlib.contextmanager
def running_dovecot(
    tls_files: tuple[Path, Path] | None = None, *, starttls: bool = False, introspection_url: str | None = None,
    mechanisms: str = "xoauth2 oauthbearer",
) -> Iterator[ImapServer]:  # fmt: skip
    """Dovecot on a free loopback port: plain IMAP, implicit TLS (`tls_files`), or IMAP
    that refuses to log in before STARTTLS (`tls_files` and `starttls`). With
    `introspection_url`, it also takes OAuth 2.0 bearer tokens (its `oauth2` passdb
    introspects them, RFC 7662, by POST) with these SASL `mechanisms`."""
    binary = _dovecot()
    # Not under pytest's tmp_path: its parents are private to root, and the mail
    # processes run as MAIL_UID.
    root = Path(tempfile.mkdtemp(prefix="seqctl-dovecot-"))
    root.chmod(0o755)
    port = free_port()
    for name in ("run", "state", "home"):
        (root / name).mkdir()
    os.chown(root / "home", MAIL_UID, MAIL_UID)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    ssl_lines = (
        f"ssl = required\nssl_cert = <{tls_files[0]}\nssl_key = <{tls_files[1]}\n" if tls_files else "ssl = no\n"
    )
    imap_port, imaps_port = (0, port) if tls_files and not starttls else (port, 0)
    oauth_lines = ""
    if introspection_url:
        (root / "oauth2.conf.ext").write_text(
            f"introspection_mode = post\nintrospection_url = {introspection_url}\n"
            "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
            "force_introspection = yes\n"
        )
        oauth_lines = (
            f"passdb {{\n  driver = oauth2\n  mechanisms = {mechanisms}\n  args = {root}/oauth2.conf.ext\n}}\n"
        )
    (root / "dovecot.conf").write_text(f"""\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl_lines}disable_plaintext_auth = no
auth_mechanisms = plain login{" " + mechanisms if introspection_url else ""}
mail_location = maildir:{root}/home/%n/Maildir
{oauth_lines}passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={MAIL_UID} gid={MAIL_UID} home={root}/home/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
""")
    # Its own process group: the teardown stops Dovecot and every process it started at
    # once (the master alone waits seconds for its children to wind down).
    process = subprocess.Popen([binary, "-F", "-c", str(root / "dovecot.conf")], start_new_session=True)
    try:
        if not wait_until_listening(port, process, seconds=10):
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            raise RuntimeError(f"Dovecot did not start:\n{log}")
        yield ImapServer(root, port, tls=tls_files is not None, starttls=starttls)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(0.5)
        except subprocess.TimeoutExpired:  # nothing of a test's Dovecot needs a clean shutdown
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
