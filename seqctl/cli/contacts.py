"""`seqctl contacts ...`: the people sequences are for."""

from __future__ import annotations

from typing import Annotated

import typer

from seqctl.cli import output
from seqctl.cli.app import (
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
