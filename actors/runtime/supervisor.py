"""Supervisors: start, watch, restart, passivate and wake the actors of one kind.

A :class:`Supervisor` keeps the book of addresses of its children (all
conversations, or all agents, or all queues) and makes the life-cycle decisions
in an actor of its own (on a thread of its own: waking a child may read
storage):

* **restart** — a child whose handler raised is restarted from its last
  committed state, with the mail that was waiting for it.  At most
  ``max_restarts`` within ``within_s`` seconds; past that the supervisor
  *escalates* to its parent, as in OTP.  The parent, within its own limit,
  restarts the child supervisor, which restarts every child still waiting from
  its last known state.  At the top there is no parent: the failure is logged
  as critical and counted, and the waiting children keep their mail.
* **passivation** — every ``passivate_after`` seconds a sweep offers idle
  children a :class:`PassivateIfIdle`; the child decides.  A passivated child's
  state goes to the dormant store; its next message wakes it.

Failures are logged and counted (:class:`SupervisorStats`); one failing child
never stops its siblings.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import pykka

from actors.errors import Conflict
from actors.runtime.address import Address, Phase
from actors.runtime.entity import PassivateIfIdle

if TYPE_CHECKING:
    from actors.runtime.clock import Timer
    from actors.runtime.runtime import Runtime

__all__ = ["DormantStore", "Journal", "MemoryDormantStore", "Supervisor", "SupervisorStats"]

logger = logging.getLogger(__name__)

S = TypeVar("S")


class DormantStore(Protocol):
    """Where passivated children's states wait (memory here; Redis in production)."""

    def put(self, kind: str, key: str, state: Any) -> None: ...

    def take(self, kind: str, key: str) -> Any | None: ...


class Journal(Protocol):
    """Durable storage of one kind of child: every step, and the state to wake from.

    ``save`` is called on the child's thread after each step that changed its
    state or recorded something; it must not block on I/O (queue the write).
    ``old`` is the state last saved (None when the child is new).
    """

    def save(self, key: str, old: Any, new: Any, records: Sequence[Any]) -> None: ...

    def load(self, key: str) -> Any | None: ...


class MemoryDormantStore:
    """Dormant states kept in this process."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, str], Any] = {}

    def put(self, kind: str, key: str, state: Any) -> None:
        self._states[(kind, key)] = state

    def take(self, kind: str, key: str) -> Any | None:
        return self._states.pop((kind, key), None)

    def __len__(self) -> int:
        return len(self._states)


@dataclass(frozen=True, slots=True)
class SupervisorStats:
    """Counters of one supervisor's life-cycle decisions."""

    children: int
    live: int
    failures: int
    restarts: int
    escalations: int
    passivations: int
    wakes: int
    failed: bool


class _Restartable(Protocol):
    key: str

    def start(self, state: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class _Failed:
    address: _Restartable
    state: Any
    error: str


@dataclass(frozen=True, slots=True)
class _Wake:
    address: Address


@dataclass(frozen=True, slots=True)
class _ChildSupervisorFailed:
    child: Supervisor[Any]


class _Sweep:
    pass


class Supervisor(Generic[S]):
    """Owns the children of one kind: their addresses, restarts and passivation."""

    def __init__(
        self,
        name: str,
        runtime: Runtime,
        child_class: type[Any],
        *,
        context: Any = None,
        parent: Supervisor[Any] | None = None,
        max_restarts: int = 5,
        within_s: float = 10.0,
        store: DormantStore | None = None,
        passivate_after: float | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.name = name
        self.journal = journal
        self.runtime = runtime
        self.child_class = child_class
        self.context = context
        self.parent = parent
        self.max_restarts = max_restarts
        self.within_s = within_s
        self.store: DormantStore = store if store is not None else MemoryDormantStore()
        self.passivate_after = passivate_after
        self._book: dict[str, Address] = {}
        #: the address of ``key``, or None (the book's own ``get``: senders call it often)
        self.get: Callable[[str], Address | None] = self._book.get
        self._restart_times: collections.deque[float] = collections.deque()
        # failed children not restarted (escalated): key -> (child, last state)
        self._waiting: dict[str, tuple[_Restartable, Any]] = {}
        self._failed = False
        self._counts = collections.Counter[str]()
        self._sweep_timer: Timer | None = None
        self._actor = _SupervisorActor.start(self)
        if passivate_after:
            self._schedule_sweep()

    # -- the book ------------------------------------------------------------

    def open(self, key: str, state: S) -> Address:
        """Start a new child for ``key`` from ``state`` and return its address."""
        return self._start_new(key, state, save=True)

    def restore(self, key: str, state: S | None = None) -> Address:
        """The address of a child recovered from storage: live from ``state``, else dormant."""
        if state is None:
            return self.adopt(key)
        return self._start_new(key, state, save=False)

    def _start_new(self, key: str, state: S, *, save: bool) -> Address:
        address = Address(key, self)
        existing = self._book.setdefault(key, address)
        if existing is not address:
            raise Conflict(f"{self.name} {key} already exists")
        if save and self.journal is not None:
            self.journal.save(key, None, state, ())
        address.start(state)
        return address

    def adopt(self, key: str) -> Address:
        """The address of ``key``, dormant if new: its first message wakes it from the store."""
        address = self._book.get(key)
        if address is None:
            fresh = Address(key, self)
            fresh._phase = Phase.DORMANT  # noqa: SLF001
            address = self._book.setdefault(key, fresh)
        return address

    def __contains__(self, key: object) -> bool:
        return key in self._book

    def __len__(self) -> int:
        return len(self._book)

    def __iter__(self) -> Iterator[Address]:
        return iter(list(self._book.values()))

    def close(self, key: str) -> None:
        """Stop ``key`` for good and forget it."""
        address = self._book.pop(key, None)
        if address is not None:
            address.close()

    # -- Host protocol (called by addresses and children) --------------------

    def spawn(self, address: Address, state: Any) -> pykka.ActorRef[Any]:
        return self.runtime.start(self.child_class, address, state, self)

    def wake(self, address: Address) -> None:
        self._tell(_Wake(address))

    def store_dormant(self, key: str, state: Any) -> None:
        self.store.put(self.name, key, state)
        self._counts["passivations"] += 1

    def count_passivation(self) -> None:
        self._counts["passivations"] += 1

    def child_failed(self, address: Address, state: Any, error: BaseException | None) -> None:
        self._tell(_Failed(address, state, repr(error)))

    # -- operations ----------------------------------------------------------

    def stats(self) -> SupervisorStats:
        live = sum(1 for a in list(self._book.values()) if a.phase is Phase.LIVE)
        c = self._counts
        return SupervisorStats(
            children=len(self._book),
            live=live,
            failures=c["failures"],
            restarts=c["restarts"],
            escalations=c["escalations"],
            passivations=c["passivations"],
            wakes=c["wakes"],
            failed=self._failed,
        )

    def sweep(self) -> None:
        """Offer every live child the chance to passivate if idle (``passivate_after``)."""
        if not self.passivate_after:
            return
        message = PassivateIfIdle(self.passivate_after)
        now = self.runtime.clock.now()
        for address in list(self._book.values()):
            ref = address.ref
            if ref is None:
                continue
            actor = ref._actor_weakref()  # noqa: SLF001 -- a hint only; the child decides
            if (
                actor is not None
                and now - getattr(actor, "last_active", now) >= self.passivate_after
            ):
                address.tell(message)

    def stop(self) -> None:
        """Stop every child and the supervisor itself."""
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
        for address in list(self._book.values()):
            ref = address.ref
            if ref is not None:
                ref.stop(block=False)
        self._actor.stop(block=False)

    def _schedule_sweep(self) -> None:
        assert self.passivate_after
        interval = max(self.passivate_after / 4, 0.01)
        self._sweep_timer = self.runtime.clock.call_later(interval, self._sweep_tick)

    def _sweep_tick(self) -> None:
        try:
            self._tell(_Sweep())
        except pykka.ActorDeadError:
            return
        self._schedule_sweep()

    # -- decisions, run on the supervisor's own actor -------------------------

    def _on_failed(self, failed: _Failed) -> None:
        self._counts["failures"] += 1
        logger.error("%s %s failed: %s", self.name, failed.address.key, failed.error)
        if self._failed:
            self._waiting[failed.address.key] = (failed.address, failed.state)
            return
        now = self.runtime.clock.now()
        times = self._restart_times
        while times and now - times[0] > self.within_s:
            times.popleft()
        if len(times) >= self.max_restarts:
            self._waiting[failed.address.key] = (failed.address, failed.state)
            self._escalate()
            return
        times.append(now)
        self._counts["restarts"] += 1
        failed.address.start(failed.state)

    def _tell(self, message: object) -> None:
        """Send the supervisor's actor a decision to make (counted for ``Runtime.settle``)."""
        self.runtime.track(1)
        try:
            self._actor.tell(message)
        except pykka.ActorDeadError:
            self.runtime.track(-1)
            raise

    def _escalate(self) -> None:
        self._failed = True
        self._counts["escalations"] += 1
        if self.parent is None:
            logger.critical(
                "%s exceeded %d restarts in %.0fs; %d children wait for an operator",
                self.name,
                self.max_restarts,
                self.within_s,
                len(self._waiting),
            )
            return
        logger.error(
            "%s exceeded its restart intensity; escalating to %s", self.name, self.parent.name
        )
        self.parent._tell(_ChildSupervisorFailed(self))  # noqa: SLF001

    def _on_child_supervisor_failed(self, child: Supervisor[Any]) -> None:
        self._on_failed(_Failed(_SupervisorAddress(child), None, f"{child.name} escalated"))

    def restart(self) -> None:
        """Restart this supervisor's failed children from their last known state."""
        self._tell(_Restart())

    def _on_restart(self) -> None:
        self._failed = False
        self._restart_times.clear()
        waiting, self._waiting = self._waiting, {}
        for child, state in waiting.values():
            self._counts["restarts"] += 1
            child.start(state)

    def _on_wake(self, address: Address) -> None:
        if self.journal is not None:
            try:
                state = self.journal.load(address.key)
            except Exception:
                # storage unreachable or a record unreadable: keep the mail, try again later
                logger.exception("%s %s could not be read; retrying", self.name, address.key)
                self.runtime.clock.call_later(1.0, lambda: self.wake(address))
                return
        else:
            state = self.store.take(self.name, address.key)
        if state is None:
            logger.error("%s %s has no dormant state; refusing its mail", self.name, address.key)
            self._book.pop(address.key, None)
            address.close()
            return
        self._counts["wakes"] += 1
        address.start(state)


class _Restart:
    pass


class _SupervisorAddress:
    """Lets a parent restart a child supervisor through the same path as any child."""

    def __init__(self, child: Supervisor[Any]) -> None:
        self.child = child
        self.key = child.name

    def start(self, _state: Any) -> None:
        self.child.restart()


class _SupervisorActor(pykka.ThreadingActor):
    """Serialises one supervisor's decisions on a thread of its own."""

    use_daemon_thread = True

    def __init__(self, supervisor: Supervisor[Any]) -> None:
        super().__init__()
        self.supervisor = supervisor

    def _actor_loop_teardown(self) -> None:
        # decisions still queued when the supervisor stops are dropped: uncount them
        # (Runtime.settle would otherwise wait for them forever), then let pykka
        # answer any asks among them
        left = []
        while not self.actor_inbox.empty():
            envelope = self.actor_inbox.get()
            if not isinstance(envelope.message, pykka.messages._ActorStop):  # noqa: SLF001
                self.supervisor.runtime.track(-1)
            left.append(envelope)
        for envelope in left:
            self.actor_inbox.put(envelope)
        super()._actor_loop_teardown()

    def on_receive(self, message: Any) -> Any:
        try:
            return self._decide(message)
        finally:
            self.supervisor.runtime.track(-1)

    def _decide(self, message: Any) -> Any:
        sup = self.supervisor
        match message:
            case _Failed():
                sup._on_failed(message)  # noqa: SLF001
            case _Wake(address):
                sup._on_wake(address)  # noqa: SLF001
            case _ChildSupervisorFailed(child):
                sup._on_child_supervisor_failed(child)  # noqa: SLF001
            case _Restart():
                sup._on_restart()  # noqa: SLF001
            case _Sweep():
                sup.sweep()
            case _:
                return super().on_receive(message)
        return None
