"""Rebuild the routing system from storage: after a restart, a crash, or ``kill -9``.

How it works: the conversations are the source of truth for who holds what.
From the open conversations' snapshots, recovery derives every agent's active
and parked chats (so capacity counts are exactly what the conversations say,
whatever the agent snapshots last said), each queue's waiting line (each queued
conversation re-announces its stored place: arrival time and sequence), and the
directory's open conversations and current engagements.  Agent status comes
from the agent snapshots; an agent who was connected when the server went down
starts its disconnect grace period now, so reconnecting keeps its chats.
Customer identities, the last agent of each customer, calls in progress and the
last closed conversation per channel come from the directory's records.
Finally, customer messages that were accepted but not yet recorded by their
conversation (the inbox) are delivered again, in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

from actors.directory import DirectoryState
from actors.routing import affinity
from actors.routing.model import (
    HOLDS_SLOT,
    AgentState,
    Channel,
    ConversationState,
    ConversationStatus,
    QueueConfig,
)
from actors.runtime.runtime import Runtime
from actors.system import Flows, Routing, RoutingSettings
from storage.store import Storage

__all__ = ["Recovered", "StorageIds", "open_routing"]

logger = logging.getLogger(__name__)


class StorageIds:
    """Ids reserved from Redis in blocks, so none repeats after a restart."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def next_id(self, counter: str) -> int:
        return self.storage.next_id(counter)


@dataclass(frozen=True, slots=True)
class Recovered:
    """What recovery found and put back."""

    conversations: int
    queued: int
    assigned: int
    parked: int
    dormant: int
    agents: int
    customers: int
    redelivered: int
    seconds: float


#: conversations that wait on the customer stay asleep until the customer writes
_DORMANT = frozenset({ConversationStatus.AWAITING_CUSTOMER, ConversationStatus.PARKED})


def open_routing(
    runtime: Runtime,
    storage: Storage,
    *,
    settings: RoutingSettings | None = None,
    queues: Iterable[QueueConfig] = (),
    agents: Iterable[AgentState] = (),
    flows: Flows | None = None,
) -> tuple[Routing, Recovered]:
    """A durable routing system with everything ``storage`` holds put back.

    ``queues`` and ``agents`` are the configured ones: configuration wins for an
    agent's profile (queues, skills, capacity), storage for its status; an agent
    no longer configured is not restored.
    """
    started = time.perf_counter()
    conversations = storage.open_conversations()
    held = _holdings(conversations)
    directory, customers = _directory(storage, conversations)
    routing = Routing(
        runtime,
        settings,
        flows=flows,
        journals=storage.journals(),
        ids=StorageIds(storage),
        directory=directory,
    )
    for config in queues:
        routing.add_queue(config)
    stored = {a.agent_id: a for a in storage.agents()}
    configured = {a.agent_id: a for a in agents}
    now = runtime.clock.now()
    for gone in sorted(stored.keys() - configured.keys()):
        logger.warning("agent %s is stored but no longer configured: not restored", gone)
    for agent_id in sorted(configured):
        active, parked = held.get(agent_id, ({}, {}))
        base = stored.get(agent_id)
        profile = configured.get(agent_id, base)
        assert profile is not None
        if base is None:
            routing.add_agent(replace(profile, active=active, parked=parked))
            continue
        state = replace(
            base,
            workspace=profile.workspace,
            queues=frozenset(q for q in profile.queues if q in routing.queues),
            skills=profile.skills,
            capacity=profile.capacity,
            active=active,
            parked=parked,
            version=base.version + 1,
        )
        if state.connected:  # it was connected when the server stopped: grace starts now
            state = replace(state, connected=False, disconnected_at=now)
        routing.agents.restore(agent_id, state)
    counts = dict.fromkeys(("queued", "assigned", "parked", "dormant", "other"), 0)
    for conversation in conversations:
        counts[_restore_conversation(routing, conversation)] += 1
    inbox = storage.inbox()
    for inbound in inbox:
        routing.deliver(inbound)
    recovered = Recovered(
        conversations=len(conversations),
        agents=len(routing.agents),
        customers=customers,
        redelivered=len(inbox),
        seconds=time.perf_counter() - started,
        queued=counts["queued"],
        assigned=counts["assigned"],
        parked=counts["parked"],
        dormant=counts["dormant"],
    )
    if conversations or inbox:
        logger.info("recovered %s", recovered)
    return routing, recovered


def _placeholder_id() -> str:
    # a call's customer unknown to the directory (the crash came between the webhook's
    # write and the directory's): a customer id no counter will hand out
    return f"cus_call_{time.time_ns()}"


def _restore_conversation(routing: Routing, state: ConversationState) -> str:
    """Put one open conversation back; its category for the report."""
    if state.queue_id not in routing.queues:
        fallback = routing.settings.default_queue
        logger.error(
            "conversation %s waits in unknown queue %s; moved to %s",
            state.conversation_id,
            state.queue_id,
            fallback,
        )
        routing.conversations.open(state.conversation_id, replace(state, queue_id=fallback))
        return "other"
    if state.status in _DORMANT and not _needs_timer(routing, state):
        routing.conversations.restore(state.conversation_id, None)
        return "dormant"
    routing.conversations.restore(state.conversation_id, state)
    if state.status is ConversationStatus.QUEUED:
        return "queued"
    if state.status is ConversationStatus.PARKED:
        return "parked"
    return "assigned" if state.agent_id is not None else "other"


def _needs_timer(routing: Routing, state: ConversationState) -> bool:
    """A parked chat with a park time-out must be awake to time out."""
    if state.status is not ConversationStatus.PARKED or state.queue_id not in routing.queues:
        return False
    return routing.queue_config(state.queue_id).park_timeout is not None


def _holdings(
    conversations: Iterable[ConversationState],
) -> dict[str, tuple[dict[str, Channel], dict[str, Channel]]]:
    """Agent -> (active chats, parked chats), as the conversations say."""
    held: dict[str, tuple[dict[str, Channel], dict[str, Channel]]] = {}
    for state in conversations:
        if state.status is ConversationStatus.PARKED and state.parked_by is not None:
            held.setdefault(state.parked_by, ({}, {}))[1][state.conversation_id] = state.channel
        elif state.status in HOLDS_SLOT and state.agent_id is not None:
            held.setdefault(state.agent_id, ({}, {}))[0][state.conversation_id] = state.channel
    return held


def _directory(
    storage: Storage, conversations: Iterable[ConversationState]
) -> tuple[DirectoryState, int]:
    state = DirectoryState()
    customers = 0
    for record in storage.customers():
        customers += 1
        state.identities.restore(record.customer_id, record.identities, record.merged_into)
        if record.last_agent is not None:
            state.engagements[record.customer_id] = affinity.Engagement(
                last_agent=record.last_agent, last_resolved_at=record.last_resolved_at
            )
    for (customer, channel, account), conversation_id in storage.last_closed().items():
        state.last_closed[(customer, Channel(channel), account)] = conversation_id
    for conversation in conversations:
        customer = state.identities.current_id(conversation.customer_id)
        key = (customer, conversation.channel, conversation.account)
        state.open[key] = conversation.conversation_id
        # who holds each one is the conversation's own fact, asked when it matters
        state.chats_of.setdefault(customer, set()).add(conversation.conversation_id)
    for call_id, call in storage.calls().items():
        known = call.get("customer_id") or state.identities.customer_of(("phone", call["phone"]))
        if known is None:  # recorded by the webhook, not yet by the directory
            known = state.identities.resolve([("phone", str(call["phone"]))], _placeholder_id)
        customer = state.identities.current_id(str(known))
        engaged = state.engagements.get(customer) or affinity.Engagement()
        state.engagements[customer] = affinity.with_call(engaged, call_id, str(call["agent_id"]))
    # the directory counts messages it forwarded to compare with what conversations took
    # in; after a restart both start from what the conversations recorded
    for conversation in conversations:
        state.forwarded[conversation.conversation_id] = conversation.customer_messages
    return state, customers
