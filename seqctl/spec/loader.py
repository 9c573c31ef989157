"""Load YAML with the position of every node, so that errors name file:line:column."""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from seqctl.errors import Problem, SpecError
from seqctl.files import read_input
from seqctl.spec.models import SpecFile, model_for_step_type

Path_ = tuple[Any, ...]
_CLOCK_TIME = re.compile(r"^\d{1,2}:\d{2}$")

# Bounds on what one sequence file may make the loader do (README "Limits"). A real file
# is far inside them; past them is a hostile or broken file, refused before it is built.
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64  # nested mappings and lists
MAX_VALUES = 200_000  # every mapping, list and scalar, with aliases expanded


class _Refused(Exception):
    def __init__(self, mark: Any, message: str) -> None:
        super().__init__(message)
        self.line: int = mark.line + 1 if mark is not None else 1
        self.column: int = mark.column + 1 if mark is not None else 1
        self.message = message


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses, as it goes, a document nested deeper than
    MAX_DEPTH (the composer recurses) or larger than MAX_VALUES once its aliases are
    expanded. A billion-laughs document composes cheaply into shared nodes and would
    expand exponentially only when converted: each node's expanded size is added up from
    its children's as it is composed, so the check never expands anything."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0
        self.sizes: dict[int, int] = {}  # id(node) → values it expands to, once composed

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML's stubs leave it untyped
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor or "")
            if target is not None and id(target) not in self.sizes:
                raise _Refused(event.start_mark, f"alias *{event.anchor} refers to a value that contains it")
            return super().compose_node(parent, index)
        if isinstance(event, yaml.CollectionStartEvent) and self.depth >= MAX_DEPTH:
            raise _Refused(event.start_mark, f"nested more than {MAX_DEPTH} levels deep")
        self.depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        size = 1
        if isinstance(node, yaml.MappingNode):
            size += sum(self.sizes[id(key)] + self.sizes[id(value)] for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size += sum(self.sizes[id(item)] for item in node.value)
        if size > MAX_VALUES:
            raise _Refused(node and node.start_mark, f"the document expands to more than {MAX_VALUES:,} values (YAML aliases?)")
        self.sizes[id(node)] = size
        return node


class Positions:
    """Where each value (and each mapping key) stood in the file; 1-based."""

    def __init__(self) -> None:
        self.values: dict[Path_, tuple[int, int]] = {}
        self.keys: dict[Path_, tuple[int, int]] = {}

    def at(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        table = self.keys if key else self.values
        while path:
            if path in table:
                return table[path]
            if key and path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), (1, 1))


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _convert(
    node: yaml.Node, loader: yaml.SafeLoader, path: Path_, positions: Positions, problems: list[tuple[tuple[int, int], str]]
) -> Any:
    positions.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            try:
                key = loader.construct_object(key_node, deep=True)
            except (ValueError, OverflowError):
                key = None
            if not isinstance(key, str | int | float | bool):
                problems.append((_mark(key_node), "a key must be plain text"))
                continue
            if key == "<<":
                problems.append((_mark(key_node), "YAML merge keys (<<) are not supported"))
                continue
            if key in result:
                problems.append((_mark(key_node), f"duplicate key {key!r}"))
                continue
            positions.keys[(*path, key)] = _mark(key_node)
            result[key] = _convert(value_node, loader, (*path, key), positions, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, loader, (*path, index), positions, problems)
            for index, item in enumerate(node.value)
        ]
    try:
        value = loader.construct_object(node, deep=True)
    except (ValueError, OverflowError) as exc:  # e.g. a timestamp like 2026-13-01
        problems.append((_mark(node), f"{node.value!r} is not a valid value: {exc}"))
        return None
    # YAML 1.1 reads an unquoted 10:00 as the sexagesimal number 600; a clock time is meant.
    if isinstance(value, int) and isinstance(node.value, str) and _CLOCK_TIME.match(node.value):
        return node.value
    return value


def parse_yaml(text: str, filename: str) -> tuple[Any, Positions]:
    """YAML text → plain data plus positions; a syntax error becomes a SpecError."""
    positions = Positions()
    if len(text) > MAX_FILE_BYTES:
        raise SpecError([Problem(filename, 1, 1, f"the file is larger than {MAX_FILE_BYTES // 2**20} MiB")])
    loader: yaml.SafeLoader | None = None
    try:
        loader = _BoundedLoader(text)
        root = loader.get_single_node()
        problems: list[tuple[tuple[int, int], str]] = []
        data = {} if root is None else _convert(root, loader, (), positions, problems)
    except _Refused as exc:
        raise SpecError([Problem(filename, exc.line, exc.column, exc.message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        raise SpecError([Problem(filename, line, col, f"invalid YAML: {reason}")]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, most controls)
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise SpecError([Problem(filename, line, column, f"invalid YAML: character {exc.character!r} is not allowed")]) from None
    except yaml.YAMLError:
        raise SpecError([Problem(filename, 1, 1, "invalid YAML")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if problems:
        raise SpecError([Problem(filename, ln, col, msg) for (ln, col), msg in problems])
    return data, positions


def _as_model(annotation: Any, value: Any) -> type[BaseModel] | None:
    """The model class an annotation stands for, given the value found there."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    candidates = [
        found for arg in typing.get_args(annotation) if (found := _as_model(arg, value)) is not None
    ]
    if len(candidates) > 1 and isinstance(value, dict):
        return model_for_step_type(value.get("type"))
    return candidates[0] if candidates else None


def _item_annotation(annotation: Any) -> Any:
    for arg in typing.get_args(annotation) or ():
        if typing.get_origin(arg) is list:
            return typing.get_args(arg)[0]
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is list else None


def _model_at(data: Any, path: Path_) -> type[BaseModel] | None:
    """The model class whose keys are allowed at `path` in the data (for suggestions)."""
    annotation: Any = SpecFile
    value = data
    for part in path:
        if isinstance(part, int):
            annotation = _item_annotation(annotation)
        else:
            model = _as_model(annotation, value)
            if model is None:
                return None
            field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return None
            annotation = field.annotation
        value = value[part]
    return _as_model(annotation, value)


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[Path_, Any]:
    """Follow a pydantic error location through the data, skipping union tag names."""
    path: list[Any] = []
    value = data
    for part in loc:
        if isinstance(value, dict) and part in value:
            path.append(part)
            value = value[part]
        elif isinstance(value, list) and isinstance(part, int) and part < len(value):
            path.append(part)
            value = value[part]
        elif isinstance(part, str) and isinstance(value, dict) and value.get("type") == part:
            continue  # discriminated-union tag, not a key
        elif isinstance(part, str) and "[" in part:
            continue  # pydantic's union member names, e.g. "function-after[...]"
        else:
            return tuple(path), part
    return tuple(path), None


def _describe(error: Mapping[str, Any], missing_part: Any, data: Any, loc: tuple[Any, ...]) -> str:
    kind = error["type"]
    name = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        model = _model_at(data, _data_path(data, loc[:-1])[0])
        hint = ""
        if model is not None:
            known = [f.alias or n for n, f in model.model_fields.items()]
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; known keys: {', '.join(known)}"
        return f"unknown key '{name}'{hint}"
    if kind == "missing":
        return f"missing required key '{missing_part if missing_part is not None else name}'"
    if kind == "union_tag_invalid":
        expected = error.get("ctx", {}).get("expected_tags", "")
        return f"unknown step type {error.get('input', {}).get('type')!r}; use one of {expected}"
    if kind == "union_tag_not_found":
        return "missing required key 'type' (email, task, branch or action)"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    where = f"'{name}': " if isinstance(name, str) and name and not name[0].isupper() else ""
    return f"{where}{message}"


def load_text(text: str, filename: str = "<string>") -> SpecFile:
    """Parse and validate one sequence file; raise SpecError naming every problem."""
    return load_with_positions(text, filename)[0]


def load_with_positions(text: str, filename: str) -> tuple[SpecFile, Positions]:
    from seqctl.spec.checks import check_spec

    data, positions = parse_yaml(text, filename)
    if not isinstance(data, dict):
        raise SpecError([Problem(filename, 1, 1, "expected a mapping with mailboxes/sequences")])
    try:
        spec = SpecFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            path, missing = _data_path(data, loc)
            is_key = error["type"] == "extra_forbidden"
            line, col = positions.at(path, key=is_key)
            problems.append(Problem(filename, line, col, _describe(error, missing, data, loc)))
        raise SpecError(_unique(problems)) from None
    problems = [
        Problem(filename, *positions.at(path, key=on_key), message)
        for path, message, on_key in check_spec(spec)
    ]
    if problems:
        raise SpecError(_unique(problems))
    return spec, positions


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: dict[tuple[int, int, str], Problem] = {}
    for problem in problems:
        seen.setdefault((problem.line, problem.column, problem.message), problem)
    return list(seen.values())


def load_files(
    paths: list[str],
    *,
    known_mailboxes: frozenset[str] = frozenset(),
    tracked_mailboxes: frozenset[str] = frozenset(),
    known_sequences: frozenset[str] = frozenset(),
    known_notify: frozenset[str] = frozenset(),
) -> list[tuple[str, SpecFile]]:
    """Load several files as one configuration; every problem of every file is reported.

    References between files (a sequence's mailbox, an `enroll` action's sequence) must
    resolve within the files or among the `known_*` keys (those already imported).
    """
    loaded: list[tuple[str, SpecFile, Positions]] = []
    problems: list[Problem] = []
    for name in paths:
        text = read_input(name, max_bytes=MAX_FILE_BYTES)
        try:
            loaded.append((name, *load_with_positions(text, name)))
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    problems.extend(_cross_file_problems(loaded, known_mailboxes, known_sequences, tracked_mailboxes, known_notify))
    if problems:
        raise SpecError(problems)
    return [(name, spec) for name, spec, _ in loaded]


def _cross_file_problems(
    loaded: list[tuple[str, SpecFile, Positions]],
    known_mailboxes: frozenset[str],
    known_sequences: frozenset[str],
    tracked_mailboxes: frozenset[str] = frozenset(),
    known_notify: frozenset[str] = frozenset(),
) -> list[Problem]:
    problems: list[Problem] = []
    first_seen: dict[tuple[str, str], str] = {}
    for name, spec, positions in loaded:
        keys = {
            "mailboxes": [m.key for m in spec.mailboxes], "sequences": [s.key for s in spec.sequences],
            "notify": [t.key for t in spec.notify],
        }  # fmt: skip
        for kind, kind_keys in keys.items():
            for index, key in enumerate(kind_keys):
                other = first_seen.setdefault((kind, key), name)
                if other != name:
                    line, col = positions.at((kind, index, "key"))
                    problems.append(Problem(name, line, col, f"{key!r} is also defined in {other}"))
    mailboxes = known_mailboxes | {m.key for _, spec, _ in loaded for m in spec.mailboxes}
    sequences = known_sequences | {s.key for _, spec, _ in loaded for s in spec.sequences}
    targets = known_notify | {t.key for _, spec, _ in loaded for t in spec.notify}
    for name, spec, positions in loaded:
        for t_index, target_spec in enumerate(spec.notify):
            for q_index, only in enumerate(target_spec.sequences or []):
                if only not in sequences:
                    line, col = positions.at(("notify", t_index, "sequences", q_index))
                    problems.append(Problem(name, line, col, f"no sequence {only!r} is defined"))
    redefined = {m.key for _, spec, _ in loaded for m in spec.mailboxes}
    tracked = (tracked_mailboxes - redefined) | {
        m.key for _, spec, _ in loaded for m in spec.mailboxes if m.tracking_url
    }
    for name, spec, positions in loaded:
        for s_index, sequence in enumerate(spec.sequences):
            if sequence.mailbox not in mailboxes:
                line, col = positions.at(("sequences", s_index, "mailbox"))
                problems.append(Problem(name, line, col, f"no mailbox {sequence.mailbox!r} is defined"))
            elif (sequence.tracked().opens or sequence.tracked().clicks) and sequence.mailbox not in tracked:
                line, col = positions.at(("sequences", s_index, "tracking"))
                problems.append(Problem(name, line, col, (
                    f"tracking needs the address of `seqctl serve`: give mailbox {sequence.mailbox!r} a "
                    "tracking_url (https://...)"
                )))  # fmt: skip
            for st_index, step in enumerate(sequence.steps):
                target = getattr(step, "enroll", None)
                if target is not None and target not in sequences:
                    line, col = positions.at(("sequences", s_index, "steps", st_index, "enroll"))
                    problems.append(Problem(name, line, col, f"no sequence {target!r} to enroll into"))
                told = getattr(step, "notify", None)
                if told is not None and told not in targets:
                    line, col = positions.at(("sequences", s_index, "steps", st_index, "notify"))
                    problems.append(Problem(name, line, col, f"no notify target {told!r} is defined"))
    return problems
