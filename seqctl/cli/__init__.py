"""The command line: parse, read the clock once, call one service, render.

`app.py` holds the typer apps, the options every command shares, the one clock reading
and the database a command opens; each other module holds the commands of one subject
and registers them on those apps when imported here. `output.py` is the only renderer.
Every command's docstring is its --help text, with an example.
"""

from __future__ import annotations

import sys

import typer

from seqctl.cli import output
from seqctl.cli.app import app, state
from seqctl.errors import EXIT_INTERRUPTED, SeqctlError, SpecError

# Imported for their commands, each registering itself on `app`; `--help` lists them in
# this order.
# isort: off
from seqctl.cli import sequences, contacts, enrollments, running, tasks  # noqa: F401
from seqctl.cli import events, suppressions, inbox, mailboxes, auth, notifications  # noqa: F401
# isort: on


def main() -> None:
    """Entry point: the one error boundary. Exit 0 ok, 1 failure, 2 bad input, 130 interrupted."""
    try:
        try:
            code = app(standalone_mode=False)
        finally:
            while state.opened:
                state.opened.pop().dispose()
    except SpecError as exc:
        for problem in exc.problems:
            output.note(str(problem))  # compiler-style, so editors can jump to it
        sys.exit(exc.exit_code)
    except SeqctlError as exc:
        if state.debug:
            raise
        output.error(exc.message)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        sys.exit(EXIT_INTERRUPTED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: typer prints them with the usage line
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            output.error(exc.message)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if state.debug:
            raise
        output.error(_unexpected(exc))
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _unexpected(exc: Exception) -> str:
    """A one-line description, for failures that are not seqctl's own (database, OS)."""
    from seqctl.store.errors import describe

    return describe(exc) or f"{type(exc).__name__}: {exc}".splitlines()[0]
