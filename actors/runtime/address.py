"""A stable address for one entity, whatever happens to the actor behind it.

A conversation's actor may be passivated when idle, or crash and be restarted
by its supervisor; senders must not care.  They hold an :class:`Address`, which
is one small object per entity (kept in its supervisor's book):

* while an actor is attached, a message goes straight into its inbox;
* while none is (dormant after passivation, or between a crash and its
  restart), messages wait in the address's own buffer, in order, and the first
  one asks the supervisor to bring the actor back;
* when an actor stops, its teardown hands any messages still in its inbox back
  to the address *ahead of* the buffered ones, under the address's lock, so
  nothing is lost and nothing overtakes.

The lock guards only the handover between actor instances (the runtime's
plumbing); the facts of the contact center stay owned by the actors.
"""

from __future__ import annotations

import enum
import threading
from typing import TYPE_CHECKING, Any, Protocol

import pykka
from pykka._envelope import Envelope

from actors.errors import NotFound
from actors.runtime.entity import PassivateIfIdle

if TYPE_CHECKING:
    from actors.runtime.runtime import Runtime

__all__ = ["Address", "Host", "Phase"]


class Phase(enum.Enum):
    """Where an address stands with respect to its actor."""

    LIVE = "live"
    WAITING = "waiting"  # buffering until the supervisor (re)starts the actor
    DORMANT = "dormant"  # passivated; the next message wakes it
    CLOSED = "closed"


class Host(Protocol):
    """What an address needs from its supervisor."""

    runtime: Runtime

    def spawn(self, address: Address, state: Any) -> pykka.ActorRef[Any]: ...

    def wake(self, address: Address) -> None: ...


class Address:
    """Reach one entity by key across restarts and passivation; safe from any thread."""

    __slots__ = ("_buffer", "_lock", "_pending", "_phase", "_ref", "host", "key")

    def __init__(self, key: str, host: Host) -> None:
        self.key = key
        self.host = host
        self._lock = threading.Lock()
        self._ref: pykka.ActorRef[Any] | None = None
        self._buffer: list[Envelope[Any]] | None = None
        self._phase = Phase.WAITING
        self._pending: tuple[Any] | None = None  # a state to start from once detached

    def __repr__(self) -> str:
        return f"<Address {self.key} {self._phase.value}>"

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def ref(self) -> pykka.ActorRef[Any] | None:
        return self._ref

    def send(self, message: Any, future: pykka.Future[Any] | None = None) -> None:
        """Send without waiting, the reply (if any) set on ``future``; in order even
        across a restart."""
        envelope = Envelope(message, reply_to=future)
        runtime = self.host.runtime
        if runtime.tracking:
            runtime.track(1)
        wake = False
        with self._lock:
            if self._ref is not None:
                self._ref.actor_inbox.put(envelope)
                return
            if self._phase is Phase.CLOSED:
                self._refuse([envelope])
                return
            if self._buffer is None:
                self._buffer = []
            self._buffer.append(envelope)
            if self._phase is Phase.DORMANT:
                self._phase = Phase.WAITING
                wake = True
        if wake:
            self.host.wake(self)

    # the same function under pykka's names: one call per message, not two
    tell = send  # no reply
    ask_into = send  # the reply set on a future (the trio bridge's, say)

    def ask_future(self, message: Any) -> pykka.Future[Any]:
        future = self.host.runtime.future()
        self.ask_into(message, future)
        return future

    def ask(self, message: Any, timeout: float | None = 10.0) -> Any:
        """Send and block for the reply; for tests, benchmarks and non-actor threads."""
        return self.ask_future(message).get(timeout=timeout)

    # -- runtime side -------------------------------------------------------

    def start(self, state: Any) -> None:
        """Attach a new actor built from ``state`` and hand it the buffered mail."""
        with self._lock:
            if self._phase is Phase.CLOSED:
                return
            if self._ref is not None:
                # the old actor has not finished its teardown yet: start when it has
                self._pending = (state,)
                return
            self._attach(state)

    def _attach(self, state: Any) -> None:
        ref = self.host.spawn(self, state)
        buffered, self._buffer = self._buffer, None
        for envelope in buffered or ():
            ref.actor_inbox.put(envelope)
        self._ref = ref
        self._phase = Phase.LIVE

    def detach(self, actor: pykka.Actor, *, dormant: bool) -> None:
        """Called from a stopping actor's teardown: take back its unhandled mail."""
        wake = False
        with self._lock:
            if self._ref is None or self._ref.actor_urn != actor.actor_urn:
                return
            left: list[Envelope[Any]] = []
            inbox = actor.actor_inbox
            while not inbox.empty():
                envelope = inbox.get()
                if dormant and isinstance(envelope.message, PassivateIfIdle):
                    self.host.runtime.track(-1)  # a second offer to sleep: it is asleep
                    continue
                left.append(envelope)
            self._ref = None
            if self._phase is Phase.CLOSED:
                self._refuse(left + (self._buffer or []))
                self._buffer = None
                return
            self._buffer = left + (self._buffer or []) if left or self._buffer else None
            if self._pending is not None:
                (state,) = self._pending
                self._pending = None
                self._attach(state)
                return
            if dormant and not self._buffer:
                self._phase = Phase.DORMANT
            else:
                self._phase = Phase.WAITING
                wake = dormant  # passivated while mail was arriving: wake at once
        if wake:
            self.host.wake(self)

    def close(self) -> None:
        """No more mail: stop the actor (if any) and refuse what comes next."""
        with self._lock:
            self._phase = Phase.CLOSED
            ref, buffered, self._buffer = self._ref, self._buffer, None
            self._refuse(buffered or [])
        if ref is not None:
            ref.stop(block=False)

    def _refuse(self, envelopes: list[Envelope[Any]]) -> None:
        for envelope in envelopes:
            self.host.runtime.track(-1)
            if envelope.reply_to is not None:
                try:
                    raise NotFound(f"{self.key} is closed")
                except NotFound:
                    envelope.reply_to.set_exception()
