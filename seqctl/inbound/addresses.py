"""Telling an email address from the things bounces put where one is expected.

MTAs write pipe targets (`|/usr/bin/procmail`), file deliveries, source routes
(`@relay:user@example.com`), X.400 names, local parts cut short by a line limit
(`...serx@example.com`), internal routing names without a real domain
(`user@sims-ms-daemon`) and Message-IDs next to the recipient's address. Only a
plausible Internet address is ever taken for a recipient.
"""

from __future__ import annotations

import re

# A candidate in running text: not preceded by a character that could belong to it (a
# local part cut short at the start is then found whole, and rejected for its dots).
CANDIDATE = re.compile(r"(?<![A-Za-z0-9_%+'-])[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]{2,}")
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+=?^_`{}~-]+(?:\.[A-Za-z0-9!#$%&'*+=?^_`{}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{2,59})$")
# Local parts of the mail system itself, never a recipient of a sequence's email.
_DAEMON = re.compile(
    r"^(?:mailer[-_.]?daemon|mail[-_.]?daemon|post[-_.]?master|postoffice|mdaemon|"
    r"mail[-_.]?delivery(?:[-_.]system|[-_.]subsystem)?|mail[-_.]?administrator|bounces?|"
    r"double-bounce|nobody)$",
    re.I,
)


def clean(value: str | None) -> str | None:
    """The address in `value` (lower-cased), or None when it is not one an email could
    have been sent to."""
    if not value:
        return None
    text = value.strip()
    if ";" in text and text.split(";", 1)[0].strip().lower() in ("rfc822", "smtp", "x400", "x-local"):
        text = text.split(";", 1)[1]
    text = text.strip().strip("<>[]()\"' \t").rstrip(".,;:!?")
    if text.lower().startswith("mailto:"):
        text = text[7:]
    if text.startswith("@") and ":" in text:  # a source route: @relay,@relay2:user@domain
        text = text.rsplit(":", 1)[1]
    if text.count("@") != 1 or text.startswith(("|", "/")):
        return None
    local, domain = text.rsplit("@", 1)
    local = local.strip('"')
    if not local or len(local) > 64 or not _LOCAL.match(local):
        return None
    domain = domain.rstrip(".").lower()
    labels = domain.split(".")
    if len(labels) < 2 or len(domain) > 253 or not all(_LABEL.match(label) for label in labels):
        return None
    if not _TLD.match(labels[-1]) or labels[-1].isdigit():
        return None
    return f"{local}@{domain}".lower()


def is_daemon(address: str | None) -> bool:
    """The mail system's own address (mailer-daemon, postmaster …), with or without a domain."""
    if not address:
        return False
    return bool(_DAEMON.match(address.split("@", 1)[0].strip().strip("<>\"")))


def in_text(text: str) -> list[tuple[int, str]]:
    """(offset, address) of every valid address in the text, in order."""
    found = []
    for match in CANDIDATE.finditer(text):
        address = clean(match.group(0))
        if address is not None:
            found.append((match.start(), address))
    return found
