"""POSTing a notification: one request, a timeout, and what went wrong in one line."""

from __future__ import annotations

import requests


class Poster:
    """POSTs over kept-alive connections for one delivery run."""

    def __enter__(self) -> Poster:
        self.session = requests.Session()
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    def post(self, url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> str | None:
        return post(url, body, headers, timeout=timeout, session=self.session)


def post(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, session: requests.Session | None = None
) -> str | None:
    """None when the receiver took it (2xx), else why not (never the URL: a Slack webhook
    URL is a secret)."""
    try:
        answer = (session or requests).post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        return f"no answer within {timeout:.0f} s"
    except requests.RequestException as exc:
        return f"cannot reach the receiver ({type(exc).__name__})"
    if 200 <= answer.status_code < 300:
        return None
    return f"the receiver answered {answer.status_code}"


PING_TIMEOUT_S = 5.0


def ping(url: str, body: str = "") -> None:
    """A health-check ping (Healthchecks.io's convention); one that fails is ignored: the
    ping reports on the run, it never fails it."""
    try:
        requests.post(url, data=body.encode()[:10_000], timeout=PING_TIMEOUT_S)
    except requests.RequestException:
        pass
