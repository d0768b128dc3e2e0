"""Supervision: restart from the last committed state, restart intensity, escalation."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from actors.runtime import Phase, Runtime, Supervisor, VirtualClock
from tests.actors.runtime.helpers import (
    Add,
    Boom,
    Counter,
    Get,
    SpawnGate,
    eventually,
)

Supervise = Callable[..., Supervisor[Any]]


def test_a_failed_tell_restarts_the_actor_from_its_last_committed_state(
    runtime: Runtime, supervise: Supervise
) -> None:
    counters = supervise(Counter)
    counter = counters.open("c", ("opened",))
    first = counter.ref

    for i in range(50):
        counter.tell(Add(i))
    counter.tell(Boom())  # raises before committing: the state stays what the 50 made it
    for i in range(50, 100):
        counter.tell(Add(i))

    assert counter.ask(Get()) == ("opened", *range(100))
    assert counter.ref is not first  # a new actor, built from the state before the failure
    stats = counters.stats()
    assert (stats.failures, stats.restarts, stats.escalations) == (1, 1, 0)
    assert not stats.failed


def test_siblings_keep_working_while_one_is_being_restarted(
    runtime: Runtime, supervise: Supervise
) -> None:
    gate = SpawnGate()
    counters = supervise(Counter, context=gate)
    failing, sibling = counters.open("failing", ()), counters.open("sibling", ())
    sibling_ref = sibling.ref
    gate.closed = True  # the restart will hang in spawn until released

    failing.tell(Add("before"))
    failing.tell(Boom())
    failing.tell(Add("after"))
    assert gate.spawning.wait(5), "the supervisor never started the restart"

    # the restart is stuck half-way; the sibling does not notice
    for i in range(20):
        sibling.tell(Add(i))
    assert sibling.ask(Get()) == tuple(range(20))
    assert failing.phase is Phase.WAITING

    gate.release.set()
    assert failing.ask(Get()) == ("before", "after")
    assert sibling.ask(Get()) == tuple(range(20))
    assert sibling.ref is sibling_ref


def test_too_many_failures_escalate_to_the_parent_which_restarts_the_children(
    runtime: Runtime, supervise: Supervise
) -> None:
    root = supervise(object, name="root")
    counters = supervise(Counter, parent=root, max_restarts=2, within_s=10.0)
    counter = counters.open("c", ())

    counter.tell(Add(1))
    for _ in range(3):  # two restarts are allowed; the third failure escalates
        counter.tell(Boom())
    counter.tell(Add(2))

    assert counter.ask(Get()) == (1, 2)
    stats, parent = counters.stats(), root.stats()
    assert (stats.failures, stats.escalations) == (3, 1)
    assert stats.restarts == 3  # two by intensity, one when the parent restarted it
    assert not stats.failed
    assert (parent.failures, parent.restarts, parent.escalations) == (1, 1, 0)


def test_a_restart_brings_back_every_child_waiting_in_that_supervisor(
    runtime: Runtime, supervise: Supervise
) -> None:
    counters = supervise(Counter, max_restarts=0)
    a, b = counters.open("a", ()), counters.open("b", ())
    a.tell(Add("a1"))
    b.tell(Add("b1"))
    assert a.ask(Get()) == ("a1",)
    assert b.ask(Get()) == ("b1",)

    a.tell(Boom())  # escalates at once (no restarts allowed)
    assert eventually(lambda: counters.stats().failed)
    b.tell(Boom())  # the supervisor has failed: b waits too, without a second escalation
    assert eventually(lambda: counters.stats().failures == 2)
    a.tell(Add("a2"))
    b.tell(Add("b2"))

    counters.restart()

    assert a.ask(Get()) == ("a1", "a2")
    assert b.ask(Get()) == ("b1", "b2")
    stats = counters.stats()
    assert (stats.failures, stats.restarts, stats.escalations, stats.failed) == (2, 2, 1, False)


def test_failures_spread_over_time_do_not_escalate(
    runtime: Runtime, clock: VirtualClock, supervise: Supervise
) -> None:
    root = supervise(object, name="root")
    counters = supervise(Counter, parent=root, max_restarts=2, within_s=10.0)
    counter = counters.open("c", ())

    for i in range(6):  # three times the limit, but never two within 10 s
        counter.tell(Add(i))
        counter.tell(Boom())
        assert counter.ask(Get()) == tuple(range(i + 1))
        clock.advance(11.0)

    stats = counters.stats()
    assert (stats.failures, stats.restarts, stats.escalations) == (6, 6, 0)
    runtime.settle()
    assert root.stats().failures == 0


def test_at_the_top_an_escalation_is_counted_and_the_mail_waits_for_a_restart(
    runtime: Runtime, supervise: Supervise
) -> None:
    counters = supervise(Counter, max_restarts=1, within_s=10.0)
    counter, sibling = counters.open("c", ()), counters.open("sibling", ())

    counter.tell(Add(1))
    counter.tell(Boom())
    counter.tell(Boom())  # second failure within the window: escalates, no parent
    assert eventually(lambda: counters.stats().failed)
    stats = counters.stats()
    assert (stats.failures, stats.restarts, stats.escalations) == (2, 1, 1)

    counter.tell(Add(2))
    counter.tell(Add(3))
    assert eventually(lambda: counter.phase is Phase.WAITING)
    assert not runtime.wait_idle(timeout=0.05)  # the two messages wait, unhandled
    assert runtime.pending == 2
    sibling.tell(Add("still here"))
    assert sibling.ask(Get()) == ("still here",)  # siblings are not stopped

    counters.restart()

    assert counter.ask(Get()) == (1, 2, 3)
    stats = counters.stats()
    assert (stats.restarts, stats.escalations, stats.failed) == (2, 1, False)


def test_settle_waits_for_a_restart_in_progress(runtime: Runtime, supervise: Supervise) -> None:
    gate = SpawnGate()
    counters = supervise(Counter, context=gate)
    counter = counters.open("c", ())
    gate.closed = True
    counter.tell(Boom())
    assert gate.spawning.wait(5)
    release = threading.Timer(0.3, gate.release.set)  # a slow restart (storage, say)
    release.start()
    try:
        runtime.settle()
        assert counter.phase is Phase.LIVE
    finally:
        release.join()


def test_restarting_the_top_restarts_its_escalated_child_supervisors(
    runtime: Runtime, supervise: Supervise
) -> None:
    root = supervise(object, name="root", max_restarts=0)
    counters = supervise(Counter, parent=root, max_restarts=0)
    counter = counters.open("c", ())
    counter.tell(Add(1))
    counter.tell(Boom())  # escalates to root, which escalates (no parent above it)
    counter.tell(Add(2))
    assert eventually(lambda: root.stats().failed)

    root.restart()
    runtime.settle()

    assert not counters.stats().failed
    assert counter.ask(Get(), timeout=2) == (1, 2)


def test_stopping_a_supervisor_with_decisions_pending_leaves_the_runtime_quiet(
    runtime: Runtime,
) -> None:
    for round_ in range(20):
        supervisor = Supervisor(f"stopping-{round_}", runtime, Counter)
        supervisor.open("c", ()).tell(Boom())  # a restart decision is on its way
        supervisor.stop()
        assert runtime.wait_idle(5), f"{runtime.pending} messages still counted"
