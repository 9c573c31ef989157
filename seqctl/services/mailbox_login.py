"""`seqctl auth login|status|logout`: a mailbox's OAuth authorisation, given once by a
person (the device login for Microsoft and `custom`, the browser login with a loopback
redirect for Google) or by a Google service account, kept sealed in the database, and
forgotten on request. A login lifts the hold an expired authorisation put on the mailbox.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from seqctl import settings
from seqctl.errors import InvalidInput, NotFound, RefreshRefused, TokenUnavailable
from seqctl.oauth import client
from seqctl.oauth.presets import DEVICE
from seqctl.real_time import real_clock
from seqctl.services.catalog import Catalog
from seqctl.services.mailboxes import resume_after_login
from seqctl.services.oauth_tokens import (
    account_of,
    new_tokens,
    oauth_client,
    store_tokens,
    unauthorised_reason,
)  # fmt: skip
from seqctl.spec.mailboxes import Mailbox
from seqctl.store import auth as auth_store
from seqctl.store.db import Database


def _mailbox(db: Database, key: str) -> Mailbox:
    catalog = Catalog.load(db)
    if key not in catalog.mailboxes:
        raise NotFound(f"no mailbox {key!r} (known: {', '.join(sorted(catalog.mailboxes)) or 'none'})")
    return catalog.mailboxes[key]


def login(
    db: Database, key: str, *, show: Callable[[str], None], open_browser: bool, now: datetime,
    real_now: Callable[[], datetime] = real_clock,
) -> dict[str, Any]:  # fmt: skip
    """Authorise the mailbox and keep its tokens; LoginFailed (exit 1) when the person
    denies it, the code expires or the provider refuses."""
    mailbox = _mailbox(db, key)
    if mailbox.oauth is None:
        raise InvalidInput(f"mailbox {key} has no oauth: setting; it logs in with the password in its URLs")
    secret = settings.tracking_secret()
    if secret is None:
        raise InvalidInput("SEQCTL_SECRET must be set: it seals the mailbox's tokens in the database")
    oauth = oauth_client(mailbox)
    account, provider = oauth.subject, oauth.provider
    if oauth.service_account is not None:
        try:
            tokens = new_tokens(oauth, None, real_now=real_now())
        except (RefreshRefused, TokenUnavailable) as exc:
            raise client.LoginFailed(f"the service account cannot act for {account}: {exc.message}") from None
    elif provider.flow == DEVICE:
        started = client.start_device_login(provider, oauth.client_id, oauth.client_secret)
        show(f"Open {started.verification_uri}")
        show(f"Enter the code {started.user_code}")
        show(f"(signed in as {account}; waiting up to {started.expires_in // 60} min)")
        tokens = client.finish_device_login(provider, oauth.client_id, oauth.client_secret, started)
    else:
        show(f"Open this address in a browser signed in as {account}:")
        tokens = client.browser_login(
            provider, oauth.client_id, oauth.client_secret, show=show, open_browser=open_browser
        )
    if not tokens.get("access_token") or (oauth.service_account is None and not tokens.get("refresh_token")):
        raise client.LoginFailed(
            f"{provider.name} gave no refresh token: the app must be allowed offline access "
            "(offline_access for Microsoft; custom providers: ask for the scope that grants one)"
        )
    store_tokens(db, key, tokens, secret=secret, account=account, real_now=real_now(), method=oauth.method)
    resumed = resume_after_login(db, key, now=now)
    return {"mailbox": key, "account": account, "method": oauth.method, "resumed": resumed}


def status(db: Database) -> list[dict[str, Any]]:
    """Each mailbox's login method, account, access token expiry and state."""
    catalog = Catalog.load(db)
    with db.read() as tx:
        stored = {found.mailbox_key: found for found in auth_store.every(tx)}
    rows = []
    for key, mailbox in sorted(catalog.mailboxes.items()):
        found = stored.get(key)
        if mailbox.oauth is None:
            method = "password" if mailbox.smtp or mailbox.imap else "outbox"
            rows.append({"key": key, "method": method, "account": None, "expires_at": None,
                         "state": None, "why": None})  # fmt: skip
            continue
        service = mailbox.oauth.service_account is not None
        method = f"oauth {mailbox.oauth.provider}" + (" service account" if service else "")
        if found is None:
            state, why = ("authorised", None) if service else ("not authorised", unauthorised_reason(key))
        else:
            state, why = found.state, found.reason
        rows.append({
            "key": key, "method": method, "account": found.account if found else account_of(mailbox),
            "expires_at": found.access_expires_at.isoformat() if found and found.access_expires_at else None,
            "state": state, "why": why,
        })  # fmt: skip
    return rows


def logout(db: Database, key: str) -> bool:
    """Forget the mailbox's tokens (the provider keeps its consent: withdraw it there);
    False when there were none. The mailbox then stops until its next `auth login`."""
    mailbox = _mailbox(db, key)
    if mailbox.oauth is not None and mailbox.oauth.service_account is not None:
        raise InvalidInput(
            f"mailbox {key} acts through a service account: remove its oauth: setting (or the "
            "domain-wide delegation in Google Workspace) to stop it"
        )
    with db.write() as tx:
        return auth_store.forget(tx, key)
