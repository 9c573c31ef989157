"""`seqctl suppress add|remove|list|import`: addresses and domains no sequence may mail."""

from __future__ import annotations

from typing import Annotated

import typer

from seqctl.cli import output
from seqctl.cli.app import (
    JsonOption,
    database,
    now,
    suppress_app,
)


@suppress_app.command("add")
def suppress_add(
    values: Annotated[list[str], typer.Argument(help="Addresses, or domains (example.com or @example.com).")],
    reason: Annotated[
        str, typer.Option("--reason", help="manual, unsubscribed, bounced, complained.")
    ] = "manual",
) -> None:
    """Suppress addresses or whole domains for every sequence, at once.

    Example: seqctl suppress add ada@example.com competitor.com
    """
    from seqctl.services.suppressions import add

    for entry, added in add(database(), values, reason=reason, now=now()):
        output.note(f"{entry.kind} {entry.value}: " + ("suppressed" if added else "already suppressed"))


@suppress_app.command("remove")
def suppress_remove(values: Annotated[list[str], typer.Argument(help="Addresses or domains.")]) -> None:
    """Take addresses or domains off the list (their enrollments stay as they are).

    Example: seqctl suppress remove ada@example.com
    """
    from seqctl.services.suppressions import remove

    missing = []
    for entry, removed in remove(database(), values):
        output.note(f"{entry.kind} {entry.value}: " + ("removed" if removed else "was not suppressed"))
        if not removed:
            missing.append(entry.value)
    if missing and len(missing) == len(values):
        raise typer.Exit(1)


@suppress_app.command("list")
def suppress_list(
    kind: Annotated[str | None, typer.Option("--kind", help="address or domain.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The suppression list.

    Example: seqctl suppress list --kind domain
    """
    from seqctl.services.suppressions import listing

    rows = listing(database(), kind)
    output.listing(rows, ["value", "kind", "reason", "created_at"], as_json=as_json, empty="nothing is suppressed")


@suppress_app.command("import")
def suppress_import(
    file: Annotated[str, typer.Argument(help="One address or domain per line, or CSV: value[,reason].")],
) -> None:
    """Suppress every address and domain of a file; a bad line refuses the whole file.

    Example: seqctl suppress import do-not-contact.csv
    """
    from seqctl.services.suppressions import import_file

    added, already = import_file(database(), file, now=now())
    output.note(f"suppressed {added} new, {already} already on the list")
