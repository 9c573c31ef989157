"""What an erased address leaves behind: a keyed one-way digest, kept on the suppression
list so the address is never mailed again although it is stored nowhere.

The key is SEQCTL_SECRET: without it, the digest of a guessed address cannot be computed,
so a list of candidate addresses cannot be checked against the database.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "erased:"


def address_digest(email: str, key: str) -> str:
    """`erased:` and the HMAC-SHA256 of the lower-cased address, in hex."""
    return PREFIX + hmac.new(key.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()
