"""The queue actor: waiting chats in priority-then-arrival order, offered to agents.

How this works: a queue keeps its waiting line and a copy of each member
agent's view (pushed by the agents).  When a chat arrives it picks an agent by
the queue's strategy among the agents with room (``ReadyAgents``); when an agent
gets room it takes the oldest chat that agent may take (``next_entry_for``).
Either way the queue only *offers*: the entry leaves the line, one slot of the
agent is reserved in the queue's copy so it is not offered twice, and the agent
actor answers.  Accept → the conversation is told it is assigned.  Decline or
no answer within ``offer_timeout`` → the entry goes back to its place in line
and the next candidate is tried.  An entry is thus always in exactly one of:
the line, an open offer, or (once accepted) with an agent.
"""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from actors import events
from actors.base import RoutingActor
from actors.errors import NotFound, Unavailable
from actors.messages import (
    AgentChanged,
    Assigned,
    ChatClosed,
    CheckOffers,
    Describe,
    Enqueue,
    ListWaiting,
    Offer,
    OfferAnswer,
    Pick,
    PreferenceExpired,
    QueueDone,
    UpdateQueueConfig,
    Withdraw,
)
from actors.routing.capacity import Decline, view_free_slots
from actors.routing.model import (
    AgentId,
    AgentStatus,
    AgentView,
    Channel,
    ConversationId,
    QueueConfig,
    QueueEntry,
    evolve,
)
from actors.routing.ready import ReadyAgents
from actors.routing.strategies import WaitingLine, eligible, estimate_wait, next_entry_for

if TYPE_CHECKING:
    from actors.runtime.clock import Timer

__all__ = ["QueueActor", "QueueState"]


@dataclass(slots=True)
class _OpenOffer:
    entry: QueueEntry
    agent_id: AgentId
    made_at: float
    withdrawn: bool = False


@dataclass(slots=True)
class QueueState:
    """What a queue owns: its settings, its line, its open offers, its agents' views."""

    config: QueueConfig
    line: WaitingLine = field(default_factory=WaitingLine)
    views: dict[AgentId, AgentView] = field(default_factory=dict)
    offers: dict[int, _OpenOffer] = field(default_factory=dict)
    offered: dict[ConversationId, int] = field(default_factory=dict)
    rr_cursor: str | None = None
    assigned: int = 0
    wait_total: float = 0.0


class QueueActor(RoutingActor[QueueState]):
    """Owns one queue: its waiting line and the offers it makes."""

    def on_start(self) -> None:
        state = self.state
        self._ids = itertools.count(1 + max(state.offers, default=0))
        self._reserved: dict[AgentId, collections.Counter[Channel]] = collections.defaultdict(
            collections.Counter
        )
        self._ready = ReadyAgents(state.config.strategy, state.config.required_skills)
        self._offer_timer: Timer | None = None
        self._rounds: dict[AgentId, int] = {}  # agents waiting for our QueueDone
        for offer in state.offers.values():  # offers open before a restart still hold a slot
            self._reserved[offer.agent_id][offer.entry.channel] += 1
        for agent_id in state.views:
            self._refresh(agent_id)
        if state.offers:
            self._arm_offer_timer(0.0)
        for entry in list(state.line):
            self._dispatch_entry(entry)

    def handle(self, message: Any) -> Any:
        routing = self.routing
        state = self.state
        workspace = state.config.workspace
        if routing.metrics is None and workspace not in routing.watchers:
            return self._handle(message)
        before = (len(state.line), len(state.offers), state.assigned)
        result = self._handle(message)
        after = (len(state.line), len(state.offers), state.assigned)
        if after != before:  # waiting or assigned counts moved: tell whoever watches
            if routing.metrics is not None:
                routing.metrics.waiting(state.config.queue_id, after[0] + after[1])
            if workspace in routing.watchers:
                routing.watch(workspace, events.QueueChanged(self.describe()))
        return result

    def _handle(self, message: Any) -> Any:
        match message:
            case AgentChanged(view, round_):
                if round_ is not None:
                    self._rounds[view.agent_id] = round_
                self._agent_changed(view)
                self._maybe_done(view.agent_id)
            case Enqueue(entry):
                self._enqueue(entry)
            case OfferAnswer():
                self._answer(message)
            case CheckOffers():
                self._check_offers()
            case PreferenceExpired(conversation_id):
                waiting = self.state.line.get(conversation_id)
                if waiting is not None:
                    self._dispatch_entry(waiting)
            case Withdraw(conversation_id):
                self._withdraw(conversation_id)
            case Pick(agent_id, conversation_id):
                self._pick(agent_id, conversation_id)
            case UpdateQueueConfig(config):
                self._reconfigure(config)
            case ListWaiting():
                return list(self.state.line)
            case Describe(conversation_id):
                return self.describe(conversation_id)
            case _:
                return super().handle(message)
        return None

    def _reconfigure(self, config: QueueConfig) -> None:
        """New settings: the ready index follows the strategy and skills; the line is re-offered."""
        self.state.config = config
        self._ready = ReadyAgents(config.strategy, config.required_skills)
        for agent_id in self.state.views:
            self._refresh(agent_id)
        for entry in list(self.state.line):
            self._dispatch_entry(entry)

    # -- arrivals and departures ---------------------------------------------------

    def _enqueue(self, entry: QueueEntry) -> None:
        state = self.state
        cid = entry.conversation_id
        if cid not in state.line and cid not in state.offered:
            state.line.add(entry)
            now = self.clock.now()
            if entry.preferred_agent is not None and entry.preferred_until > now:
                self.clock.call_later(
                    entry.preferred_until - now,
                    lambda: self.address.tell(PreferenceExpired(cid)),
                )
            self._dispatch_entry(entry)

    def _withdraw(self, conversation_id: ConversationId) -> None:
        state = self.state
        state.line.remove(conversation_id)
        offer_id = state.offered.get(conversation_id)
        if offer_id is not None:
            state.offers[offer_id].withdrawn = True

    def _pick(self, agent_id: AgentId, conversation_id: ConversationId) -> None:
        state = self.state
        entry = state.line.get(conversation_id)
        if entry is None:
            raise NotFound(f"{conversation_id} is not waiting in queue {state.config.queue_id}")
        view = self._adjusted(agent_id)
        if view is None or view.status != AgentStatus.ONLINE:
            raise Unavailable(f"agent {agent_id} is not online in queue {state.config.queue_id}")
        if view_free_slots(view, entry.channel) <= 0:
            raise Unavailable(f"agent {agent_id} has no free slot for {entry.channel}")
        if not eligible(view, entry, state.config.required_skills, self.clock.now()):
            raise Unavailable(f"agent {agent_id} lacks the skills this chat needs", code="skills")
        self._offer(entry, agent_id)

    # -- offers --------------------------------------------------------------------

    def _offer(self, entry: QueueEntry, agent_id: AgentId) -> None:
        state = self.state
        cid = entry.conversation_id
        state.line.remove(cid)
        offer_id = next(self._ids)
        offer = _OpenOffer(entry, agent_id, self.clock.now())
        state.offers[offer_id] = offer
        state.offered[cid] = offer_id
        self._reserved[agent_id][entry.channel] += 1
        self._refresh(agent_id)
        if state.config.strategy == "round_robin":
            state.rr_cursor = agent_id
        agent = self.routing.agents.get(agent_id)
        if agent is None:
            self._close_offer(offer_id)
            state.line.add(entry)
            return
        self._arm_offer_timer(state.config.offer_timeout)
        agent.tell(
            Offer(
                offer_id,
                cid,
                entry.channel,
                entry.required_skills,
                state.config.queue_id,
                line_empty=not state.line,
            )
        )

    def _close_offer(self, offer_id: int) -> _OpenOffer | None:
        state = self.state
        offer = state.offers.pop(offer_id, None)
        if offer is None:
            return None
        state.offered.pop(offer.entry.conversation_id, None)
        reserved = self._reserved[offer.agent_id]
        reserved[offer.entry.channel] -= 1
        if reserved[offer.entry.channel] <= 0:
            del reserved[offer.entry.channel]
        return offer

    def _answer(self, answer: OfferAnswer) -> None:
        state = self.state
        offer = self._close_offer(answer.offer_id)
        self._take_view(answer.view)
        cid = answer.conversation_id
        if offer is None or offer.withdrawn:
            if answer.accepted:  # too late: the chat went elsewhere meanwhile
                self._release(answer.agent_id, cid, "offer withdrawn")
        elif answer.accepted:
            conversation = self.routing.conversations.get(cid)
            state.assigned += 1
            waited = max(0.0, self.clock.now() - offer.entry.enqueued_at)
            state.wait_total += waited
            metrics = self.routing.metrics
            if metrics is not None:
                metrics.assigned(state.config.queue_id, waited)
            if conversation is None:
                self._release(answer.agent_id, cid, "conversation gone")
            else:
                conversation.tell(Assigned(answer.agent_id, state.config.queue_id))
        else:
            entry = offer.entry
            if answer.reason == Decline.ALREADY_HOLDS:
                entry = evolve(entry, excluded=entry.excluded | {answer.agent_id})
            state.line.add(entry)
            self._dispatch_entry(entry)
        self._dispatch_agent(answer.agent_id)
        self._maybe_done(answer.agent_id)

    def _arm_offer_timer(self, delay: float) -> None:
        # one timer per queue, not per offer: offers are answered within microseconds
        # unless the agent actor is down, so a timer per offer would only be cancelled
        if self._offer_timer is None:
            self._offer_timer = self.clock.call_later(
                max(delay, 0.0), lambda: self.address.tell(CheckOffers())
            )

    def _check_offers(self) -> None:
        self._offer_timer = None
        timeout = self.state.config.offer_timeout
        now = self.clock.now()
        for offer_id, offer in list(self.state.offers.items()):
            if offer.made_at + timeout > now:
                self._arm_offer_timer(offer.made_at + timeout - now)
                return
            self._timed_out(offer_id)

    def _timed_out(self, offer_id: int) -> None:
        offer = self._close_offer(offer_id)
        if offer is None:
            return
        # the agent did not answer: take it out of rotation until it speaks again
        self._ready.discard(offer.agent_id)
        if not offer.withdrawn:
            self.state.line.add(offer.entry)
            self._dispatch_entry(offer.entry)

    def _release(self, agent_id: AgentId, conversation_id: ConversationId, reason: str) -> None:
        agent = self.routing.agents.get(agent_id)
        if agent is not None:
            agent.tell(ChatClosed(conversation_id, reason))

    # -- matching -------------------------------------------------------------------

    def _agent_changed(self, view: AgentView) -> None:
        known = self.state.views.get(view.agent_id)
        if not self._take_view(view):
            return
        self._dispatch_agent(view.agent_id)
        was_online = known is not None and known.status is AgentStatus.ONLINE
        if was_online and view.status is not AgentStatus.ONLINE:
            # chats held for this agent (affinity) need not wait for them any more
            for entry in [e for e in self.state.line if e.preferred_agent == view.agent_id]:
                if entry.conversation_id in self.state.line:
                    self._dispatch_entry(entry)

    def _maybe_done(self, agent_id: AgentId) -> None:
        """If the agent still has room beyond what was offered, let it ask its next queue."""
        if agent_id not in self._ready.views:
            return  # offers are out for all its room: wait for the answers
        round_ = self._rounds.pop(agent_id, None)
        agent = self.routing.agents.get(agent_id)
        if round_ is not None and agent is not None:
            state = self.state
            agent.tell(QueueDone(state.config.queue_id, round_, empty=not state.line))

    def _take_view(self, view: AgentView) -> bool:
        known = self.state.views.get(view.agent_id)
        if known is not None and known.version > view.version:
            return False
        self.state.views[view.agent_id] = view
        self._refresh(view.agent_id)
        return True

    def _adjusted(self, agent_id: AgentId) -> AgentView | None:
        view = self.state.views.get(agent_id)
        reserved = self._reserved.get(agent_id)
        if view is None or not reserved:
            return view
        active = dict(view.active)
        for channel, n in reserved.items():
            active[channel] = active.get(channel, 0) + n
        return evolve(view, active=active, active_total=view.active_total + sum(reserved.values()))

    def _refresh(self, agent_id: AgentId) -> None:
        view = self._adjusted(agent_id)
        if view is None:
            self._ready.discard(agent_id)
        else:
            self._ready.update(view)

    def _dispatch_entry(self, entry: QueueEntry) -> None:
        state = self.state
        agent_id = self._ready.choose(
            entry, self.clock.now(), all_views=state.views, rr_cursor=state.rr_cursor
        )
        if agent_id is not None:
            self._offer(entry, agent_id)

    def _dispatch_agent(self, agent_id: AgentId) -> None:
        state = self.state
        required = state.config.required_skills
        ready = self._ready.views
        line = state.line
        while line:
            view = ready.get(agent_id)
            if view is None:
                return
            entry = next_entry_for(view, line, required, self.clock.now(), views=state.views)
            if entry is None:
                return
            self._offer(entry, agent_id)

    # -- reading --------------------------------------------------------------------

    def describe(self, conversation_id: ConversationId | None = None) -> dict[str, Any]:
        state = self.state
        now = self.clock.now()
        online = [v for v in state.views.values() if v.status == AgentStatus.ONLINE]
        slots = sum(v.capacity.total for v in online) / len(online) if online else 0.0
        handle = state.config.default_handle_time
        info: dict[str, Any] = {
            "queue_id": state.config.queue_id,
            "waiting": len(state.line) + len(state.offers),
            "offering": len(state.offers),
            "longest_wait_s": state.line.oldest_wait(now),
            "online_agents": len(online),
            "ready_agents": len(self._ready),
            "assigned": state.assigned,
            "average_wait_s": state.wait_total / state.assigned if state.assigned else 0.0,
        }
        if conversation_id is not None:
            position = state.line.position(conversation_id) if conversation_id in state.line else 0
            info["conversation_id"] = conversation_id
            info["position"] = position
            info["estimated_wait_s"] = (
                estimate_wait(position, len(online), slots, handle) if position else 0.0
            )
        return info
