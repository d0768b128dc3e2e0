"""Passivation: idle entities go to the dormant store and wake on their next message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from actors.errors import NotFound
from actors.runtime import (
    MemoryDormantStore,
    PassivateIfIdle,
    Phase,
    Runtime,
    Supervisor,
    VirtualClock,
)
from tests.actors.runtime.helpers import (
    Add,
    Counter,
    Get,
    Hold,
    Sleepy,
    drain,
    eventually,
    phase_of,
)

Supervise = Callable[..., Supervisor[Any]]

AFTER = 8.0  # passivate_after; the sweep runs every AFTER / 4 = 2 s


def dormant_state(supervisor: Supervisor[Any], key: str) -> Any:
    """Peek at the dormant store without taking the state out."""
    store = supervisor.store
    assert isinstance(store, MemoryDormantStore)
    return store._states.get((supervisor.name, key))


def sweep_until(runtime: Runtime, clock: VirtualClock, seconds: float) -> None:
    """Advance one sweep interval at a time, settling after each."""
    for _ in range(round(seconds / (AFTER / 4))):
        clock.advance(AFTER / 4)
        runtime.settle()


def test_an_idle_entity_passivates_and_wakes_with_its_state(
    runtime: Runtime, clock: VirtualClock, supervise: Supervise
) -> None:
    counters = supervise(Counter, passivate_after=AFTER)
    counter = counters.open("c", ())
    counter.tell(Add(1))
    counter.tell(Add(2))
    runtime.settle()

    sweep_until(runtime, clock, AFTER - AFTER / 4)
    assert phase_of(counter) is Phase.LIVE  # not idle long enough yet
    sweep_until(runtime, clock, AFTER / 4)  # idle for AFTER: the sweep offers
    assert eventually(lambda: counter.phase is Phase.DORMANT)
    sweep_until(runtime, clock, AFTER / 4)  # past AFTER + one interval

    assert phase_of(counter) is Phase.DORMANT
    assert counter.ref is None
    assert dormant_state(counters, "c") == (1, 2)
    stats = counters.stats()
    assert (stats.live, stats.passivations, stats.wakes) == (0, 1, 0)

    counter.tell(Add(3))
    assert counter.ask(Get()) == (1, 2, 3)
    assert counter.phase is Phase.LIVE
    assert dormant_state(counters, "c") is None  # taken out by the wake
    stats = counters.stats()
    assert (stats.live, stats.passivations, stats.wakes) == (1, 1, 1)


def test_one_long_advance_passivates_an_idle_entity_once(
    runtime: Runtime, clock: VirtualClock, supervise: Supervise
) -> None:
    counters = supervise(Counter, passivate_after=AFTER)
    counter = counters.open("c", ())
    counter.tell(Add(1))
    runtime.settle()

    clock.advance(AFTER + AFTER / 4)  # several sweeps at once, each finding it idle
    runtime.settle()

    assert eventually(lambda: counter.phase is Phase.DORMANT)
    assert dormant_state(counters, "c") == (1,)
    stats = counters.stats()
    assert (stats.passivations, stats.wakes) == (1, 0)  # the extra offers woke nothing
    assert counter.ask(Get()) == (1,)


def test_an_entity_active_within_the_window_is_not_passivated(
    runtime: Runtime, clock: VirtualClock, supervise: Supervise
) -> None:
    counters = supervise(Counter, passivate_after=AFTER)
    counter = counters.open("c", ())
    for i in range(6):  # a message every 6 s, for 36 s: never idle for 8
        sweep_until(runtime, clock, 6.0)
        counter.tell(Add(i))
        runtime.settle()

    assert counter.phase is Phase.LIVE
    assert counters.stats().passivations == 0
    assert counter.ask(Get()) == tuple(range(6))


def test_mail_sent_while_the_entity_passivates_is_not_lost(
    runtime: Runtime, supervise: Supervise
) -> None:
    counters = supervise(Counter)
    counter = counters.open("c", ())

    for burst in range(20):
        counter.tell(PassivateIfIdle(0))  # passivates as soon as it is handled...
        for i in range(50):  # ...while these are arriving
            counter.tell(Add((burst, i)))

    expected = tuple((burst, i) for burst in range(20) for i in range(50))
    assert counter.ask(Get()) == expected
    stats = counters.stats()
    assert stats.passivations >= 1
    assert stats.wakes == stats.passivations


def test_an_entity_that_may_not_passivate_stays_live(
    runtime: Runtime, clock: VirtualClock, supervise: Supervise
) -> None:
    sleepers = supervise(Sleepy, passivate_after=AFTER)
    sleeper = sleepers.open("s", ())
    sleeper.tell(Add(1))
    runtime.settle()

    sweep_until(runtime, clock, 3 * AFTER)
    sleeper.tell(PassivateIfIdle(0))
    runtime.settle()

    assert sleeper.phase is Phase.LIVE
    assert dormant_state(sleepers, "s") is None
    assert sleepers.stats().passivations == 0
    assert sleeper.ask(Get()) == (1,)


def test_an_adopted_key_wakes_from_the_store_on_its_first_message(
    runtime: Runtime, supervise: Supervise
) -> None:
    counters = supervise(Counter)
    counters.store.put(counters.name, "k", ("saved",))

    counter = counters.adopt("k")
    assert phase_of(counter) is Phase.DORMANT
    assert counters.adopt("k") is counter  # one address per key

    counter.tell(Add(1))
    assert counter.ask(Get()) == ("saved", 1)
    assert counter.phase is Phase.LIVE
    assert counters.stats().wakes == 1


def test_an_adopted_key_without_dormant_state_refuses_its_mail(
    runtime: Runtime, supervise: Supervise
) -> None:
    counters = supervise(Counter)
    ghost = counters.adopt("ghost")

    with pytest.raises(NotFound, match="ghost is closed"):
        ghost.ask(Get())

    assert ghost.phase is Phase.CLOSED
    assert "ghost" not in counters
    with pytest.raises(NotFound):
        ghost.ask(Get())
    assert counters.stats().wakes == 0


def test_offers_queued_behind_a_busy_entity_do_not_wake_it_after_it_passivates(
    runtime: Runtime, clock: VirtualClock, supervise: Supervise
) -> None:
    counters = supervise(Counter, passivate_after=AFTER)
    counter = counters.open("c", ())
    hold = Hold()
    counter.tell(hold)
    assert hold.started.wait(5)
    try:
        clock.advance(AFTER + AFTER / 4)  # two sweeps find it idle for AFTER: two offers
        drain(counters)  # the sweeps are done (the actor is still blocked)
    finally:
        hold.release.set()
    runtime.settle()

    assert counters.stats().wakes == 0  # nothing but the offers was sent
    assert eventually(lambda: counter.phase is Phase.DORMANT, timeout=1.0)
