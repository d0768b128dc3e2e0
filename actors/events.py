"""Events the actors push to agents' and supervisors' connections.

Each event is a frozen class with the websocket ``type`` it is sent as
(CONTRACT.md) and ``to_wire()`` giving the JSON/msgpack object.  The server
only serialises them; what an event means is decided here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

__all__ = [
    "ConversationAssigned",
    "ConversationInvited",
    "ConversationMessage",
    "ConversationParked",
    "ConversationRemoved",
    "ConversationRequeued",
    "ConversationResolved",
    "ConversationTransferred",
    "ConversationUnparked",
    "Event",
    "StatusChanged",
]


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every pushed event."""

    type: ClassVar[str] = "event"

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"type": self.type}
        for f in fields(self):
            value = getattr(self, f.name)
            wire[f.name] = dict(value) if isinstance(value, Mapping) else value
        return wire


@dataclass(frozen=True, slots=True)
class ConversationAssigned(Event):
    """A chat is now this agent's (from a queue, a transfer, an unpark elsewhere)."""

    type: ClassVar[str] = "conversation.assigned"
    conversation_id: str
    conversation: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ConversationMessage(Event):
    """A customer or colleague message, or a delivery-status change of one."""

    type: ClassVar[str] = "conversation.message"
    conversation_id: str
    message: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ConversationParked(Event):
    type: ClassVar[str] = "conversation.parked"
    conversation_id: str


@dataclass(frozen=True, slots=True)
class ConversationUnparked(Event):
    type: ClassVar[str] = "conversation.unparked"
    conversation_id: str


@dataclass(frozen=True, slots=True)
class ConversationTransferred(Event):
    type: ClassVar[str] = "conversation.transferred"
    conversation_id: str
    from_agent: str | None
    to_agent: str | None
    to_queue: str | None


@dataclass(frozen=True, slots=True)
class ConversationResolved(Event):
    type: ClassVar[str] = "conversation.resolved"
    conversation_id: str
    topic: str


@dataclass(frozen=True, slots=True)
class ConversationRequeued(Event):
    """The chat went back to its queue (agent away past the grace period, park time-out)."""

    type: ClassVar[str] = "conversation.requeued"
    conversation_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ConversationInvited(Event):
    type: ClassVar[str] = "conversation.invited"
    conversation_id: str
    by: str | None
    conversation: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ConversationRemoved(Event):
    type: ClassVar[str] = "conversation.removed"
    conversation_id: str
    by: str | None


@dataclass(frozen=True, slots=True)
class SlaAlert(Event):
    """A conversation stayed in a status past its queue's norm."""

    type: ClassVar[str] = "sla.alert"
    conversation_id: str
    queue_id: str
    status: str
    level: str  # bad | unsatisfactory
    seconds: float
    agent_id: str | None


@dataclass(frozen=True, slots=True)
class AgentChanged(Event):
    """For supervisors: an agent's live state after a change."""

    type: ClassVar[str] = "agent.changed"
    agent: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class QueueChanged(Event):
    """For supervisors: a queue's live state after a change."""

    type: ClassVar[str] = "queue.changed"
    queue: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ConversationChanged(Event):
    """For supervisors: a conversation's status, agent or SLA level changed."""

    type: ClassVar[str] = "conversation.changed"
    conversation: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StatusChanged(Event):
    type: ClassVar[str] = "status.changed"
    agent_id: str
    status: str
    since: float
