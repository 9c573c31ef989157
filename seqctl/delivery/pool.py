"""Choosing and caching a transport per mailbox for the length of one tick."""

from __future__ import annotations

from collections.abc import Callable

from seqctl import settings
from seqctl.delivery.transports import (
    BearerToken,
    MaildirTransport,
    SendOutcome,
    SendResult,
    SmtpSettings,
    SmtpTransport,
    Transport,
)
from seqctl.errors import InvalidInput
from seqctl.spec.mailboxes import Mailbox, url_has_password
from seqctl.tls import TlsPolicy

# A mailbox's OAuth access token source (services/oauth_tokens.py gives one per mailbox).
BearerSource = Callable[[Mailbox], BearerToken]


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


def transport_for(mailbox: Mailbox, *, bearer: BearerSource | None = None) -> Transport:
    """The mailbox's own `smtp:`, else SEQCTL_SMTP_URL, else the Maildir outbox. A mailbox
    with `oauth` logs in with the access token `bearer` gives it."""
    if mailbox.smtp is not None:
        url = settings.resolve_reference(mailbox.smtp)
        if url is None:
            return _Unusable(f"mailbox {mailbox.key}: {mailbox.smtp} is not set in the environment")
    else:
        url = settings.default_smtp_url()
    if url is None:
        return MaildirTransport(settings.outbox_path())
    if mailbox.oauth is not None:
        if mailbox.smtp is not None and url_has_password(url, "smtp"):
            return _Unusable(f"mailbox {mailbox.key}: its SMTP URL holds a password, but it logs in with oauth")
        if bearer is None:
            return _Unusable(f"mailbox {mailbox.key}: logs in with oauth, which this command cannot do")
    try:
        token = bearer(mailbox) if bearer is not None and mailbox.oauth is not None else None
        return SmtpTransport(SmtpSettings.from_url(url, tls_policy(mailbox), bearer=token))
    except InvalidInput as exc:
        return _Unusable(f"mailbox {mailbox.key}: {exc}")


class TransportPool:
    """One transport per mailbox, opened on first use and closed together."""

    def __init__(
        self, factory: Callable[[Mailbox], Transport] | None = None, *, bearer: BearerSource | None = None
    ) -> None:
        self.factory = factory or (lambda mailbox: transport_for(mailbox, bearer=bearer))
        self._open: dict[str, Transport] = {}

    def get(self, mailbox: Mailbox) -> Transport:
        if mailbox.key not in self._open:
            self._open[mailbox.key] = self.factory(mailbox)
        return self._open[mailbox.key]

    def close(self) -> None:
        for transport in self._open.values():
            transport.close()
        self._open.clear()
