"""Which step comes next, whether an enrollment must exit, which variant to send.

Pure functions over facts the caller loaded; no database, no clock (`now` is passed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase

from seqctl.spec.models import END, Condition, Sequence, Variant


@dataclass(frozen=True)
class EventFact:
    """An engagement or delivery event as it concerns one enrollment.

    `step_id` is set when the event is linked (by Message-ID) to a message this
    enrollment sent; unlinked events of the contact carry None.
    """

    type: str
    occurred_at: datetime
    step_id: str | None = None
    detail: str | None = None
    url: str | None = None  # a click's link
    automated: bool = False  # an open or click that looks like a mail scanner, not the person


def exit_reason(exit_on: Iterable[str], events: Iterable[EventFact]) -> str | None:
    """The exit reason of the earliest event that the sequence exits on, if any.

    A bounce, hard or soft, is a message that was not delivered (delay notices are no
    events), so `bounced` stops both. A spam complaint always stops the enrollment.
    """
    wanted = {*exit_on, "complained"}
    for event in sorted(events, key=lambda e: e.occurred_at):
        if event.type in wanted:
            return event.type
    return None


def condition_holds(
    condition: Condition,
    events: Iterable[EventFact],
    sent_at: Mapping[str, datetime],
    now: datetime,
) -> bool:
    """Evaluate a branch's `if` against the enrollment's events.

    With `step`, only events of that step's message count (an unlinked event counts
    when it came after that message was sent); `within` limits them to that long after
    the send, or, without `step`, to that long before `now`. Opens and clicks that look
    automated count only with `automated: true`; `url` keeps the clicks on matching links.
    """
    matched = False
    for event in events:
        if event.type != condition.event:
            continue
        if event.automated and not condition.automated:
            continue
        if condition.url is not None and not fnmatchcase(event.url or "", condition.url):
            continue
        if condition.step is not None:
            step_sent = sent_at.get(condition.step)
            if step_sent is None:
                continue
            if event.step_id is not None and event.step_id != condition.step:
                continue
            if event.step_id is None and event.occurred_at < step_sent:
                continue
            if (
                condition.within is not None
                and event.occurred_at > step_sent + condition.within.as_timedelta()
            ):
                continue
        elif condition.within is not None and event.occurred_at < now - condition.within.as_timedelta():
            continue
        if event.occurred_at > now:
            continue
        matched = True
        break
    return matched != condition.negate


def following_step(sequence: Sequence, step_id: str, chosen: str | None = None) -> str | None:
    """The step after `step_id` (or the branch's `chosen` way); None at the end."""
    if chosen is not None:
        return None if chosen == END else chosen
    index = sequence.step_ids().index(step_id)
    options = sequence.successors(index)
    if not options or options[0] == END:
        return None
    return options[0]


def choose_variant(variants: list[Variant], enrollment_id: int, step_id: str) -> Variant:
    """A variant picked by weight, the same one every time for this enrollment and step."""
    digest = hashlib.sha256(f"{enrollment_id}:{step_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % sum(v.weight for v in variants)
    for variant in variants:
        if point < variant.weight:
            return variant
        point -= variant.weight
    return variants[-1]
