"""The two actor runtimes, chosen by configuration, running the same actor classes.

Actor classes in this project derive from :class:`EntityActor` (or plain
``pykka.Actor``) and never name a runtime.  :meth:`Runtime.concrete` builds, once
per class, a subclass that adds the runtime's base: ``PoolActor`` (many actors on
a few dispatcher threads — the default) or pykka's ``ThreadingActor`` (a thread
per actor — the reference the benchmarks compare against, and a fallback).

With ``track=True`` the runtime counts messages sent through addresses and
handled by actors, so tests and benchmarks can wait until the system is quiet
(``wait_idle``) and, with a :class:`VirtualClock`, fire due timers until nothing
is left to do (``settle``).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from typing import Any, Literal

import pykka

from actors.runtime.clock import Clock, RealClock, VirtualClock
from actors.runtime.pool import Dispatcher, PoolActor, PoolFuture, ThreadActor

__all__ = ["PoolRuntime", "Runtime", "ThreadRuntime", "make_runtime"]

RuntimeKind = Literal["pool", "thread"]


class Runtime(ABC):
    """Where actors run, which clock they read, and how futures are made."""

    kind: RuntimeKind

    def __init__(self, clock: Clock | None = None, *, track: bool = False) -> None:
        self.clock: Clock = clock if clock is not None else RealClock()
        self._owns_clock = clock is None
        self._classes: dict[type[Any], type[Any]] = {}
        #: whether messages are counted (read on every send: a plain attribute)
        self.tracking = track
        self._pending = 0
        self._idle = threading.Condition()

    @abstractmethod
    def _base(self) -> type[pykka.Actor]: ...

    @abstractmethod
    def _attributes(self) -> dict[str, Any]: ...

    def concrete(self, cls: type[Any]) -> type[Any]:
        """The runnable subclass of ``cls`` for this runtime (built once, then cached)."""
        built = self._classes.get(cls)
        if built is None:
            base = self._base()
            built = (
                cls
                if issubclass(cls, base)
                else type(cls.__name__, (cls, base), self._attributes())
            )
            built.__module__ = cls.__module__
            built.__qualname__ = cls.__qualname__
            self._classes[cls] = built
        return built

    def start(self, cls: type[Any], *args: Any, **kwargs: Any) -> pykka.ActorRef[Any]:
        """Start an actor of ``cls`` on this runtime."""
        ref: pykka.ActorRef[Any] = self.concrete(cls).start(*args, **kwargs)
        return ref

    def future(self) -> pykka.Future[Any]:
        return pykka.ThreadingFuture()

    # -- quiescence (tests and benchmarks) -----------------------------------

    def track(self, delta: int) -> None:
        if not self.tracking:
            return
        with self._idle:
            self._pending += delta
            if self._pending <= 0:
                self._idle.notify_all()

    @property
    def pending(self) -> int:
        return self._pending

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every tracked message has been handled."""
        if not self.tracking:
            msg = "wait_idle needs a runtime started with track=True"
            raise RuntimeError(msg)
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until quiet, firing due virtual timers, until nothing is left to do."""
        clock = self.clock
        while True:
            if not self.wait_idle(timeout):
                msg = f"actors still busy after {timeout}s ({self._pending} messages pending)"
                raise TimeoutError(msg)
            if not isinstance(clock, VirtualClock) or clock.run_due() == 0:
                return

    def shutdown(self) -> None:
        if self._owns_clock and isinstance(self.clock, RealClock):
            self.clock.close()


class PoolRuntime(Runtime):
    """Actors multiplexed on a few dispatcher threads (the default)."""

    kind: RuntimeKind = "pool"

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        threads: int = 2,
        batch: int = 64,
        track: bool = False,
    ) -> None:
        super().__init__(clock, track=track)
        self.dispatcher = Dispatcher(threads=threads, batch=batch)

    def _base(self) -> type[pykka.Actor]:
        return PoolActor

    def _attributes(self) -> dict[str, Any]:
        return {"dispatcher": self.dispatcher}

    def future(self) -> pykka.Future[Any]:
        return PoolFuture()

    def shutdown(self) -> None:
        self.dispatcher.shutdown()
        super().shutdown()


class ThreadRuntime(Runtime):
    """pykka's own thread-per-actor runtime."""

    kind: RuntimeKind = "thread"

    def _base(self) -> type[pykka.Actor]:
        return ThreadActor

    def _attributes(self) -> dict[str, Any]:
        return {}


def make_runtime(
    kind: str,
    clock: Clock | None = None,
    *,
    threads: int = 2,
    batch: int = 64,
    track: bool = False,
) -> Runtime:
    """Build the runtime named in the configuration."""
    if kind == "pool":
        return PoolRuntime(clock, threads=threads, batch=batch, track=track)
    if kind != "thread":
        msg = f"unknown actor runtime {kind!r} (expected 'pool' or 'thread')"
        raise ValueError(msg)
    return ThreadRuntime(clock, track=track)
