"""How a mailbox's SMTP and IMAP connections use TLS: which certificates they trust and
whether a server that offers no TLS may still be sent the password.

Set per mailbox (`tls: require`, `ca_file: /etc/ssl/private-ca.pem`) or per URL
(`smtp://…:587?tls=require&ca_file=/path/ca.pem`); the URL's wins. Certificates are
always verified (a private CA is named, never switched off).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from seqctl.errors import InvalidInput

TLS_MODES = ("auto", "require")


@dataclass(frozen=True)
class TlsPolicy:
    require: bool = False  # refuse a server that offers no STARTTLS (never log in in clear)
    ca_file: str | None = None  # a CA bundle to trust instead of the system's

    def context(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise InvalidInput(f"ca_file {self.ca_file}: cannot be read as a CA bundle ({exc.strerror or exc})") from None

    def with_query(self, query: str, *, where: str) -> TlsPolicy:
        """This policy as the URL's `?tls=…&ca_file=…` overrides it."""
        params = parse_qs(query)
        unknown = sorted(set(params) - {"tls", "ca_file"})
        if unknown:
            raise InvalidInput(f"{where}: unknown URL parameter {unknown[0]!r} (known: tls, ca_file)")
        policy = self
        if "tls" in params:
            mode = params["tls"][-1]
            if mode not in TLS_MODES:
                raise InvalidInput(f"{where}: tls={mode!r}; use tls=require or tls=auto")
            policy = TlsPolicy(mode == "require", policy.ca_file)
        if "ca_file" in params:
            policy = TlsPolicy(policy.require, params["ca_file"][-1])
        if policy.ca_file is not None and not Path(policy.ca_file).is_file():
            raise InvalidInput(f"{where}: ca_file {policy.ca_file} does not exist")
        return policy


class TlsRequired(Exception):
    """The server offers no STARTTLS and the mailbox requires TLS."""


def describe_tls_failure(exc: BaseException, host: str) -> str | None:
    """An operator's sentence for a TLS failure (a certificate that does not verify is not
    "server down"), or None for other errors."""
    if isinstance(exc, TlsRequired):
        return f"{host} offers no STARTTLS and tls: require is set: the password is never sent in clear"
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message or str(exc)
        return (
            f"{host}: certificate problem: {why}; if the server uses a private CA, name its bundle "
            "with ca_file: on the mailbox (or ?ca_file= on the URL)"
        )
    if isinstance(exc, ssl.SSLError):
        return f"{host}: TLS failed: {exc.reason or exc}"
    return None
