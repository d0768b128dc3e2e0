"""The routing vocabulary: plain, frozen data about agents, queues and conversations.

Everything here is pure data (no pykka, trio, redis or sockets).  The actors hold
values of these types as their state and replace them wholesale after each
decision, so a failed handler never leaves a half-updated state behind and a
supervisor can restart an actor from its last committed value.

Times are seconds on the routing clock (``Clock.now()``), a monotonic float that
tests replace with a virtual clock.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "AgentId",
    "AgentState",
    "AgentStatus",
    "AgentView",
    "Capacity",
    "Channel",
    "ConversationId",
    "ConversationState",
    "ConversationStatus",
    "CustomerId",
    "DisconnectPolicy",
    "PostParkPolicy",
    "QueueConfig",
    "QueueEntry",
    "QueueId",
    "Strategy",
    "evolve",
]

T = TypeVar("T")
_Evolver = Callable[[Any, dict[str, Any]], Any]
_evolvers: dict[type, _Evolver] = {}


def evolve(record: T, **changes: Any) -> T:
    """``dataclasses.replace`` for the frozen, slotted records here, at a third of the cost.

    Routing replaces these records on every step; ``replace`` re-runs ``__init__``
    with every field.  This copies the slots through their descriptors (a frozen
    dataclass guards only ``__setattr__``), with the copying code generated once per
    class, then sets the changed fields.
    """
    try:
        evolver = _evolvers[type(record)]
    except KeyError:
        evolver = _evolvers[type(record)] = _make_evolver(type(record))
    result: T = evolver(record, changes)
    return result


def _make_evolver(cls: type) -> _Evolver:
    slots: tuple[str, ...] = cls.__slots__  # type: ignore[attr-defined]
    setters = {name: cls.__dict__[name].__set__ for name in slots}
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls, "setters": setters}
    lines = ["def evolver(record, changes):", "    copy = new(cls)"]
    for i, name in enumerate(slots):
        namespace[f"set{i}"] = setters[name]
        lines.append(f"    set{i}(copy, record.{name})")
    lines += [
        "    try:",
        "        for name, value in changes.items():",
        "            setters[name](copy, value)",
        "    except KeyError as unknown:",
        f"        raise TypeError(f'{cls.__name__} has no field {{unknown.args[0]}}') from None",
        "    return copy",
    ]
    exec("\n".join(lines), namespace)  # the code is built from the class's own slots
    evolver: _Evolver = namespace["evolver"]
    return evolver


AgentId = str
QueueId = str
ConversationId = str
CustomerId = str


class Channel(enum.StrEnum):
    """A channel a customer writes on."""

    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    TELEGRAM = "telegram"
    VIBER = "viber"
    WEBCHAT = "webchat"
    INAPP = "inapp"
    EMAIL = "email"
    VOICE = "voice"


class AgentStatus(enum.StrEnum):
    """What an agent told us about their availability; only ONLINE receives chats."""

    ONLINE = "online"
    AWAY = "away"
    BREAK = "break"
    OFFLINE = "offline"


class ConversationStatus(enum.StrEnum):
    """The lifecycle of a conversation (SPEC §4)."""

    FLOW = "flow"  # in a bot flow, not yet queued
    QUEUED = "queued"
    IN_WORK = "in_work"
    AWAITING_CUSTOMER = "awaiting_customer"
    PARKED = "parked"  # "postponed": does not count against the agent's capacity
    IN_DEVELOPMENT = "in_development"
    SOLUTION_PROPOSED = "solution_proposed"
    RESOLVED = "resolved"


#: Statuses in which the conversation holds a slot of its agent's capacity.
HOLDS_SLOT = frozenset(
    {
        ConversationStatus.IN_WORK,
        ConversationStatus.AWAITING_CUSTOMER,
        ConversationStatus.IN_DEVELOPMENT,
        ConversationStatus.SOLUTION_PROPOSED,
    }
)


class Strategy(enum.StrEnum):
    """How a queue picks among eligible agents."""

    LONGEST_IDLE = "longest_idle"
    LEAST_BUSY = "least_busy"
    ROUND_ROBIN = "round_robin"
    SKILLS = "skills"


class PostParkPolicy(enum.StrEnum):
    """Where a parked conversation goes when the customer writes again."""

    SAME_AGENT = "same_agent"  # back to the agent if eligible, else the queue
    QUEUE = "queue"
    FLOW = "flow"


class DisconnectPolicy(enum.StrEnum):
    """What happens to an agent's chats once a dropped connection outlives the grace period."""

    KEEP = "keep"
    REQUEUE = "requeue"


@dataclass(frozen=True, slots=True)
class Capacity:
    """How many chats an agent may hold at once: in total and per channel."""

    total: int = 5
    per_channel: Mapping[Channel, int] = field(default_factory=dict)

    def limit_for(self, channel: Channel) -> int:
        if not self.per_channel:
            return self.total
        return min(self.total, self.per_channel.get(channel, self.total))


@dataclass(frozen=True, slots=True)
class AgentState:
    """Everything the agent actor owns.

    ``active`` maps each chat that holds a slot to its channel; ``parked`` chats are
    the agent's but do not count against ``capacity``.
    """

    agent_id: AgentId
    workspace: str = "default"
    queues: frozenset[QueueId] = frozenset()
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: Capacity = Capacity()
    status: AgentStatus = AgentStatus.OFFLINE
    status_since: float = 0.0
    connected: bool = False
    disconnected_at: float | None = None
    active: Mapping[ConversationId, Channel] = field(default_factory=dict)
    parked: Mapping[ConversationId, Channel] = field(default_factory=dict)
    #: when the agent last had no chat at all, or last got one (for longest-idle)
    idle_since: float = 0.0
    #: bumps on every change the queues must see; queues ignore older views
    version: int = 0


@dataclass(frozen=True, slots=True)
class AgentView:
    """What a queue knows of an agent: a copy the agent pushes on every change.

    The view may be stale; the agent actor always has the last word on an offer.
    """

    agent_id: AgentId
    status: AgentStatus
    skills: Mapping[str, int]
    capacity: Capacity
    active: Mapping[Channel, int]  # active chats per channel
    active_total: int
    idle_since: float
    version: int


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """A queue's routing settings."""

    queue_id: QueueId
    workspace: str = "default"
    strategy: Strategy = Strategy.LONGEST_IDLE
    #: skills (name -> minimum level) an agent needs for this queue's chats
    required_skills: Mapping[str, int] = field(default_factory=dict)
    post_park: PostParkPolicy = PostParkPolicy.SAME_AGENT
    post_park_flow: str | None = None
    #: seconds a parked chat may stay parked; None = no limit
    park_timeout: float | None = None
    #: when a parked chat times out: False puts it back in the queue, True closes it
    park_timeout_closes: bool = False
    #: the topic recorded on chats closed by the park time-out
    park_timeout_topic: str = "park timeout"
    #: seconds an agent actor has to answer an offer
    offer_timeout: float = 5.0
    #: seconds a chat waits for the agent the customer is engaged with before any agent may take it
    affinity_wait: float = 30.0
    #: seconds a resolved customer counts as "returning" and prefers the previous agent
    returning_window: float = 7 * 24 * 3600.0
    #: average handle time used for estimated waits until measured
    default_handle_time: float = 300.0
    #: SLA norms: conversation status -> (seconds until "bad", seconds until
    #: "unsatisfactory") spent in that status; crossing one raises an alert
    sla: Mapping[ConversationStatus, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A conversation waiting in a queue."""

    conversation_id: ConversationId
    channel: Channel
    priority: int  # higher first
    enqueued_at: float  # arrival order within a priority
    seq: int  # tie-break: strictly increasing per queue
    required_skills: Mapping[str, int] = field(default_factory=dict)
    #: only this agent may take the chat until ``preferred_until``
    preferred_agent: AgentId | None = None
    preferred_until: float = 0.0
    #: agents that must not get it again (declined a direct transfer, removed)
    excluded: frozenset[AgentId] = frozenset()


@dataclass(frozen=True, slots=True)
class ConversationState:
    """Everything the conversation actor owns."""

    conversation_id: ConversationId
    customer_id: CustomerId
    channel: Channel
    account: str
    queue_id: QueueId
    workspace: str = "default"
    status: ConversationStatus = ConversationStatus.QUEUED
    priority: int = 0
    agent_id: AgentId | None = None
    #: the agent who parked it (kept while parked, for the post-park policy)
    parked_by: AgentId | None = None
    parked_at: float | None = None
    invited: frozenset[AgentId] = frozenset()
    topic: str | None = None
    created_at: float = 0.0
    last_customer_message_at: float | None = None
    last_agent_message_at: float | None = None
    previous_conversation_id: ConversationId | None = None
    #: where the routing came from: a preferred agent (affinity, returning customer)
    preferred_agent: AgentId | None = None
    resolved_at: float | None = None
    messages: int = 0
    #: customer messages this conversation has taken in (the directory counts what it sent)
    customer_messages: int = 0
    #: seconds to hold the chat for ``preferred_agent`` when first routed (engaged customer)
    preferred_wait: float = 0.0
    #: its place in the queue while queued: arrival time and tie-break sequence
    #: (kept so that a restart puts it back exactly where it was)
    queued_at: float | None = None
    queue_seq: int = 0
    #: the customer's id on this channel (wa_id, PSID, chat id, e-mail address): where
    #: replies go
    contact: str | None = None
    #: the provider id of the customer's last message (replies quote / thread on it)
    last_customer_message_id: str | None = None
    #: when the status last changed (SLA norms count from here)
    status_since: float = 0.0
    #: the SLA level reached in the current status: normal, bad or unsatisfactory
    sla_level: str = "normal"
    #: channel threading the customer's last message carried (an e-mail's Message-ID,
    #: References and Subject), handed to the channel with each reply
    thread: Mapping[str, Any] = field(default_factory=dict)
    #: when its current agent got it (assignment or transfer); affinity prefers the
    #: agent of the customer's most recently assigned open chat
    assigned_at: float | None = None
    #: the customer's other open chats when this one opened: asked who serves them
    #: (affinity) before it joins the queue; empty once they answered
    siblings: tuple[ConversationId, ...] = ()
