"""Small actors and waits shared by the runtime tests.

``Counter`` is the workhorse: its state is the tuple of items it has counted, so a
lost, duplicated or reordered message shows up as a wrong tuple.  Its handlers
follow the entity contract: compute, then commit ``self.state`` only on success.

``Runtime.settle()`` waits for mail and for supervisor decisions, but an actor's
teardown (which moves its address to DORMANT or WAITING) runs just after its last
message is counted, so phase checks go through ``eventually``.  ``drain`` waits for
a supervisor alone, for when an actor is deliberately kept busy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pykka.messages import ProxyGetAttr

from actors.runtime import Address, EntityActor, Phase, Supervisor

__all__ = [
    "Add",
    "Boom",
    "Counter",
    "Echo",
    "Get",
    "Hold",
    "Sleepy",
    "SpawnGate",
    "drain",
    "eventually",
    "phase_of",
]


@dataclass(frozen=True, slots=True)
class Add:
    """Count ``item``."""

    item: Any


@dataclass(frozen=True, slots=True)
class Get:
    """Answer with the counted items."""


@dataclass(frozen=True, slots=True)
class Boom:
    """Make the handler raise (before committing anything)."""


@dataclass(frozen=True, slots=True)
class Hold:
    """Block the handler until ``release`` is set (a misbehaving, blocking actor)."""

    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)


class BoomError(Exception):
    """What ``Boom`` raises."""


@dataclass
class SpawnGate:
    """Supervisor context that can make the *next* spawns block (a slow restart)."""

    closed: bool = False
    spawning: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class Counter(EntityActor[tuple[Any, ...]]):
    """Counts ``Add`` items; may passivate whenever asked."""

    def __init__(self, address: Any, state: tuple[Any, ...], supervisor: Supervisor[Any]) -> None:
        gate = supervisor.context
        if isinstance(gate, SpawnGate) and gate.closed:
            gate.spawning.set()
            gate.release.wait(5)
        super().__init__(address, state, supervisor)

    def can_passivate(self) -> bool:
        return True

    def handle(self, message: Any) -> Any:
        match message:
            case Add(item):
                self.state = (*self.state, item)
            case Get():
                return self.state
            case Boom():
                raise BoomError(f"{self.address.key} told to fail")
            case Hold(started, release, finished):
                started.set()
                release.wait(5)
                finished.set()
            case _:
                return super().handle(message)
        return None


class Sleepy(Counter):
    """A counter that never passivates (it is always busy with something)."""

    def can_passivate(self) -> bool:
        return False


class Echo(EntityActor[int]):
    """Answers every message with its key and the message."""

    def handle(self, message: Any) -> Any:
        return (self.address.key, message)


def drain(*supervisors: Supervisor[Any]) -> None:
    """Wait until each supervisor has handled everything told to it so far."""
    for supervisor in supervisors:
        supervisor._actor.ask(ProxyGetAttr(("actor_urn",)), timeout=5)


def phase_of(address: Address) -> Phase:
    """The address's phase, read afresh (a call, so type checkers do not narrow it)."""
    return address.phase


def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; return the last result."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True
