"""The reputation breaker (SPEC §5): when a mailbox's recent sends bounce or draw spam
complaints past its thresholds, it stops sending until an operator has looked.

Pure: counts in, a verdict out. Rates are over a fixed window of the mailbox's last
sends (default 100), not over however few it has sent so far, so a mailbox's first
bounce does not pause it, and "more than 5 of the last 100" is what 5% means.
"""

from __future__ import annotations


def breaker_reason(
    *, bounced: int, complained: int, window: int, bounce_rate: float, complaint_rate: float
) -> str | None:
    """Why the mailbox must pause, or None. Rates are percentages of `window`."""
    if complained * 100 > complaint_rate * window:
        return (
            f"reputation: {complained} spam complaint{'s' if complained != 1 else ''} in the last {window} sends "
            f"(limit {complaint_rate:g}%); check the list and the content, then run seqctl mailbox resume"
        )
    if bounced * 100 > bounce_rate * window:
        return (
            f"reputation: {bounced} bounces in the last {window} sends (limit {bounce_rate:g}%: hard, blocked, "
            "auth_failed, rate_limited); check the list, SPF/DKIM/DMARC and blocklists, then run seqctl mailbox resume"
        )
    return None
