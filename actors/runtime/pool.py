"""Many pykka actors on a few dispatcher threads.

pykka's ``ThreadingActor`` gives every actor a thread of its own, which costs
tens of kilobytes and a context switch per message; a contact center holds tens
of thousands of conversations at once.  :class:`PoolActor` plugs into pykka's
extension points instead (``_create_actor_inbox``, ``_create_future``,
``_start_actor_loop``) and runs on a :class:`Dispatcher`:

* each actor's inbox is a :class:`Mailbox` (a deque and a "scheduled" flag);
* putting a message into an idle mailbox puts the mailbox on the dispatcher's
  run queue, once;
* a dispatcher thread takes a mailbox, handles at most ``batch`` messages (so one
  busy actor cannot starve the others), then puts the mailbox at the back of the
  run queue if more are waiting, or clears its flag;
* an actor is only ever run by one thread at a time, so actor code needs no locks.

Actors on the pool must never block (no ``future.get()``, no socket I/O): a
blocked dispatcher thread stalls every actor behind it.  :class:`PoolFuture`
refuses ``get()`` on a dispatcher thread to turn that mistake into an error.
Pool actors are not put in pykka's global ``ActorRegistry`` (a plain list whose
removal is linear in the number of live actors); the runtime keeps its own
addresses instead.
"""

from __future__ import annotations

import collections
import itertools
import logging
import queue
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Self, cast

import pykka

if TYPE_CHECKING:
    from pykka._envelope import Envelope

__all__ = ["Dispatcher", "Mailbox", "PoolActor", "PoolFuture", "ThreadActor", "handle_envelope"]

logger = logging.getLogger(__name__)

_local = threading.local()
_actor_ids = itertools.count()


def on_dispatcher_thread() -> bool:
    """True when the calling thread is one of a dispatcher's threads."""
    return bool(getattr(_local, "dispatcher", False))


class PoolFuture(pykka.Future[Any]):
    """A future that refuses to block a dispatcher thread, and costs one lock until waited on.

    pykka's ``ThreadingFuture`` builds a condition variable (a re-entrant lock and
    its waiter list) for every ask; most replies here are set before anyone waits,
    or never waited on at all.  A waiter brings its own lock, released by ``set``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._guard = threading.Lock()
        self._outcome: tuple[Any, BaseException | None] | None = None
        self._waiters: list[threading.Lock] = []

    def get(self, *, timeout: float | None = None) -> Any:
        if self._get_hook is not None:
            return super().get(timeout=timeout)
        with self._guard:
            outcome = self._outcome
            if outcome is None:
                if on_dispatcher_thread():
                    msg = "an actor on the pool must not block on a future; reply with a message"
                    raise RuntimeError(msg)
                waiter = threading.Lock()
                waiter.acquire()
                self._waiters.append(waiter)
        if outcome is None:
            if not waiter.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
                raise pykka.Timeout(f"{timeout} seconds")
            outcome = self._outcome
            assert outcome is not None
        value, error = outcome
        if error is not None:
            raise error
        return value

    def set(self, value: Any = None) -> None:
        self._complete((value, None))

    def set_exception(self, exc_info: Any = None) -> None:
        exc_type, error, traceback = exc_info if exc_info is not None else sys.exc_info()
        if error is None:
            error = (exc_type or RuntimeError)()
        if traceback is not None and error.__traceback__ is not traceback:
            error = error.with_traceback(traceback)
        self._complete((None, error))

    def set_get_hook(self, func: Any) -> None:
        with self._guard:
            if self._outcome is not None:
                raise queue.Full
            super().set_get_hook(func)

    def _complete(self, outcome: tuple[Any, BaseException | None]) -> None:
        with self._guard:
            if self._outcome is not None or self._get_hook is not None:
                raise queue.Full  # as pykka's futures: set once
            self._outcome = outcome
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.release()


class _StopFlag:
    """The part of ``threading.Event`` pykka uses, without a lock and condition per actor."""

    __slots__ = ("_flag",)

    def __init__(self) -> None:
        self._flag = False

    def set(self) -> None:
        self._flag = True

    def is_set(self) -> bool:
        return self._flag

    def clear(self) -> None:
        self._flag = False


class Mailbox:
    """An actor inbox that schedules its actor on a dispatcher when it gets mail."""

    __slots__ = ("_actor", "_dispatcher", "_lock", "_queue", "_scheduled")

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._queue: collections.deque[Envelope[Any]] = collections.deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self._dispatcher = dispatcher
        self._actor: PoolActor | None = None

    def put(self, envelope: Envelope[Any], /) -> None:
        self._queue.append(envelope)
        with self._lock:
            if self._scheduled or self._actor is None:
                return
            self._scheduled = True
        self._dispatcher.schedule(self)

    def get(self) -> Envelope[Any]:
        try:
            return self._queue.popleft()
        except IndexError:
            raise queue.Empty from None

    def empty(self) -> bool:
        return not self._queue

    def __len__(self) -> int:
        return len(self._queue)

    def attach(self, actor: PoolActor) -> None:
        """Bind the actor; run it at once if it has ``on_start`` work or early mail."""
        needs_start = type(actor).on_start is not pykka.Actor.on_start
        if not needs_start:
            actor._pool_started = True  # noqa: SLF001
        with self._lock:
            self._actor = actor
            if not (needs_start or self._queue):
                return
            self._scheduled = True
        self._dispatcher.schedule(self)

    def run(self, batch: int) -> None:
        """Handle up to ``batch`` messages; called by exactly one dispatcher thread."""
        actor = self._actor
        assert actor is not None
        if not actor._pool_started:  # noqa: SLF001
            actor._pool_started = True  # noqa: SLF001
            actor._actor_loop_setup()  # noqa: SLF001
        stopped: _StopFlag = actor.actor_stopped  # type: ignore[assignment]
        inbox = self._queue
        handled = 0
        while handled < batch and inbox and not stopped._flag:  # noqa: SLF001
            handle_envelope(actor, inbox.popleft())
            handled += 1
        if stopped._flag:  # noqa: SLF001
            actor._actor_loop_teardown()  # noqa: SLF001
            return  # stays "scheduled" forever: a stopped actor is never run again
        with self._lock:
            if not self._queue:
                self._scheduled = False
                return
        self._dispatcher.schedule(self)


class Dispatcher:
    """A few threads running mailboxes from one FIFO run queue.

    Under CPython's GIL a second thread running Python code adds contention, not
    throughput, so new work wakes an idle thread only when no thread is running.
    The others stand by for when the running ones are stuck: a watchdog wakes
    one more whenever mail is waiting and no mailbox run has finished for
    ``stall_s`` (an actor blocking despite the rules, a long handler).
    """

    def __init__(
        self, threads: int = 2, batch: int = 64, name: str = "switchboard", stall_s: float = 0.02
    ) -> None:
        if threads < 1 or batch < 1:
            msg = "a dispatcher needs at least one thread and a batch of at least one"
            raise ValueError(msg)
        self.batch = batch
        self.stall_s = stall_s
        self._ready: collections.deque[Mailbox] = collections.deque()
        # the condition's own lock, taken directly on the hot paths: ``with lock`` is a C
        # call, ``with condition`` a Python-level ``__enter__``
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._running = threads  # threads not waiting for work
        self._stopping = False
        self._runs = 0  # finished mailbox runs, read by the watchdog
        self._threads = [
            threading.Thread(target=self._loop, name=f"{name}-dispatch-{i}", daemon=True)
            for i in range(threads)
        ]
        if threads > 1:
            self._threads.append(
                threading.Thread(target=self._watch, name=f"{name}-watchdog", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def schedule(self, mailbox: Mailbox) -> None:
        with self._lock:
            self._ready.append(mailbox)
            if self._running == 0:
                self._wake_one()

    def _wake_one(self) -> None:
        # counted as running from now: until it has the lock, later mail must not
        # wake a second thread for the same work
        self._running += 1
        self._cond.notify()

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=timeout)

    def _loop(self) -> None:
        _local.dispatcher = True
        batch = self.batch
        cond = self._cond
        lock = self._lock
        ready = self._ready
        while True:
            with lock:
                while not ready:
                    if self._stopping:
                        return
                    self._running -= 1
                    cond.wait()  # whoever woke us counted us as running
                mailbox = ready.popleft()
            try:
                mailbox.run(batch)
            except BaseException:  # a bug in the runtime itself: say so, keep serving
                logger.critical("dispatcher failed running %r", mailbox, exc_info=True)
            self._runs += 1

    def _watch(self) -> None:
        seen = -1
        while True:
            time.sleep(self.stall_s)
            with self._cond:
                if self._stopping:
                    return
                stalled = self._runs == seen and self._ready
                if stalled and self._running < len(self._threads) - 1:
                    self._wake_one()
            seen = self._runs


class PoolActor(pykka.Actor):
    """A pykka actor that runs on a shared :class:`Dispatcher` instead of its own thread."""

    #: set by the runtime on the concrete subclass it builds
    dispatcher: Dispatcher
    _pool_started: bool = False

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        # What pykka.Actor.__init__ sets up, minus the per-actor uuid4 (a syscall) and
        # threading.Event (a lock and a condition): at 100,000 actors both add up.
        self.actor_urn = f"urn:switchboard:actor:{next(_actor_ids)}"
        self.actor_inbox = self._create_actor_inbox()
        self.actor_stopped = cast("threading.Event", _StopFlag())
        self._actor_ref = pykka.ActorRef(self)

    @classmethod
    def start(cls, *args: Any, **kwargs: Any) -> pykka.ActorRef[Self]:
        obj = cls(*args, **kwargs)
        obj._start_actor_loop()
        return obj.actor_ref

    def _create_actor_inbox(self) -> Mailbox:  # type: ignore[override]
        return Mailbox(self.dispatcher)

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return PoolFuture()

    def _start_actor_loop(self) -> None:
        inbox = self.actor_inbox
        assert isinstance(inbox, Mailbox)
        inbox.attach(self)

    def _handle_envelope(self, envelope: Envelope[Any]) -> None:
        handle_envelope(self, envelope)


def handle_envelope(actor: pykka.Actor, envelope: Envelope[Any]) -> None:
    """One turn of pykka's actor loop, for one message; shared by both runtimes.

    After the turn (including any failure handling, which reports to the
    supervisor) the actor's ``_envelope_done`` hook, if it has one, is called:
    the runtime's quiescence count drops only once the failure report is sent.
    """
    try:
        response = actor._handle_receive(envelope.message)  # noqa: SLF001
        if envelope.reply_to is not None:
            envelope.reply_to.set(response)
    except Exception:
        if envelope.reply_to is not None:
            envelope.reply_to.set_exception()
        else:
            actor._handle_failure(*sys.exc_info())  # noqa: SLF001
            try:
                actor.on_failure(*sys.exc_info())
            except Exception:
                actor._handle_failure(*sys.exc_info())  # noqa: SLF001
    except BaseException:
        logger.critical("%s raised a BaseException; stopping it", actor, exc_info=True)
        actor._stop()  # noqa: SLF001
    finally:
        done = getattr(actor, "_envelope_done", None)
        if done is not None:
            done(envelope.message)


class ThreadActor(pykka.ThreadingActor):
    """pykka's thread-per-actor runtime, running the same loop turn as the pool."""

    use_daemon_thread = True

    def _actor_loop_running(self) -> None:
        while not self.actor_stopped.is_set():
            handle_envelope(self, self.actor_inbox.get())
