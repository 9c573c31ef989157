"""Sandboxed Jinja2 rendering with strict undefined variables and a bounded amount of work.

A variable missing for a contact raises TemplateProblem naming it, so that a step
fails loudly instead of sending "Hi ,". HTML bodies autoescape contact data.

Templates come from sequence files, so a typo or a hostile commit must not stall a tick:
every render has a time budget and an output budget, and the operations that can
allocate without limit in one step (`9**9**9`, `"x" * 10**9`, `"%999999999d" % 1`, a
filter given a huge width) are refused before they run (README "Limits").
"""

from __future__ import annotations

import functools
import re
import signal
import string
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, Template, TemplateSyntaxError, UndefinedError, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

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
    def _undefined_message(self) -> str:
        owner = self._undefined_obj
        if isinstance(owner, Fields):
            return f"{owner!r}.{self._undefined_name} is not set"
        return super()._undefined_message


MAX_RENDER_SECONDS = 1.0
MAX_OUTPUT_CHARS = 1_000_000
MAX_NUMBER_BITS = 4096  # about 1,200 decimal digits
MAX_ARGUMENT = 100_000  # for a width, a count or a length given to a filter or a format
_FORMAT_NUMBER = re.compile(r"%[-#0 +]*(\d*)(?:\.(\d*))?")


class _OverBudget(Exception):
    """The render took longer than MAX_RENDER_SECONDS."""


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else 0


def _check_argument(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ARGUMENT:
        raise SecurityError(f"a number over {MAX_ARGUMENT:,} given to a filter or format")
    if isinstance(value, float) and abs(value) > MAX_ARGUMENT and value.is_integer():
        raise SecurityError(f"a number over {MAX_ARGUMENT:,} given to a filter or format")


def _check_widths(numbers: Iterable[str]) -> None:
    if any(number and int(number[:7]) > MAX_ARGUMENT for number in numbers):
        raise SecurityError("a format width or precision is too large")


def _check_format(template: str) -> None:
    """Widths and precisions of a printf-style format stay small (`%999999999d` allocates)."""
    _check_widths(number for pair in _FORMAT_NUMBER.findall(template) for number in pair)


def _check_brace_format(template: str) -> None:
    """The same for `str.format`: the numbers of each field's spec (`{:>999999999}`), not the
    numbers of the text around the fields."""
    try:
        specs = [spec for _, _, spec, _ in string.Formatter().parse(template) if spec]
    except ValueError:
        return  # not a valid format: str.format raises its own error
    _check_widths(number for spec in specs for number in re.findall(r"\d+", spec))


# Filters whose arguments are sizes that allocate: `"x"|center(10**9)` is a gigabyte.
_SIZED_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice"})


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """The filter with its size arguments (or, for `format`, its format) checked first."""
    skip = 2 if getattr(function, "jinja_pass_arg", None) is not None else 1

    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if name == "format" and len(args) >= skip and isinstance(args[skip - 1], str):
            _check_format(args[skip - 1])
        else:
            for value in (*args[skip:], *kwargs.values()):
                _check_argument(value)
        return function(*args, **kwargs)

    return bounded


class _BoundedEnvironment(SandboxedEnvironment):
    """The sandbox, plus limits on the operators and filters that can allocate unboundedly."""

    intercepted_binops = frozenset({"**", "*", "%", "+", "//"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters.update({n: _bounded_filter(n, self.filters[n]) for n in {*_SIZED_FILTERS, "format"}})
        self.globals.pop("lipsum", None)  # lorem ipsum of any length; no email needs it

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and abs(left) > 1 and left.bit_length() * right > MAX_NUMBER_BITS:
                raise SecurityError(f"the number {left} ** {right} is too large")
        elif operator == "*":
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_NUMBER_BITS:
                    raise SecurityError("a product too large")
            elif _size(left) * (right if isinstance(right, int) else 1) > MAX_OUTPUT_CHARS or (
                _size(right) * (left if isinstance(left, int) else 1) > MAX_OUTPUT_CHARS
            ):
                raise SecurityError(f"a repetition longer than {MAX_OUTPUT_CHARS:,}")
        elif operator == "%" and isinstance(left, str):
            _check_format(left)
        elif operator == "+" and _size(left) + _size(right) > MAX_OUTPUT_CHARS:
            raise SecurityError(f"a text longer than {MAX_OUTPUT_CHARS:,}")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # How the sandbox runs str.format and format_map: a width allocates (`{:>999999999}`).
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_brace_format(value.__self__)
        return wrapped


def _environment(html: bool, undefined: type[Any] = _NamedUndefined) -> SandboxedEnvironment:
    return _BoundedEnvironment(undefined=undefined, autoescape=html, keep_trailing_newline=True)


_TEXT = _environment(html=False)
_HTML = _environment(html=True)
# For `validate`: renders with every variable empty, to find templates that run away.
_TRIAL = {False: _environment(False, ChainableUndefined), True: _environment(True, ChainableUndefined)}


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Interrupt the render (a pure-Python loop, in the main thread) after `seconds`.

    A SIGALRM timer is the one way to stop a loop that yields nothing. Elsewhere (a
    thread) the output loop in `_bounded_render` checks the clock between chunks. Should
    code inside the render swallow the interruption, the block still ends in _OverBudget.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return
    expired = False

    def expire(signum: int, frame: Any) -> None:
        nonlocal expired
        expired = True
        raise _OverBudget()

    previous = signal.signal(signal.SIGALRM, expire)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    except Exception:
        if expired:
            raise _OverBudget() from None
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:  # someone else's timer was running: give it back what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))
    if expired:
        raise _OverBudget()


def _bounded_render(compiled: _Compiled, context: Mapping[str, Any]) -> str:
    started = time.monotonic()
    parts: list[str] = []
    size = 0
    with _deadline(MAX_RENDER_SECONDS) if compiled.loops else nullcontext():
        for part in compiled.template.generate(**context):
            parts.append(part)
            size += len(part)
            if size > MAX_OUTPUT_CHARS:
                raise SecurityError(f"the output is longer than {MAX_OUTPUT_CHARS:,} characters")
            if time.monotonic() - started > MAX_RENDER_SECONDS:
                raise _OverBudget()
    return "".join(parts)


def template_syntax_error(source: str, *, html: bool = False) -> str | None:
    """A one-line description of a syntax error in the template, or None."""
    try:
        _compile(source, html)
    except TemplateSyntaxError as exc:
        return f"template error on its line {exc.lineno}: {exc.message}"
    return None


@lru_cache(maxsize=1024)
def _compile(source: str, html: bool) -> _Compiled:
    return _prepared((_HTML if html else _TEXT), source)


@dataclass(frozen=True)
class _Compiled:
    template: Template
    loops: bool  # has a loop or a macro: rendered under the deadline


def _prepared(environment: SandboxedEnvironment, source: str) -> _Compiled:
    """The compiled template, marked with whether it can loop. Only a loop (or a macro,
    which can recurse) can make a render run long; the rest of a template's work is
    bounded by its length and the operator limits, so it renders without the timer."""
    tree = environment.parse(source)
    loops = any(True for _ in tree.find_all((nodes.For, nodes.Macro, nodes.CallBlock)))
    return _Compiled(environment.from_string(tree), loops)


@lru_cache(maxsize=1024)
def _trial(source: str, html: bool) -> _Compiled:
    return _prepared(_TRIAL[html], source)


def render(source: str, context: Mapping[str, Any], *, html: bool = False, what: str = "template") -> str:
    """Render a template; raise TemplateProblem for a missing variable, a sandbox violation
    or a render over its time or output budget."""
    try:
        return _bounded_render(_compile(source, html), context)
    except UndefinedError as exc:
        raise TemplateProblem(f"{what}: {exc.message}") from None
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"{what}: template error on its line {exc.lineno}: {exc.message}") from None
    except _OverBudget:
        raise TemplateProblem(f"{what}: took longer than {MAX_RENDER_SECONDS:g} s to render (the limit)") from None
    except SecurityError as exc:
        raise TemplateProblem(f"{what}: not allowed: {exc}") from None
    except Exception as exc:  # filters raise anything
        raise TemplateProblem(f"{what}: {type(exc).__name__}: {exc}") from None


def runaway_problem(source: str, *, html: bool = False) -> str | None:
    """For `validate`: what stops the template within its budget whatever the contact
    (every variable empty), or None. Missing variables are the contact's business."""
    try:
        _bounded_render(_trial(source, html), {})
    except _OverBudget:
        return f"takes longer than {MAX_RENDER_SECONDS:g} s to render (the limit)"
    except SecurityError as exc:
        return f"not allowed: {exc}"
    except Exception:  # anything else depends on the contact's data
        return None
    return None


def single_line(text: str) -> str:
    """Header-safe text: line breaks and other control characters become spaces."""
    cleaned = "".join(" " if (ord(ch) < 32 or ord(ch) == 127) else ch for ch in text)
    return " ".join(cleaned.split())


def contact_context(email: str, fields: Mapping[str, Any], tags: list[str]) -> Fields:
    values = {key: value for key, value in fields.items() if value not in (None, "")}
    values.setdefault("email", email)
    values["tags"] = list(tags)
    return Fields("contact", values)
