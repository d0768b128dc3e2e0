"""Messages between the routing actors, each defined once, frozen and typed.

Naming: a command says what the receiver should do (``Park``, ``Enqueue``); a
notice says what happened (``AgentChanged``, ``OfferAnswer``).  Commands that a
client issues carry the acting agent's id so the owner can check the right to
act.  Replies to ``ask`` are plain values or the errors of ``actors.errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from actors.routing.model import (
    AgentId,
    AgentStatus,
    AgentView,
    Capacity,
    Channel,
    ConversationId,
    ConversationStatus,
    CustomerId,
    QueueConfig,
    QueueEntry,
    QueueId,
)

__all__ = [
    "AgentChanged",
    "AgentConnect",
    "AgentDisconnect",
    "AgentMessage",
    "Assigned",
    "CallEnded",
    "CallStarted",
    "ChatClosed",
    "ChatEnded",
    "ChatUpdate",
    "CheckOffers",
    "CustomerMessage",
    "Describe",
    "Enqueue",
    "EventSink",
    "GraceExpired",
    "Inbound",
    "Invite",
    "ListWaiting",
    "MergeCustomers",
    "Offer",
    "OfferAnswer",
    "Park",
    "ParkTimedOut",
    "Pick",
    "PreferenceExpired",
    "QueueDone",
    "Remove",
    "Requeue",
    "Reroute",
    "Resolve",
    "ServedBy",
    "SetStatus",
    "SetWorkStatus",
    "SiblingsSilent",
    "Transfer",
    "TransferAnswer",
    "UnparkAnswer",
    "UnparkRequest",
    "WhoServes",
    "Withdraw",
]


class EventSink(Protocol):
    """Where an agent's (or supervisor's) events go: a websocket connection, a test."""

    def push(self, event: object) -> None: ...


# -- inbound traffic -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Inbound:
    """A normalized customer message from any channel, already durably accepted."""

    channel: Channel
    account: str
    sender: str  # the channel's own id of the customer (wa_id, PSID, chat id, e-mail...)
    provider_message_id: str
    timestamp: float
    content: Mapping[str, Any]
    #: identity keys beyond the sender id, e.g. (("phone", "+90..."), ("email", "a@b.c"))
    identities: tuple[tuple[str, str], ...] = ()
    profile_name: str | None = None
    workspace: str = "default"
    #: its entry in the durable inbox, deleted when its conversation records it
    inbox_id: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerMessage:
    """Inbound, routed to its conversation."""

    inbound: Inbound
    customer_id: CustomerId


@dataclass(frozen=True, slots=True)
class CallStarted:
    """The voice adapter reports a call between a customer and an agent."""

    call_id: str
    phone: str
    agent_id: AgentId
    workspace: str = "default"


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: str
    phone: str
    agent_id: AgentId
    workspace: str = "default"


@dataclass(frozen=True, slots=True)
class MergeCustomers:
    """Two customer records are one person (e.g. a supervisor merged them)."""

    keep: CustomerId
    drop: CustomerId


# -- agent ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentConnect:
    sink: EventSink


@dataclass(frozen=True, slots=True)
class AgentDisconnect:
    sink: EventSink


@dataclass(frozen=True, slots=True)
class UpdateProfile:
    """An administrator changed the agent's queues, skills or capacity."""

    queues: frozenset[QueueId]
    skills: Mapping[str, int]
    capacity: Capacity


@dataclass(frozen=True, slots=True)
class UpdateQueueConfig:
    """An administrator changed the queue's settings (strategy, skills, timings...)."""

    config: QueueConfig


@dataclass(frozen=True, slots=True)
class SetStatus:
    status: AgentStatus


@dataclass(frozen=True, slots=True)
class GraceExpired:
    disconnected_at: float


@dataclass(frozen=True, slots=True)
class Offer:
    """A queue (or a transfer) offers a chat; the agent alone decides."""

    offer_id: int
    conversation_id: ConversationId
    channel: Channel
    required_skills: Mapping[str, int]
    queue_id: QueueId
    #: a direct transfer answers the conversation, not the queue
    transfer: bool = False
    #: nothing else is waiting in the queue after this chat (the agent need not ask it
    #: first in its next round: it hears of free room at once anyway)
    line_empty: bool = False


@dataclass(frozen=True, slots=True)
class UnparkRequest:
    conversation_id: ConversationId


@dataclass(frozen=True, slots=True)
class ChatClosed:
    """The chat left this agent (resolved, transferred, requeued, unparked elsewhere)."""

    conversation_id: ConversationId
    reason: str


@dataclass(frozen=True, slots=True)
class ChatUpdate:
    """An event about one of the agent's chats, for the agent's connections."""

    conversation_id: ConversationId
    event: object | None
    #: the chat now holds a slot again / no longer does (park, unpark)
    parked: bool | None = None


# -- queue ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentChanged:
    view: AgentView
    #: the agent asks one queue at a time to fill free slots: answer ``QueueDone``
    #: when nothing (more) is waiting for this agent
    round: int | None = None


@dataclass(frozen=True, slots=True)
class QueueDone:
    """A queue has nothing (more) for the agent in this round: ask the next queue."""

    queue_id: QueueId
    round: int
    #: nothing at all is waiting there: later rounds tell it of free room without
    #: asking it first (it offers at once if a chat arrives meanwhile)
    empty: bool = False


@dataclass(frozen=True, slots=True)
class Enqueue:
    entry: QueueEntry


@dataclass(frozen=True, slots=True)
class Withdraw:
    conversation_id: ConversationId


@dataclass(frozen=True, slots=True)
class OfferAnswer:
    offer_id: int
    conversation_id: ConversationId
    agent_id: AgentId
    accepted: bool
    reason: str | None
    view: AgentView


@dataclass(frozen=True, slots=True)
class CheckOffers:
    """The queue's offer timer: offers older than ``offer_timeout`` have timed out."""


@dataclass(frozen=True, slots=True)
class PreferenceExpired:
    conversation_id: ConversationId


@dataclass(frozen=True, slots=True)
class Pick:
    """Manual pick-up of a waiting chat by an agent."""

    agent_id: AgentId
    conversation_id: ConversationId


@dataclass(frozen=True, slots=True)
class ListWaiting:
    """Ask a queue for its waiting entries in line order (open offers excluded)."""


@dataclass(frozen=True, slots=True)
class Describe:
    """Ask any routing actor for a plain-data snapshot (live state, hello)."""

    conversation_id: ConversationId | None = None


# -- conversation ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assigned:
    agent_id: AgentId
    queue_id: QueueId


@dataclass(frozen=True, slots=True)
class AgentMessage:
    agent_id: AgentId
    content: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SlaDue:
    """A conversation's SLA norm for a status may have been crossed (a timer)."""

    status: ConversationStatus
    since: float
    level: str


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """How far an outbound message got: sent (with the provider's id), delivered, read,
    or failed (with the provider's reason)."""

    message_id: str
    status: str
    provider_message_id: str | None = None
    error: Mapping[str, Any] | None = None
    #: already written to the log (a receipt the ingress recorded itself)
    recorded: bool = False


@dataclass(frozen=True, slots=True)
class Park:
    agent_id: AgentId


@dataclass(frozen=True, slots=True)
class UnparkAnswer:
    agent_id: AgentId
    accepted: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ParkTimedOut:
    parked_at: float


@dataclass(frozen=True, slots=True)
class SetWorkStatus:
    """Awaiting customer / in development / solution proposed / in work."""

    agent_id: AgentId
    status: ConversationStatus


@dataclass(frozen=True, slots=True)
class Resolve:
    agent_id: AgentId
    topic: str | None


@dataclass(frozen=True, slots=True)
class Transfer:
    agent_id: AgentId | None  # None: a supervisor or the system
    to_agent: AgentId | None = None
    to_queue: QueueId | None = None


@dataclass(frozen=True, slots=True)
class TransferAnswer:
    offer_id: int
    agent_id: AgentId
    accepted: bool
    reason: str | None


@dataclass(frozen=True, slots=True)
class Invite:
    agent_id: AgentId
    colleague: AgentId


@dataclass(frozen=True, slots=True)
class Remove:
    agent_id: AgentId | None
    colleague: AgentId


@dataclass(frozen=True, slots=True)
class Requeue:
    """The agent went away (grace period over, requeue policy): back to the queue."""

    agent_id: AgentId
    reason: str


# -- directory -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reroute:
    """A customer wrote to a conversation that was resolved meanwhile: open a new one."""

    inbound: Inbound
    closed_conversation_id: ConversationId


@dataclass(frozen=True, slots=True)
class WhoServes:
    """A new conversation asks an open one of the same customer who serves it (affinity)."""

    asker: ConversationId


@dataclass(frozen=True, slots=True)
class ServedBy:
    """The answer to :class:`WhoServes`: the agent holding the chat, if any, and since when."""

    conversation_id: ConversationId
    agent_id: AgentId | None
    since: float | None


@dataclass(frozen=True, slots=True)
class SiblingsSilent:
    """The time to wait for :class:`ServedBy` answers is up: queue with what is known."""


@dataclass(frozen=True, slots=True)
class ChatEnded:
    """A conversation closed: the directory forgets it as open, and the agent who held it
    last becomes the customer's last agent."""

    customer_id: CustomerId
    conversation_id: ConversationId
    channel: Channel
    account: str
    agent_id: AgentId | None
    #: customer messages the conversation took in before it closed
    customer_messages: int = 0
