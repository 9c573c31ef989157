"""Signed tracking links, HTML rewriting and telling scanners from people (pure)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from seqctl.delivery.tracking import (
    CLICK,
    OPEN,
    UNSUBSCRIBE,
    Token,
    automated_reason,
    sign,
    track_html,
    tracking_url,
    verify,
)
from seqctl.engine.flow import EventFact, condition_holds
from seqctl.spec.models import Condition
from tests.conftest import at

SECRET = "0123456789abcdef-test-secret"
MID = "<abc123@example.com>"


def test_a_token_round_trips_and_anything_altered_is_refused() -> None:
    token = Token(CLICK, MID, "https://example.com/pricing?a=1&b=2")
    text = sign(SECRET, token)
    assert verify(SECRET, text) == token
    assert verify("another-secret-of-16-chars", text) is None
    payload, signature = text.split(".")
    evil = base64.urlsafe_b64encode(
        json.dumps({"k": "c", "m": MID, "u": "https://evil.example"}).encode()
    ).rstrip(b"=").decode()
    assert verify(SECRET, f"{evil}.{signature}") is None
    assert verify(SECRET, payload) is None
    assert verify(SECRET, "") is None and verify(SECRET, "!!!.???") is None
    assert verify(SECRET, sign(SECRET, Token(UNSUBSCRIBE, MID))) == Token(UNSUBSCRIBE, MID)


def test_html_links_go_through_the_redirect_and_a_pixel_ends_the_body() -> None:
    html = (
        '<html><body><p><a href="https://example.com/a?x=1&amp;y=2">A</a> '
        "<a class='b' href='http://example.com/b'>B</a> "
        '<a href="mailto:ada@example.com">mail</a> <a href="#top">top</a></p></body></html>'
    )
    tracked = track_html(html, base_url="https://t.example.com/", secret=SECRET, message_id=MID, opens=True, clicks=True)
    assert 'href="mailto:ada@example.com"' in tracked and 'href="#top"' in tracked
    assert tracked.count("https://t.example.com/c/") == 2
    first = tracked.split('href="https://t.example.com/c/')[1].split('"')[0]
    assert verify(SECRET, first) == Token(CLICK, MID, "https://example.com/a?x=1&y=2")
    assert tracked.index("https://t.example.com/o/") < tracked.index("</body>")
    pixel = tracked.split("https://t.example.com/o/")[1].split(".gif")[0]
    assert verify(SECRET, pixel) == Token(OPEN, MID)
    only_clicks = track_html("<p>hi</p>", base_url="https://t", secret=SECRET, message_id=MID, opens=False, clicks=True)
    assert only_clicks == "<p>hi</p>"
    assert tracking_url("https://t.example.com", SECRET, Token(UNSUBSCRIBE, MID)).startswith("https://t.example.com/u/")


BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko)"


@pytest.mark.parametrize(
    ("method", "agent", "since", "burst", "reason"),
    [
        ("GET", BROWSER, 3600.0, 0, None),
        ("GET", BROWSER, None, 0, None),
        ("HEAD", BROWSER, 3600.0, 0, "HEAD request"),
        ("GET", "", 3600.0, 0, "no user agent"),
        ("GET", "Mozilla/5.0 (compatible; Mimecast URL Protect)", 3600.0, 0, "scanner user agent"),
        ("GET", "python-requests/2.31", 3600.0, 0, "scanner user agent"),
        ("GET", BROWSER, 3.0, 0, "within 10s of sending"),
        ("GET", BROWSER, 3600.0, 2, "every link at once"),
    ],
)
def test_what_looks_automated(method: str, agent: str, since: float | None, burst: int, reason: str | None) -> None:
    assert automated_reason(
        method=method, user_agent=agent, seconds_since_sent=since, other_links_clicked_within_burst=burst
    ) == reason


def test_branches_skip_automated_events_and_can_narrow_clicks_to_a_url() -> None:
    sent = {"intro": at("2026-11-23T10:00:00+00:00")}
    now = at("2026-11-25T10:00:00+00:00")
    scanner = EventFact("clicked", at("2026-11-23T10:00:02+00:00"), "intro", None, "https://x.com/pricing", True)
    person = EventFact("clicked", at("2026-11-23T12:00:00+00:00"), "intro", None, "https://x.com/blog", False)
    clicked = Condition.model_validate({"event": "clicked", "step": "intro"})
    pricing = Condition.model_validate({"event": "clicked", "step": "intro", "url": "*/pricing*"})
    pricing_any = Condition.model_validate({"event": "clicked", "url": "*/pricing*", "automated": True})
    assert condition_holds(clicked, [scanner], sent, now) is False
    assert condition_holds(clicked, [scanner, person], sent, now) is True
    assert condition_holds(pricing, [scanner, person], sent, now) is False
    assert condition_holds(pricing_any, [scanner, person], sent, now) is True
    within = Condition.model_validate({"event": "clicked", "step": "intro", "within": "1h"})
    assert condition_holds(within, [person], sent, now) is False
    assert condition_holds(within, [person], sent, now - timedelta(days=3)) is False
    with pytest.raises(ValueError, match="use it with event: clicked"):
        Condition.model_validate({"event": "opened", "url": "*"})
