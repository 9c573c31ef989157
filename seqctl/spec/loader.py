"""Load YAML with the position of every node, so that errors name file:line:column."""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from seqctl.errors import Problem, SpecError
from seqctl.files import read_input
from seqctl.spec.models import SpecFile, model_for_step_type

Path_ = tuple[Any, ...]
_CLOCK_TIME = re.compile(r"^\d{1,2}:\d{2}$")


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
    node: yaml.Node, loader: yaml.SafeLoader, path: Path_, positions: Positions, problems: list
) -> Any:
    positions.values[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
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
    value = loader.construct_object(node, deep=True)
    # YAML 1.1 reads an unquoted 10:00 as the sexagesimal number 600; a clock time is meant.
    if isinstance(value, int) and isinstance(node.value, str) and _CLOCK_TIME.match(node.value):
        return node.value
    return value


def parse_yaml(text: str, filename: str) -> tuple[Any, Positions]:
    """YAML text → plain data plus positions; a syntax error becomes a SpecError."""
    positions = Positions()
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        problems: list[tuple[tuple[int, int], str]] = []
        data = {} if root is None else _convert(root, loader, (), positions, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        raise SpecError([Problem(filename, line, col, f"invalid YAML: {reason}")]) from None
    finally:
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
            field = model and next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
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


def _describe(error: dict[str, Any], missing_part: Any, data: Any, loc: tuple[Any, ...]) -> str:
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
) -> list[tuple[str, SpecFile]]:
    """Load several files as one configuration; every problem of every file is reported.

    References between files (a sequence's mailbox, an `enroll` action's sequence) must
    resolve within the files or among the `known_*` keys (those already imported).
    """
    loaded: list[tuple[str, SpecFile, Positions]] = []
    problems: list[Problem] = []
    for name in paths:
        text = read_input(name)
        try:
            loaded.append((name, *load_with_positions(text, name)))
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    problems.extend(_cross_file_problems(loaded, known_mailboxes, known_sequences, tracked_mailboxes))
    if problems:
        raise SpecError(problems)
    return [(name, spec) for name, spec, _ in loaded]


def _cross_file_problems(
    loaded: list[tuple[str, SpecFile, Positions]],
    known_mailboxes: frozenset[str],
    known_sequences: frozenset[str],
    tracked_mailboxes: frozenset[str] = frozenset(),
) -> list[Problem]:
    problems: list[Problem] = []
    first_seen: dict[tuple[str, str], str] = {}
    for name, spec, positions in loaded:
        for kind, items in (("mailboxes", spec.mailboxes), ("sequences", spec.sequences)):
            for index, item in enumerate(items):
                other = first_seen.setdefault((kind, item.key), name)
                if other != name:
                    line, col = positions.at((kind, index, "key"))
                    problems.append(Problem(name, line, col, f"{item.key!r} is also defined in {other}"))
    mailboxes = known_mailboxes | {m.key for _, spec, _ in loaded for m in spec.mailboxes}
    sequences = known_sequences | {s.key for _, spec, _ in loaded for s in spec.sequences}
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
    return problems
