"""ReadyAgents (the queue's index of agents with room) answers exactly as choose_agent."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given, settings

from actors.routing.model import (
    AgentStatus,
    AgentView,
    Capacity,
    Channel,
    QueueEntry,
    Strategy,
)
from actors.routing.ready import ReadyAgents
from actors.routing.strategies import choose_agent

CHANNELS = (Channel.WHATSAPP, Channel.TELEGRAM)
AGENT_IDS = tuple(f"agent-{i}" for i in range(6))

views = st.builds(
    lambda agent_id, status, total, wa_limit, wa, tg, idle, skill: AgentView(
        agent_id=agent_id,
        status=status,
        skills={"tr": skill} if skill else {},
        capacity=Capacity(total, {Channel.WHATSAPP: wa_limit}),
        active={Channel.WHATSAPP: wa, Channel.TELEGRAM: tg},
        active_total=wa + tg,
        idle_since=idle,
        version=0,
    ),
    st.sampled_from(AGENT_IDS),
    st.sampled_from(list(AgentStatus)),
    st.integers(0, 4),
    st.integers(0, 3),
    st.integers(0, 2),
    st.integers(0, 2),
    st.sampled_from([0.0, 1.0, 2.0, 3.0]),
    st.integers(0, 3),
)
entries = st.builds(
    lambda channel, preferred, until, excluded, needs: QueueEntry(
        conversation_id="c",
        channel=channel,
        priority=0,
        enqueued_at=0.0,
        seq=1,
        required_skills={"tr": needs} if needs else {},
        preferred_agent=preferred,
        preferred_until=until,
        excluded=frozenset(excluded),
    ),
    st.sampled_from(CHANNELS),
    st.none() | st.sampled_from(AGENT_IDS),
    st.sampled_from([0.0, 5.0, 20.0]),
    st.sets(st.sampled_from(AGENT_IDS), max_size=2),
    st.integers(0, 2),
)


@settings(max_examples=300)
@given(
    strategy=st.sampled_from(list(Strategy)),
    updates=st.lists(views, max_size=20),
    entry=entries,
    queue_skill=st.integers(0, 2),
    cursor=st.none() | st.sampled_from(AGENT_IDS),
)
def test_ready_index_chooses_like_choose_agent(
    strategy: Strategy,
    updates: list[AgentView],
    entry: QueueEntry,
    queue_skill: int,
    cursor: str | None,
) -> None:
    required = {"tr": queue_skill} if queue_skill else {}
    ready = ReadyAgents(strategy, required)
    latest: dict[str, AgentView] = {}
    for view in updates:  # agents change many times; the index keeps only the last view
        ready.update(view)
        latest[view.agent_id] = view
    now = 10.0
    expected = choose_agent(strategy, latest.values(), entry, required, now, rr_cursor=cursor)
    assert ready.choose(entry, now, all_views=latest, rr_cursor=cursor) == expected
