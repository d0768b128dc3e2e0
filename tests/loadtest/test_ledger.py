"""The invariants, from what the simulated parties saw (pure; times are plain numbers)."""

from __future__ import annotations

import pytest

from switchboard.loadtest.ledger import Holdings, Ledger, percentiles, waiting_over_time


def ledger_with(*pids: str, bad: tuple[str, ...] = ()) -> Ledger:
    ledger = Ledger()
    for i, pid in enumerate(pids):
        ledger.planned(pid, customer=i, channel="whatsapp", scheduled=float(i))
        ledger.sent(pid, float(i))
    for pid in bad:
        ledger.planned(pid, customer=99, channel="whatsapp", scheduled=0.0, bad=True)
        ledger.sent(pid, 0.0)
    return ledger


# -- capacity ------------------------------------------------------------------------------------


def test_capacity_counts_each_moment_above_the_limit() -> None:
    h = Holdings("a", capacity=2)
    assert not h.assigned("c1")
    assert not h.assigned("c2")
    assert h.assigned("c3")  # three at once: a violation
    h.closed("c3")
    assert h.assigned("c4")  # three again (c1, c2, c4): another moment above
    assert h.violations == 2
    assert h.peak == 3


def test_the_same_chat_announced_twice_is_held_once() -> None:
    h = Holdings("a", capacity=1)
    assert not h.hello(["c1"], [])
    assert not h.assigned("c1")  # the hello listed it, then its assigned event came
    assert h.violations == 0


def test_parked_chats_hold_no_slot_and_unpark_takes_one_again() -> None:
    h = Holdings("a", capacity=1)
    h.assigned("c1")
    h.parked_chat("c1")
    assert not h.assigned("c2")
    assert h.parked == {"c1"}
    assert h.unparked("c1")  # back while c2 is active: above capacity
    assert h.parked == set()


def test_hello_replaces_the_view() -> None:
    h = Holdings("a", capacity=2)
    h.assigned("c1")
    h.assigned("c2")
    assert h.hello(["c3", "c4", "c5"], ["c6"])  # the server says three active: violation
    assert (h.active, h.parked) == ({"c3", "c4", "c5"}, {"c6"})
    assert not h.hello([], ["c6"])


def test_ledger_counts_violations_from_activations() -> None:
    ledger = Ledger()
    ledger.agent("a", 1)
    assert not ledger.activated("a", "c1", 1.0)
    assert ledger.activated("a", "c2", 2.0)
    assert ledger.violations == 1
    assert ledger.invariants()["capacity_violations"] == 1


# -- lost and duplicated -------------------------------------------------------------------------


def test_lost_is_accepted_but_never_at_an_agent() -> None:
    ledger = ledger_with("m1", "m2", "m3")
    ledger.agent("a", 5)
    for pid in ("m1", "m2", "m3"):
        ledger.answered(pid, 200, {"accepted": 1, "duplicates": 0}, 5.0)
    ledger.delivered("a", "c1", "m1", 6.0)
    ledger.recovered("m2")  # read from the transcript after a reconnect
    counts = ledger.invariants()
    assert counts["lost"] == 1
    assert [m.pid for m in ledger.undelivered()] == ["m3"]
    assert counts["delivered_to_agents"] == 2
    assert counts["recovered_after_reconnect"] == 1


def test_a_message_refused_by_the_webhook_is_not_lost() -> None:
    ledger = ledger_with("m1")
    ledger.answered("m1", 503, None, 1.0)
    counts = ledger.invariants()
    assert (counts["lost"], counts["not_accepted"]) == (0, 1)


def test_a_second_live_delivery_is_a_duplicate_wherever_it_goes() -> None:
    ledger = ledger_with("m1")
    ledger.answered("m1", 200, {"accepted": 1}, 1.0)
    assert ledger.delivered("a", "c1", "m1", 2.0)
    assert not ledger.delivered("a", "c1", "m1", 3.0)
    assert not ledger.delivered("b", "c9", "m1", 4.0)
    assert ledger.invariants()["duplicated"] == 2


def test_a_transcript_after_a_live_delivery_is_no_duplicate() -> None:
    ledger = ledger_with("m1")
    ledger.answered("m1", 200, {"accepted": 1}, 1.0)
    ledger.delivered("a", "c1", "m1", 2.0)
    ledger.recovered("m1")
    counts = ledger.invariants()
    assert (counts["duplicated"], counts["delivered_to_agents"]) == (0, 1)
    assert ledger.delivered_count == 1


def test_retries_must_be_taken_as_repeats() -> None:
    ledger = ledger_with("m1", "m2")
    ledger.answered("m1", 200, {"accepted": 1, "duplicates": 0}, 1.0)
    ledger.answered("m2", 200, {"accepted": 1, "duplicates": 0}, 1.0)
    ledger.retried("m1", 200, {"accepted": 0, "duplicates": 1}, 2.0)
    ledger.retried("m2", 200, {"accepted": 1, "duplicates": 0}, 2.0)  # taken as new
    counts = ledger.invariants()
    assert (counts["retried_duplicates_sent"], counts["dedupe_failures"]) == (2, 1)


def test_a_retry_answered_when_the_first_try_failed_counts_as_accepted() -> None:
    ledger = ledger_with("m1")
    ledger.failed("m1")
    ledger.retried("m1", 200, {"accepted": 1, "duplicates": 0}, 2.0)
    assert ledger.invariants()["accepted"] == 1
    assert ledger.invariants()["lost"] == 1


def test_forged_webhooks_must_be_refused_and_never_delivered() -> None:
    ledger = ledger_with("m1", bad=("x1", "x2"))
    ledger.answered("m1", 200, {"accepted": 1}, 1.0)
    ledger.answered("x1", 401, None, 1.0)
    ledger.answered("x2", 200, {"accepted": 1}, 1.0)
    ledger.delivered("a", "c1", "x2", 2.0)
    counts = ledger.invariants()
    assert counts["bad_signatures_sent"] == 2
    assert counts["bad_signature_accepted"] == 1
    assert counts["unsigned_delivered"] == 1
    assert counts["sent"] == 1  # only real customer messages count as sent
    assert counts["lost"] == 1


def test_deliveries_of_unknown_ids_are_counted_apart() -> None:
    ledger = ledger_with("m1")
    assert not ledger.delivered("a", "c1", "someone-else", 1.0)
    assert ledger.unknown_deliveries == 1


# -- latency -------------------------------------------------------------------------------------


def test_latency_splits_in_chat_from_routed_messages() -> None:
    ledger = ledger_with("m1", "m2", "m3")  # sent at 0, 1, 2
    ledger.agent("a", 5)
    ledger.activated("a", "c1", 0.5)  # assigned after m1 was sent: m1 was routed
    ledger.delivered("a", "c1", "m1", 0.6)
    ledger.delivered("a", "c1", "m2", 1.01)  # in chat: 10 ms
    ledger.holdings["a"].parked_chat("c1")
    ledger.activated("a", "c1", 2.5)  # unparked by m3: routed
    ledger.delivered("a", "c1", "m3", 2.6)
    in_chat, routed = ledger.latencies()
    assert in_chat == [pytest.approx(0.01)]
    assert sorted(routed) == [pytest.approx(0.6), pytest.approx(0.6)]


def test_a_chat_that_moved_to_another_agent_is_routed_again() -> None:
    ledger = ledger_with("m1", "m2")
    ledger.agent("a", 5)
    ledger.agent("b", 5)
    ledger.activated("a", "c1", -1.0)
    ledger.activated("b", "c1", 0.5)
    ledger.delivered("a", "c1", "m1", 0.1)  # a had it when m1 was sent
    ledger.delivered("a", "c1", "m2", 1.1)  # but b had it when m2 was sent
    in_chat, routed = ledger.latencies()
    assert in_chat == [pytest.approx(0.1)]
    assert routed == [pytest.approx(0.1)]


def test_percentiles_nearest_rank() -> None:
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}
    assert percentiles([0.002]) == {"p50": 2.0, "p95": 2.0, "p99": 2.0}


def test_waiting_over_time_counts_open_intervals() -> None:
    times, counts = waiting_over_time([(1.0, 3.0), (2.0, 2.5), (2.0, 5.0)], 0.0, 4.0, 1.0)
    assert times == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert counts == [0, 1, 3, 1, 1]
