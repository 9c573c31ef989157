"""Which company an address belongs to (Public Suffix List; free mail is no company)."""

from __future__ import annotations

import pytest

from seqctl.engine.domains import company_domain, registrable_domain


@pytest.mark.parametrize(
    ("email", "company"),
    [
        ("ada@acme.com", "acme.com"),
        ("ada@mail.eu.acme.com", "acme.com"),
        ("ada@acme.co.uk", "acme.co.uk"),
        ("ada@sales.acme.co.uk", "acme.co.uk"),
        ("ada@acme.com.au", "acme.com.au"),
        ("ada@acme.github.io", "acme.github.io"),  # a private suffix: each site is its own
        ("ada@gmail.com", None),
        ("ada@googlemail.com", None),
        ("ada@outlook.com", None),
        ("ada@gmx.de", None),
        ("ada@yahoo.co.uk", None),
        ("ada@hey.com", None),
        ("ada@localhost", None),
        ("ada@co.uk", None),
    ],
)
def test_company_domain(email: str, company: str | None) -> None:
    assert company_domain(email) == company


def test_registrable_domain_of_a_bare_suffix_is_none() -> None:
    assert registrable_domain("com") is None and registrable_domain("") is None
