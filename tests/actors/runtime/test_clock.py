"""Clocks: virtual time fires timers at their deadlines, in order; the real clock fires too."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from actors.runtime import RealClock, VirtualClock


@pytest.fixture
def real_clock() -> Iterator[RealClock]:
    clock = RealClock()
    yield clock
    clock.close()


def test_virtual_timers_fire_at_their_deadlines_in_order() -> None:
    clock = VirtualClock(start=100.0)
    fired: list[tuple[str, float]] = []

    def note(name: str) -> None:
        clock.call_later(delays[name], lambda: fired.append((name, clock.now())))

    delays = {"c": 3.0, "a": 1.0, "b": 2.0, "b2": 2.0, "late": 9.0}
    for name in delays:
        note(name)

    assert clock.next_deadline() == 101.0
    assert clock.advance(2.5) == 3
    assert fired == [("a", 101.0), ("b", 102.0), ("b2", 102.0)]  # ties in scheduling order
    assert clock.now() == 102.5

    assert clock.advance(1.0) == 1
    assert fired[-1] == ("c", 103.0)
    assert clock.advance(10.0) == 1
    assert fired[-1] == ("late", 109.0)
    assert clock.now() == 113.5
    assert clock.next_deadline() is None


def test_virtual_time_moves_only_when_advanced() -> None:
    clock = VirtualClock(start=5.0, wall_offset=1000.0)
    fired: list[float] = []
    clock.call_later(0.0, lambda: fired.append(clock.now()))

    assert clock.now() == 5.0
    assert clock.wall() == 1005.0
    assert fired == []  # even a zero delay waits for the test to move time
    assert clock.run_due() == 1
    assert fired == [5.0]


def test_a_cancelled_virtual_timer_never_fires() -> None:
    clock = VirtualClock()
    fired: list[str] = []
    keep = clock.call_later(1.0, lambda: fired.append("kept"))
    drop = clock.call_later(0.5, lambda: fired.append("dropped"))
    drop.cancel()

    assert clock.advance(2.0) == 1
    assert fired == ["kept"]
    keep.cancel()  # cancelling after it fired is harmless
    assert clock.advance(2.0) == 0


def test_timers_scheduled_by_a_timer_fire_within_the_same_advance() -> None:
    clock = VirtualClock(start=0.0)
    fired: list[float] = []

    def tick() -> None:
        fired.append(clock.now())
        if len(fired) < 4:
            clock.call_later(1.0, tick)

    clock.call_later(1.0, tick)
    clock.advance(10.0)

    assert fired == [1.0, 2.0, 3.0, 4.0]  # each at its own deadline, not at 10


def test_a_failing_timer_does_not_stop_the_others() -> None:
    clock = VirtualClock()
    fired: list[str] = []

    def fail() -> None:
        raise RuntimeError("broken timer")

    clock.call_later(1.0, fail)
    clock.call_later(2.0, lambda: fired.append("after"))
    clock.advance(3.0)

    assert fired == ["after"]


def test_the_real_clock_fires_a_short_timer(real_clock: RealClock) -> None:
    fired = threading.Event()
    started = real_clock.now()
    real_clock.call_later(0.01, fired.set)

    assert fired.wait(5.0)
    assert real_clock.now() - started >= 0.01


def test_the_real_clock_fires_in_deadline_order_and_skips_cancelled(
    real_clock: RealClock,
) -> None:
    order: list[str] = []
    done = threading.Event()

    def last() -> None:
        order.append("last")
        done.set()

    real_clock.call_later(0.03, last)
    real_clock.call_later(0.01, lambda: order.append("first"))
    real_clock.call_later(0.02, lambda: order.append("cancelled")).cancel()

    assert done.wait(5.0)
    assert order == ["first", "last"]
