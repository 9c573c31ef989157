"""`seqctl contacts ...`: the people sequences are for."""

from __future__ import annotations

from typing import Annotated

import typer

from seqctl.cli import output
from seqctl.cli.app import (
    MAX_ID,
    JsonOption,
    contacts_app,
    database,
    now,
)


@contacts_app.command("import")
def contacts_import(
    file: Annotated[
        str,
        typer.Argument(help="CSV with an 'email' column; other columns become fields, 'tags' tags."),
    ],
    as_json: JsonOption = False,
) -> None:
    """Upsert contacts by email from a CSV; bad rows are reported by line, the rest imported.

    Example: seqctl contacts import leads.csv
    """
    from seqctl.services.contacts import import_csv

    with output.progress_bar("importing contacts", as_json=as_json) as progress:
        report = import_csv(database(), file, now=now(), progress=progress)
    problems = [{"line": p.line, "error": p.message} for p in report.problems]
    if as_json:
        output.print_json(
            {
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "problems": problems,
            }
        )
    else:
        for p in report.problems:
            output.note(f"{file}:{p.line}: {p.message}")
        output.note(
            f"contacts: {report.created} created, {report.updated} updated, {report.unchanged} unchanged, {len(problems)} row problem(s)"
        )


@contacts_app.command("list")
def contacts_list(
    tag: Annotated[str | None, typer.Option("--tag", help="Only contacts with this tag.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=MAX_ID)] = 200,
    as_json: JsonOption = False,
) -> None:
    """Contacts by address, with their tags (fields with --json or `contacts show`).

    Example: seqctl contacts list --tag lead
    """
    from seqctl.services.contact_views import listing

    rows = listing(database(), tag=tag, limit=limit)
    for row in rows:
        row["name"] = " ".join(str(row["fields"].get(k) or "") for k in ("first_name", "last_name")).strip()
        row["tags"] = ", ".join(row["tags"]) if not as_json else row["tags"]
    output.listing(rows, ["email", "name", "tags"], as_json=as_json, empty="no contacts")


@contacts_app.command("show")
def contacts_show(
    email: Annotated[str, typer.Argument(help="The contact's address.")],
    as_json: JsonOption = False,
) -> None:
    """One contact's whole story: fields (as actions left them), tags, suppression, every
    enrollment in any sequence, every event.

    Example: seqctl contacts show ada@example.com
    """
    from seqctl.services.contact_views import show

    found = show(database(), email)
    if as_json:
        output.print_json(found)
        return
    output.line(found["email"])
    for name, value in sorted(found["fields"].items()):
        output.line(f"  {name}: {value}")
    output.line(f"  tags: {', '.join(found['tags']) or 'none'}")
    suppressed = found["suppressed"]
    output.line(f"  suppressed: {suppressed['reason']} ({suppressed['value']})" if suppressed else "  suppressed: no")
    output.table(found["enrollments"], ["id", "sequence", "status", "step", "exit_reason", "next_run_at"],
                 empty="no enrollments", optional=["next_run_at", "step"])  # fmt: skip
    output.table(found["events"], ["at", "type", "detail", "sequence_step"], empty="no events")


@contacts_app.command("export")
def contacts_export(
    file: Annotated[str, typer.Argument(help="The CSV to write (it must not exist).")],
    tag: Annotated[str | None, typer.Option("--tag", help="Only contacts with this tag.")] = None,
) -> None:
    """Write contacts to a CSV that `contacts import` reads back: email, one column per
    field, tags.

    Example: seqctl contacts export contacts.csv
    """
    from seqctl.services.contact_views import export

    output.note(f"exported {export(database(), file, tag=tag)} contact(s) to {file}")


@contacts_app.command("erase")
def contacts_erase(
    emails: Annotated[list[str], typer.Argument(help="Addresses to erase.")],
    as_json: JsonOption = False,
) -> None:
    """Erase people on request (GDPR Art. 17): their fields, tags, events' personal details,
    the emails sent to them and what they wrote are deleted from every table; their open
    enrollments end; only a keyed digest of the address stays on the suppression list, so
    it is never mailed again. Needs SEQCTL_SECRET (the digest's key).

    Example: seqctl contacts erase ada@example.com
    """
    from seqctl.services.erasing import erase

    done = erase(database(), emails, now=now())
    if as_json:
        output.print_json(done)
        return
    for item in done:
        found = "erased" if item["contact"] else "no contact; kept suppressed"
        output.note(f"{item['email']}: {found} ({item['enrollments_ended']} open enrollment(s) ended)")
