"""`seqctl auth login|status|logout`: a mailbox's OAuth 2.0 authorisation."""

from __future__ import annotations

from typing import Annotated

import typer

from seqctl.cli import output
from seqctl.cli.app import JsonOption, app, database, now

auth_app = typer.Typer(
    help="Authorise mailboxes that log in with OAuth 2.0 (Microsoft 365, Google).", no_args_is_help=True,
    rich_markup_mode=None,
)  # fmt: skip
app.add_typer(auth_app, name="auth")
KeyArg = Annotated[str, typer.Argument(help="The mailbox's key.")]


@auth_app.command("login")
def auth_login(
    key: KeyArg,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Google: print the address to open instead of opening a browser.")
    ] = False,
) -> None:
    """Authorise a mailbox once: Microsoft and custom providers print an address and a
    code to enter there (from any device); Google prints (and opens) an address to sign
    in at. Exits 0 once authorised, 1 when denied or expired. A mailbox paused because
    its authorisation expired resumes by itself.

    Example: seqctl auth login ada
    """
    from seqctl.services.mailbox_login import login

    done = login(database(), key, show=output.unwrapped, open_browser=not no_browser, now=now())
    resumed = f"; resumed, {done['resumed']} waiting enrollment(s) due now" if done["resumed"] else ""
    output.note(f"mailbox {key}: authorised as {done['account']}{resumed}")


@auth_app.command("status")
def auth_status(as_json: JsonOption = False) -> None:
    """Each mailbox's login method, account, access token expiry and state (and why a
    mailbox needs a new login).

    Example: seqctl auth status
    """
    from seqctl.services.mailbox_login import status

    rows = status(database())
    output.listing(rows, ["key", "method", "account", "state", "expires_at"], as_json=as_json,
                   empty="no mailboxes imported", optional=["expires_at"])  # fmt: skip
    if not as_json:
        for row in rows:
            if row["why"]:
                output.note(f"mailbox {row['key']}: {row['why']}")


@auth_app.command("logout")
def auth_logout(key: KeyArg) -> None:
    """Forget a mailbox's tokens; it sends and syncs no more until `auth login`. (To
    withdraw the consent itself, remove the app at the provider.)

    Example: seqctl auth logout ada
    """
    from seqctl.services.mailbox_login import logout

    forgot = logout(database(), key)
    output.note(f"mailbox {key}: " + ("tokens forgotten" if forgot else "had no tokens"))
