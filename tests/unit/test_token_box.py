"""Sealing secrets kept in the database: they open only with the same SEQCTL_SECRET and
context, and the sealed text does not contain them."""

from __future__ import annotations

import pytest

from seqctl.token_box import SealBroken, open_sealed, seal

SECRET = "s" * 32


def test_a_sealed_token_opens_with_the_same_secret_and_context_only() -> None:
    sealed = seal(SECRET, "mailbox:ada", b'{"refresh_token": "1//0g-very-secret"}')
    assert sealed.startswith("v1:") and "very-secret" not in sealed
    assert open_sealed(SECRET, "mailbox:ada", sealed) == b'{"refresh_token": "1//0g-very-secret"}'
    with pytest.raises(SealBroken):
        open_sealed("t" * 32, "mailbox:ada", sealed)  # another secret
    with pytest.raises(SealBroken):
        open_sealed(SECRET, "mailbox:bob", sealed)  # moved to another mailbox


def test_an_altered_or_foreign_value_does_not_open() -> None:
    sealed = seal(SECRET, "mailbox:ada", b"token")
    flipped = sealed[:-4] + ("A" if sealed[-4] != "A" else "B") + sealed[-3:]
    for bad in (flipped, "v1:not base64!", "plain text", "v1:"):
        with pytest.raises(SealBroken):
            open_sealed(SECRET, "mailbox:ada", bad)


def test_each_seal_uses_a_new_nonce() -> None:
    assert seal(SECRET, "c", b"same") != seal(SECRET, "c", b"same")
