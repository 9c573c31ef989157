"""A mailbox's access token when a transport needs one: the stored one while it is good,
else a new one — by one process at a time across hosts (`store/auth.locked`), since a
provider that rotates refresh tokens revokes the whole family when an old one is replayed.
The process that waited reads the token the other one got.

A new token comes from the refresh grant (after `seqctl auth login`), or for a Google
service account from the JWT bearer grant, which needs no login. Expiry is the
provider's real time (`real_now`), never `--now`'s simulated clock. A refused refresh
marks the authorisation expired, with the reason the operator needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from seqctl import settings
from seqctl.delivery.message import split_address
from seqctl.errors import AuthorisationExpired, InvalidInput, RefreshRefused
from seqctl.oauth import presets
from seqctl.oauth.presets import Provider
from seqctl.real_time import real_clock
from seqctl.server_urls import parse_server_url
from seqctl.spec.mailboxes import Mailbox
from seqctl.store import auth as auth_store
from seqctl.store.db import Database, Tx
from seqctl.token_box import SealBroken, open_sealed, seal

if TYPE_CHECKING:  # the OAuth client (authlib, requests) is imported only when a token is renewed
    from seqctl.oauth.client import ServiceAccount

METHOD = "oauth"
SERVICE_ACCOUNT = "service_account"
MAX_MARGIN = timedelta(minutes=1)  # refresh this long before expiry at most …


@dataclass(frozen=True)
class OAuthClient:
    """Who the mailbox is to the provider: its preset and the app registered there (or,
    for Google, a service account acting for `subject`)."""

    provider: Provider
    client_id: str
    client_secret: str | None = None
    service_account: ServiceAccount | None = None
    subject: str = ""

    @property
    def method(self) -> str:
        return SERVICE_ACCOUNT if self.service_account else METHOD


def expired_reason(mailbox_key: str) -> str:
    return f"authorisation expired: run seqctl auth login {mailbox_key}"


def unauthorised_reason(mailbox_key: str) -> str:
    return f"not authorised yet: run seqctl auth login {mailbox_key}"


def is_authorisation_reason(mailbox_key: str, reason: str | None) -> bool:
    """Whether a mailbox hold is one that a new login lifts."""
    return reason is not None and reason.startswith((expired_reason(mailbox_key), unauthorised_reason(mailbox_key)))


def account_of(mailbox: Mailbox) -> str:
    """Whom the mailbox logs in as: its SMTP URL's user, else its IMAP URL's, else its
    From address (Microsoft 365 and Google want the mailbox's address)."""
    for reference, ports in ((mailbox.smtp, {"smtp": 587, "smtps": 465}), (mailbox.imap, {"imap": 143, "imaps": 993})):
        url = settings.resolve_reference(reference) if reference else None
        if url:
            try:
                user = parse_server_url(url, kind="URL", ports=ports, example="").username
            except InvalidInput:
                continue
            if user:
                return user
    return split_address(mailbox.from_)[1]


def oauth_client(mailbox: Mailbox) -> OAuthClient:
    """The mailbox's `oauth:` with its ${VAR}s read from the environment; InvalidInput
    (naming the variable, never its value) when one is unset or unusable."""
    oauth = mailbox.oauth
    if oauth is None:
        raise InvalidInput(f"mailbox {mailbox.key} has no oauth: setting (it logs in with a password)")

    def read(name: str, value: str | None) -> str | None:
        if value is None:
            return None
        found = settings.resolve_reference(value)
        if found is None:
            raise InvalidInput(f"mailbox {mailbox.key}: oauth {name} {value} is not set in the environment")
        return found

    if oauth.provider == "microsoft":
        provider = presets.microsoft(oauth.tenant or "organizations")
    elif oauth.provider == "google":
        provider = presets.google()
    else:
        provider = presets.custom(
            device_authorization_url=read("device_authorization_url", oauth.device_authorization_url),
            authorization_url=read("authorization_url", oauth.authorization_url),
            token_url=read("token_url", oauth.token_url) or "", scopes=tuple(oauth.scopes or ()),
        )  # fmt: skip
    account = None
    if (key_text := read("service_account", oauth.service_account)) is not None:
        from seqctl.oauth.client import ServiceAccount

        account = ServiceAccount.from_json(_json_or_file(key_text, mailbox.key), where=f"mailbox {mailbox.key}: oauth service_account")
    return OAuthClient(
        provider, read("client_id", oauth.client_id) or "", read("client_secret", oauth.client_secret),
        account, account_of(mailbox),
    )  # fmt: skip


def _json_or_file(text: str, mailbox_key: str) -> Any:
    """A service account key is the JSON itself or the path of its file."""
    where = f"mailbox {mailbox_key}: oauth service_account"
    if not text.lstrip().startswith("{"):
        try:
            with open(text, encoding="utf-8") as file:
                text = file.read()
        except OSError as exc:
            raise InvalidInput(f"{where}: cannot read its key file ({exc.strerror})") from None
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidInput(f"{where}: the key is not JSON") from None


def _context(mailbox_key: str) -> str:
    return f"mailbox:{mailbox_key}"


def store_tokens(
    db: Database, mailbox_key: str, tokens: dict[str, Any], *, secret: str, account: str | None,
    real_now: datetime, method: str = METHOD,
) -> None:  # fmt: skip
    """Keep what a login (or a refresh) returned, sealed."""
    with db.write() as tx:
        _save(tx, mailbox_key, tokens, secret=secret, account=account, real_now=real_now, method=method)


def _save(
    tx: Tx, mailbox_key: str, tokens: dict[str, Any], *, secret: str, account: str | None, real_now: datetime,
    method: str,
) -> None:  # fmt: skip
    lifetime = int(tokens.get("expires_in") or 3600)
    kept = {k: tokens[k] for k in ("access_token", "refresh_token", "token_type", "scope") if tokens.get(k)}
    kept["lifetime"] = lifetime
    sealed = seal(secret, _context(mailbox_key), json.dumps(kept).encode())
    auth_store.save(
        tx, mailbox_key, method=method, account=account, sealed=sealed,
        access_expires_at=real_now + timedelta(seconds=lifetime), now=real_now,
    )  # fmt: skip


def new_tokens(oauth: OAuthClient, stored: dict[str, Any] | None, *, real_now: datetime) -> dict[str, Any]:
    """Fresh tokens: by the service account's grant, else by the stored refresh token
    (RefreshRefused when the provider says no, TokenUnavailable when it cannot be asked)."""
    from seqctl.oauth import client

    if oauth.service_account is not None:
        return client.service_account_token(
            oauth.provider, oauth.service_account, oauth.subject, issued_at=int(real_now.timestamp())
        )
    if not stored or not stored.get("refresh_token"):
        raise RefreshRefused(f"{oauth.provider.name}: no refresh token was given at login")
    fresh = client.refresh(oauth.provider, oauth.client_id, oauth.client_secret, stored["refresh_token"])
    fresh.setdefault("refresh_token", stored["refresh_token"])  # a provider that does not rotate
    return fresh


def access_token(
    db: Database, mailbox_key: str, oauth: OAuthClient, *, secret: str, real_now: Callable[[], datetime] = real_clock
) -> str:
    """The mailbox's access token, renewed first when it expires within the margin (a
    minute at most, half its lifetime at most); AuthorisationExpired when there is none
    (and no service account to get one) or the provider refuses to renew it."""
    with db.read() as tx:
        found = auth_store.get(tx, mailbox_key)
    if found is not None and (token := _still_good(found, secret, real_now())) is not None:
        return token
    with db.write() as tx:  # one renewal at a time; who waited finds the new token here
        found = auth_store.locked(tx, mailbox_key)
        if found is not None and found.state != auth_store.AUTHORISED:
            raise AuthorisationExpired(found.reason or expired_reason(mailbox_key))
        if found is None and oauth.service_account is None:
            raise AuthorisationExpired(unauthorised_reason(mailbox_key))
        now = real_now()
        if found is not None and (token := _still_good(found, secret, now)) is not None:
            return token
        stored = _opened(found, secret) if found is not None else None
        refusal: RefreshRefused | None = None
        try:
            fresh = new_tokens(oauth, stored, real_now=now)
        except RefreshRefused as exc:
            refusal = exc
            if found is None:  # a service account refused at once: remember why
                auth_store.save(tx, mailbox_key, method=oauth.method, account=oauth.subject, sealed="",
                                access_expires_at=None, now=now)  # fmt: skip
            auth_store.mark_expired(tx, mailbox_key, f"{expired_reason(mailbox_key)} ({exc.message})", now)
        else:
            account = found.account if found is not None else oauth.subject
            _save(tx, mailbox_key, fresh, secret=secret, account=account, real_now=now, method=oauth.method)
    if refusal is not None:  # raised after the transaction, so that marking it expired is kept
        raise AuthorisationExpired(f"{expired_reason(mailbox_key)} ({refusal.message})")
    return str(fresh["access_token"])


def _opened(found: auth_store.MailboxAuth, secret: str) -> dict[str, Any]:
    try:
        opened: dict[str, Any] = json.loads(open_sealed(secret, _context(found.mailbox_key), found.sealed))
    except SealBroken:
        raise AuthorisationExpired(
            f"{expired_reason(found.mailbox_key)} (its tokens do not open with this SEQCTL_SECRET)"
        ) from None
    return opened


def _still_good(found: auth_store.MailboxAuth, secret: str, now: datetime) -> str | None:
    if found.state != auth_store.AUTHORISED or found.access_expires_at is None:
        return None
    stored = _opened(found, secret)
    margin = min(MAX_MARGIN, timedelta(seconds=int(stored.get("lifetime", 3600)) / 2))
    return str(stored["access_token"]) if found.access_expires_at - margin > now else None


class MailboxToken:
    """The transports' BearerToken for one mailbox: the access token on demand, and a
    refused one forgotten so that the next asks the provider again."""

    def __init__(
        self, db: Database, mailbox_key: str, oauth: OAuthClient, *, secret: str,
        real_now: Callable[[], datetime] = real_clock,
    ) -> None:  # fmt: skip
        self.db, self.mailbox_key, self.oauth, self.secret, self.real_now = db, mailbox_key, oauth, secret, real_now
        self.account = oauth.subject  # `account_of` the mailbox: one rule for SMTP, IMAP and the provider

    def __call__(self) -> str:
        return access_token(self.db, self.mailbox_key, self.oauth, secret=self.secret, real_now=self.real_now)

    def refused(self) -> None:
        with self.db.write() as tx:
            auth_store.forget_access(tx, self.mailbox_key)


def bearer_source(db: Database, real_now: Callable[[], datetime] = real_clock) -> Callable[[Mailbox], MailboxToken]:
    """What the transports ask for a mailbox's token (InvalidInput when its `oauth:`
    cannot be used here: a variable unset, SEQCTL_SECRET missing)."""

    def token_for(mailbox: Mailbox) -> MailboxToken:
        secret = settings.tracking_secret()
        if secret is None:
            raise InvalidInput(f"mailbox {mailbox.key}: logs in with oauth, whose tokens need SEQCTL_SECRET set")
        return MailboxToken(db, mailbox.key, oauth_client(mailbox), secret=secret, real_now=real_now)

    return token_for
