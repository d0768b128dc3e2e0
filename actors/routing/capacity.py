"""An agent's own decisions: what it may take, and how its state moves.

How this works
--------------
The agent actor owns one :class:`~actors.routing.model.AgentState` and is the only
place that decides whether the agent takes a chat.  Queues *offer*; the agent calls
:func:`decide_offer` and either accepts (:func:`accept`) or declines with a
:class:`Decline` reason.  Because every offer passes through this one owner, the
capacity limit holds however many queues offer at once.

Rules:

* Only ``active`` chats hold a slot.  ``parked`` chats belong to the agent but never
  count against the capacity.
* Free slots for a channel = ``min(total - active, channel limit - active on that
  channel)``, never below zero.
* Every function returns a NEW state (``dataclasses.replace``; mappings are replaced
  by new dicts, never mutated).  A call that changes anything bumps ``version`` by
  exactly one; a call that changes nothing returns the very same object, so
  ``new is old`` tells the actor there is nothing to publish.
* ``idle_since`` moves when the agent gets a chat, comes online, or drops to no
  active chat at all; longest-idle routing reads it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from operator import countOf

from actors.errors import Conflict, Unavailable
from actors.routing.model import (
    AgentState,
    AgentStatus,
    AgentView,
    Channel,
    ConversationId,
    DisconnectPolicy,
    evolve,
)

__all__ = [
    "Decline",
    "accept",
    "decide_offer",
    "disconnect",
    "free_slots",
    "go_offline_after_grace",
    "grace_expired",
    "park",
    "reconnect",
    "release",
    "set_status",
    "skills_match",
    "take",
    "unpark",
    "view_free_slots",
    "view_of",
]


class Decline(enum.StrEnum):
    """Why an agent refuses a chat; the value doubles as the error code."""

    NOT_ONLINE = "not_online"
    AT_CAPACITY = "at_capacity"
    CHANNEL_AT_CAPACITY = "channel_at_capacity"
    MISSING_SKILLS = "missing_skills"
    ALREADY_HOLDS = "already_holds"
    UNKNOWN_CHAT = "unknown_chat"


def _slots(total: int, channel_limit: int, active_total: int, active_on_channel: int) -> int:
    return max(0, min(total - active_total, channel_limit - active_on_channel))


def _capacity_decline(
    total: int, channel_limit: int, active_total: int, active_on_channel: int
) -> Decline | None:
    """AT_CAPACITY when the total is full (it says more), else CHANNEL_AT_CAPACITY."""
    if active_total >= total:
        return Decline.AT_CAPACITY
    if active_on_channel >= channel_limit:
        return Decline.CHANNEL_AT_CAPACITY
    return None


def _active_on(state: AgentState, channel: Channel) -> int:
    return countOf(state.active.values(), channel)


def free_slots(state: AgentState, channel: Channel) -> int:
    """How many more chats on ``channel`` the agent could hold right now (ignores status)."""
    return _slots(
        state.capacity.total,
        state.capacity.limit_for(channel),
        len(state.active),
        _active_on(state, channel),
    )


def skills_match(agent_skills: Mapping[str, int], required: Mapping[str, int]) -> bool:
    """True when the agent has every required skill at least at the required level."""
    if not required:
        return True
    return all(agent_skills.get(skill, 0) >= level for skill, level in required.items())


def _capacity_check(state: AgentState, channel: Channel) -> Decline | None:
    return _capacity_decline(
        state.capacity.total,
        state.capacity.limit_for(channel),
        len(state.active),
        _active_on(state, channel),
    )


def decide_offer(
    state: AgentState,
    conversation_id: ConversationId,
    channel: Channel,
    required_skills: Mapping[str, int],
) -> Decline | None:
    """Whether the agent takes the offered chat: None to accept, else the reason to decline."""
    if conversation_id in state.active or conversation_id in state.parked:
        return Decline.ALREADY_HOLDS
    if state.status != AgentStatus.ONLINE:
        return Decline.NOT_ONLINE
    if not skills_match(state.skills, required_skills):
        return Decline.MISSING_SKILLS
    return _capacity_check(state, channel)


def accept(
    state: AgentState, conversation_id: ConversationId, channel: Channel, now: float
) -> AgentState:
    """Take the chat into the active load; raises ``Unavailable`` when it must be declined.

    Skills are not checked here: they belong to the offer (:func:`decide_offer`).
    """
    decline = decide_offer(state, conversation_id, channel, {})
    if decline is not None:
        raise Unavailable(
            f"agent {state.agent_id} cannot take {conversation_id}: {decline.value}",
            code=decline.value,
        )
    return take(state, conversation_id, channel, now)


def take(
    state: AgentState, conversation_id: ConversationId, channel: Channel, now: float
) -> AgentState:
    """Take a chat that :func:`decide_offer` just accepted (no second check)."""
    return evolve(
        state,
        active={**state.active, conversation_id: channel},
        idle_since=now,
        version=state.version + 1,
    )


def park(state: AgentState, conversation_id: ConversationId) -> AgentState:
    """Move an active chat to parked, freeing its slot; raises ``Conflict`` if it is not active."""
    if conversation_id not in state.active:
        where = "parked" if conversation_id in state.parked else "not held"
        raise Conflict(
            f"cannot park {conversation_id}: it is {where} by agent {state.agent_id}",
            code="not_active",
        )
    active = dict(state.active)
    channel = active.pop(conversation_id)
    return evolve(
        state,
        active=active,
        parked={**state.parked, conversation_id: channel},
        version=state.version + 1,
    )


def unpark(
    state: AgentState, conversation_id: ConversationId, now: float
) -> tuple[AgentState, Decline | None]:
    """Bring a parked chat back: to active if the agent can take it, else drop it for the queue.

    Returns the new state and None (the chat is active again) or the reason it left
    the agent (it is no longer parked here; the caller requeues it).  An already
    active chat is a no-op success; a chat the agent does not hold gives UNKNOWN_CHAT.
    """
    if conversation_id in state.active:
        return state, None
    if conversation_id not in state.parked:
        return state, Decline.UNKNOWN_CHAT
    parked = dict(state.parked)
    channel = parked.pop(conversation_id)
    decline: Decline | None
    if state.status != AgentStatus.ONLINE:
        decline = Decline.NOT_ONLINE
    else:
        decline = _capacity_check(state, channel)
    if decline is not None:
        return evolve(state, parked=parked, version=state.version + 1), decline
    active = {**state.active, conversation_id: channel}
    return (
        evolve(state, active=active, parked=parked, idle_since=now, version=state.version + 1),
        None,
    )


def release(state: AgentState, conversation_id: ConversationId, now: float) -> AgentState:
    """Let go of a chat (resolved, transferred, removed); idempotent.

    Releasing the last active chat makes the agent idle from ``now``; releasing a
    parked chat leaves ``idle_since`` alone (it never held a slot).
    """
    if conversation_id in state.active:
        active = dict(state.active)
        del active[conversation_id]
        idle_since = now if not active else state.idle_since
        return evolve(state, active=active, idle_since=idle_since, version=state.version + 1)
    if conversation_id in state.parked:
        parked = dict(state.parked)
        del parked[conversation_id]
        return evolve(state, parked=parked, version=state.version + 1)
    return state


def set_status(state: AgentState, status: AgentStatus, now: float) -> AgentState:
    """Change the agent's status, restarting its time-in-status; same status is a no-op."""
    if status == state.status:
        return state
    idle_since = now if status == AgentStatus.ONLINE else state.idle_since
    return evolve(
        state,
        status=status,
        status_since=now,
        idle_since=idle_since,
        version=state.version + 1,
    )


def disconnect(state: AgentState, now: float) -> AgentState:
    """Record a dropped connection; the status survives until the grace period runs out.

    A second disconnect keeps the first ``disconnected_at`` so the grace period is not
    extended.
    """
    if not state.connected and state.disconnected_at is not None:
        return state
    return evolve(state, connected=False, disconnected_at=now, version=state.version + 1)


def reconnect(state: AgentState, now: float) -> AgentState:
    """Record a (re)established connection; presence simply continues."""
    del now  # kept for a uniform signature; a reconnect does not restart any clock
    if state.connected and state.disconnected_at is None:
        return state
    return evolve(state, connected=True, disconnected_at=None, version=state.version + 1)


def grace_expired(state: AgentState, now: float, grace: float) -> bool:
    """True when the agent has been disconnected for at least ``grace`` seconds."""
    return (
        not state.connected
        and state.disconnected_at is not None
        and now - state.disconnected_at >= grace
    )


def go_offline_after_grace(
    state: AgentState, now: float, policy: DisconnectPolicy
) -> tuple[AgentState, list[ConversationId]]:
    """Turn a vanished agent OFFLINE; returns the chats to requeue under the policy.

    REQUEUE gives back every active chat (in the order they were taken); KEEP gives
    back none.  Parked chats stay parked either way: when their customer writes, the
    unpark finds the agent offline and sends them to the queue.
    """
    to_requeue = list(state.active) if policy == DisconnectPolicy.REQUEUE else []
    if state.status == AgentStatus.OFFLINE and not to_requeue:
        return state, []
    new = evolve(
        state,
        status=AgentStatus.OFFLINE,
        status_since=now if state.status != AgentStatus.OFFLINE else state.status_since,
        active={} if to_requeue else state.active,
        version=state.version + 1,
    )
    return new, to_requeue


def view_of(state: AgentState) -> AgentView:
    """The copy of the agent a queue sees.

    The skills mapping is shared, not copied: states are values, and an agent's skills
    are only ever replaced whole (``UpdateProfile``), never changed in place.
    """
    per_channel: dict[Channel, int] = {}
    for channel in state.active.values():
        per_channel[channel] = per_channel.get(channel, 0) + 1
    return AgentView(
        agent_id=state.agent_id,
        status=state.status,
        skills=state.skills,
        capacity=state.capacity,
        active=per_channel,
        active_total=len(state.active),
        idle_since=state.idle_since,
        version=state.version,
    )


def view_free_slots(view: AgentView, channel: Channel) -> int:
    """Free slots for ``channel`` as far as the queue's copy knows (same rule as free_slots)."""
    return _slots(
        view.capacity.total,
        view.capacity.limit_for(channel),
        view.active_total,
        view.active.get(channel, 0),
    )
