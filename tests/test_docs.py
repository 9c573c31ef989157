"""Every command has help with an example, and the README documents it."""

from __future__ import annotations

from typing import Any

import typer.main

from seqctl.cli import app
from tests.conftest import ROOT


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a sub-group such as `contacts` or `task`
            found.extend(_commands(command, f"{prefix}{name} "))
        else:
            found.append((f"{prefix}{name}", command))
    return found


def test_every_command_has_help_with_an_example_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert len(commands) >= 18
    for name, command in commands:
        assert command.help and "Example: seqctl" in command.help, f"{name} lacks an example in its help"
        assert f"seqctl {name}" in readme, f"README does not mention `seqctl {name}`"
