"""Mailboxes in the sequence-file format: sending identity, limits, the reputation
breaker's thresholds, List-Unsubscribe and TLS choices (SPEC §2, §4, §5)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from seqctl.spec.durations import Duration
from seqctl.spec.fields import DurationField, Key, Percent, Strict
from seqctl.zones import check_timezone


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
        if value is None:
            return value
        if not re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", value):
            raise ValueError(
                f"secrets never live in YAML: write {info.field_name}: ${{SOME_ENV_VAR}} and set the URL there"
            )
        return value

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
