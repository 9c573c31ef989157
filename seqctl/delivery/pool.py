"""Choosing and caching a transport per mailbox for the length of one tick."""

from __future__ import annotations

from collections.abc import Callable

from seqctl import settings
from seqctl.delivery.transports import (
    MaildirTransport,
    SendOutcome,
    SendResult,
    SmtpSettings,
    SmtpTransport,
    Transport,
)
from seqctl.errors import InvalidInput
from seqctl.spec.mailboxes import Mailbox
from seqctl.tls import TlsPolicy


def tls_policy(mailbox: Mailbox) -> TlsPolicy:
    """The mailbox's own `tls:` and `ca_file:` (a URL's parameters may override them)."""
    return TlsPolicy(require=mailbox.tls == "require", ca_file=mailbox.ca_file)


class _Unusable(Transport):
    """A mailbox whose transport cannot be built (e.g. its ${VAR} is unset)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def send(
        self, envelope_from: str, recipient: str, raw: str, *, message_id: str, attempt: int = 1
    ) -> SendResult:
        return SendResult(SendOutcome.MAILBOX_DOWN, self.reason)


def transport_for(mailbox: Mailbox) -> Transport:
    """The mailbox's own `smtp:`, else SEQCTL_SMTP_URL, else the Maildir outbox."""
    if mailbox.smtp is not None:
        url = settings.resolve_reference(mailbox.smtp)
        if url is None:
            return _Unusable(f"mailbox {mailbox.key}: {mailbox.smtp} is not set in the environment")
    else:
        url = settings.default_smtp_url()
    if url is None:
        return MaildirTransport(settings.outbox_path())
    try:
        return SmtpTransport(SmtpSettings.from_url(url, tls_policy(mailbox)))
    except InvalidInput as exc:
        return _Unusable(f"mailbox {mailbox.key}: {exc}")


class TransportPool:
    """One transport per mailbox, opened on first use and closed together."""

    def __init__(self, factory: Callable[[Mailbox], Transport] = transport_for) -> None:
        self.factory = factory
        self._open: dict[str, Transport] = {}

    def get(self, mailbox: Mailbox) -> Transport:
        if mailbox.key not in self._open:
            self._open[mailbox.key] = self.factory(mailbox)
        return self._open[mailbox.key]

    def close(self) -> None:
        for transport in self._open.values():
            transport.close()
        self._open.clear()
