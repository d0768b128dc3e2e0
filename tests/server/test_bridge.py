"""server.bridge: asking real pykka actors from trio, and pushing events back to trio.

Time-outs here wait on real threads, so they use short real time-outs (tens of
milliseconds); the actor that never answers is released at the end of each test.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pykka._envelope
import pytest
import trio
import trio.testing

from server.bridge import (
    Askable,
    Bridge,
    EventSink,
    SinkStatistics,
    SlowConsumer,
    TrioFuture,
    Waker,
)


class Echo(pykka.ThreadingActor):
    """Answers, fails, blocks or pushes events, depending on the message."""

    def __init__(self) -> None:
        super().__init__()
        self.told: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        match message:
            case ("fail", text):
                raise ValueError(text)
            case ("block", threading.Event() as release):
                release.wait(5)
                return "released"
            case ("push", EventSink() as sink, int(count)):
                for number in range(count):
                    sink.push(number)
                return count
            case ("told",):
                return list(self.told)
            case ("tell", value):
                self.told.append(value)
                return None
            case _:
                return ("echo", message)


@pytest.fixture
def echo() -> Iterator[pykka.ActorRef[Echo]]:
    ref = Echo.start()
    yield ref
    ref.stop()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # never leave an actor thread blocked


# ------------------------------------------------------------------ Bridge.ask


async def test_ask_returns_the_reply(echo: pykka.ActorRef[Echo]) -> None:
    assert await Bridge.current().ask(echo, "hello") == ("echo", "hello")


async def test_ask_reraises_the_actors_exception(echo: pykka.ActorRef[Echo]) -> None:
    with pytest.raises(ValueError, match="boom"):
        await Bridge.current().ask(echo, ("fail", "boom"))


async def test_ask_times_out_then_the_late_reply_is_harmless(
    echo: pykka.ActorRef[Echo], release: threading.Event
) -> None:
    bridge = Bridge.current()
    with pytest.raises(trio.TooSlowError):
        await bridge.ask(echo, ("block", release), timeout=0.05)
    release.set()  # the actor now answers a future nobody awaits
    assert await bridge.ask(echo, "after", timeout=5) == ("echo", "after")


async def test_cancelled_ask_does_not_leak(
    echo: pykka.ActorRef[Echo], release: threading.Event
) -> None:
    bridge = Bridge.current()
    future = bridge.future()
    echo.actor_inbox.put(pykka._envelope.Envelope(("block", release), reply_to=future))
    with trio.move_on_after(0.05) as scope:
        await future.wait()
    assert scope.cancelled_caught
    release.set()
    assert future.get(timeout=5) == "released"  # set without anyone waiting in trio
    assert await future == "released"  # and still awaitable afterwards
    assert await bridge.ask(echo, 1) == ("echo", 1)


async def test_ask_a_stopped_actor() -> None:
    ref = Echo.start()
    ref.stop()
    with pytest.raises(pykka.ActorDeadError):
        await Bridge.current().ask(ref, "anyone?")


async def test_thousand_concurrent_asks(echo: pykka.ActorRef[Echo]) -> None:
    bridge = Bridge.current()
    replies: dict[int, Any] = {}

    async def one(number: int) -> None:
        replies[number] = await bridge.ask(echo, number, timeout=10)

    async with trio.open_nursery() as nursery:
        for number in range(1000):
            nursery.start_soon(one, number)
    assert replies == {number: ("echo", number) for number in range(1000)}


class ThreadAddress:
    """An ``Askable`` that answers from a thread of its own, like a runtime address."""

    def ask_into(self, message: Any, future: pykka.Future[Any], /) -> None:
        def answer() -> None:
            if message == "fail":
                try:
                    raise KeyError("no such agent")
                except KeyError:
                    future.set_exception()
            else:
                future.set(("address", message))

        threading.Thread(target=answer).start()


async def test_ask_into_target() -> None:
    address = ThreadAddress()
    assert isinstance(address, Askable)
    bridge = Bridge.current()
    assert await bridge.ask(address, "x", timeout=5) == ("address", "x")
    with pytest.raises(KeyError, match="no such agent"):
        await bridge.ask(address, "fail", timeout=5)


async def test_ask_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="ask_into"):
        await Bridge.current().ask(object(), "x")  # type: ignore[arg-type]


async def test_tell_is_fire_and_forget(echo: pykka.ActorRef[Echo]) -> None:
    bridge = Bridge.current()
    for value in range(3):
        bridge.tell(echo, ("tell", value))
    assert await bridge.ask(echo, ("told",)) == [0, 1, 2]


# ------------------------------------------------------------------ TrioFuture


async def test_future_get_from_another_thread() -> None:
    future: TrioFuture[int] = Bridge.current().future()
    threading.Timer(0.01, future.set, args=(7,)).start()
    assert await trio.to_thread.run_sync(lambda: future.get(timeout=5)) == 7
    assert future.done()


async def test_future_made_outside_trio_can_be_awaited() -> None:
    future: TrioFuture[str] = await trio.to_thread.run_sync(TrioFuture)  # no loop yet
    threading.Timer(0.01, future.set, args=("late",)).start()
    with trio.fail_after(5):
        assert await future == "late"


def test_future_get_times_out_and_is_set_once() -> None:
    future: TrioFuture[int] = TrioFuture()  # made outside trio: no loop to wake
    with pytest.raises(pykka.Timeout):
        future.get(timeout=0.01)
    future.set(1)
    with pytest.raises(queue.Full):
        future.set(2)
    with pytest.raises(queue.Full):
        future.set_exception((ValueError, ValueError("late"), None))
    assert future.get() == 1


async def test_future_wake_up_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def set(self) -> None:
            raise RuntimeError("broken event")

    future: TrioFuture[int] = Bridge.current().future()
    future._ready = Broken()  # type: ignore[assignment]
    with caplog.at_level(logging.ERROR, logger="server.bridge"):
        future._wake()
    assert "wake-up failed" in caplog.text


# ------------------------------------------------------------------ EventSink


async def receive_all(sink: EventSink, count: int) -> list[object]:
    received: list[object] = []
    with trio.fail_after(10):
        while len(received) < count:
            received += await sink.receive_batch()
    return received


async def test_ten_thousand_events_from_an_actor_arrive_in_order(
    echo: pykka.ActorRef[Echo],
) -> None:
    bridge = Bridge.current()
    sink = bridge.sink(limit=10_000)
    bridge.tell(echo, ("push", sink, 10_000))
    assert await receive_all(sink, 10_000) == list(range(10_000))
    assert sink.statistics() == SinkStatistics(
        pushed=10_000, delivered=10_000, dropped=0, pending=0, overflowed=False
    )


async def test_pushes_from_many_threads_keep_each_threads_order() -> None:
    sink = Bridge.current().sink(limit=100_000)

    def pusher(name: str) -> None:
        for number in range(2500):
            sink.push((name, number))

    threads = [threading.Thread(target=pusher, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    received = await receive_all(sink, 10_000)
    for thread in threads:
        thread.join()
    pairs = [event for event in received if isinstance(event, tuple)]
    for name in ("t0", "t1", "t2", "t3"):
        assert [number for thread, number in pairs if thread == name] == list(range(2500))


class CountingToken:
    """Wraps the real trio token and counts the wake-ups scheduled through it."""

    def __init__(self) -> None:
        self.real = trio.lowlevel.current_trio_token()
        self.calls = 0
        self.finished = False

    def run_sync_soon(self, fn: Any, *args: Any) -> None:
        self.calls += 1
        if self.finished:
            raise trio.RunFinishedError("run() has exited")
        self.real.run_sync_soon(fn, *args)


async def test_wake_ups_coalesce() -> None:
    token = CountingToken()
    sink = EventSink(token, limit=1000)  # type: ignore[arg-type]
    for number in range(100):  # nobody waits: no wake-up at all
        sink.push(number)
    assert token.calls == 0
    assert await sink.receive_batch() == list(range(100))

    batches: list[list[object]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: _append(batches, sink))
        await trio.testing.wait_all_tasks_blocked()
        for number in range(100):  # a burst while the consumer waits: one wake-up
            sink.push(number)
    assert token.calls == 1
    assert batches == [list(range(100))]


async def _append(batches: list[list[object]], sink: EventSink) -> None:
    batches.append(await sink.receive_batch())


async def test_overflow_raises_slow_consumer_and_the_run_goes_on(
    echo: pykka.ActorRef[Echo],
) -> None:
    bridge = Bridge.current()
    sink = bridge.sink(limit=10)
    assert await bridge.ask(echo, ("push", sink, 15)) == 15
    with pytest.raises(SlowConsumer) as caught:
        await sink.receive_batch()
    assert caught.value.reason == "slow consumer: 10 events pending"
    sink.push("more")  # dropped, no error
    assert sink.statistics() == SinkStatistics(
        pushed=16, delivered=0, dropped=16, pending=0, overflowed=True
    )
    assert await bridge.ask(echo, "still alive") == ("echo", "still alive")


async def test_overflow_wakes_a_waiting_consumer() -> None:
    sink = Bridge.current().sink(limit=3)
    taken = await _push_then_take(sink, 3)
    assert taken == [0, 1, 2]
    errors: list[SlowConsumer] = []

    async def consume() -> None:
        try:
            await sink.receive_batch()
        except SlowConsumer as error:
            errors.append(error)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume)
            await trio.testing.wait_all_tasks_blocked()
            for number in range(4):  # no checkpoint in between: the wake-up runs after
                sink.push(number)
    assert [error.reason for error in errors] == ["slow consumer: 3 events pending"]


async def _push_then_take(sink: EventSink, count: int) -> list[object]:
    for number in range(count):
        sink.push(number)
    return await sink.receive_batch()


async def test_close_drains_then_ends_and_later_pushes_are_no_ops() -> None:
    sink = Bridge.current().sink(limit=10)
    sink.push("a")
    sink.close()
    sink.push("b")
    batches = [batch async for batch in sink]
    assert batches == [["a"]]
    with pytest.raises(trio.EndOfChannel):
        await sink.receive_batch()
    assert sink.statistics().dropped == 1


async def test_close_wakes_a_waiting_consumer() -> None:
    sink = Bridge.current().sink(limit=10)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: _expect_end(sink))
            await trio.testing.wait_all_tasks_blocked()
            await trio.to_thread.run_sync(sink.close)


async def _expect_end(sink: EventSink) -> None:
    with pytest.raises(trio.EndOfChannel):
        await sink.receive_batch()


async def test_push_when_the_run_has_finished_does_not_raise() -> None:
    token = CountingToken()
    sink = EventSink(token, limit=10)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sink.receive_batch)
        await trio.testing.wait_all_tasks_blocked()
        token.finished = True  # as if trio.run() had returned under the consumer
        sink.push("late")
        sink.close()
        nursery.cancel_scope.cancel()
    assert sink.statistics().dropped == 1
    sink.push("later")  # closed: a no-op
    assert token.calls == 1


def test_push_after_trio_run_ended_from_another_thread() -> None:
    async def make() -> EventSink:
        sink = Bridge.current().sink(limit=5)
        with trio.move_on_after(0.01):
            await sink.receive_batch()
        return sink

    sink = trio.run(make)

    def push_ten() -> None:
        for number in range(10):
            sink.push(number)

    thread = threading.Thread(target=push_ten)
    thread.start()
    thread.join()
    sink.close()
    stats = sink.statistics()
    assert (stats.pushed, stats.overflowed) == (10, True)


def test_sink_limit_must_be_positive() -> None:
    async def make() -> None:
        with pytest.raises(ValueError, match="at least 1"):
            Bridge.current().sink(limit=0)

    trio.run(make)


# -- the waker ------------------------------------------------------------------------------


class _CountingToken:
    """A trio token that counts how often it was asked to wake the loop."""

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self.token = token
        self.wakeups = 0

    def run_sync_soon(self, fn: Any, *args: Any) -> None:
        self.wakeups += 1
        self.token.run_sync_soon(fn, *args)


async def test_wake_ups_that_pile_up_while_trio_is_busy_cost_one_wake_up() -> None:
    token = _CountingToken(trio.lowlevel.current_trio_token())
    waker = Waker(token)  # type: ignore[arg-type]
    ran: list[int] = []
    calls = threading.Thread(target=lambda: [waker.call(lambda n=n: ran.append(n))
                                             for n in range(100)])  # fmt: skip
    calls.start()
    calls.join()  # the loop is busy (in this task) while the thread calls
    await trio.testing.wait_all_tasks_blocked()
    assert ran == list(range(100))
    assert token.wakeups == 1
    waker.call(lambda: ran.append(100))  # a later call wakes the loop again
    await trio.testing.wait_all_tasks_blocked()
    assert ran[-1] == 100
    assert token.wakeups == 2


async def test_a_failing_wake_up_callback_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    waker = Waker(trio.lowlevel.current_trio_token())
    ran: list[str] = []

    def boom() -> None:
        raise RuntimeError("boom")

    waker.call(lambda: ran.append("before"))
    waker.call(boom)
    waker.call(lambda: ran.append("after"))
    await trio.testing.wait_all_tasks_blocked()
    assert ran == ["before", "after"]
    assert "wake-up callback failed" in caplog.text


def test_a_waker_of_a_finished_run_says_so() -> None:
    async def token() -> trio.lowlevel.TrioToken:
        return trio.lowlevel.current_trio_token()

    waker = Waker(trio.run(token))
    for _ in range(2):  # the first call finds out, later ones know
        with pytest.raises(trio.RunFinishedError):
            waker.call(lambda: None)
