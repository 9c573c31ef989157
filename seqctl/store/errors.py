"""Database failures as one line for the operator."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, SQLAlchemyError


def describe(exc: BaseException) -> str | None:
    if isinstance(exc, DBAPIError):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        return f"database error: {reason}"
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {str(exc).splitlines()[0]}"
    return None
