"""The one bridge between actor threads (pykka) and the trio event loop.

Two directions cross here, and nothing else in the code base crosses:

* **trio asks an actor** (``Bridge.ask``): the trio task puts an envelope carrying a
  ``TrioFuture`` into the actor's inbox (or hands it to the runtime's ``Askable``
  address) and awaits it.  The actor thread calls ``future.set(value)`` or
  ``set_exception()`` as pykka's actor loop does for any future; that stores the outcome
  under a lock and, only if a trio task waits, schedules one wake-up with
  ``TrioToken.run_sync_soon``.  Neither side blocks the other.

* **actors push events to a websocket** (``EventSink``): ``push`` appends to a bounded,
  lock-protected buffer and schedules a ``run_sync_soon`` wake-up only if the
  connection's task waits and none is pending, so bursts coalesce into one callback and
  one ``receive_batch()``.  Past ``limit`` pending events the sink overflows: later
  events are dropped and the consumer gets ``SlowConsumer`` to close the websocket with.

Every wake-up of both directions goes through one ``Waker`` per trio run: callbacks
that pile up while the loop is busy share one ``run_sync_soon`` (one write to trio's
wake-up socket), so under load a writer round or a dispatcher's batch wakes trio once,
not once per completion or event.

Why not a bounded ``trio.MemorySendChannel`` fed with ``send_nowait`` from a
``run_sync_soon`` callback?  A full channel makes ``send_nowait`` raise
``trio.WouldBlock``, and an exception escaping a ``run_sync_soon`` callback reaches no
caller: trio turns it into ``TrioInternalError`` and cancels every task, so one slow
client would take the whole server down.  Here callbacks only set a ``trio.Event``
inside ``try/except``, and bounding happens on the pushing side, under the lock.  After
the trio run has finished, ``run_sync_soon`` raises ``trio.RunFinishedError``; both
directions ignore it.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import queue
import sys
import threading
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import pykka
import trio
from pykka._envelope import Envelope

if TYPE_CHECKING:
    from pykka._types import OptExcInfo

__all__ = [
    "Askable",
    "Bridge",
    "EventSink",
    "SinkStatistics",
    "SlowConsumer",
    "Tellable",
    "TrioFuture",
    "Waker",
]

T = TypeVar("T")

logger = logging.getLogger(__name__)


@runtime_checkable
class Askable(Protocol):
    """A stable actor address from the runtime: it routes a message and a reply future."""

    def ask_into(self, message: Any, future: pykka.Future[Any], /) -> None: ...


@runtime_checkable
class Tellable(Protocol):
    """Anything that accepts a fire-and-forget message (``pykka.ActorRef`` does)."""

    def tell(self, message: Any, /) -> None: ...


class Waker:
    """Calls functions on one trio run's thread, from any thread, coalescing wake-ups.

    ``call`` queues ``fn``; only the first call of a burst schedules the drain with
    ``run_sync_soon``, and the drain runs every function queued until then.  Raises
    ``trio.RunFinishedError`` once the run is over, as ``run_sync_soon`` does.
    """

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token
        self._lock = threading.Lock()
        self._calls: list[Callable[[], None]] = []
        self._finished = False

    @classmethod
    def of(cls, token: trio.lowlevel.TrioToken) -> Waker:
        """The one waker of ``token``'s run."""
        with _WAKERS_LOCK:
            waker = _WAKERS.get(token)
            if waker is None:
                waker = _WAKERS[token] = cls(token)
            return waker

    def call(self, fn: Callable[[], None]) -> None:
        with self._lock:
            if self._finished:
                raise trio.RunFinishedError("the trio run is over")
            self._calls.append(fn)
            if len(self._calls) > 1:
                return  # a drain is scheduled and will run this too
        try:
            self._token.run_sync_soon(self._drain)
        except trio.RunFinishedError:
            with self._lock:
                self._finished = True
                self._calls.clear()
            raise

    def _drain(self) -> None:
        # runs inside trio: an exception escaping it would crash the run
        with self._lock:
            calls, self._calls = self._calls, []
        for fn in calls:
            try:
                fn()
            except Exception:
                logger.exception("wake-up callback failed")


_WAKERS: weakref.WeakKeyDictionary[trio.lowlevel.TrioToken, Waker] = weakref.WeakKeyDictionary()
_WAKERS_LOCK = threading.Lock()


class TrioFuture(pykka.Future[T]):
    """A pykka future that actor threads complete and a trio task awaits."""

    def __init__(self, token: trio.lowlevel.TrioToken | None = None) -> None:
        super().__init__()
        if token is None:
            with contextlib.suppress(RuntimeError):  # outside trio: wait() binds it later
                token = trio.lowlevel.current_trio_token()
        self._token = token
        self._lock = threading.Lock()
        self._done = False
        self._blocked: threading.Event | None = None  # for get() from a thread, made on demand
        self._value: Any = None
        self._error: BaseException | None = None
        self._waiters = 0
        self._ready: trio.Event | None = None

    def __repr__(self) -> str:
        state = "done" if self._done else "pending"
        return f"<TrioFuture {state}>"

    # ------------------------------------------------------------ actor thread side

    def set(self, value: T | None = None) -> None:
        self._complete(value, None)

    def set_exception(self, exc_info: OptExcInfo | None = None) -> None:
        if exc_info is None:
            exc_info = sys.exc_info()
        exc_type, exc_value, exc_traceback = exc_info
        if exc_value is None:
            exc_value = (exc_type or RuntimeError)()
        if exc_traceback is not None and exc_value.__traceback__ is not exc_traceback:
            exc_value = exc_value.with_traceback(exc_traceback)
        self._complete(None, exc_value)

    def _complete(self, value: Any, error: BaseException | None) -> None:
        with self._lock:
            if self._done or self._get_hook is not None:
                raise queue.Full  # as pykka.ThreadingFuture: a future is set once
            self._value, self._error = value, error
            self._done = True
            if self._blocked is not None:
                self._blocked.set()
            token = self._token if self._waiters > 0 else None
        if token is not None:
            with contextlib.suppress(trio.RunFinishedError):  # nobody is left to wake
                Waker.of(token).call(self._wake)

    def _wake(self) -> None:
        # Runs inside trio via run_sync_soon: an exception here would crash the run.
        try:
            ready = self._ready
            if ready is not None:
                ready.set()
        except Exception:
            logger.exception("TrioFuture wake-up failed")

    # ------------------------------------------------------------ trio side

    async def wait(self, timeout: float | None = None) -> T:
        """Await the outcome: return the value or raise the actor's exception.

        Raises ``trio.TooSlowError`` after ``timeout`` seconds.  Being cancelled or timing
        out only stops waiting; the actor still handles the message.
        """
        if self._get_hook is not None:
            raise TypeError("a TrioFuture built with a get hook can only be get(), not awaited")
        with trio.fail_after(math.inf if timeout is None else timeout):
            with self._lock:
                ready = None
                if not self._done:
                    self._token = trio.lowlevel.current_trio_token()  # wake this run
                    self._waiters += 1
                    ready = self._ready = self._ready or trio.Event()
            if ready is None:
                await trio.lowlevel.checkpoint()
            else:
                try:
                    await ready.wait()
                finally:
                    with self._lock:
                        self._waiters -= 1
        return self._outcome()

    def __await__(self) -> Generator[Any, None, T]:
        return self.wait().__await__()

    # ------------------------------------------------------------ any thread

    def get(self, *, timeout: float | None = None) -> T:
        """Block until the outcome is set (never call this from the trio thread)."""
        if self._get_hook is not None:
            return super().get(timeout=timeout)
        with self._lock:
            if self._done:
                blocked = None
            else:
                if self._blocked is None:
                    self._blocked = threading.Event()
                blocked = self._blocked
        if blocked is not None and not blocked.wait(timeout):
            raise pykka.Timeout(f"{timeout} seconds")
        return self._outcome()

    def done(self) -> bool:
        """Whether the actor has set a value or an exception."""
        return self._done

    def _outcome(self) -> T:
        if self._error is not None:
            raise self._error
        value: T = self._value
        return value


class Bridge:
    """Asks and tells actors from trio tasks without blocking the event loop."""

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token

    @classmethod
    def current(cls) -> Bridge:
        """A bridge for the running trio loop (call from inside trio)."""
        return cls(trio.lowlevel.current_trio_token())

    @property
    def token(self) -> trio.lowlevel.TrioToken:
        return self._token

    def future(self) -> TrioFuture[Any]:
        """A fresh future bound to this bridge's trio loop."""
        return TrioFuture(self._token)

    async def ask(
        self,
        target: pykka.ActorRef[Any] | Askable,
        message: Any,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Send ``message`` to ``target`` and await its reply.

        The actor's exception re-raises here; ``pykka.ActorDeadError`` if the actor is
        stopped; ``trio.TooSlowError`` after ``timeout`` seconds.
        """
        future: TrioFuture[Any] = TrioFuture(self._token)
        if isinstance(target, pykka.ActorRef):
            if not target.is_alive():
                raise pykka.ActorDeadError(f"{target} not found")
            target.actor_inbox.put(Envelope(message, reply_to=future))
        elif isinstance(target, Askable):
            target.ask_into(message, future)
        else:
            raise TypeError(f"cannot ask {target!r}: not an ActorRef and has no ask_into()")
        return await future.wait(timeout)

    def tell(self, target: pykka.ActorRef[Any] | Tellable, message: Any) -> None:
        """Send ``message`` without waiting (``pykka.ActorDeadError`` if stopped)."""
        target.tell(message)

    def sink(self, *, limit: int) -> EventSink:
        """A new event sink for one websocket connection on this loop."""
        return EventSink(self._token, limit=limit)


class SlowConsumer(Exception):
    """The websocket client fell too far behind; ``reason`` is the close reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SinkStatistics:
    """Counters of one ``EventSink``: pushed = delivered + dropped + pending."""

    pushed: int
    delivered: int
    dropped: int
    pending: int
    overflowed: bool


class EventSink:
    """Carries events from actor threads to the one trio task serving a websocket."""

    def __init__(self, token: trio.lowlevel.TrioToken, *, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self._token = token
        self._waker = Waker.of(token)
        self._limit = limit
        self._lock = threading.Lock()
        self._pending: collections.deque[object] = collections.deque()
        self._ready: trio.Event | None = None  # set while the consumer task waits
        self._wake_scheduled = False
        self._closed = False
        self._overflow: str | None = None
        self._pushed = self._delivered = self._dropped = 0

    def push(self, event: object) -> None:
        """Queue ``event`` for the websocket; from any thread, never blocks or raises."""
        try:
            with self._lock:
                self._pushed += 1
                if self._closed or self._overflow is not None:
                    self._dropped += 1
                    return
                if len(self._pending) >= self._limit:
                    self._overflow = f"slow consumer: {len(self._pending)} events pending"
                    self._dropped += 1 + len(self._pending)
                    self._pending.clear()
                else:
                    self._pending.append(event)
                if self._ready is None or self._wake_scheduled:
                    return  # the consumer is busy (it will look) or already being woken
                self._wake_scheduled = True
            self._waker.call(self._wake)
        except trio.RunFinishedError:
            self._finish()
        except Exception:
            logger.exception("EventSink.push failed")

    def close(self) -> None:
        """Stop accepting events; a waiting consumer gets ``trio.EndOfChannel``."""
        with self._lock:
            self._closed = True
            wake = self._ready is not None and not self._wake_scheduled
            self._wake_scheduled = self._wake_scheduled or wake
        if wake:
            try:
                self._waker.call(self._wake)
            except trio.RunFinishedError:
                self._finish()

    def statistics(self) -> SinkStatistics:
        with self._lock:
            return SinkStatistics(
                pushed=self._pushed,
                delivered=self._delivered,
                dropped=self._dropped,
                pending=len(self._pending),
                overflowed=self._overflow is not None,
            )

    async def receive_batch(self) -> list[object]:
        """Wait for events and return all buffered ones, oldest first.

        Raises ``SlowConsumer`` once overflowed and ``trio.EndOfChannel`` when closed and
        drained.  Only one task may receive from a sink.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        waited = False
        while True:
            with self._lock:
                if self._overflow is not None:
                    raise SlowConsumer(self._overflow)
                if self._pending:
                    batch = list(self._pending)
                    self._pending.clear()
                    self._delivered += len(batch)
                elif self._closed:
                    raise trio.EndOfChannel
                else:
                    batch = []
                    ready = self._ready = trio.Event()
            if batch:  # taken: from here on a cancellation must not lose it
                if not waited:  # a call that found events at once still yields once
                    await trio.lowlevel.cancel_shielded_checkpoint()
                return batch
            try:
                await ready.wait()
            finally:
                with self._lock:
                    self._ready = None
            waited = True

    def __aiter__(self) -> EventSink:
        return self

    async def __anext__(self) -> list[object]:
        try:
            return await self.receive_batch()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    def _wake(self) -> None:
        # Runs inside trio via run_sync_soon: an exception here would crash the run.
        try:
            with self._lock:
                self._wake_scheduled = False
                ready = self._ready
            if ready is not None:
                ready.set()
        except Exception:
            logger.exception("EventSink wake-up failed")

    def _finish(self) -> None:
        with self._lock:  # the trio run is over: nothing can be delivered any more
            self._closed = True
            self._dropped += len(self._pending)
            self._pending.clear()
