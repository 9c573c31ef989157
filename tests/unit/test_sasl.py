"""SASL for bearer tokens: the exact messages XOAUTH2 and OAUTHBEARER (RFC 7628) take."""

from __future__ import annotations

import json

import pytest

from seqctl.delivery import sasl


def test_xoauth2_is_user_auth_and_two_separators() -> None:
    message = sasl.initial_response(sasl.XOAUTH2, "ada@acme.example", "ya29.token", host="h", port=587)
    assert message == b"user=ada@acme.example\x01auth=Bearer ya29.token\x01\x01"


def test_oauthbearer_has_the_gs2_header_host_port_and_escaped_authzid() -> None:
    message = sasl.initial_response(sasl.OAUTHBEARER, "a,b=c@x.example", "tok", host="imap.x.example", port=993)
    assert message == b"n,a=a=2Cb=3Dc@x.example,\x01host=imap.x.example\x01port=993\x01auth=Bearer tok\x01\x01"


def test_the_mechanism_prefers_xoauth2_and_takes_oauthbearer_alone() -> None:
    assert sasl.mechanism({"PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"}) == "XOAUTH2"
    assert sasl.mechanism({"plain", "oauthbearer"}) == "OAUTHBEARER"
    assert sasl.mechanism({"PLAIN", "LOGIN"}) is None


@pytest.mark.parametrize("bad", ["", "to\x01ken", "tok\nen"])
def test_a_token_or_user_that_could_break_the_message_is_refused(bad: str) -> None:
    with pytest.raises(ValueError) as refused:
        sasl.initial_response(sasl.XOAUTH2, "ada@x.example", bad, host="h", port=1)
    assert bad.strip() == "" or bad not in str(refused.value)


def test_a_failure_is_described_in_one_line_from_the_json_challenge() -> None:
    challenge = json.dumps({"status": "invalid_token", "scope": "mail"}).encode()
    assert sasl.describe_failure(challenge) == "the server refused the token (invalid_token; it wants scope mail)"
    assert sasl.describe_failure(b"not json!") == "the server refused the token"
    assert sasl.describe_failure(b'{"status": "bad\\u001b[31m"}') == "the server refused the token (bad[31m)"


def test_an_exchange_sends_the_initial_response_then_answers_the_error_challenge() -> None:
    exchange = sasl.BearerExchange(sasl.OAUTHBEARER, "ada@x.example", "tok", host="h", port=993)
    assert exchange(b"").startswith(b"n,a=ada@x.example,")
    assert exchange(b'{"status": "invalid_token"}') == b"\x01"
    assert exchange.refusal == "the server refused the token (invalid_token)"
    assert sasl.failure_answer(sasl.OAUTHBEARER) == b"\x01" and sasl.failure_answer(sasl.XOAUTH2) == b""
