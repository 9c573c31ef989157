"""Validation errors name file:line:column and say what is wrong."""

from __future__ import annotations

import textwrap

import pytest

from seqctl.errors import SpecError
from seqctl.spec.loader import load_text
from tests.conftest import EXAMPLE

HEAD = """\
mailboxes:
  - key: ada
    from: "Ada <ada@example.com>"
sequences:
  - key: s
    mailbox: ada
    steps:
"""


def problems(steps: str, head: str = HEAD) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_text(head + textwrap.indent(textwrap.dedent(steps), "      "), "f.yaml")
    return [str(p) for p in caught.value.problems]


def test_the_example_file_is_valid() -> None:
    spec = load_text(EXAMPLE.read_text(), str(EXAMPLE))
    types = {step.type for seq in spec.sequences for step in seq.steps}
    assert types == {"email", "task", "branch", "action"}


def test_unknown_key_is_an_error_with_position_and_suggestion() -> None:
    found = problems("""\
        - id: intro
          type: email
          subjct: "Hi"
          body: "x"
    """)
    assert any(p.startswith("f.yaml:10:9: unknown key 'subjct' (did you mean 'subject'?)") for p in found), (
        found
    )


def test_missing_required_field() -> None:
    found = problems("""\
        - id: call
          type: task
          kind: call
    """)
    assert found == ["f.yaml:8:9: missing required key 'note'"]


def test_duplicate_step_ids() -> None:
    found = problems("""\
        - {id: a, type: email, subject: s, body: b}
        - {id: a, type: email, subject: s, body: b}
    """)
    assert any("duplicate step id 'a'" in p and p.startswith("f.yaml:9:") for p in found), found


@pytest.mark.parametrize("field", ["next", "then", "else"])
def test_dangling_references(field: str) -> None:
    branch = {
        "next": "- {id: a, type: email, subject: s, body: b, next: nowhere}",
        "then": "- {id: a, type: branch, if: {event: opened}, then: nowhere, else: end}",
        "else": "- {id: a, type: branch, if: {event: opened}, then: end, else: nowhere}",
    }[field]
    found = problems(branch + "\n")
    assert any("step 'nowhere' does not exist" in p for p in found), found


def test_cycle_without_wait_is_an_error_but_a_wait_breaks_it() -> None:
    found = problems("""\
        - {id: a, type: action, tag: x, next: b}
        - {id: b, type: action, tag: y, goto: a}
    """)
    assert any("loop without any wait (a → b → a)" in p for p in found), found
    load_text(
        HEAD
        + "      - {id: a, type: action, tag: x, next: b}\n      - {id: b, type: action, wait: 1d, tag: y, goto: a}\n"
    )


def test_bad_duration() -> None:
    found = problems("- {id: a, type: email, subject: s, body: b, wait: 3 days}\n")
    assert any("bad duration '3 days'" in p for p in found), found


def test_template_syntax_error() -> None:
    found = problems("- {id: a, type: email, subject: 'Hi {{ contact.name', body: b}\n")
    assert any(p.startswith("f.yaml:8:") and "template error" in p for p in found), found


def test_yaml_syntax_error_and_duplicate_keys() -> None:
    with pytest.raises(SpecError, match=r"f.yaml:3:1: invalid YAML: expected ',' or ']'"):
        load_text("sequences:\n  - key: [unclosed\n", "f.yaml")
    with pytest.raises(SpecError, match="duplicate key 'key'"):
        load_text("sequences:\n  - key: a\n    key: b\n", "f.yaml")


def test_unquoted_clock_time_is_read_as_a_time_not_a_number() -> None:
    spec = load_text(HEAD + "      - {id: a, type: email, subject: s, body: b, wait: 1d, at: 10:00}\n")
    assert str(spec.sequences[0].steps[0].at) == "10:00:00"


def test_secrets_cannot_be_written_into_yaml() -> None:
    with pytest.raises(SpecError, match="secrets never live in YAML"):
        load_text(
            'mailboxes:\n  - key: a\n    from: "a@example.com"\n    smtp: "smtp://u:pw@host"\n', "f.yaml"
        )


def test_unknown_timezone_and_step_type() -> None:
    with pytest.raises(SpecError, match="unknown time zone 'Mars/Base'"):
        load_text(
            HEAD.replace("    steps:\n", "    calendar: {timezone: Mars/Base}\n    steps:\n")
            + "      - {id: a, type: email, subject: s, body: b}\n"
        )
    found = problems("- {id: a, type: sms, body: b}\n")
    assert any("unknown step type 'sms'" in p for p in found), found


def test_window_must_end_after_it_starts() -> None:
    with pytest.raises(SpecError, match="windows that cross midnight are not supported"):
        load_text(
            HEAD.replace(
                "    steps:\n", '    calendar: {window: {start: "22:00", end: "06:00"}}\n    steps:\n'
            )
            + "      - {id: a, type: email, subject: s, body: b}\n"
        )


def test_threaded_first_email_without_subject_is_an_error() -> None:
    found = problems("- {id: a, type: email, thread: true, body: b}\n")
    assert any("needs an earlier email" in p for p in found), found


def calendar_problems(
    calendar: str, steps: str = "- {id: a, type: email, subject: s, body: b}\n"
) -> list[str]:
    return problems(steps, HEAD.replace("    steps:\n", f"    calendar: {calendar}\n    steps:\n"))


def test_window_overrides_spread_and_at_are_checked() -> None:
    found = calendar_problems('{window: {days: [mon], overrides: {fri: {end: "13:00"}}}}')
    assert any("f.yaml:7:" in p and "fri is not one of the window's days" in p for p in found), found
    found = calendar_problems('{window: {start: "09:00", overrides: {mon: {end: "08:00"}}}}')
    assert any("mon ends before it starts" in p for p in found), found
    found = calendar_problems("{window: {spread: 2bd}}")
    assert any("spread is a length of time" in p for p in found), found
    found = calendar_problems(
        '{window: {start: "09:00", end: "17:00", overrides: {fri: {end: "13:00"}}}}',
        '- {id: a, type: email, subject: s, body: b, at: "18:00"}\n',
    )
    assert any("outside the sequence's send window on every day" in p for p in found), found
    # 15:00 fits Monday to Thursday, so it is valid even though Friday ends at 13:00.
    load_text(
        HEAD.replace(
            "    steps:\n",
            '    calendar: {window: {start: "09:00", end: "17:00", overrides: {fri: {end: "13:00"}}}}\n    steps:\n',
        )
        + '      - {id: a, type: email, subject: s, body: b, at: "15:00"}\n'
    )


def test_a_calendar_that_never_allows_a_send_is_refused_at_validation() -> None:
    from datetime import date, timedelta

    # Mondays only, and every Monday for more than a year is a holiday.
    mondays = [date(2027, 1, 4) + timedelta(weeks=n) for n in range(60)]
    found = calendar_problems(f"{{window: {{days: [mon]}}, holidays: [{', '.join(map(str, mondays))}]}}")
    assert any("f.yaml:7:" in p and "no allowed day within a year" in p for p in found), found


def test_owners_and_sequence_start_are_validated() -> None:
    head = HEAD.replace(
        "sequences:\n",
        "owners:\n  - {key: sam, calendar: {timezone: Mars/Base}}\n  - {key: sam}\nsequences:\n",
    ).replace("    steps:\n", "    starts_at: next tuesday\n    steps:\n")
    found = problems("- {id: a, type: email, subject: s, body: b}\n", head)
    assert any("unknown time zone 'Mars/Base'" in p for p in found), found
    assert any("f.yaml:10:16: 'starts_at': 'next tuesday' is not a date or date-time" in p for p in found), (
        found
    )
    found = problems(
        "- {id: a, type: email, subject: s, body: b}\n",
        HEAD.replace("sequences:\n", "owners:\n  - {key: sam}\n  - {key: sam}\nsequences:\n"),
    )
    assert any("duplicate key 'sam' in owners" in p for p in found), found


def test_mailbox_delivery_settings_are_checked() -> None:
    one_click = HEAD.replace('    from: "Ada <ada@example.com>"\n', '    from: "Ada <ada@example.com>"\n    list_unsubscribe: one-click\n')
    found = problems('- {id: a, type: email, subject: "s", body: "b"}\n', one_click)
    assert any("f.yaml:2:" in p and "one-click needs an unsubscribe_url or a tracking_url" in p for p in found), found
    bad = HEAD.replace('    from: "Ada <ada@example.com>"\n',
                       '    from: "Ada <ada@example.com>"\n    tls: always\n    reputation: {bounce_rate: 150%}\n')
    found = problems('- {id: a, type: email, subject: "s", body: "b"}\n', bad)
    assert any("f.yaml:4:" in p and "tls" in p for p in found), found
    assert any("f.yaml:5:" in p and "bounce_rate" in p for p in found), found
    fine = HEAD.replace('    from: "Ada <ada@example.com>"\n',
                        '    from: "Ada <ada@example.com>"\n    list_unsubscribe: none\n    reputation: {bounce_rate: 2%, complaint_rate: 0.1%}\n')
    spec = load_text(fine + '      - {id: a, type: email, subject: "s", body: "b"}\n', "f.yaml")
    assert spec.mailboxes[0].reputation.bounce_rate == 2 and spec.mailboxes[0].list_unsubscribe == "none"
