"""The base of every supervised actor: one entity, one state value, one address.

An :class:`EntityActor` is written once and runs on either runtime: the runtime
builds a concrete subclass that also derives from ``PoolActor`` or pykka's
``ThreadingActor``.  Its contract:

* ``self.state`` is the actor's committed state.  Handlers compute a new value
  and assign it only when they succeed, so when a handler raises, the state the
  supervisor restarts from is the last good one.
* A failure (an exception escaping a ``tell`` handler) is reported to the
  supervisor from ``on_failure``; the supervisor decides about the restart.
* On stop, the teardown gives unhandled mail back to the address, so a restart
  or a wake-up after passivation loses nothing.
* ``passivate()`` saves the state with the supervisor and stops the actor at
  once; the next message to the address brings it back.
* With a journal (durable storage), every step that changed the state or
  recorded something (:meth:`record`) is handed to the journal after the
  handler succeeded: the new state, the state last saved, and the records —
  one atomic write, off the actor's thread.  A failed step records nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pykka
from pykka import messages

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from actors.runtime.address import Address
    from actors.runtime.supervisor import Supervisor

__all__ = ["EntityActor", "PassivateIfIdle"]

logger = logging.getLogger(__name__)

S = TypeVar("S")

_INTERNAL = frozenset(
    {messages._ActorStop, messages.ProxyCall, messages.ProxyGetAttr, messages.ProxySetAttr}  # noqa: SLF001
)


class PassivateIfIdle:
    """Sent by the supervisor's sweep; the actor passivates if it is still idle."""

    __slots__ = ("idle_for",)

    def __init__(self, idle_for: float) -> None:
        self.idle_for = idle_for


class EntityActor(pykka.Actor, Generic[S]):
    """An actor that owns the facts of one entity (a conversation, an agent, a queue)."""

    def __init__(self, address: Address, state: S, supervisor: Supervisor[Any]) -> None:
        super().__init__()
        self.address = address
        self.state = state
        self.supervisor = supervisor
        self.clock = supervisor.runtime.clock
        self.last_active = self.clock.now()
        self._passivating = False
        #: called by the runtime after each message when it counts them (tests), else None
        self._envelope_done: Callable[[Any], None] | None = (
            self._count_done if supervisor.runtime.tracking else None
        )
        self._journal = supervisor.journal
        self._saved: S = state  # what the journal last wrote (an opened child is saved first)
        self._records: list[Any] = []

    def __str__(self) -> str:
        return f"{type(self).__name__}({self.address.key})"

    # -- hooks for subclasses ------------------------------------------------

    def handle(self, message: Any) -> Any:
        """Handle one message; override in subclasses."""
        return super().on_receive(message)

    def can_passivate(self) -> bool:
        """Whether this entity may be put to sleep when idle (override to allow)."""
        return False

    def snapshot(self) -> S:
        """The value to restart or wake up from."""
        return self.state

    # -- plumbing ------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        return self._handle_receive(message)

    def _handle_receive(self, message: Any) -> Any:
        # the runtime's loop turn calls this for every message: pykka's own (stop, proxy
        # calls) go to pykka, ours are handled here, skipping its chain of checks
        if type(message) in _INTERNAL:
            return super()._handle_receive(message)
        if type(message) is PassivateIfIdle:
            idle = self.clock.now() - self.last_active
            if idle >= message.idle_for and self.can_passivate():
                self.passivate()
            return None
        self.last_active = self.clock.now()
        if self._journal is None:
            return self.handle(message)
        self._records = []
        result = self.handle(message)
        if self.state is not self._saved or self._records:
            self._journal.save(self.address.key, self._saved, self.state, self._records)
            self._saved = self.state
            self._records = []
        return result

    @property
    def durable(self) -> bool:
        """Whether steps are journaled (else :meth:`record` is a no-op)."""
        return self._journal is not None

    def write_now(self, entry: Any) -> None:
        """Write a record at once, ahead of this step (for facts other writes depend on)."""
        if self._journal is not None:
            self._journal.save(self.address.key, self._saved, self._saved, (entry,))

    def record(self, entry: Any) -> None:
        """Add a record to this step's write (kept only if the handler succeeds)."""
        if self._journal is not None:
            self._records.append(entry)

    def _count_done(self, message: Any) -> None:
        """After each message, failure handling included: one fewer in flight."""
        if type(message) not in _INTERNAL:
            self.supervisor.runtime.track(-1)

    def passivate(self) -> None:
        """Save the state with the supervisor and stop now; mail already queued wakes it again."""
        if self._journal is None:
            self.supervisor.store_dormant(self.address.key, self.snapshot())
        else:  # the journal has the state already
            self.supervisor.count_passivation()
        self._passivating = True
        self._stop()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.supervisor.child_failed(self.address, self.snapshot(), exception_value)

    def _actor_loop_teardown(self) -> None:
        self.address.detach(self, dormant=self._passivating)
