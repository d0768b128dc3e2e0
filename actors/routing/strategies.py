"""Queue decisions: who gets a waiting chat, and which chat a freed agent gets.

How this works
--------------
A queue actor keeps a :class:`WaitingLine` of :class:`QueueEntry` and a copy
(:class:`AgentView`) of each member agent.  The copies may be stale: these functions
only pick whom to *offer* to; the agent actor has the last word (``capacity``).

* **Eligible** = ONLINE, a free slot for the entry's channel, every skill required by
  the queue and by the entry (max level per skill), and not excluded from the entry.
* **Preference** (cross-channel affinity, returning customer, sticky transfer): an
  entry's ``preferred_agent`` always wins when eligible.  Until ``preferred_until``
  the entry *waits* for that agent while they are ONLINE (just full) and not
  excluded; after that, or if they are not online, anyone eligible may take it.
* **Strategies** break the choice among the eligible, deterministically:
  longest-idle, least-busy, round-robin (by agent id, after a cursor), skills.
* **Line order** is (higher priority first, then arrival, then sequence number).
  When an agent frees a slot, :func:`next_entry_for` walks the line in order and
  stops at the first chat this agent may take.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from fractions import Fraction

from sortedcontainers import SortedList

from actors.errors import NotFound
from actors.routing.capacity import skills_match, view_free_slots
from actors.routing.model import (
    AgentId,
    AgentStatus,
    AgentView,
    ConversationId,
    QueueEntry,
    Strategy,
)

__all__ = [
    "LineKey",
    "WaitingLine",
    "choose_agent",
    "eligible",
    "estimate_wait",
    "line_key",
    "merge_requirements",
    "next_entry_for",
    "waits_for_preferred",
]

#: (-priority, enqueued_at, seq): ascending order is line order.
LineKey = tuple[int, float, int]


def merge_requirements(*requirements: Mapping[str, int]) -> dict[str, int]:
    """Combine skill requirements, keeping the highest level asked for each skill."""
    merged: dict[str, int] = {}
    for required in requirements:
        for skill, level in required.items():
            merged[skill] = max(level, merged.get(skill, level))
    return merged


def eligible(
    view: AgentView, entry: QueueEntry, queue_required: Mapping[str, int], now: float
) -> bool:
    """Whether the agent (as the queue sees it) may be offered this entry now.

    ``now`` is part of the signature for symmetry with the other decisions;
    eligibility itself does not depend on time.
    """
    del now
    return (
        view.status == AgentStatus.ONLINE
        and view.agent_id not in entry.excluded
        and view_free_slots(view, entry.channel) > 0
        and skills_match(view.skills, queue_required)
        and skills_match(view.skills, entry.required_skills)
    )


def waits_for_preferred(entry: QueueEntry, preferred: AgentView | None, now: float) -> bool:
    """True while the entry is held for its preferred agent (ONLINE, not excluded, in time)."""
    return (
        preferred is not None
        and now < entry.preferred_until
        and preferred.status == AgentStatus.ONLINE
        and preferred.agent_id not in entry.excluded
    )


def _busy_key(view: AgentView) -> tuple[int, Fraction]:
    total = view.capacity.total
    ratio = Fraction(view.active_total, total) if total > 0 else Fraction(1)
    return view.active_total, ratio


def _skill_score(view: AgentView, required: Mapping[str, int]) -> int:
    return sum(view.skills.get(skill, 0) for skill in required)


def choose_agent(
    strategy: Strategy,
    views: Iterable[AgentView],
    entry: QueueEntry,
    queue_required: Mapping[str, int],
    now: float,
    *,
    rr_cursor: str | None = None,
) -> AgentId | None:
    """The agent to offer ``entry`` to, or None (nobody eligible, or waiting for the preferred)."""
    pool = list(views)
    preferred = _find(pool, entry.preferred_agent)
    if preferred is not None and eligible(preferred, entry, queue_required, now):
        return preferred.agent_id
    if waits_for_preferred(entry, preferred, now):
        return None
    candidates = [view for view in pool if eligible(view, entry, queue_required, now)]
    if not candidates:
        return None
    if strategy == Strategy.LONGEST_IDLE:
        best = min(candidates, key=lambda v: (v.idle_since, v.agent_id))
    elif strategy == Strategy.LEAST_BUSY:
        best = min(candidates, key=lambda v: (*_busy_key(v), v.idle_since, v.agent_id))
    elif strategy == Strategy.ROUND_ROBIN:
        ordered = sorted(candidates, key=lambda v: v.agent_id)
        after = [v for v in ordered if rr_cursor is None or v.agent_id > rr_cursor]
        best = (after or ordered)[0]
    elif strategy == Strategy.SKILLS:
        required = merge_requirements(queue_required, entry.required_skills)
        best = min(
            candidates,
            key=lambda v: (-_skill_score(v, required), *_busy_key(v), v.idle_since, v.agent_id),
        )
    else:  # pragma: no cover - exhaustive over Strategy
        raise ValueError(f"unknown strategy {strategy!r}")
    return best.agent_id


def _find(pool: Iterable[AgentView], agent_id: AgentId | None) -> AgentView | None:
    if agent_id is None:
        return None
    return next((view for view in pool if view.agent_id == agent_id), None)


def line_key(entry: QueueEntry) -> LineKey:
    """The sort key of an entry in its line: higher priority, then earlier, then lower seq."""
    return (-entry.priority, entry.enqueued_at, entry.seq)


class WaitingLine:
    """The chats waiting in one queue, always in line order; O(log n) add, remove, position."""

    __slots__ = ("_by_arrival", "_entries", "_order")

    def __init__(self, entries: Iterable[QueueEntry] = ()) -> None:
        # (line key, conversation id): the id makes keys unique even if seqs repeat.
        self._order: SortedList[tuple[LineKey, ConversationId]] = SortedList()
        self._by_arrival: SortedList[tuple[float, int, ConversationId]] = SortedList()
        self._entries: dict[ConversationId, QueueEntry] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: QueueEntry) -> None:
        """Put the entry in line, replacing any entry of the same conversation."""
        self.remove(entry.conversation_id)
        cid = entry.conversation_id
        self._entries[cid] = entry
        self._order.add((line_key(entry), cid))
        self._by_arrival.add((entry.enqueued_at, entry.seq, cid))

    def remove(self, conversation_id: ConversationId) -> QueueEntry | None:
        """Take the conversation out of line; returns its entry, or None if it was not there."""
        entry = self._entries.pop(conversation_id, None)
        if entry is not None:
            self._order.remove((line_key(entry), conversation_id))
            self._by_arrival.remove((entry.enqueued_at, entry.seq, conversation_id))
        return entry

    def get(self, conversation_id: ConversationId) -> QueueEntry | None:
        """The conversation's entry, or None."""
        return self._entries.get(conversation_id)

    def position(self, conversation_id: ConversationId) -> int:
        """1-based place in line; raises ``NotFound`` if the conversation is not waiting."""
        entry = self._entries.get(conversation_id)
        if entry is None:
            raise NotFound(f"conversation {conversation_id} is not waiting in this queue")
        return int(self._order.index((line_key(entry), conversation_id))) + 1

    def first(self) -> QueueEntry | None:
        """The entry at the head of the line, or None when nobody waits."""
        if not self._order:
            return None
        return self._entries[self._order[0][1]]

    def oldest_wait(self, now: float) -> float:
        """How long the longest-waiting chat has waited (any priority); 0.0 when empty."""
        if not self._by_arrival:
            return 0.0
        oldest: float = self._by_arrival[0][0]
        return max(0.0, now - oldest)

    def __iter__(self) -> Iterator[QueueEntry]:
        """Entries in line order, lazily; do not change the line while iterating."""
        entries = self._entries
        return (entries[cid] for _key, cid in self._order)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._entries

    def __repr__(self) -> str:
        return f"<WaitingLine of {len(self)}>"


def next_entry_for(
    view: AgentView,
    line: WaitingLine,
    queue_required: Mapping[str, int],
    now: float,
    *,
    views: Mapping[AgentId, AgentView] | None = None,
) -> QueueEntry | None:
    """The first entry in line order this agent may take now, or None.

    An entry preferred to this agent is fine; one preferred to another agent is
    skipped while it waits for them (:func:`waits_for_preferred`).  ``views`` are the
    queue's copies of its agents, used to tell whether that other agent is ONLINE;
    without them the preference is honoured until ``preferred_until``.
    """
    if view.status != AgentStatus.ONLINE or view.active_total >= view.capacity.total:
        return None  # cheap exit: eligible for nothing
    for entry in line:
        if not eligible(view, entry, queue_required, now):
            continue
        other = entry.preferred_agent
        if other is not None and other != view.agent_id:
            if views is None:
                if now < entry.preferred_until and other not in entry.excluded:
                    continue
            elif waits_for_preferred(entry, views.get(other), now):
                continue
        return entry
    return None


def estimate_wait(
    position: int, online_agents: int, slots_per_agent: float, avg_handle_time: float
) -> float | None:
    """Seconds until a chat at ``position`` is likely taken: position * AHT / (agents * slots).

    A deliberately simple model (every slot frees once per average handle time); None
    when no agent is online or the agents have no slots, since nobody will take it.
    """
    if online_agents <= 0 or slots_per_agent <= 0:
        return None
    return max(position, 0) * max(avg_handle_time, 0.0) / (online_agents * slots_per_agent)
