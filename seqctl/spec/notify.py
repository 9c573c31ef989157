"""Notification targets in the sequence-file format (SPEC §8): where seqctl tells people
what happened — a Slack incoming webhook, a JSON webhook signed per the Standard Webhooks
specification, or an email to the enrollment's owner — and which events each hears of."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from seqctl.spec.fields import Key, Strict

# What can notify: the events of §1, what happens to an enrollment, and a mailbox held.
EVENT_NAMES = (
    "opened", "clicked", "replied", "auto_replied", "bounced", "unsubscribed", "complained", "meeting_booked",
    "enrolled", "completed", "exited", "failed", "task_due", "unknown_send", "mailbox_paused",
)  # fmt: skip
ALL = "all"
_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_LOOPBACK = re.compile(r"^http://(127\.0\.0\.1|\[::1\]|localhost)(:\d+)?/")


class NotifyTarget(Strict):
    key: Key
    url: str | None = Field(default=None, description="${VAR} (or an https:// URL) to POST to")
    format: Literal["slack", "json"] | None = Field(
        default=None, description="slack: an incoming webhook; json: Standard Webhooks, signed (default)"
    )
    secret: str | None = Field(default=None, description="json: ${VAR} holding the whsec_… signing secret")
    email: Literal["owner"] | None = Field(
        default=None, description="owner: mail the enrollment's owner (its owners: entry needs an email)"
    )
    events: list[str] = Field(min_length=1, description=f"any of {', '.join(EVENT_NAMES)}, or all")
    sequences: list[Key] | None = Field(default=None, description="only these sequences' events")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or _REFERENCE.fullmatch(value):
            return value
        if any(c in value for c in " \r\n\t<>\"") or not (value.startswith("https://") or _LOOPBACK.match(value)):
            raise ValueError("url must be ${SOME_ENV_VAR} or an https:// URL (http:// only on this machine)")
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and not _REFERENCE.fullmatch(value):
            raise ValueError("secrets never live in YAML: write secret: ${SOME_ENV_VAR}")
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        for name in value:
            if name != ALL and name not in EVENT_NAMES:
                raise ValueError(f"unknown event {name!r}: use any of {', '.join(EVENT_NAMES)}, or all")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> NotifyTarget:
        if (self.url is None) == (self.email is None):
            raise ValueError("a notify target has either url (with format) or email: owner")
        if self.email is not None and (self.format is not None or self.secret is not None):
            raise ValueError("format and secret are for url targets")
        if self.url is not None and self.kind == "json" and self.secret is None:
            raise ValueError("format: json is signed: give it secret: ${SOME_ENV_VAR} (whsec_…)")
        if self.kind == "slack" and self.secret is not None:
            raise ValueError("a slack incoming webhook is not signed: drop secret")
        return self

    @property
    def kind(self) -> str:
        """slack, json or email."""
        return "email" if self.email else (self.format or "json")

    def hears(self, event: str, sequence: str | None, sequences_of_mailbox: Any = ()) -> bool:
        """Whether this target wants `event` of `sequence` (for a mailbox's event: of any
        of the sequences that send from it)."""
        if ALL not in self.events and event not in self.events:
            return False
        if self.sequences is None:
            return True
        if sequence is not None:
            return sequence in self.sequences
        return any(s in self.sequences for s in sequences_of_mailbox)
