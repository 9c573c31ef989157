"""Mail server URLs (`smtp://user:pass@host:587`, `imaps://…/INBOX`), parsed in one place.

These URLs carry passwords, so a URL that does not parse is described, never echoed: a
password with an unencoded `/`, `#`, `?` or `@` moves the host into the path or the query,
and urllib's own errors (`Port could not be cast to integer value as 'Sm7pFrag'`) quote
the fragment they choked on, which is part of the password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from seqctl.errors import InvalidInput

_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_IP_ADDRESS = re.compile(r"^[0-9a-fA-F:.]+$")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class ServerUrl:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    path: str
    query: str


def parse_server_url(url: str, *, kind: str, ports: dict[str, int], example: str) -> ServerUrl:
    """The URL's parts, user and password percent-decoded; InvalidInput that names `kind`
    ("SMTP URL") and shows `example`, never the URL. `ports` maps each allowed scheme to
    its default port."""
    invalid = InvalidInput(
        f"{kind} is not valid (user:password must be percent-encoded, e.g. / as %2F): "
        f"write it like {example}"
    )
    if _CONTROL.search(url):
        raise invalid
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise invalid from None
    # An unencoded '/', '?' or '#' in the password ends the authority early: the rest,
    # '@host' included, lands in the path, query or fragment.
    if parts.fragment or "@" in parts.path or "@" in parts.query or "#" in url:
        raise invalid
    if parts.scheme not in ports or not host or not _is_host(host):
        raise invalid
    return ServerUrl(
        scheme=parts.scheme,
        host=host,
        port=port or ports[parts.scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        path=unquote(parts.path),
        query=parts.query,
    )


def _is_host(host: str) -> bool:
    """A DNS name (label by label: one pattern over the whole name backtracks exponentially
    on a long invalid one) or an IP address."""
    if _IP_ADDRESS.match(host):
        return True
    return len(host) <= 253 and all(_LABEL.match(label) for label in host.removesuffix(".").split("."))
