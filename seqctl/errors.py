"""The error types every layer raises; the CLI turns them into exit codes.

Exit codes (dramatiq-style named constants; 0 is success):
"""

from __future__ import annotations

from dataclasses import dataclass

# A runtime failure: the database, a transport, or something else outside the input.
EXIT_FAILURE = 1
# Bad usage or invalid input; nothing was changed.
EXIT_INVALID = 2
# Interrupted by the operator (Ctrl-C).
EXIT_INTERRUPTED = 130


class SeqctlError(Exception):
    """seqctl failed."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "error").strip())

    @property
    def message(self) -> str:
        return str(self)


class InvalidInput(SeqctlError):
    """The input is not valid."""

    exit_code = EXIT_INVALID


class NotFound(InvalidInput):
    """Nothing by that name or id."""


class TemplateProblem(SeqctlError):
    """A template could not be rendered for this contact."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a sequence file, where it is and what it is."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class SpecError(InvalidInput):
    """The sequence file is not valid."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        super().__init__("\n".join(str(p) for p in self.problems))


class AuthorisationExpired(SeqctlError):
    """A mailbox's OAuth authorisation is gone (never given, refused, revoked): it needs
    `seqctl auth login KEY` before it sends or syncs again."""


class TokenUnavailable(SeqctlError):
    """The provider could not be asked for a token just now (unreachable, slow): try later."""


class RefreshRefused(SeqctlError):
    """The provider will not renew a mailbox's tokens any more (revoked, expired, consent
    withdrawn): the mailbox needs a new `seqctl auth login`."""
