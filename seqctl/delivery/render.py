"""Sandboxed Jinja2 rendering with strict undefined variables.

A variable missing for a contact raises TemplateProblem naming it, so that a step
fails loudly instead of sending "Hi ,". HTML bodies autoescape contact data.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from seqctl.errors import TemplateProblem


class Fields(Mapping[str, Any]):
    """A read-only mapping that templates see as `contact.*` (or `sender.*`), named for errors."""

    def __init__(self, name: str, values: Mapping[str, Any]) -> None:
        self._name = name
        self._values = dict(values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Any:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return self._name


class _NamedUndefined(StrictUndefined):
    """Says `contact.first_name is not set` rather than `'dict object' has no attribute`."""

    @property
    def _undefined_message(self) -> str:  # type: ignore[override]
        owner = self._undefined_obj
        if isinstance(owner, Fields):
            return f"{owner!r}.{self._undefined_name} is not set"
        return super()._undefined_message


def _environment(html: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=_NamedUndefined, autoescape=html, keep_trailing_newline=True)


_TEXT = _environment(html=False)
_HTML = _environment(html=True)


def template_syntax_error(source: str, *, html: bool = False) -> str | None:
    """A one-line description of a syntax error in the template, or None."""
    try:
        _compile(source, html)
    except TemplateSyntaxError as exc:
        return f"template error on its line {exc.lineno}: {exc.message}"
    return None


@lru_cache(maxsize=1024)
def _compile(source: str, html: bool) -> Any:
    return (_HTML if html else _TEXT).from_string(source)


def render(source: str, context: Mapping[str, Any], *, html: bool = False, what: str = "template") -> str:
    """Render a template; raise TemplateProblem for a missing variable or sandbox violation."""
    try:
        return str(_compile(source, html).render(**context))
    except UndefinedError as exc:
        raise TemplateProblem(f"{what}: {exc.message}") from None
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"{what}: template error on its line {exc.lineno}: {exc.message}") from None
    except Exception as exc:  # the sandbox raises SecurityError; filters raise anything
        raise TemplateProblem(f"{what}: {type(exc).__name__}: {exc}") from None


def single_line(text: str) -> str:
    """Header-safe text: line breaks and other control characters become spaces."""
    cleaned = "".join(" " if (ord(ch) < 32 or ord(ch) == 127) else ch for ch in text)
    return " ".join(cleaned.split())


def contact_context(email: str, fields: Mapping[str, Any], tags: list[str]) -> Fields:
    values = {key: value for key, value in fields.items() if value not in (None, "")}
    values.setdefault("email", email)
    values["tags"] = list(tags)
    return Fields("contact", values)
