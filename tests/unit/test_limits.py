"""The bounds of issue 12 as pure functions: YAML shape, template work, inbound parsing,
server URLs and CSV records, each against an independent oracle where there is one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from seqctl.delivery.render import MAX_OUTPUT_CHARS, render
from seqctl.errors import InvalidInput, SpecError, TemplateProblem
from seqctl.spec import loader


def _expanded(node: yaml.Node) -> int:
    """Oracle: the values of a composed document, counted by walking it (aliases expanded)."""
    if isinstance(node, yaml.MappingNode):
        return 1 + sum(_expanded(k) + _expanded(v) for k, v in node.value)
    if isinstance(node, yaml.SequenceNode):
        return 1 + sum(_expanded(item) for item in node.value)
    return 1


@st.composite
def aliased_documents(draw: st.DrawFn) -> str:
    """Documents whose lists reuse earlier anchors, the way a billion-laughs file does."""
    lines = []
    for level in range(draw(st.integers(min_value=1, max_value=5))):
        width = draw(st.integers(min_value=1, max_value=4))
        items = [f"*a{level - 1}" if level and draw(st.booleans()) else "x" for _ in range(width)]
        lines.append(f"a{level}: &a{level} [{', '.join(items)}]")
    return "\n".join(lines) + "\n"


@settings(max_examples=200, deadline=None)
@given(aliased_documents())
def test_the_size_bound_counts_exactly_what_the_aliases_expand_to(text: str) -> None:
    counted = _expanded(yaml.compose(text, Loader=yaml.SafeLoader))
    limit = loader.MAX_VALUES
    try:
        loader.MAX_VALUES = counted  # at the bound: accepted
        loader.parse_yaml(text, "f.yaml")
        loader.MAX_VALUES = counted - 1  # one past it: refused
        with pytest.raises(SpecError, match="expands to more than"):
            loader.parse_yaml(text, "f.yaml")
    finally:
        loader.MAX_VALUES = limit


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ 9 ** (9 ** 9) }}", "is too large"),
        ("{{ (2 ** 4000) * (2 ** 4000) }}", "too large"),
        ("{{ 'ab' * 10 ** 7 }}", "repetition longer"),
        ("{{ '%0999999d' % 1 }}", "format width"),
        ("{{ '{:>999999}'.format(1) }}", "format width"),
        ("{{ 'x' | center(10 ** 8) }}", "a number over 100,000"),
        ("{{ 'x' | indent(width=10 ** 8) }}", "a number over 100,000"),
        ("{{ '%.999999f' | format(1) }}", "format width"),
        ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}", "longer than 1 s"),
        ("{% for i in range(99999) %}{% for j in range(99999) %}xyz{% endfor %}{% endfor %}", "longer than"),
        ("{{ lipsum(99999) }}", "'lipsum' is undefined"),
    ],
)
def test_a_template_that_runs_away_fails_with_its_reason(template: str, reason: str) -> None:
    with pytest.raises(TemplateProblem, match=reason):
        render(template, {}, what="step one body")


@settings(max_examples=300, deadline=None)
@given(
    left=st.integers(min_value=-(10**6), max_value=10**6),
    right=st.integers(min_value=0, max_value=40),
    text=st.text(max_size=20),
)
def test_bounded_operators_agree_with_python_on_ordinary_values(left: int, right: int, text: str) -> None:
    context = {"a": left, "b": right, "t": text}
    assert render("{{ a ** b }}|{{ a * b }}|{{ t * b }}|{{ a + b }}", context) == (
        f"{left**right}|{left * right}|{text * right}|{left + right}"
    )


def test_output_past_its_budget_fails_and_just_under_passes() -> None:
    assert len(render("{{ 'x' * n }}", {"n": MAX_OUTPUT_CHARS})) == MAX_OUTPUT_CHARS
    with pytest.raises(TemplateProblem, match="longer than"):
        render("{% for i in range(n) %}{{ 'x' * 1000 }}{% endfor %}", {"n": MAX_OUTPUT_CHARS // 1000 + 1})


def test_validate_finds_runaway_templates_but_not_missing_variables() -> None:
    from seqctl.delivery.render import runaway_problem

    assert runaway_problem("Hi {{ contact.first_name }}, {{ contact.n * 3 }}") is None
    assert "longer than" in (runaway_problem("{% for i in range(99999) %}{{ range(99999)|list }}{% endfor %}") or "")


def test_a_deeply_nested_or_huge_message_is_read_within_bounds() -> None:
    from seqctl.inbound import mime
    from seqctl.inbound.classify import classify

    nested = b"From: a@example.org\r\nSubject: hi\r\n" + b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(5000)
    ) + b"Content-Type: text/plain\r\n\r\nhello\r\n"  # fmt: skip
    found = classify(nested)
    assert found.kind == "reply" and found.subject == "hi"
    huge = b"From: a@example.org\r\nSubject: big\r\n\r\n" + b"x" * (mime.MAX_MESSAGE_BYTES + 1000)
    assert len(mime.parse(huge).get_payload()) < mime.MAX_MESSAGE_BYTES


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8), min_size=1, max_size=4), min_size=1, max_size=8))
def test_csv_records_round_trip_with_their_starting_lines(tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]]) -> None:
    import csv
    import io

    from seqctl.files import read_csv_records

    rows = [["h1", "h2"], *rows]
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL).writerows(rows)
    path = tmp_path_factory.mktemp("csv") / "f.csv"
    path.write_bytes(buffer.getvalue().encode())
    found = list(read_csv_records(str(path)))
    assert [cells for _, cells in found] == rows
    physical_line = 1
    for (line, _), row in zip(found, rows, strict=True):
        assert line == physical_line
        physical_line += sum(cell.count("\n") + cell.count("\r") - cell.count("\r\n") for cell in row) + 1


def test_a_csv_with_a_nul_byte_or_bad_encoding_names_the_line(tmp_path: Path) -> None:
    from seqctl.files import read_csv_records

    nul = tmp_path / "a.csv"
    nul.write_bytes(b"email\na@example.org\nb\x00@example.org\n")
    with pytest.raises(InvalidInput, match=r"a.csv:3: a NUL byte"):
        list(read_csv_records(str(nul)))
    latin = tmp_path / "b.csv"
    latin.write_bytes(b"email,name\na@example.org,Jos\xe9\n")
    with pytest.raises(InvalidInput, match=r"b.csv:2: not UTF-8 text"):
        list(read_csv_records(str(latin)))


def test_a_long_invalid_host_name_is_refused_at_once_not_after_exponential_backtracking() -> None:
    from seqctl.delivery.transports import SmtpSettings

    with pytest.raises(InvalidInput, match="SMTP URL is not valid"):
        SmtpSettings.from_url("smtp://user:pw@" + "a" * 5000 + "_x.example.com:25")
    assert SmtpSettings.from_url("smtp://mail-1.example.co.uk.:25").host == "mail-1.example.co.uk."


def test_numbers_in_the_text_of_a_format_string_are_not_widths() -> None:
    assert render("{{ 'Call 5550100123, ref {}'.format(7) }}", {}) == "Call 5550100123, ref 7"
    with pytest.raises(TemplateProblem, match="format width"):
        render("{{ 'ref {:>5550100123}'.format(7) }}", {})
