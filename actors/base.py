"""The base of the routing actors: an entity that can reach the rest of the system."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from actors.runtime.entity import EntityActor

if TYPE_CHECKING:
    from actors.runtime.address import Address
    from actors.runtime.supervisor import Supervisor
    from actors.system import Routing

__all__ = ["RoutingActor"]

S = TypeVar("S")


class RoutingActor(EntityActor[S]):
    """An agent, queue, conversation or directory actor of one ``Routing`` system."""

    def __init__(self, address: Address, state: S, supervisor: Supervisor[Any]) -> None:
        super().__init__(address, state, supervisor)
        #: the system this actor belongs to (its supervisor's context)
        self.routing: Routing = supervisor.context
