"""Reading the operator's input files, with one clear error when that fails."""

from __future__ import annotations

from pathlib import Path

from seqctl.errors import InvalidInput


def read_input(name: str, *, encoding: str = "utf-8") -> str:
    """The file's text; InvalidInput naming the file when it is missing or unreadable."""
    try:
        return Path(name).read_text(encoding=encoding)
    except FileNotFoundError:
        raise InvalidInput(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{name}: cannot read: {exc}") from None
