"""The write path: one thread, one connection, every write of the process, in order.

Why one writer: actors must never wait on Redis while they route, and a crash
must never leave half of one actor step on disk.  So an actor hands its step —
the new snapshot of what it owns plus the log entries and index updates the step
produced — to :meth:`Writer.commit` and goes on.  The writer thread takes
everything that piled up while the previous round trip was in flight and sends
it as **one MULTI/EXEC transaction**: under load, thousands of steps share a
round trip; a step is always on disk whole or not at all; and steps reach disk
in the order they were committed.  Snapshots of the same key within one round
are coalesced (only the newest is written) — safe because the round is atomic.

Callers that must know a write is durable (a webhook answers 200 only then)
pass a completion (:class:`Completion`: ``set`` / ``set_exception``) that the
writer completes with the step's command results after EXEC returns.

Reads of a key still waiting to be written see the pending value
(:meth:`pending`), so an actor woken from storage never reads an older state
than the one it last committed.

When Redis is unreachable the writer keeps the round and retries with backoff:
nothing accepted is dropped, completions wait, and ``healthy`` turns false.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from redis.exceptions import ExecAbortError

__all__ = ["MISSING", "Completion", "Op", "Writer", "WriterStats"]

logger = logging.getLogger(__name__)

#: one Redis command: name and arguments
Op = tuple[Any, ...]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: what :meth:`Writer.pending` returns for a key with no write waiting
MISSING: Any = _Missing()


class Completion(Protocol):
    """Told when a step is on disk (a pykka/trio future, or anything alike)."""

    def set(self, value: Any = None) -> None: ...

    def set_exception(self, exc_info: Any = None) -> None: ...


@dataclass(frozen=True, slots=True)
class WriterStats:
    rounds: int
    steps: int
    commands: int
    retries: int
    pending_steps: int
    last_round_ms: float
    healthy: bool


class _Step:
    __slots__ = ("done", "ops")

    def __init__(self, ops: list[Op], done: Completion | None) -> None:
        self.ops = ops
        self.done = done


class Writer:
    """Batches every write of the process into ordered, atomic transactions."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        max_steps: int = 5000,
        retry_initial_s: float = 0.05,
        retry_max_s: float = 2.0,
        name: str = "switchboard-writer",
        stall_s: float = 5.0,
    ) -> None:
        self._client = client
        self._max_steps = max_steps
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._cond = threading.Condition()
        self._steps: list[_Step] = []
        self._snapshots: dict[str, bytes | None] = {}  # key -> value (None: delete)
        self._inflight: dict[str, bytes | None] = {}
        self._submitted = 0  # rounds' worth of steps counted by sequence number
        self._written = 0
        self._closed = False
        self._healthy = True
        self._rounds = 0
        self._step_count = 0
        self._commands = 0
        self._retries = 0
        self._last_round_ms = 0.0
        self._conn: Any = None
        self._stall_s = stall_s
        self._round_started: float | None = None
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # -- the actors' side -----------------------------------------------------------

    def commit(
        self,
        ops: Iterable[Op] = (),
        snapshots: Mapping[str, bytes | None] | None = None,
        done: Completion | None = None,
    ) -> None:
        """Queue one step: snapshots (key -> value, None deletes) and commands, atomically."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the storage writer is closed")
            if snapshots:
                self._snapshots.update(snapshots)
            self._steps.append(_Step(list(ops), done))
            self._submitted += 1
            self._cond.notify()

    def pending(self, key: str) -> Any:
        """The newest not-yet-written snapshot of ``key``, or :data:`MISSING`."""
        with self._cond:
            if key in self._snapshots:
                return self._snapshots[key]
            return self._inflight.get(key, MISSING)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every step committed so far is on disk; False on time-out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._submitted
            while self._written < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is pending, then stop the thread."""
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._conn is not None and not self._thread.is_alive():
            self._client.connection_pool.release(self._conn)
            self._conn = None

    @property
    def healthy(self) -> bool:
        """False after a failed round until one succeeds, and while a round has waited
        on Redis longer than ``stall_s``."""
        started = self._round_started
        stalled = started is not None and time.monotonic() - started > self._stall_s
        return self._healthy and not stalled

    def stats(self) -> WriterStats:
        with self._cond:
            return WriterStats(
                rounds=self._rounds,
                steps=self._step_count,
                commands=self._commands,
                retries=self._retries,
                pending_steps=len(self._steps),
                last_round_ms=self._last_round_ms,
                healthy=self.healthy,
            )

    # -- the writer thread ---------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._steps and not self._snapshots and not self._closed:
                    self._cond.wait()
                if self._closed and not self._steps and not self._snapshots:
                    return
                steps = self._steps[: self._max_steps]
                del self._steps[: self._max_steps]
                snapshots, self._snapshots = self._snapshots, {}
                self._inflight = snapshots
            results = self._write(steps, snapshots)
            with self._cond:
                self._inflight = {}
                self._written += len(steps)
                self._cond.notify_all()
            self._complete(steps, results)

    def _write(self, steps: Sequence[_Step], snapshots: Mapping[str, bytes | None]) -> list[Any]:
        delay = self._retry_initial_s
        commands: list[Op] = [
            ("DEL", key) if value is None else ("SET", key, value)
            for key, value in snapshots.items()
        ]
        for step in steps:
            commands.extend(step.ops)
        while True:
            started = time.perf_counter()
            self._round_started = time.monotonic()
            try:
                results = self._transaction(commands)
            except (redis.ConnectionError, redis.TimeoutError) as error:
                self._drop_connection()
                with self._cond:
                    self._healthy = False
                    self._retries += 1
                    closing = self._closed
                logger.warning("storage write failed (%s); retrying in %.2fs", error, delay)
                if closing and self._retries > 50:
                    logger.critical("storage unreachable at shutdown: %d steps lost", len(steps))
                    return [error] * sum(len(s.ops) for s in steps)
                time.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)
                continue
            except Exception as error:  # a bug, not an outage: fail the round, keep writing
                self._drop_connection()
                logger.exception("storage round failed")
                return [error] * sum(len(s.ops) for s in steps)
            finally:
                self._round_started = None
            with self._cond:
                self._healthy = True
                self._rounds += 1
                self._step_count += len(steps)
                self._commands += len(commands)
                self._last_round_ms = (time.perf_counter() - started) * 1000
            mine = results[len(snapshots) :]
            if any(isinstance(r, ExecAbortError) for r in mine):
                return self._without_refused(steps, snapshots, mine)
            return mine

    def _without_refused(
        self, steps: Sequence[_Step], snapshots: Mapping[str, bytes | None], aborted: list[Any]
    ) -> list[Any]:
        """A round Redis aborted: the steps with a refused command fail with its error,
        the others are written again without them."""
        per_step, offset = [], 0
        for step in steps:
            per_step.append(aborted[offset : offset + len(step.ops)])
            offset += len(step.ops)
        refused = [any(not isinstance(r, ExecAbortError) for r in mine) for mine in per_step]
        kept = [step for step, bad in zip(steps, refused, strict=True) if not bad]
        again = iter(self._write(kept, snapshots) if kept or snapshots else [])
        out: list[Any] = []
        for step, bad, mine in zip(steps, refused, per_step, strict=True):
            out.extend(mine if bad else [next(again) for _ in step.ops])
        return out

    def _transaction(self, commands: list[Op]) -> list[Any]:
        """One MULTI/EXEC round trip: the whole round in one send, one reply per command
        (an error reply in its place).  A command Redis refuses to queue aborts the
        transaction: nothing is written, and that command's reply is its error while
        every other command's is the abort."""
        conn = self._connection()
        packed = conn.pack_commands([("MULTI",), *commands, ("EXEC",)])
        conn.send_packed_command([b"".join(packed)], check_health=False)
        refused: dict[int, redis.ResponseError] = {}
        for i in range(-1, len(commands)):  # MULTI's OK, then each command's QUEUED
            try:
                conn.read_response()
            except redis.ResponseError as error:
                refused[i] = error
        try:
            replies = conn.read_response()
        except ExecAbortError as abort:
            return [refused.get(i, abort) for i in range(len(commands))]
        if not isinstance(replies, list) or len(replies) != len(commands):
            self._drop_connection()
            raise redis.ConnectionError(f"EXEC answered {replies!r:.80} for {len(commands)}")
        callbacks = self._client.response_callbacks
        return [
            reply if isinstance(reply, Exception) or op[0] not in callbacks
            else callbacks[op[0]](reply)
            for op, reply in zip(commands, replies, strict=True)
        ]  # fmt: skip

    def _connection(self) -> Any:
        """The writer's own connection, out of the pool for good (no check-out per round)."""
        if self._conn is None:
            self._conn = self._client.connection_pool.get_connection()
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.disconnect()

    @staticmethod
    def _complete(steps: Sequence[_Step], results: list[Any]) -> None:
        offset = 0
        for step in steps:
            mine = results[offset : offset + len(step.ops)]
            offset += len(step.ops)
            failed = next((r for r in mine if isinstance(r, Exception)), None)
            if failed is not None:
                logger.error("storage step failed: %r", failed)
            if step.done is None:
                continue
            try:
                if failed is None:
                    step.done.set(mine)
                else:
                    step.done.set_exception((type(failed), failed, failed.__traceback__))
            except Exception:  # a completion that was already set or cancelled
                logger.exception("storage completion could not be told")
