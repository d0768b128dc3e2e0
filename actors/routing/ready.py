"""The agents a queue could offer a chat to right now, kept in strategy order.

``strategies.choose_agent`` states the rule over any collection of views; a
queue with a thousand agents cannot afford to scan them all for every chat.
:class:`ReadyAgents` keeps only the agents that are online with a free slot,
sorted by the queue's strategy key, so choosing is "the first eligible agent in
order" — usually the very first.  It gives the same answer as ``choose_agent``
(tested against it), just faster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from typing import Any

from sortedcontainers import SortedList

from actors.routing.capacity import view_free_slots
from actors.routing.model import AgentId, AgentStatus, AgentView, QueueEntry, Strategy
from actors.routing.strategies import eligible, merge_requirements, waits_for_preferred

__all__ = ["ReadyAgents"]


def _busy(view: AgentView) -> tuple[int, Fraction]:
    total = view.capacity.total
    return view.active_total, Fraction(view.active_total, total) if total > 0 else Fraction(1)


def _key_for(strategy: Strategy, queue_required: Mapping[str, int]) -> Callable[[AgentView], Any]:
    if strategy == Strategy.LONGEST_IDLE:
        return lambda v: (v.idle_since, v.agent_id)
    if strategy == Strategy.LEAST_BUSY:
        return lambda v: (*_busy(v), v.idle_since, v.agent_id)
    if strategy == Strategy.ROUND_ROBIN:
        return lambda v: v.agent_id
    required = dict(queue_required)
    return lambda v: (
        -sum(v.skills.get(s, 0) for s in required),
        *_busy(v),
        v.idle_since,
        v.agent_id,
    )


def has_room(view: AgentView) -> bool:
    """Online with at least one free slot on some channel (a cheap pre-filter)."""
    return view.status == AgentStatus.ONLINE and view.active_total < view.capacity.total


class ReadyAgents:
    """Online agents with room, in the order the queue's strategy prefers them."""

    def __init__(self, strategy: Strategy, queue_required: Mapping[str, int]) -> None:
        self.strategy = strategy
        self.queue_required = dict(queue_required)
        self._key = _key_for(strategy, queue_required)
        # (strategy key, agent id): a view whose key did not move (a slot reserved for
        # an offer, say) is swapped in place, without re-sorting
        self._order: SortedList = SortedList()
        self._keys: dict[AgentId, Any] = {}
        #: the ready agents' views by id (read it, never change it: ``update`` does)
        self.views: dict[AgentId, AgentView] = {}

    def __len__(self) -> int:
        return len(self.views)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self.views

    def __iter__(self) -> Iterator[AgentView]:
        views = self.views
        return (views[agent_id] for _key, agent_id in self._order)

    def get(self, agent_id: AgentId) -> AgentView | None:
        return self.views.get(agent_id)

    def update(self, view: AgentView) -> None:
        """Put the agent's latest (capacity-adjusted) view in, or take it out if it has no room."""
        agent_id = view.agent_id
        if view.status is not AgentStatus.ONLINE or view.active_total >= view.capacity.total:
            self.discard(agent_id)  # no room (has_room, inlined: this runs on every offer)
            return
        key = self._key(view)
        old = self._keys.get(agent_id)
        if old != key:
            if old is not None:
                self._order.remove((old, agent_id))
            self._order.add((key, agent_id))
            self._keys[agent_id] = key
        self.views[agent_id] = view

    def discard(self, agent_id: AgentId) -> None:
        if self.views.pop(agent_id, None) is not None:
            self._order.remove((self._keys.pop(agent_id), agent_id))

    def choose(
        self,
        entry: QueueEntry,
        now: float,
        *,
        all_views: Mapping[AgentId, AgentView],
        rr_cursor: str | None = None,
    ) -> AgentId | None:
        """Same answer as ``strategies.choose_agent`` over the ready agents."""
        required = self.queue_required
        preferred_id = entry.preferred_agent
        if preferred_id is not None:
            preferred = self.views.get(preferred_id)
            if preferred is not None and eligible(preferred, entry, required, now):
                return preferred_id
            if waits_for_preferred(entry, all_views.get(preferred_id), now):
                return None
        if self.strategy == Strategy.SKILLS and entry.required_skills:
            return self._best_by_entry_skills(entry, now)
        for view in self._ordered_from(rr_cursor):
            if view_free_slots(view, entry.channel) > 0 and eligible(view, entry, required, now):
                return view.agent_id
        return None

    def _ordered_from(self, rr_cursor: str | None) -> Iterator[AgentView]:
        if self.strategy != Strategy.ROUND_ROBIN or rr_cursor is None:
            yield from self
            return
        views = self.views
        # round-robin keys are the agent ids: start after the cursor, wrap around
        start = self._order.bisect_right((rr_cursor, rr_cursor))
        for _key, agent_id in self._order.islice(start):
            yield views[agent_id]
        for _key, agent_id in self._order.islice(0, start):
            yield views[agent_id]

    def _best_by_entry_skills(self, entry: QueueEntry, now: float) -> AgentId | None:
        required = merge_requirements(self.queue_required, entry.required_skills)
        candidates = [v for v in self if eligible(v, entry, self.queue_required, now)]
        if not candidates:
            return None
        best: AgentView = min(
            candidates,
            key=lambda v: (
                -sum(v.skills.get(s, 0) for s in required),
                *_busy(v),
                v.idle_since,
                v.agent_id,
            ),
        )
        return best.agent_id
