"""Sending to an address: order, answers, errors in asked handlers, closing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from actors.errors import NotFound
from actors.runtime import Phase, Runtime, Supervisor
from tests.actors.runtime.helpers import Add, Boom, BoomError, Counter, Echo, Get

Supervise = Callable[..., Supervisor[Any]]


def test_messages_to_one_address_are_handled_in_order(
    runtime: Runtime, supervise: Supervise
) -> None:
    counter = supervise(Counter).open("c", ())
    for i in range(500):
        counter.tell(Add(i))
    assert counter.ask(Get()) == tuple(range(500))


def test_ask_returns_the_handler_value(runtime: Runtime, supervise: Supervise) -> None:
    echoes = supervise(Echo)
    a, b = echoes.open("a", 0), echoes.open("b", 0)
    assert a.ask("hello") == ("a", "hello")
    assert b.ask_future(42).get(timeout=5) == ("b", 42)


def test_an_asked_handler_error_goes_to_the_caller_and_the_actor_keeps_its_state(
    runtime: Runtime, supervise: Supervise
) -> None:
    counters = supervise(Counter)
    counter = counters.open("c", ())
    counter.tell(Add("kept"))
    ref = counter.ref

    with pytest.raises(BoomError, match="c told to fail"):
        counter.ask(Boom())

    counter.tell(Add("after"))
    assert counter.ask(Get()) == ("kept", "after")
    assert counter.ref is ref  # the same actor: no restart for an answered error
    stats = counters.stats()
    assert (stats.failures, stats.restarts) == (0, 0)


def test_a_closed_address_refuses_asks_with_not_found(
    runtime: Runtime, supervise: Supervise
) -> None:
    counters = supervise(Counter)
    counter = counters.open("c", ())
    counter.tell(Add(1))
    assert counter.ask(Get()) == (1,)

    counter.close()

    assert counter.phase is Phase.CLOSED
    with pytest.raises(NotFound, match="c is closed"):
        counter.ask(Get())
    counter.tell(Add(2))  # dropped quietly: nothing left waiting
    assert runtime.wait_idle(timeout=5)


def test_closing_through_the_supervisor_forgets_the_key(
    runtime: Runtime, supervise: Supervise
) -> None:
    counters = supervise(Counter)
    counter = counters.open("c", ())
    counters.close("c")

    assert "c" not in counters
    with pytest.raises(NotFound):
        counter.ask(Get())
    # the key is free again for a new entity
    assert counters.open("c", ("fresh",)).ask(Get()) == ("fresh",)
