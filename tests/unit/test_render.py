from __future__ import annotations

import email
import email.policy

import pytest

from seqctl.delivery.message import Outgoing, build, thread_subject
from seqctl.delivery.render import contact_context, render, template_syntax_error
from seqctl.errors import TemplateProblem
from tests.conftest import at


def ctx(**fields: str) -> dict[str, object]:
    return {"contact": contact_context("x@example.com", fields, [])}


def test_missing_variable_names_the_field() -> None:
    with pytest.raises(TemplateProblem, match=r"contact\.first_name is not set"):
        render("Hi {{ contact.first_name }},", ctx(company="Acme"), what="body")


def test_empty_field_counts_as_missing_and_default_works() -> None:
    with pytest.raises(TemplateProblem):
        render("Hi {{ contact.first_name }},", ctx(first_name=""))
    assert render("Hi {{ contact.first_name | default('there') }},", ctx()) == "Hi there,"


def test_html_escapes_contact_data_but_text_does_not() -> None:
    evil = "<script>alert(1)</script>"
    assert "&lt;script&gt;" in render("<p>{{ contact.company }}</p>", ctx(company=evil), html=True)
    assert render("{{ contact.company }}", ctx(company=evil)) == evil


def test_sandbox_blocks_attribute_escapes() -> None:
    with pytest.raises(TemplateProblem):
        render("{{ contact.__class__.__mro__ }}", ctx())
    with pytest.raises(TemplateProblem):
        render("{{ ''.__class__.__subclasses__() }}", ctx())


def test_syntax_errors_are_reported_with_the_template_line() -> None:
    assert "line 2" in (template_syntax_error("ok\n{{ contact.name ") or "")
    assert template_syntax_error("{{ contact.name }}") is None


def test_thread_subject_never_doubles_re() -> None:
    assert thread_subject("Quick question") == "Re: Quick question"
    assert thread_subject("Re: RE: Quick question") == "Re: Quick question"


def test_contact_data_cannot_inject_headers() -> None:
    raw = build(Outgoing(
        sender="Ada <ada@example.com>", recipient="eve@example.com",
        recipient_name="Eve\r\nBcc: victim@example.com", subject="Hello\r\nX-Evil: 1\nBcc: a@b.c",
        text="body", html=None, message_id="<1@example.com>", date=at("2026-11-23T15:00:00Z"),
    ))  # fmt: skip
    parsed = email.message_from_string(raw, policy=email.policy.default)
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert "\n" not in str(parsed["Subject"]) and "Hello" in str(parsed["Subject"])
    assert parsed["To"].addresses[0].addr_spec == "eve@example.com"


def test_list_unsubscribe_one_click_only_with_an_https_url() -> None:
    base = {
        "sender": "Ada <ada@example.com>",
        "recipient": "x@example.com",
        "recipient_name": "",
        "subject": "s",
        "text": "t",
        "html": None,
        "message_id": "<1@example.com>",
        "date": at("2026-11-23T15:00:00Z"),
    }
    plain = email.message_from_string(build(Outgoing(**base)), policy=email.policy.default)  # type: ignore[arg-type]
    assert plain["List-Unsubscribe"] == "<mailto:ada@example.com?subject=unsubscribe>"
    assert plain["List-Unsubscribe-Post"] is None
    one_click = email.message_from_string(
        build(Outgoing(**base, unsubscribe_url="https://u.example.com/x")), policy=email.policy.default
    )  # type: ignore[arg-type]
    assert one_click["List-Unsubscribe"].startswith("<https://u.example.com/x>")
    assert one_click["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
