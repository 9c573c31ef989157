"""Mailboxes in the sequence-file format: sending identity, limits, the reputation
breaker's thresholds, List-Unsubscribe and TLS choices, OAuth 2.0 (SPEC §2, §4, §5, §7)."""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from seqctl.errors import InvalidInput
from seqctl.server_urls import parse_server_url
from seqctl.spec.durations import Duration
from seqctl.spec.fields import DurationField, Key, Percent, Strict
from seqctl.zones import check_timezone


def url_has_password(url: str, kind: str) -> bool:
    """Whether an SMTP or IMAP URL carries a password (False when it does not parse:
    that is reported where it is used)."""
    try:
        return parse_server_url(url, kind=kind, ports=_URL_PORTS[kind], example="").password is not None
    except InvalidInput:
        return False


class Limits(Strict):
    per_day: int | None = Field(default=None, ge=1)
    per_hour: int | None = Field(default=None, ge=1)
    min_gap: DurationField | None = None

    @field_validator("min_gap")
    @classmethod
    def _absolute_gap(cls, value: Duration | None) -> Duration | None:
        if value is not None and not value.is_absolute:
            raise ValueError("min_gap is a length of time in s, m or h")
        return value


ListUnsubscribe = Literal["one-click", "mailto", "none"]


class Reputation(Strict):
    """The mailbox breaker (SPEC §5): pause sending when, over the last `window` sends,
    bounces (hard, or blocked / auth_failed / rate_limited) or spam complaints pass a rate."""

    bounce_rate: Percent = Field(default=5.0, description="percent of the last `window` sends, e.g. 5%")
    complaint_rate: Percent = Field(default=0.3, description="percent of the last `window` sends, e.g. 0.3%")
    window: int = Field(default=100, ge=10, le=100_000)


_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_LOOPBACK = re.compile(r"^http://(127\.0\.0\.1|\[::1\]|localhost)(:\d+)?/")
_URL_PORTS = {"smtp": {"smtp": 587, "smtps": 465}, "imap": {"imap": 143, "imaps": 993}}
_CUSTOM_ONLY = ("device_authorization_url", "authorization_url", "token_url", "scopes")


class OAuth(Strict):
    """How the mailbox authorises with OAuth 2.0 (SPEC §7): the provider, the app
    registered there, and for `custom` its endpoints."""

    provider: Literal["google", "microsoft", "custom"]
    client_id: str | None = Field(default=None, min_length=1, description="the app's client id, or ${VAR}")
    client_secret: str | None = Field(default=None, description="${VAR}; public clients have none")
    tenant: str | None = Field(default=None, description="microsoft: tenant id or domain; default organizations")
    service_account: str | None = Field(
        default=None, description="google: ${VAR} naming a service account's JSON key (domain-wide delegation)"
    )
    device_authorization_url: str | None = Field(default=None, description="custom: RFC 8628 device endpoint")
    authorization_url: str | None = Field(
        default=None, description="custom: authorization endpoint for a loopback-redirect login instead"
    )
    token_url: str | None = Field(default=None, description="custom: the token endpoint")
    scopes: list[str] | None = Field(default=None, description="custom: the scopes to ask for")

    @field_validator("client_secret", "service_account")
    @classmethod
    def _secret(cls, value: str | None, info: Any) -> str | None:
        if value is not None and not _REFERENCE.fullmatch(value):
            raise ValueError(f"secrets never live in YAML: write {info.field_name}: ${{SOME_ENV_VAR}}")
        return value

    @field_validator("device_authorization_url", "authorization_url", "token_url")
    @classmethod
    def _endpoint(cls, value: str | None, info: Any) -> str | None:
        if value is None or _REFERENCE.fullmatch(value):
            return value
        if any(c in value for c in " \r\n\t<>\"") or not (value.startswith("https://") or _LOOPBACK.match(value)):
            raise ValueError(f"{info.field_name} must be an https:// URL (http:// only on this machine)")
        return value

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str] | None) -> list[str] | None:
        for scope in value or []:
            if not scope or any(c.isspace() or c in '"\\' or not c.isprintable() for c in scope):
                raise ValueError(f"{scope!r} is not a scope (one word each)")
        return value

    @model_validator(mode="after")
    def _fits_the_provider(self) -> OAuth:
        provider = self.provider
        if self.client_id is None and self.service_account is None:
            raise ValueError(f"oauth needs the client_id of the app registered with {provider}")
        if self.tenant is not None and provider != "microsoft":
            raise ValueError("tenant is for provider: microsoft only")
        if self.service_account is not None and provider != "google":
            raise ValueError("service_account is for provider: google only")
        if provider != "custom":
            given = [name for name in _CUSTOM_ONLY if getattr(self, name) is not None]
            if given:
                raise ValueError(f"{', '.join(given)}: for provider: custom only ({provider}'s are built in)")
            return self
        if self.token_url is None or (self.device_authorization_url is None) == (self.authorization_url is None):
            raise ValueError(
                "provider: custom needs token_url and one of device_authorization_url (device login) "
                "or authorization_url (browser login with a loopback redirect)"
            )
        return self


class Mailbox(Strict):
    key: Key
    from_: str = Field(alias="from", min_length=3)
    reply_to: str | None = None
    smtp: str | None = None
    imap: str | None = Field(
        default=None, description="${VAR} naming an imaps://user:pass@host:993/INBOX URL for inbox sync"
    )
    limits: Limits = Limits()
    timezone: str | None = None
    unsubscribe_url: str | None = Field(
        default=None, description="HTTPS one-click unsubscribe URL; may use {{ message_id }}"
    )
    tracking_url: str | None = Field(
        default=None,
        description="Public https:// address of `seqctl serve` for this mailbox's open pixel, click "
        "redirects and one-click unsubscribe",
    )
    list_unsubscribe: ListUnsubscribe | None = Field(
        default=None,
        description="The List-Unsubscribe header: one-click (HTTPS + RFC 8058, needs tracking_url or "
        "unsubscribe_url), mailto, or none (out-of-office replies then reach you); default: one-click "
        "when configured, else mailto",
    )
    reputation: Reputation = Reputation()
    tls: Literal["auto", "require"] = Field(
        default="auto",
        description="require: never send the password to an SMTP/IMAP server that offers no STARTTLS",
    )
    ca_file: str | None = Field(
        default=None, description="A CA bundle (PEM) to verify this mailbox's SMTP and IMAP servers with"
    )
    oauth: OAuth | None = Field(default=None, description="log in to SMTP and IMAP with OAuth 2.0 (XOAUTH2)")

    @model_validator(mode="after")
    def _one_click_has_a_url(self) -> Mailbox:
        if self.list_unsubscribe == "one-click" and not (self.unsubscribe_url or self.tracking_url):
            raise ValueError("list_unsubscribe: one-click needs an unsubscribe_url or a tracking_url")
        return self

    @field_validator("from_", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        from email.utils import parseaddr

        if value is None:
            return value
        if "\r" in value or "\n" in value or "@" not in parseaddr(value)[1]:
            raise ValueError(f"{value!r} is not an email address like 'Ada <ada@example.com>'")
        return value

    @field_validator("smtp", "imap")
    @classmethod
    def _secret_reference(cls, value: str | None, info: Any) -> str | None:
        """${VAR}, or a URL written out when it holds no password (a relay without login,
        or a mailbox that logs in with `oauth`)."""
        if value is None or _REFERENCE.fullmatch(value):
            return value
        kind = info.field_name
        try:
            parts = parse_server_url(
                value, kind=f"{kind} URL", ports=_URL_PORTS[kind], example=f"{kind}://user@host or ${{SOME_ENV_VAR}}"
            )
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        if parts.password is not None:
            raise ValueError(
                f"secrets never live in YAML: write {kind}: ${{SOME_ENV_VAR}} and set the URL with its password there"
            )
        return value

    @model_validator(mode="after")
    def _oauth_has_no_password(self) -> Mailbox:
        """With `oauth`, a password in a URL is a mistake (it would never be used); checked
        here for a URL written out, and for a ${VAR} when this environment sets it."""
        if self.oauth is None:
            return self
        for kind in ("smtp", "imap"):
            reference = getattr(self, kind)
            if reference is None or not _REFERENCE.fullmatch(reference):
                continue
            url = os.environ.get(reference[2:-1])
            if url and url_has_password(url, kind):
                raise ValueError(
                    f"{kind}: {reference} holds a password, but this mailbox logs in with oauth: "
                    "remove the password from the URL"
                )
        return self

    @field_validator("unsubscribe_url", "tracking_url")
    @classmethod
    def _https(cls, value: str | None, info: Any) -> str | None:
        # unsubscribe_url is a template ("{{ message_id }}" has spaces); tracking_url is not.
        forbidden = "\r\n\t<>\"" + (" " if info.field_name == "tracking_url" else "")
        if value is not None and (not value.startswith("https://") or any(c in value for c in forbidden)):
            raise ValueError(f"{info.field_name} must be an https:// URL")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return check_timezone(value) if value else value
