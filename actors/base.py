"""The base of the routing actors: an entity that can reach the rest of the system."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from actors.runtime.entity import EntityActor

if TYPE_CHECKING:
    from actors.system import Routing

__all__ = ["RoutingActor"]

S = TypeVar("S")


class RoutingActor(EntityActor[S]):
    """An agent, queue, conversation or directory actor of one ``Routing`` system."""

    @property
    def routing(self) -> Routing:
        """The system this actor belongs to (its supervisor's context)."""
        routing: Routing = self.supervisor.context
        return routing
