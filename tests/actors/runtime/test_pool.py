"""The dispatcher pool: many actors, fairness, no blocking, no global registry."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

from actors.runtime import (
    EntityActor,
    PoolFuture,
    PoolRuntime,
    Runtime,
    Supervisor,
    ThreadRuntime,
    VirtualClock,
)
from tests.actors.runtime.helpers import Add, Counter, Echo, Get, Hold

Supervise = Callable[..., Supervisor[Any]]


@pytest.fixture
def pool() -> Iterator[PoolRuntime]:
    runtime = PoolRuntime(VirtualClock(), threads=2, track=True)
    yield runtime
    runtime.shutdown()


def test_ten_thousand_actors_each_answer_their_own_message(pool: PoolRuntime) -> None:
    echoes: Supervisor[int] = Supervisor("echo", pool, Echo)
    try:
        addresses = [echoes.open(f"e{i}", 0) for i in range(10_000)]
        futures = [address.ask_future(i) for i, address in enumerate(addresses)]
        answers = [future.get(timeout=30) for future in futures]
        assert answers == [(f"e{i}", i) for i in range(10_000)]
        assert echoes.stats().live == 10_000
    finally:
        echoes.stop()


class _Flood(pykka.Actor):
    """Counts what it handles into ``progress`` (shared with ``_Bystander``, same thread)."""

    def __init__(self, progress: list[int]) -> None:
        super().__init__()
        self.progress = progress

    def on_receive(self, message: Any) -> Any:
        self.progress[0] += 1
        return self.progress[0]


class _Bystander(pykka.Actor):
    """Answers with how much of the flood had been handled when it got its turn."""

    def __init__(self, progress: list[int]) -> None:
        super().__init__()
        self.progress = progress

    def on_receive(self, message: Any) -> Any:
        return self.progress[0]


class _Driver(pykka.Actor):
    """Floods one actor and then asks another, all in one turn (nothing runs in between)."""

    def __init__(self, flood: pykka.ActorRef[Any], bystander: pykka.ActorRef[Any]) -> None:
        super().__init__()
        self.flood = flood
        self.bystander = bystander

    def on_receive(self, message: Any) -> Any:
        for i in range(message):
            self.flood.tell(i)
        bystander = self.bystander.ask("your turn", block=False)
        flood_done = self.flood.ask("last", block=False)
        return bystander, flood_done


def test_a_flooded_actor_does_not_starve_the_others() -> None:
    flood_size, batch = 50_000, 64
    runtime = PoolRuntime(VirtualClock(), threads=1, batch=batch)
    try:
        progress = [0]
        flood = runtime.start(_Flood, progress)
        bystander = runtime.start(_Bystander, progress)
        driver = runtime.start(_Driver, flood, bystander)

        answers: tuple[pykka.Future[int], pykka.Future[int]] = driver.ask(
            flood_size, block=True, timeout=10
        )
        bystander_answer, flood_done = answers

        seen = bystander_answer.get(timeout=10)
        assert flood_done.get(timeout=30) == flood_size + 1  # the whole flood, then "last"
        assert seen < flood_size  # answered before the flood was done...
        assert seen <= 4 * batch  # ...within a few batches of it
    finally:
        runtime.shutdown()


class _Impatient(EntityActor[int]):
    """Breaks the pool's rule: waits for a future inside a handler."""

    def handle(self, message: Any) -> Any:
        future = self.supervisor.runtime.future()  # nobody will ever answer it
        return future.get(timeout=1)


def test_blocking_on_a_future_inside_a_pool_actor_is_refused(pool: PoolRuntime) -> None:
    impatient: Supervisor[int] = Supervisor("impatient", pool, _Impatient)
    try:
        actor = impatient.open("i", 0)
        with pytest.raises(RuntimeError, match="must not block on a future"):
            actor.ask("wait for it")
        with pytest.raises(RuntimeError):  # refused again: the actor is still there
            actor.ask("wait for it")
        assert impatient.stats().failures == 0
    finally:
        impatient.stop()


def test_a_pool_future_may_be_waited_for_outside_the_pool(pool: PoolRuntime) -> None:
    future = pool.future()
    assert isinstance(future, PoolFuture)
    future.set("done")
    assert future.get(timeout=1) == "done"


def test_a_pool_future_wakes_every_thread_waiting_for_it() -> None:
    future = PoolFuture()
    results: list[object] = []
    waiters = [
        threading.Thread(target=lambda: results.append(future.get(timeout=5))) for _ in range(3)
    ]
    for waiter in waiters:
        waiter.start()
    time.sleep(0.05)  # all three are waiting
    future.set("answer")
    for waiter in waiters:
        waiter.join(5)
    assert results == ["answer"] * 3
    assert future.get(timeout=0) == "answer"  # and anyone later gets it at once


def test_a_pool_future_times_out_raises_the_actors_error_and_is_set_once() -> None:
    silent = PoolFuture()
    with pytest.raises(pykka.Timeout):
        silent.get(timeout=0.01)

    failed = PoolFuture()
    try:
        raise KeyError("gone")
    except KeyError:
        failed.set_exception()
    with pytest.raises(KeyError, match="gone"):
        failed.get(timeout=1)
    with pytest.raises(KeyError, match="gone"):  # every time it is asked
        failed.get(timeout=1)

    with pytest.raises(queue.Full):
        failed.set("late")


def test_a_pool_future_works_with_pykkas_combinators() -> None:
    future = PoolFuture()
    doubled = future.map(lambda value: value * 2)
    future.set(21)
    assert doubled.get(timeout=1) == 42


def test_a_blocked_actor_does_not_stop_the_others(runtime: Runtime, supervise: Supervise) -> None:
    counters = supervise(Counter)
    stuck, other = counters.open("stuck", ()), counters.open("other", ())
    hold = Hold()
    stuck.tell(hold)
    try:
        assert hold.started.wait(5)
        other.tell(Add(1))
        assert other.ask(Get(), timeout=5) == (1,)  # answered...
        assert not hold.finished.is_set()  # ...while the first actor is still blocked
    finally:
        hold.release.set()
    assert hold.finished.wait(5)
    stuck.tell(Add("after"))
    assert stuck.ask(Get()) == ("after",)


def test_pool_actors_stay_out_of_pykkas_global_registry(pool: PoolRuntime) -> None:
    echoes: Supervisor[int] = Supervisor("echo", pool, Echo)
    try:
        before = len(pykka.ActorRegistry.get_all())
        addresses = [echoes.open(f"e{i}", 0) for i in range(1_000)]
        assert [a.ask_future(i) for i, a in enumerate(addresses)][-1].get(timeout=10)
        assert len(pykka.ActorRegistry.get_all()) == before
    finally:
        echoes.stop()


def test_thread_actors_do_register_which_is_what_the_pool_avoids() -> None:
    runtime = ThreadRuntime(VirtualClock())
    echoes: Supervisor[int] = Supervisor("echo", runtime, Echo)
    try:
        before = len(pykka.ActorRegistry.get_all())
        for i in range(3):
            echoes.open(f"e{i}", 0)
        assert len(pykka.ActorRegistry.get_all()) == before + 3
    finally:
        echoes.stop()
        runtime.shutdown()
