"""One clock for every time-out in the actor system.

Actors never read ``time`` directly and never sleep: they ask the injected
:class:`Clock` for ``now()`` and schedule work with ``call_later``.  The real
clock runs all timers on one background thread (a heap ordered by deadline);
the virtual clock runs them only when a test calls :meth:`VirtualClock.advance`,
so park time-outs, grace periods and offer time-outs are tested in exact
virtual time.  Timer callbacks must be short and non-blocking: in practice they
only ``tell`` an actor a message.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Clock", "RealClock", "Timer", "VirtualClock"]

logger = logging.getLogger(__name__)


class Timer(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic time in seconds and timers on it."""

    def now(self) -> float: ...

    def wall(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer: ...


@dataclass(order=True, slots=True)
class _Entry:
    deadline: float
    seq: int
    callback: Callable[[], None] | None = field(compare=False)

    def cancel(self) -> None:
        self.callback = None


def _run(entry: _Entry) -> None:
    callback = entry.callback
    entry.callback = None
    if callback is None:
        return
    try:
        callback()
    except Exception:
        logger.exception("timer callback failed")


class RealClock:
    """Wall-clock time with one timer thread for the whole process."""

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="switchboard-clock", daemon=True)
        self._thread.start()

    # wall-clock seconds: states carry these times and must mean the same after a
    # restart; timers below run on the monotonic clock, immune to clock steps.  The
    # builtin itself is the attribute: routing reads the time a score of times per
    # assignment, and a method around it would add a Python call to each.
    now = staticmethod(time.time)
    wall = staticmethod(time.time)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        entry = _Entry(time.monotonic() + max(0.0, delay), next(self._seq), callback)
        with self._cond:
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:
                self._cond.notify()
        return entry

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0].deadline - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(timeout=wait)
                if self._closed:
                    return
                entry = heapq.heappop(self._heap)
            _run(entry)


class VirtualClock:
    """Time that moves only when a test says so; timers fire in deadline order."""

    def __init__(self, start: float = 1000.0, wall_offset: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_offset
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._wall_offset + self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        entry = _Entry(self._now + max(0.0, delay), next(self._seq), callback)
        with self._lock:
            heapq.heappush(self._heap, entry)
        return entry

    def next_deadline(self) -> float | None:
        """The deadline of the earliest pending timer, if any."""
        with self._lock:
            while self._heap and self._heap[0].callback is None:
                heapq.heappop(self._heap)
            return self._heap[0].deadline if self._heap else None

    def run_due(self) -> int:
        """Fire every timer due at the current time; return how many fired."""
        fired = 0
        while True:
            with self._lock:
                if not self._heap or self._heap[0].deadline > self._now:
                    return fired
                entry = heapq.heappop(self._heap)
            if entry.callback is not None:
                fired += 1
            _run(entry)

    def advance(self, seconds: float) -> int:
        """Move time forward, firing due timers in order at their own deadlines."""
        target = self._now + seconds
        fired = 0
        while True:
            deadline = self.next_deadline()
            if deadline is None or deadline > target:
                break
            self._now = max(self._now, deadline)
            fired += self.run_due()
        self._now = target
        return fired + self.run_due()
