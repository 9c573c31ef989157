"""Signed tracking links: the open pixel, click redirects and one-click unsubscribe.

A token is `payload.signature`: the payload (what it is for, the Message-ID and, for a
click, the link's URL) in base64url, signed with HMAC-SHA256 under the operator's
secret. Only seqctl can make a token, so a forged or altered one is refused, and a click
redirect can only lead to a URL that seqctl itself put in an email. The kind is signed
too: a click token cannot be replayed as an unsubscribe.

Pure functions: no database, no clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
from dataclasses import dataclass

OPEN, CLICK, UNSUBSCRIBE = "o", "c", "u"
KINDS = (OPEN, CLICK, UNSUBSCRIBE)
_SIGNATURE_BYTES = 16  # 128 bits: forging one is out of reach, and links stay short
# An <a> tag's href, single- or double-quoted.
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Token:
    kind: str
    message_id: str
    url: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> bytes:
    return hmac.new(secret.encode(), b"seqctl-tracking:" + payload.encode(), hashlib.sha256).digest()[
        :_SIGNATURE_BYTES
    ]


def sign(secret: str, token: Token) -> str:
    body = {"k": token.kind, "m": token.message_id}
    if token.url is not None:
        body["u"] = token.url
    payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{payload}.{_b64(_signature(secret, payload))}"


def verify(secret: str, text: str) -> Token | None:
    """The token's content when its signature is right, else None (whatever is wrong)."""
    payload, _, signature = text.partition(".")
    try:
        if not hmac.compare_digest(_unb64(signature), _signature(secret, payload)):
            return None
        body = json.loads(_unb64(payload))
    except (ValueError, TypeError):
        return None
    if not isinstance(body, dict) or body.get("k") not in KINDS or not isinstance(body.get("m"), str):
        return None
    url = body.get("u")
    if url is not None and not isinstance(url, str):
        return None
    return Token(body["k"], body["m"], url)


def tracking_url(base_url: str, secret: str, token: Token) -> str:
    path = {OPEN: "o", CLICK: "c", UNSUBSCRIBE: "u"}[token.kind]
    suffix = ".gif" if token.kind == OPEN else ""
    return f"{base_url.rstrip('/')}/{path}/{sign(secret, token)}{suffix}"


def track_html(
    body: str, *, base_url: str, secret: str, message_id: str, opens: bool, clicks: bool
) -> str:
    """The HTML with its http(s) links sent through the click redirect and an open pixel
    at the end of the body. mailto: and other links are left alone."""
    if clicks:

        def rewrite(match: re.Match[str]) -> str:
            target = html.unescape(match.group(3)).strip()
            if not target.lower().startswith(("http://", "https://")):
                return match.group(0)
            tracked = tracking_url(base_url, secret, Token(CLICK, message_id, target))
            return f"{match.group(1)}{match.group(2)}{html.escape(tracked)}{match.group(2)}"

        body = _HREF.sub(rewrite, body)
    if opens:
        pixel_url = html.escape(tracking_url(base_url, secret, Token(OPEN, message_id)))
        pixel = f'<img src="{pixel_url}" width="1" height="1" alt="" style="display:none">'
        ends = list(_BODY_END.finditer(body))
        body = body[: ends[-1].start()] + pixel + body[ends[-1].start() :] if ends else body + pixel
    return body


# -- telling a person from a machine ------------------------------------------------------

# Link scanners of mail security gateways and link-preview bots: they fetch every link
# and image of a message, usually the moment it arrives. (Image proxies that fetch when
# the person opens the mail, such as Gmail's, are not among them.)
_SCANNER_AGENTS = re.compile(
    r"barracuda|mimecast|proofpoint|ppops|urldefense|messagelabs|symantec|trend ?micro|forcepoint|"
    r"fortiguard|sophos|zscaler|safelinks|cisco|ironport|bingpreview|microsoft office|ms-office|"
    r"python-requests|python-urllib|aiohttp|curl/|wget/|go-http-client|okhttp|java/|libwww|httpclient|"
    r"headless|phantomjs|slackbot|facebookexternalhit|linkedinbot|twitterbot|whatsapp|discordbot|"
    r"\bbot\b|crawler|spider|scanner|preview",
    re.IGNORECASE,
)
SECONDS_AFTER_SEND = 10  # no person opens a message, let alone clicks, this soon
BURST_SECONDS = 2  # several different links of one message clicked within this: a scanner


def automated_reason(
    *,
    method: str,
    user_agent: str | None,
    seconds_since_sent: float | None,
    other_links_clicked_within_burst: int = 0,
) -> str | None:
    """Why a request looks like a machine rather than the recipient, or None.
    (`user_agent` None: not known, as in a provider's export; "" : the request sent none.)"""
    if method == "HEAD":
        return "HEAD request"
    if user_agent is not None and not user_agent.strip():
        return "no user agent"
    if user_agent and _SCANNER_AGENTS.search(user_agent):
        return "scanner user agent"
    if seconds_since_sent is not None and seconds_since_sent < SECONDS_AFTER_SEND:
        return f"within {SECONDS_AFTER_SEND}s of sending"
    if other_links_clicked_within_burst:
        return "every link at once"
    return None
