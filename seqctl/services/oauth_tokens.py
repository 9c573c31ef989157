"""A mailbox's access token when a transport needs one: the stored one while it is good,
else a refresh — by one process at a time across hosts (`store/auth.locked`), since a
provider that rotates refresh tokens revokes the whole family when an old one is replayed.
The process that waited reads the token the other one got.

Expiry is the provider's real time (`real_now`), never `--now`'s simulated clock. A refused
refresh marks the authorisation expired, with the reason the operator needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from seqctl.oauth import client
from seqctl.oauth.presets import Provider
from seqctl.store import auth as auth_store
from seqctl.store.db import Database
from seqctl.token_box import open_sealed, seal

METHOD = "oauth"
MAX_MARGIN = timedelta(minutes=1)  # refresh this long before expiry at most …


@dataclass(frozen=True)
class OAuthClient:
    """Who the mailbox is to the provider: its preset and the app registered there."""

    provider: Provider
    client_id: str
    client_secret: str | None = None


class AuthorisationExpired(Exception):
    """The mailbox needs `seqctl auth login KEY` before it can send or sync again."""


def expired_reason(mailbox_key: str) -> str:
    return f"authorisation expired: run seqctl auth login {mailbox_key}"


def _context(mailbox_key: str) -> str:
    return f"mailbox:{mailbox_key}"


def store_tokens(
    db: Database, mailbox_key: str, tokens: dict[str, Any], *, secret: str, account: str | None, real_now: datetime
) -> None:
    """Keep what a login (or a refresh) returned, sealed."""
    with db.write() as tx:
        _save(tx, mailbox_key, tokens, secret=secret, account=account, real_now=real_now)


def _save(tx: Any, mailbox_key: str, tokens: dict[str, Any], *, secret: str, account: str | None, real_now: datetime) -> None:
    lifetime = int(tokens.get("expires_in") or 3600)
    kept = {k: tokens[k] for k in ("access_token", "refresh_token", "token_type", "scope") if tokens.get(k)}
    kept["lifetime"] = lifetime
    sealed = seal(secret, _context(mailbox_key), json.dumps(kept).encode())
    auth_store.save(
        tx, mailbox_key, method=METHOD, account=account, sealed=sealed,
        access_expires_at=real_now + timedelta(seconds=lifetime), now=real_now,
    )  # fmt: skip


def access_token(
    db: Database, mailbox_key: str, oauth: OAuthClient, *, secret: str, real_now: Callable[[], datetime]
) -> str:
    """The mailbox's access token, refreshed first when it expires within the margin (a
    minute at most, half its lifetime at most); AuthorisationExpired when there is none or
    the provider refuses to refresh it."""
    with db.read() as tx:
        found = auth_store.get(tx, mailbox_key)
    if found is not None and (token := _still_good(found, secret, real_now())) is not None:
        return token
    with db.write() as tx:  # one refresher at a time; who waited finds the new token here
        found = auth_store.locked(tx, mailbox_key)
        if found is None or found.state != auth_store.AUTHORISED:
            raise AuthorisationExpired(expired_reason(mailbox_key))
        now = real_now()
        if (token := _still_good(found, secret, now)) is not None:
            return token
        stored = json.loads(open_sealed(secret, _context(mailbox_key), found.sealed))
        try:
            fresh = client.refresh(oauth.provider, oauth.client_id, oauth.client_secret, stored["refresh_token"])
        except client.RefreshRefused:
            auth_store.mark_expired(tx, mailbox_key, expired_reason(mailbox_key), now)
            refused = True
        else:
            refused = False
            fresh.setdefault("refresh_token", stored["refresh_token"])  # a provider that does not rotate
            _save(tx, mailbox_key, fresh, secret=secret, account=found.account, real_now=now)
    if refused:  # raised after the transaction, so that marking it expired is kept
        raise AuthorisationExpired(expired_reason(mailbox_key))
    return str(fresh["access_token"])


def _still_good(found: auth_store.MailboxAuth, secret: str, now: datetime) -> str | None:
    if found.state != auth_store.AUTHORISED or found.access_expires_at is None:
        return None
    stored = json.loads(open_sealed(secret, _context(found.mailbox_key), found.sealed))
    margin = min(MAX_MARGIN, timedelta(seconds=int(stored.get("lifetime", 3600)) / 2))
    return str(stored["access_token"]) if found.access_expires_at - margin > now else None
