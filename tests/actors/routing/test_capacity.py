"""The agent's own decisions: offers, capacity, parking, status and presence."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.errors import Conflict, Unavailable
from actors.routing.capacity import (
    Decline,
    accept,
    decide_offer,
    disconnect,
    free_slots,
    go_offline_after_grace,
    grace_expired,
    park,
    reconnect,
    release,
    set_status,
    skills_match,
    unpark,
    view_free_slots,
    view_of,
)
from actors.routing.model import (
    AgentState,
    AgentStatus,
    Capacity,
    Channel,
    DisconnectPolicy,
)

WA, TG, WEB = Channel.WHATSAPP, Channel.TELEGRAM, Channel.WEBCHAT


def agent(
    *,
    total: int = 3,
    per_channel: Mapping[Channel, int] | None = None,
    status: AgentStatus = AgentStatus.ONLINE,
    active: Mapping[str, Channel] | None = None,
    parked: Mapping[str, Channel] | None = None,
    skills: Mapping[str, int] | None = None,
) -> AgentState:
    return AgentState(
        agent_id="a1",
        skills=dict(skills or {}),
        capacity=Capacity(total=total, per_channel=dict(per_channel or {})),
        status=status,
        connected=True,
        active=dict(active or {}),
        parked=dict(parked or {}),
    )


# ----------------------------------------------------------------------------- free slots


@pytest.mark.parametrize(
    ("state", "channel", "expected"),
    [
        pytest.param(agent(total=3), WA, 3, id="empty"),
        pytest.param(agent(total=3, active={"c1": WA}), TG, 2, id="total-counts-all-channels"),
        pytest.param(agent(total=3, per_channel={WA: 1}), WA, 1, id="channel-limit-binds"),
        pytest.param(
            agent(total=3, per_channel={WA: 1}, active={"c1": WA}), WA, 0, id="channel-full"
        ),
        pytest.param(
            agent(total=3, per_channel={WA: 1}, active={"c1": WA}), TG, 2, id="other-channel-free"
        ),
        pytest.param(
            agent(total=2, active={"c1": TG, "c2": TG}, per_channel={WA: 5}),
            WA,
            0,
            id="total-binds-over-channel",
        ),
        pytest.param(agent(total=1, parked={"p1": WA, "p2": WA}), WA, 1, id="parked-never-count"),
        pytest.param(agent(total=1, active={"c1": WA, "c2": WA}), WA, 0, id="never-negative"),
        pytest.param(agent(total=0), WA, 0, id="zero-capacity"),
    ],
)
def test_free_slots(state: AgentState, channel: Channel, expected: int) -> None:
    assert free_slots(state, channel) == expected
    assert view_free_slots(view_of(state), channel) == expected


@pytest.mark.parametrize(
    ("have", "need", "ok"),
    [
        pytest.param({}, {}, True, id="nothing-required"),
        pytest.param({"tr": 3}, {"tr": 3}, True, id="exact-level"),
        pytest.param({"tr": 5}, {"tr": 3}, True, id="higher-level"),
        pytest.param({"tr": 2}, {"tr": 3}, False, id="lower-level"),
        pytest.param({"en": 5}, {"tr": 1}, False, id="missing-skill"),
        pytest.param({"tr": 3, "en": 1}, {"tr": 1, "en": 1}, True, id="several"),
        pytest.param({"tr": 3}, {"tr": 1, "en": 1}, False, id="one-of-several-missing"),
    ],
)
def test_skills_match(have: dict[str, int], need: dict[str, int], ok: bool) -> None:
    assert skills_match(have, need) is ok


# ----------------------------------------------------------------------------- offers


@pytest.mark.parametrize(
    ("state", "cid", "channel", "required", "expected"),
    [
        pytest.param(agent(), "c9", WA, {}, None, id="accept"),
        pytest.param(agent(active={"c9": WA}), "c9", WA, {}, Decline.ALREADY_HOLDS, id="active"),
        pytest.param(agent(parked={"c9": WA}), "c9", WA, {}, Decline.ALREADY_HOLDS, id="parked"),
        pytest.param(
            agent(status=AgentStatus.OFFLINE, active={"c9": WA}),
            "c9",
            WA,
            {},
            Decline.ALREADY_HOLDS,
            id="already-holds-before-status",
        ),
        pytest.param(agent(status=AgentStatus.AWAY), "c9", WA, {}, Decline.NOT_ONLINE, id="away"),
        pytest.param(agent(status=AgentStatus.BREAK), "c9", WA, {}, Decline.NOT_ONLINE, id="break"),
        pytest.param(
            agent(status=AgentStatus.OFFLINE), "c9", WA, {}, Decline.NOT_ONLINE, id="offline"
        ),
        pytest.param(
            agent(status=AgentStatus.AWAY, total=0),
            "c9",
            WA,
            {"tr": 1},
            Decline.NOT_ONLINE,
            id="status-before-skills-and-capacity",
        ),
        pytest.param(agent(), "c9", WA, {"tr": 1}, Decline.MISSING_SKILLS, id="missing-skill"),
        pytest.param(
            agent(total=0, skills={"tr": 1}),
            "c9",
            WA,
            {"tr": 2},
            Decline.MISSING_SKILLS,
            id="skills-before-capacity",
        ),
        pytest.param(
            agent(total=1, active={"c1": TG}), "c9", WA, {}, Decline.AT_CAPACITY, id="full"
        ),
        pytest.param(
            agent(total=2, per_channel={WA: 1}, active={"c1": WA}),
            "c9",
            WA,
            {},
            Decline.CHANNEL_AT_CAPACITY,
            id="channel-full",
        ),
        pytest.param(
            agent(total=1, per_channel={WA: 1}, active={"c1": WA}),
            "c9",
            WA,
            {},
            Decline.AT_CAPACITY,
            id="both-full-says-total",
        ),
        pytest.param(
            agent(total=1, parked={"p1": WA, "p2": TG}), "c9", WA, {}, None, id="parked-free"
        ),
    ],
)
def test_decide_offer(
    state: AgentState,
    cid: str,
    channel: Channel,
    required: dict[str, int],
    expected: Decline | None,
) -> None:
    assert decide_offer(state, cid, channel, required) == expected


def test_accept_adds_active_and_marks_busy() -> None:
    state = replace(agent(), idle_since=1.0, version=7)
    new = accept(state, "c1", WA, now=50.0)
    assert new.active == {"c1": WA}
    assert new.idle_since == 50.0
    assert new.version == 8
    assert state.active == {}  # the old state is untouched


@pytest.mark.parametrize(
    ("state", "code"),
    [
        pytest.param(agent(status=AgentStatus.BREAK), "not_online", id="not-online"),
        pytest.param(agent(total=1, active={"x": WA}), "at_capacity", id="full"),
        pytest.param(agent(active={"c1": WA}), "already_holds", id="already"),
    ],
)
def test_accept_refuses(state: AgentState, code: str) -> None:
    with pytest.raises(Unavailable) as caught:
        accept(state, "c1", WA, now=1.0)
    assert caught.value.code == code
    assert caught.value.status == 409


# ----------------------------------------------------------------------------- parking


def test_park_frees_a_slot() -> None:
    state = agent(total=1, active={"c1": WA})
    new = park(state, "c1")
    assert new.active == {}
    assert new.parked == {"c1": WA}
    assert new.version == state.version + 1
    assert free_slots(new, WA) == 1


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(agent(), id="unknown"),
        pytest.param(agent(parked={"c1": WA}), id="already-parked"),
    ],
)
def test_park_requires_an_active_chat(state: AgentState) -> None:
    with pytest.raises(Conflict):
        park(state, "c1")


@pytest.mark.parametrize(
    ("state", "expected_decline", "active_after", "parked_after"),
    [
        pytest.param(agent(parked={"c1": WA}), None, {"c1": WA}, {}, id="back-to-agent"),
        pytest.param(
            agent(parked={"c1": WA}, status=AgentStatus.BREAK),
            Decline.NOT_ONLINE,
            {},
            {},
            id="on-break-goes-to-queue",
        ),
        pytest.param(
            agent(total=1, active={"c2": TG}, parked={"c1": WA}),
            Decline.AT_CAPACITY,
            {"c2": TG},
            {},
            id="full-goes-to-queue",
        ),
        pytest.param(
            agent(total=3, per_channel={WA: 1}, active={"c2": WA}, parked={"c1": WA}),
            Decline.CHANNEL_AT_CAPACITY,
            {"c2": WA},
            {},
            id="channel-full-goes-to-queue",
        ),
        pytest.param(
            agent(parked={"c1": WA, "c3": TG}), None, {"c1": WA}, {"c3": TG}, id="others-stay"
        ),
    ],
)
def test_unpark(
    state: AgentState,
    expected_decline: Decline | None,
    active_after: dict[str, Channel],
    parked_after: dict[str, Channel],
) -> None:
    new, decline = unpark(state, "c1", now=9.0)
    assert decline == expected_decline
    assert new.active == active_after
    assert new.parked == parked_after
    assert new.version == state.version + 1
    if decline is None:
        assert new.idle_since == 9.0


def test_unpark_unknown_chat_changes_nothing() -> None:
    state = agent()
    assert unpark(state, "nope", now=1.0) == (state, Decline.UNKNOWN_CHAT)


def test_unpark_of_an_active_chat_is_a_no_op() -> None:
    state = agent(active={"c1": WA})
    assert unpark(state, "c1", now=1.0) == (state, None)


# ----------------------------------------------------------------------------- release


@pytest.mark.parametrize(
    ("state", "active_after", "parked_after", "idle_after"),
    [
        pytest.param(agent(active={"c1": WA}), {}, {}, 20.0, id="last-active-makes-idle"),
        pytest.param(
            agent(active={"c1": WA, "c2": TG}), {"c2": TG}, {}, 5.0, id="still-busy-keeps-idle"
        ),
        pytest.param(agent(parked={"c1": WA}), {}, {}, 5.0, id="parked-keeps-idle"),
    ],
)
def test_release(
    state: AgentState,
    active_after: dict[str, Channel],
    parked_after: dict[str, Channel],
    idle_after: float,
) -> None:
    state = replace(state, idle_since=5.0)
    new = release(state, "c1", now=20.0)
    assert (new.active, new.parked, new.idle_since) == (active_after, parked_after, idle_after)
    assert new.version == state.version + 1


def test_release_is_idempotent() -> None:
    state = agent(active={"c2": WA})
    assert release(state, "c1", now=3.0) is state


# ----------------------------------------------------------------------------- status, presence


@pytest.mark.parametrize(
    ("before", "after", "idle_after"),
    [
        pytest.param(AgentStatus.OFFLINE, AgentStatus.ONLINE, 10.0, id="online-restarts-idle"),
        pytest.param(AgentStatus.BREAK, AgentStatus.ONLINE, 10.0, id="back-from-break"),
        pytest.param(AgentStatus.ONLINE, AgentStatus.AWAY, 2.0, id="away-keeps-idle"),
        pytest.param(AgentStatus.ONLINE, AgentStatus.OFFLINE, 2.0, id="offline-keeps-idle"),
    ],
)
def test_set_status(before: AgentStatus, after: AgentStatus, idle_after: float) -> None:
    state = replace(agent(status=before), status_since=1.0, idle_since=2.0)
    new = set_status(state, after, now=10.0)
    assert (new.status, new.status_since, new.idle_since) == (after, 10.0, idle_after)
    assert new.version == state.version + 1


def test_same_status_is_a_no_op() -> None:
    state = agent(status=AgentStatus.BREAK)
    assert set_status(state, AgentStatus.BREAK, now=10.0) is state


def test_disconnect_keeps_status_and_first_drop_time() -> None:
    state = agent()
    dropped = disconnect(state, now=10.0)
    assert (dropped.connected, dropped.disconnected_at, dropped.status) == (
        False,
        10.0,
        AgentStatus.ONLINE,
    )
    assert dropped.version == state.version + 1
    assert disconnect(dropped, now=15.0) is dropped
    back = reconnect(dropped, now=20.0)
    assert (back.connected, back.disconnected_at) == (True, None)
    assert back.version == dropped.version + 1
    assert reconnect(back, now=21.0) is back


@pytest.mark.parametrize(
    ("connected", "dropped_at", "now", "expired"),
    [
        pytest.param(True, None, 100.0, False, id="connected"),
        pytest.param(False, 10.0, 39.0, False, id="within-grace"),
        pytest.param(False, 10.0, 40.0, True, id="exactly-grace"),
        pytest.param(False, 10.0, 99.0, True, id="long-gone"),
        pytest.param(False, None, 99.0, False, id="never-connected"),
    ],
)
def test_grace_expired(
    connected: bool, dropped_at: float | None, now: float, expired: bool
) -> None:
    state = replace(agent(), connected=connected, disconnected_at=dropped_at)
    assert grace_expired(state, now, grace=30.0) is expired


@pytest.mark.parametrize(
    ("policy", "requeue", "active_after"),
    [
        pytest.param(DisconnectPolicy.REQUEUE, ["c1", "c2"], {}, id="requeue"),
        pytest.param(DisconnectPolicy.KEEP, [], {"c1": WA, "c2": TG}, id="keep"),
    ],
)
def test_go_offline_after_grace(
    policy: DisconnectPolicy, requeue: list[str], active_after: dict[str, Channel]
) -> None:
    state = disconnect(agent(active={"c1": WA, "c2": TG}, parked={"p1": WEB}), now=1.0)
    new, chats = go_offline_after_grace(state, now=60.0, policy=policy)
    assert chats == requeue
    assert new.active == active_after
    assert new.parked == {"p1": WEB}
    assert (new.status, new.status_since) == (AgentStatus.OFFLINE, 60.0)
    assert new.version == state.version + 1


def test_go_offline_when_already_offline_and_keeping_is_a_no_op() -> None:
    state = agent(status=AgentStatus.OFFLINE, active={"c1": WA})
    assert go_offline_after_grace(state, 5.0, DisconnectPolicy.KEEP) == (state, [])


def test_view_of() -> None:
    state = replace(
        agent(total=4, active={"c1": WA, "c2": WA, "c3": TG}, parked={"p": WEB}, skills={"x": 2}),
        idle_since=3.0,
        version=11,
    )
    view = view_of(state)
    assert view.agent_id == "a1"
    assert view.active == {WA: 2, TG: 1}
    assert view.active_total == 3
    assert (view.idle_since, view.version, view.skills) == (3.0, 11, {"x": 2})


# ----------------------------------------------------------------------------- properties

CHANNELS = [WA, TG, WEB]
CIDS = [f"c{i}" for i in range(8)]
cid_st = st.sampled_from(CIDS)
operation = st.one_of(
    st.tuples(st.just("accept"), cid_st, st.sampled_from(CHANNELS)),
    st.tuples(st.just("park"), cid_st),
    st.tuples(st.just("unpark"), cid_st),
    st.tuples(st.just("release"), cid_st),
    st.tuples(st.just("status"), st.sampled_from(list(AgentStatus))),
    st.tuples(st.just("disconnect")),
    st.tuples(st.just("reconnect")),
    st.tuples(st.just("grace"), st.sampled_from(list(DisconnectPolicy))),
)


def apply(state: AgentState, op: tuple[object, ...], now: float) -> AgentState:
    """Run one operation the way an agent actor would (refusals leave the state alone)."""
    match op:
        case ("accept", str(cid), Channel() as channel):
            declined = decide_offer(state, cid, channel, {})
            if declined is not None:
                with pytest.raises(Unavailable):
                    accept(state, cid, channel, now)
                return state
            return accept(state, cid, channel, now)
        case ("park", str(cid)):
            if cid not in state.active:
                with pytest.raises(Conflict):
                    park(state, cid)
                return state
            return park(state, cid)
        case ("unpark", str(cid)):
            new, decline = unpark(state, cid, now)
            if decline is None:
                assert cid in new.active
            else:
                assert cid not in new.active or cid in state.active
                assert cid not in new.parked
            return new
        case ("release", str(cid)):
            new = release(state, cid, now)
            assert cid not in new.active and cid not in new.parked
            return new
        case ("status", AgentStatus() as status):
            return set_status(state, status, now)
        case ("disconnect",):
            return disconnect(state, now)
        case ("reconnect",):
            return reconnect(state, now)
        case ("grace", DisconnectPolicy() as policy):
            new, requeued = go_offline_after_grace(state, now, policy)
            assert set(requeued).isdisjoint(new.active)
            return new
    raise AssertionError(op)


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(0, 4),
    limits=st.dictionaries(st.sampled_from(CHANNELS), st.integers(0, 4), max_size=3),
    ops=st.lists(operation, max_size=40),
)
def test_capacity_is_never_exceeded(
    total: int, limits: dict[Channel, int], ops: list[tuple[object, ...]]
) -> None:
    state = agent(total=total, per_channel=limits, status=AgentStatus.OFFLINE)
    for step, op in enumerate(ops):
        before = state
        state = apply(state, op, now=float(step))
        assert len(state.active) <= state.capacity.total
        for channel, count in Counter(state.active.values()).items():
            assert count <= state.capacity.limit_for(channel)
        assert set(state.active).isdisjoint(state.parked)
        if state is before:
            assert state.version == before.version
        else:
            assert state.version == before.version + 1
        view = view_of(state)
        for channel in CHANNELS:
            assert view_free_slots(view, channel) == free_slots(state, channel) >= 0
