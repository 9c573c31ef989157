from __future__ import annotations

from collections import Counter
from datetime import timedelta

from seqctl.engine.flow import EventFact, choose_variant, condition_holds, exit_reason
from seqctl.spec.models import Condition, Variant
from tests.conftest import at

SENT = {"bump": at("2026-11-23T15:00:00Z")}
NOW = at("2026-11-26T15:00:00Z")


def cond(**kwargs: object) -> Condition:
    return Condition.model_validate(kwargs)


def test_opened_linked_to_the_named_step_holds() -> None:
    events = [EventFact("opened", at("2026-11-23T16:00:00Z"), step_id="bump")]
    assert condition_holds(cond(event="opened", step="bump"), events, SENT, NOW)


def test_opened_of_another_step_does_not_count() -> None:
    events = [EventFact("opened", at("2026-11-23T16:00:00Z"), step_id="intro")]
    assert not condition_holds(cond(event="opened", step="bump"), events, SENT, NOW)


def test_within_limits_the_window_after_the_send() -> None:
    late = [EventFact("opened", at("2026-11-25T16:00:00Z"), step_id="bump")]
    assert not condition_holds(cond(event="opened", step="bump", within="1d"), late, SENT, NOW)
    assert condition_holds(cond(event="opened", step="bump", within="3d"), late, SENT, NOW)


def test_negation() -> None:
    assert condition_holds(cond(event="replied", **{"not": True}), [], SENT, NOW)


def test_unlinked_event_before_the_step_was_sent_does_not_count() -> None:
    early = [EventFact("opened", SENT["bump"] - timedelta(hours=1))]
    assert not condition_holds(cond(event="opened", step="bump"), early, SENT, NOW)


def test_exit_reason_takes_the_earliest_and_a_soft_bounce_stops_too() -> None:
    events = [
        EventFact("bounced", at("2026-11-23T10:00:00Z"), detail="soft"),
        EventFact("replied", at("2026-11-24T10:00:00Z")),
        EventFact("unsubscribed", at("2026-11-25T10:00:00Z")),
    ]
    assert exit_reason(["replied", "bounced", "unsubscribed"], events) == "bounced"
    assert exit_reason(["replied", "unsubscribed"], events) == "replied"
    assert exit_reason(["meeting_booked"], events) is None


def test_a_complaint_always_stops() -> None:
    assert exit_reason([], [EventFact("complained", at("2026-11-23T10:00:00Z"))]) == "complained"


def test_variants_are_deterministic_and_follow_weights() -> None:
    variants = [Variant(id="a", body="x", weight=3), Variant(id="b", body="y", weight=1)]
    assert choose_variant(variants, 7, "s").id == choose_variant(variants, 7, "s").id
    counts = Counter(choose_variant(variants, n, "s").id for n in range(4000))
    assert 2800 < counts["a"] < 3200
