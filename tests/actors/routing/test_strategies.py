"""Queue decisions: eligibility, strategies, preference, the waiting line."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.errors import NotFound
from actors.routing.capacity import skills_match, view_free_slots
from actors.routing.model import (
    AgentStatus,
    AgentView,
    Capacity,
    Channel,
    QueueEntry,
    Strategy,
)
from actors.routing.strategies import (
    WaitingLine,
    choose_agent,
    eligible,
    estimate_wait,
    line_key,
    merge_requirements,
    next_entry_for,
)

WA, TG = Channel.WHATSAPP, Channel.TELEGRAM
ONLINE, AWAY, BREAK, OFFLINE = (
    AgentStatus.ONLINE,
    AgentStatus.AWAY,
    AgentStatus.BREAK,
    AgentStatus.OFFLINE,
)


def view(
    agent_id: str,
    *,
    status: AgentStatus = ONLINE,
    skills: Mapping[str, int] | None = None,
    total: int = 3,
    per_channel: Mapping[Channel, int] | None = None,
    active: Mapping[Channel, int] | None = None,
    idle_since: float = 0.0,
) -> AgentView:
    counts = dict(active or {})
    return AgentView(
        agent_id=agent_id,
        status=status,
        skills=dict(skills or {}),
        capacity=Capacity(total=total, per_channel=dict(per_channel or {})),
        active=counts,
        active_total=sum(counts.values()),
        idle_since=idle_since,
        version=1,
    )


def entry(
    cid: str = "c1",
    *,
    channel: Channel = WA,
    priority: int = 0,
    enqueued_at: float = 0.0,
    seq: int = 0,
    required: Mapping[str, int] | None = None,
    preferred: str | None = None,
    until: float = 0.0,
    excluded: frozenset[str] = frozenset(),
) -> QueueEntry:
    return QueueEntry(
        conversation_id=cid,
        channel=channel,
        priority=priority,
        enqueued_at=enqueued_at,
        seq=seq,
        required_skills=dict(required or {}),
        preferred_agent=preferred,
        preferred_until=until,
        excluded=excluded,
    )


# ----------------------------------------------------------------------------- eligibility


@pytest.mark.parametrize(
    ("agent", "item", "queue_required", "ok"),
    [
        pytest.param(view("a"), entry(), {}, True, id="online-with-room"),
        pytest.param(view("a", status=AWAY), entry(), {}, False, id="away"),
        pytest.param(view("a", status=BREAK), entry(), {}, False, id="break"),
        pytest.param(view("a", status=OFFLINE), entry(), {}, False, id="offline"),
        pytest.param(view("a", total=1, active={TG: 1}), entry(), {}, False, id="full"),
        pytest.param(
            view("a", per_channel={WA: 1}, active={WA: 1}), entry(), {}, False, id="channel-full"
        ),
        pytest.param(
            view("a", per_channel={WA: 1}, active={WA: 1}),
            entry(channel=TG),
            {},
            True,
            id="other-channel-has-room",
        ),
        pytest.param(view("a"), entry(), {"tr": 1}, False, id="missing-queue-skill"),
        pytest.param(view("a"), entry(required={"tr": 1}), {}, False, id="missing-entry-skill"),
        pytest.param(
            view("a", skills={"tr": 2}),
            entry(required={"tr": 3}),
            {"tr": 1},
            False,
            id="max-level-of-both",
        ),
        pytest.param(
            view("a", skills={"tr": 3, "vip": 1}),
            entry(required={"vip": 1}),
            {"tr": 3},
            True,
            id="both-met",
        ),
        pytest.param(view("a"), entry(excluded=frozenset({"a"})), {}, False, id="excluded"),
    ],
)
def test_eligible(
    agent: AgentView, item: QueueEntry, queue_required: dict[str, int], ok: bool
) -> None:
    assert eligible(agent, item, queue_required, now=0.0) is ok


def test_merge_requirements_keeps_the_highest_level() -> None:
    assert merge_requirements({"tr": 1, "en": 2}, {"tr": 3}, {}) == {"tr": 3, "en": 2}


# ----------------------------------------------------------------------------- strategies

IDLE = [
    view("b", idle_since=5.0),
    view("a", idle_since=9.0),
    view("c", idle_since=5.0),
    view("d", idle_since=1.0, status=AWAY),
]
BUSY = [
    view("a", active={WA: 2}, total=4, idle_since=1.0),
    view("b", active={TG: 1}, total=2, idle_since=1.0),  # 1/2
    view("c", active={WA: 1}, total=4, idle_since=7.0),  # 1/4, idle later
    view("d", active={WA: 1}, total=4, idle_since=3.0),  # 1/4, idle earlier
    view("e", active={}, total=4, status=BREAK),
]
SKILLED = [
    view("a", skills={"tr": 5, "en": 1}, active={WA: 2}),
    view("b", skills={"tr": 3, "en": 3}, active={WA: 2}, idle_since=4.0),
    view("c", skills={"tr": 3, "en": 3}, active={WA: 1}, idle_since=9.0),
    view("d", skills={"tr": 9, "en": 9}, status=AWAY),
    view("e", skills={"tr": 2}),
]
RR = [view("a1"), view("a2"), view("a3", status=AWAY), view("a4")]


@pytest.mark.parametrize(
    ("strategy", "views", "item", "queue_required", "cursor", "expected"),
    [
        pytest.param(Strategy.LONGEST_IDLE, IDLE, entry(), {}, None, "b", id="idle-tie-by-id"),
        pytest.param(
            Strategy.LONGEST_IDLE,
            IDLE,
            entry(excluded=frozenset({"b"})),
            {},
            None,
            "c",
            id="idle-skips-excluded",
        ),
        pytest.param(Strategy.LEAST_BUSY, BUSY, entry(), {}, None, "d", id="busy-ratio-then-idle"),
        pytest.param(
            Strategy.LEAST_BUSY,
            BUSY[:2],
            entry(),
            {},
            None,
            "b",
            id="busy-fewest-active-first",
        ),
        pytest.param(
            Strategy.LEAST_BUSY,
            [view("z", active={WA: 1}), view("y", active={WA: 1})],
            entry(),
            {},
            None,
            "y",
            id="busy-tie-by-id",
        ),
        pytest.param(
            Strategy.SKILLS,
            SKILLED,
            entry(),
            {"tr": 1, "en": 1},
            None,
            "c",
            id="skills-score-then-least-busy",
        ),
        pytest.param(
            Strategy.SKILLS,
            SKILLED,
            entry(required={"tr": 4}),
            {},
            None,
            "a",
            id="skills-entry-requirement",
        ),
        pytest.param(
            Strategy.SKILLS,
            [
                view("b", skills={"x": 1}, idle_since=3.0),
                view("a", skills={"x": 1}, idle_since=3.0),
            ],
            entry(),
            {"x": 1},
            None,
            "a",
            id="skills-full-tie-by-id",
        ),
        pytest.param(Strategy.ROUND_ROBIN, RR, entry(), {}, None, "a1", id="rr-start"),
        pytest.param(Strategy.ROUND_ROBIN, RR, entry(), {}, "a1", "a2", id="rr-next"),
        pytest.param(Strategy.ROUND_ROBIN, RR, entry(), {}, "a2", "a4", id="rr-skips-away"),
        pytest.param(Strategy.ROUND_ROBIN, RR, entry(), {}, "a4", "a1", id="rr-wraps"),
        pytest.param(Strategy.ROUND_ROBIN, RR, entry(), {}, "a15", "a2", id="rr-gone-cursor"),
        pytest.param(Strategy.ROUND_ROBIN, RR[:1], entry(), {}, "a1", "a1", id="rr-alone"),
        pytest.param(Strategy.LONGEST_IDLE, [], entry(), {}, None, None, id="no-agents"),
        pytest.param(
            Strategy.LEAST_BUSY, [view("a", status=AWAY)], entry(), {}, None, None, id="none-online"
        ),
    ],
)
def test_choose_agent(
    strategy: Strategy,
    views: list[AgentView],
    item: QueueEntry,
    queue_required: dict[str, int],
    cursor: str | None,
    expected: str | None,
) -> None:
    assert choose_agent(strategy, views, item, queue_required, 0.0, rr_cursor=cursor) == expected
    reversed_views = list(reversed(views))
    assert (
        choose_agent(strategy, reversed_views, item, queue_required, 0.0, rr_cursor=cursor)
        == expected
    )


FULL = {WA: 3}
PREFERENCE = [view("a", idle_since=0.0), view("p", idle_since=50.0)]


@pytest.mark.parametrize(
    ("views", "item", "now", "expected"),
    [
        pytest.param(PREFERENCE, entry(preferred="p"), 0.0, "p", id="preferred-wins"),
        pytest.param(
            PREFERENCE, entry(preferred="p", until=99.0), 0.0, "p", id="preferred-wins-in-wait"
        ),
        pytest.param(
            [view("a"), view("p", active=FULL)],
            entry(preferred="p", until=30.0),
            10.0,
            None,
            id="wait-for-full-preferred",
        ),
        pytest.param(
            [view("a"), view("p", active=FULL)],
            entry(preferred="p", until=30.0),
            30.0,
            "a",
            id="wait-over",
        ),
        pytest.param(
            [view("a"), view("p", status=OFFLINE)],
            entry(preferred="p", until=30.0),
            10.0,
            "a",
            id="offline-preferred-not-awaited",
        ),
        pytest.param(
            [view("a"), view("p", status=BREAK)],
            entry(preferred="p", until=30.0),
            10.0,
            "a",
            id="break-preferred-not-awaited",
        ),
        pytest.param(
            [view("a")],
            entry(preferred="p", until=30.0),
            10.0,
            "a",
            id="preferred-not-in-queue",
        ),
        pytest.param(
            [view("a"), view("p")],
            entry(preferred="p", until=30.0, excluded=frozenset({"p"})),
            10.0,
            "a",
            id="excluded-preferred-not-awaited",
        ),
        pytest.param(
            [view("a"), view("p", active=FULL)],
            entry(preferred="p"),
            10.0,
            "a",
            id="returning-customer-no-wait",
        ),
        pytest.param(
            [view("a", active=FULL), view("p", active=FULL)],
            entry(preferred="p"),
            10.0,
            None,
            id="nobody-free",
        ),
    ],
)
def test_preference(
    views: list[AgentView], item: QueueEntry, now: float, expected: str | None
) -> None:
    for strategy in Strategy:
        assert choose_agent(strategy, views, item, {}, now) == expected


# ----------------------------------------------------------------------------- waiting line


def test_line_orders_by_priority_then_arrival_then_seq() -> None:
    line = WaitingLine(
        [
            entry("late", enqueued_at=5.0, seq=5),
            entry("vip", priority=2, enqueued_at=9.0, seq=9),
            entry("early", enqueued_at=1.0, seq=1),
            entry("same-time-2", enqueued_at=3.0, seq=4),
            entry("same-time-1", enqueued_at=3.0, seq=3),
            entry("low", priority=-1, enqueued_at=0.0, seq=0),
        ]
    )
    assert [e.conversation_id for e in line] == [
        "vip",
        "early",
        "same-time-1",
        "same-time-2",
        "late",
        "low",
    ]
    assert line.position("vip") == 1
    assert line.position("low") == 6
    assert len(line) == 6
    assert "late" in line
    assert "nope" not in line
    assert line.first() == line.get("vip")
    assert line.oldest_wait(now=10.0) == 10.0  # "low" has waited longest, whatever its place


def test_line_add_replaces_and_remove_is_idempotent() -> None:
    line = WaitingLine([entry("a", seq=1), entry("b", seq=2)])
    line.add(entry("b", seq=2, priority=5))
    assert [e.conversation_id for e in line] == ["b", "a"]
    assert len(line) == 2
    removed = line.remove("b")
    assert removed is not None
    assert removed.priority == 5
    assert line.remove("b") is None
    assert line.get("b") is None
    with pytest.raises(NotFound):
        line.position("b")


def test_empty_line() -> None:
    line = WaitingLine()
    assert (len(line), list(line), line.first(), line.oldest_wait(5.0)) == (0, [], None, 0.0)


def test_line_handles_tens_of_thousands() -> None:
    line = WaitingLine()
    n = 30_000
    for i in range(n):
        line.add(entry(f"c{i}", priority=i % 3, enqueued_at=float(i), seq=i))
    assert line.position("c2") == 1  # the first priority-2 entry
    assert line.position("c0") == 2 * (n // 3) + 1  # the first priority-0 entry
    for i in range(0, n, 2):
        line.remove(f"c{i}")
    assert len(line) == n // 2
    assert line.oldest_wait(now=float(n)) == float(n - 1)


class CountingLine(WaitingLine):
    """A line that counts how many entries were looked at."""

    __slots__ = ("seen",)

    def __init__(self, entries: list[QueueEntry]) -> None:
        super().__init__(entries)
        self.seen = 0

    def __iter__(self) -> Iterator[QueueEntry]:
        for item in super().__iter__():
            self.seen += 1
            yield item


@pytest.mark.parametrize(
    ("agent", "items", "views", "now", "expected"),
    [
        pytest.param(view("a"), [entry("c1", seq=1)], None, 0.0, "c1", id="head"),
        pytest.param(view("a", status=AWAY), [entry("c1", seq=1)], None, 0.0, None, id="away"),
        pytest.param(
            view("a", per_channel={WA: 1}, active={WA: 1}),
            [entry("c1", seq=1), entry("c2", channel=TG, seq=2)],
            None,
            0.0,
            "c2",
            id="skips-full-channel",
        ),
        pytest.param(
            view("a"),
            [entry("c1", seq=1, required={"tr": 1}), entry("c2", seq=2)],
            None,
            0.0,
            "c2",
            id="skips-missing-skill",
        ),
        pytest.param(
            view("a"),
            [entry("c1", seq=1, preferred="b", until=30.0), entry("c2", seq=2)],
            None,
            10.0,
            "c2",
            id="skips-preferred-to-other",
        ),
        pytest.param(
            view("a"),
            [entry("c1", seq=1, preferred="b", until=30.0), entry("c2", seq=2)],
            None,
            30.0,
            "c1",
            id="preference-expired",
        ),
        pytest.param(
            view("a"),
            [entry("c1", seq=1, preferred="b", until=30.0), entry("c2", seq=2)],
            {"b": view("b", status=OFFLINE)},
            10.0,
            "c1",
            id="preferred-other-offline",
        ),
        pytest.param(
            view("a"),
            [entry("c1", seq=1, preferred="b", until=30.0), entry("c2", seq=2)],
            {"b": view("b", active={WA: 3})},
            10.0,
            "c2",
            id="preferred-other-online-full",
        ),
        pytest.param(
            view("a"),
            [entry("c1", seq=1), entry("c2", seq=2, priority=1, preferred="a", until=30.0)],
            None,
            10.0,
            "c2",
            id="preferred-to-me",
        ),
        pytest.param(
            view("a"),
            [entry("c1", seq=1, excluded=frozenset({"a"})), entry("c2", seq=2)],
            None,
            0.0,
            "c2",
            id="skips-excluded",
        ),
        pytest.param(view("a"), [], None, 0.0, None, id="empty"),
    ],
)
def test_next_entry_for(
    agent: AgentView,
    items: list[QueueEntry],
    views: dict[str, AgentView] | None,
    now: float,
    expected: str | None,
) -> None:
    found = next_entry_for(agent, WaitingLine(items), {}, now, views=views)
    assert (found.conversation_id if found else None) == expected


def test_next_entry_for_stops_early() -> None:
    line = CountingLine([entry(f"c{i}", seq=i, channel=TG if i < 3 else WA) for i in range(5000)])
    agent = view("a", per_channel={TG: 0})
    found = next_entry_for(agent, line, {}, 0.0)
    assert found is not None
    assert found.conversation_id == "c3"
    assert line.seen == 4
    line.seen = 0
    assert next_entry_for(view("a", active={WA: 3}), line, {}, 0.0) is None
    assert line.seen == 0  # a full agent does not walk the line at all


@pytest.mark.parametrize(
    ("position", "agents", "slots", "aht", "expected"),
    [
        pytest.param(1, 1, 1.0, 300.0, 300.0, id="one-ahead"),
        pytest.param(10, 2, 5.0, 300.0, 300.0, id="ten-over-ten-slots"),
        pytest.param(3, 4, 1.5, 120.0, 60.0, id="fractional-slots"),
        pytest.param(5, 0, 5.0, 300.0, None, id="nobody-online"),
        pytest.param(5, 3, 0.0, 300.0, None, id="no-slots"),
        pytest.param(0, 3, 1.0, 300.0, 0.0, id="position-zero"),
    ],
)
def test_estimate_wait(
    position: int, agents: int, slots: float, aht: float, expected: float | None
) -> None:
    assert estimate_wait(position, agents, slots, aht) == expected


# ----------------------------------------------------------------------------- properties

CIDS = [f"c{i}" for i in range(12)]
AGENTS = ["a", "b", "c"]
SKILLS = ["tr", "en"]
skill_map = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 3), max_size=2)
line_op = st.one_of(
    st.tuples(
        st.just("add"),
        st.sampled_from(CIDS),
        st.integers(-1, 2),
        st.floats(0, 10, allow_nan=False).map(lambda x: round(x, 1)),
    ),
    st.tuples(st.just("remove"), st.sampled_from(CIDS), st.just(0), st.just(0.0)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(line_op, max_size=60))
def test_line_is_always_sorted(ops: list[tuple[str, str, int, float]]) -> None:
    line = WaitingLine()
    model: dict[str, QueueEntry] = {}
    for seq, (kind, cid, priority, at) in enumerate(ops):
        if kind == "add":
            item = entry(cid, priority=priority, enqueued_at=at, seq=seq)
            line.add(item)
            model[cid] = item
        else:
            assert line.remove(cid) == model.pop(cid, None)
        expected = sorted(model.values(), key=line_key)
        assert list(line) == expected
        assert len(line) == len(model)
        for place, item in enumerate(expected, start=1):
            assert line.position(item.conversation_id) == place
            assert item.conversation_id in line
        oldest = min((e.enqueued_at for e in model.values()), default=None)
        assert line.oldest_wait(20.0) == (0.0 if oldest is None else 20.0 - oldest)


agent_view = st.builds(
    lambda agent_id, status, skills, total, wa, tg, limit, idle: view(
        agent_id,
        status=status,
        skills=skills,
        total=total,
        per_channel={WA: limit},
        active={WA: wa, TG: tg},
        idle_since=idle,
    ),
    st.sampled_from(AGENTS),
    st.sampled_from([ONLINE, ONLINE, AWAY, OFFLINE]),
    skill_map,
    st.integers(0, 4),
    st.integers(0, 2),
    st.integers(0, 2),
    st.integers(0, 3),
    st.integers(0, 5).map(float),
)
queue_entry = st.builds(
    lambda cid, channel, priority, at, required, preferred, until, excluded: entry(
        cid,
        channel=channel,
        priority=priority,
        enqueued_at=at,
        required=required,
        preferred=preferred,
        until=until,
        excluded=excluded,
    ),
    st.sampled_from(CIDS),
    st.sampled_from([WA, TG]),
    st.integers(0, 2),
    st.integers(0, 10).map(float),
    skill_map,
    st.none() | st.sampled_from(AGENTS),
    st.integers(0, 20).map(float),
    st.frozensets(st.sampled_from(AGENTS), max_size=2),
)


def unique_entries(items: list[QueueEntry]) -> list[QueueEntry]:
    by_cid = {e.conversation_id: e for e in items}
    return [replace(e, seq=i) for i, e in enumerate(by_cid.values())]


def reference_next(
    me: AgentView,
    items: list[QueueEntry],
    queue_required: Mapping[str, int],
    now: float,
    views: Mapping[str, AgentView] | None,
) -> QueueEntry | None:
    """Brute force, spelled out from the rules rather than from the code."""
    for item in sorted(items, key=lambda e: (-e.priority, e.enqueued_at, e.seq)):
        needed = {**queue_required}
        for skill, level in item.required_skills.items():
            needed[skill] = max(level, needed.get(skill, 0))
        if not (
            me.status == ONLINE
            and me.agent_id not in item.excluded
            and view_free_slots(me, item.channel) > 0
            and skills_match(me.skills, needed)
        ):
            continue
        other = item.preferred_agent
        if other is not None and other != me.agent_id and now < item.preferred_until:
            if views is None:
                if other not in item.excluded:
                    continue
            else:
                pv = views.get(other)
                if pv is not None and pv.status == ONLINE and other not in item.excluded:
                    continue
        return item
    return None


@settings(max_examples=200, deadline=None)
@given(
    me=agent_view,
    others=st.lists(agent_view, max_size=3),
    items=st.lists(queue_entry, max_size=12),
    queue_required=skill_map,
    now=st.integers(0, 20).map(float),
    pass_views=st.booleans(),
)
def test_next_entry_for_is_the_first_eligible_in_order(
    me: AgentView,
    others: list[AgentView],
    items: list[QueueEntry],
    queue_required: dict[str, int],
    now: float,
    pass_views: bool,
) -> None:
    items = unique_entries(items)
    views = {v.agent_id: v for v in others} | {me.agent_id: me} if pass_views else None
    found = next_entry_for(me, WaitingLine(items), queue_required, now, views=views)
    assert found == reference_next(me, items, queue_required, now, views)


@settings(max_examples=200, deadline=None)
@given(
    me=agent_view,
    items=st.lists(queue_entry, max_size=12),
    queue_required=skill_map,
    now=st.integers(0, 20).map(float),
    strategy=st.sampled_from(list(Strategy)),
)
def test_next_entry_for_agrees_with_choose_agent_for_a_lone_agent(
    me: AgentView,
    items: list[QueueEntry],
    queue_required: dict[str, int],
    now: float,
    strategy: Strategy,
) -> None:
    line = WaitingLine(unique_entries(items))
    takes = [e for e in line if choose_agent(strategy, [me], e, queue_required, now) == me.agent_id]
    found = next_entry_for(me, line, queue_required, now, views={me.agent_id: me})
    assert found == (takes[0] if takes else None)


@settings(max_examples=200, deadline=None)
@given(
    views=st.lists(agent_view, max_size=5, unique_by=lambda v: v.agent_id),
    item=queue_entry,
    queue_required=skill_map,
    now=st.integers(0, 20).map(float),
    strategy=st.sampled_from(list(Strategy)),
    cursor=st.none() | st.sampled_from(AGENTS),
    order=st.randoms(use_true_random=False),
)
def test_choose_agent_picks_an_eligible_agent_deterministically(
    views: list[AgentView],
    item: QueueEntry,
    queue_required: dict[str, int],
    now: float,
    strategy: Strategy,
    cursor: str | None,
    order: random.Random,
) -> None:
    chosen = choose_agent(strategy, views, item, queue_required, now, rr_cursor=cursor)
    shuffled = list(views)
    order.shuffle(shuffled)
    assert choose_agent(strategy, shuffled, item, queue_required, now, rr_cursor=cursor) == chosen
    fits = [v.agent_id for v in views if eligible(v, item, queue_required, now)]
    if chosen is None:
        preferred = next((v for v in views if v.agent_id == item.preferred_agent), None)
        waiting = (
            preferred is not None
            and now < item.preferred_until
            and preferred.status == ONLINE
            and preferred.agent_id not in item.excluded
        )
        assert not fits or waiting
    else:
        assert chosen in fits
        if item.preferred_agent in fits:
            assert chosen == item.preferred_agent
