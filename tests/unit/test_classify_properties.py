"""Properties of the inbound classifier on generated input, checked against simple
independent oracles rather than the implementation's own regular expressions."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from seqctl.inbound import addresses, reasons
from seqctl.inbound.classify import AUTO_REPLY, BOUNCE, COMPLAINT, DELIVERY_REPORT, classify

WORDS = st.sampled_from(
    "thanks for the note happy to talk next week send me the deck pricing looks fine who else should join "
    "our team meets on thursday let me check with finance could you share a case study".split()
)
SENTENCES = st.lists(WORDS, min_size=3, max_size=40).map(" ".join)
NAMES = st.from_regex(r"[a-z]{2,10}(\.[a-z]{2,10})?", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(body=st.lists(SENTENCES, min_size=1, max_size=6), name=NAMES, subject=SENTENCES)
def test_a_person_writing_is_never_a_report_or_an_auto_reply(body: list[str], name: str, subject: str) -> None:
    raw = (
        f"From: {name.title()} <{name}@example.org>\r\nTo: ada@example.com\r\nSubject: Re: {subject}\r\n"
        f"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{name}.1@example.org>\r\n\r\n"
        + "\r\n\r\n".join(body) + "\r\n"
    ).encode()
    assert classify(raw).kind not in (BOUNCE, COMPLAINT, DELIVERY_REPORT, AUTO_REPLY)


def _is_plausible(address: str) -> bool:
    """The oracle: one @, a local part of atoms joined by single dots, a dotted domain of
    letter/digit/hyphen labels ending in an alphabetic TLD."""
    if address.count("@") != 1:
        return False
    local, domain = address.split("@")
    atoms, labels = local.split("."), domain.split(".")
    return (
        all(atoms) and not any(c in local for c in "|/ <>()[]\\,;:\"")
        and len(labels) >= 2 and all(labels) and labels[-1].isalpha()
        and all(re.fullmatch(r"[a-z0-9-]+", label) and not label.startswith("-") for label in labels)
    )  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab.@-_|/:;<>x1 "), max_size=30))
def test_only_plausible_addresses_are_taken_for_recipients(text: str) -> None:
    found = addresses.clean(text)
    if found is not None:
        assert _is_plausible(found), found
        assert addresses.clean(found) == found


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.integers(0, 99), min_size=4, max_size=6),
    status=st.sampled_from(["5.1.1", "4.2.2", "5.7.26"]),
    before=st.booleans(),
)
def test_a_version_number_is_never_taken_for_the_status(parts: list[int], status: str, before: bool) -> None:
    version = ".".join(str(p) for p in parts)  # four or more dotted numbers: a version, not a status
    text = f"Postfix {version} said: 550 {status} no" if before else f"550 {status} no (Postfix {version})"
    assert reasons.first_status(text) == status
    assert reasons.first_status(f"This is Postfix {version}.") is None


@given(st.sampled_from(reasons.REASONS))
def test_hard_means_the_address_is_gone(reason: str) -> None:
    assert reasons.is_hard(reason) == (reason in ("user_unknown", "host_unknown"))


def test_a_three_part_version_is_not_a_status_either() -> None:
    assert reasons.first_status("This is the Postfix 4.2.13 program at host mx") is None
    assert reasons.first_status("Exim/4.96.1 said: 550 5.1.1 no such user") == "5.1.1"
    assert reasons.first_status("(version 5.1.1) 451 4.3.0 try later") == "4.3.0"
