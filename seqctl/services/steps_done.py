"""How a long operation (enrolling, importing contacts) tells its caller how far it got:
the CLI shows a progress bar on a terminal; everything else passes nothing."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def total(self, count: int) -> None:
        """The operation has `count` items in all."""

    def advance(self, count: int) -> None:
        """`count` more items are done."""
