"""The conversation lifecycle table (SPEC §4)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.errors import BadRequest, InvalidTransition
from actors.routing.lifecycle import (
    TRANSITIONS,
    Event,
    allowed_events,
    holds_slot,
    is_open,
    resolve,
    transition,
)
from actors.routing.model import HOLDS_SLOT, Channel, ConversationState, ConversationStatus

S = ConversationStatus
E = Event
SLOT_HOLDING = [S.IN_WORK, S.AWAITING_CUSTOMER, S.IN_DEVELOPMENT, S.SOLUTION_PROPOSED]
OPEN = [s for s in S if s != S.RESOLVED]

ALLOWED = [
    (S.FLOW, E.HAND_OFF, S.QUEUED),
    (S.FLOW, E.CUSTOMER_MESSAGE, S.FLOW),
    (S.QUEUED, E.ASSIGN, S.IN_WORK),
    (S.QUEUED, E.CUSTOMER_MESSAGE, S.QUEUED),
    (S.QUEUED, E.TRANSFER_TO_AGENT, S.IN_WORK),
    (S.QUEUED, E.REQUEUE, S.QUEUED),
    (S.AWAITING_CUSTOMER, E.CUSTOMER_MESSAGE, S.IN_WORK),
    (S.IN_WORK, E.CUSTOMER_MESSAGE, S.IN_WORK),
    (S.IN_DEVELOPMENT, E.CUSTOMER_MESSAGE, S.IN_DEVELOPMENT),
    (S.SOLUTION_PROPOSED, E.CUSTOMER_MESSAGE, S.SOLUTION_PROPOSED),
    (S.PARKED, E.UNPARK_TO_AGENT, S.IN_WORK),
    (S.PARKED, E.UNPARK_TO_QUEUE, S.QUEUED),
    (S.PARKED, E.UNPARK_TO_FLOW, S.FLOW),
    (S.PARKED, E.PARK_TIMEOUT_REQUEUE, S.QUEUED),
    (S.PARKED, E.PARK_TIMEOUT_CLOSE, S.RESOLVED),
    *[(s, E.SET_IN_WORK, S.IN_WORK) for s in SLOT_HOLDING],
    *[(s, E.AWAIT_CUSTOMER, S.AWAITING_CUSTOMER) for s in SLOT_HOLDING],
    *[(s, E.IN_DEVELOPMENT, S.IN_DEVELOPMENT) for s in SLOT_HOLDING],
    *[(s, E.PROPOSE_SOLUTION, S.SOLUTION_PROPOSED) for s in SLOT_HOLDING],
    *[(s, E.PARK, S.PARKED) for s in SLOT_HOLDING],
    *[(s, E.REQUEUE, S.QUEUED) for s in SLOT_HOLDING],
    *[(s, E.TRANSFER_TO_AGENT, S.IN_WORK) for s in SLOT_HOLDING],
    *[(s, E.RESOLVE, S.RESOLVED) for s in OPEN],
]


@pytest.mark.parametrize(
    ("status", "event", "after"),
    [pytest.param(s, e, a, id=f"{s}-{e}") for s, e, a in ALLOWED],
)
def test_allowed_transition(status: S, event: E, after: S) -> None:
    assert transition(status, event) == after


def test_table_is_exactly_the_documented_rules() -> None:
    assert dict(TRANSITIONS) == {(s, e): a for s, e, a in ALLOWED}


REFUSED = [
    (s, e) for s, e in itertools.product(S, E) if (s, e) not in {(s, e) for s, e, _ in ALLOWED}
]


@pytest.mark.parametrize(
    ("status", "event"), [pytest.param(s, e, id=f"{s}-{e}") for s, e in REFUSED]
)
def test_refused_transition(status: S, event: E) -> None:
    with pytest.raises(InvalidTransition) as caught:
        transition(status, event)
    assert caught.value.code == "invalid_transition"
    assert caught.value.status == 409


@pytest.mark.parametrize(
    ("status", "event", "message"),
    [
        pytest.param(S.QUEUED, E.PARK, "cannot park a conversation that is queued", id="park"),
        pytest.param(
            S.RESOLVED, E.RESOLVE, "cannot resolve a conversation that is resolved", id="resolve"
        ),
        pytest.param(
            S.PARKED,
            E.CUSTOMER_MESSAGE,
            "cannot take a customer message on a conversation that is parked",
            id="message-on-parked",
        ),
        pytest.param(
            S.AWAITING_CUSTOMER,
            E.ASSIGN,
            "cannot assign a conversation that is awaiting customer",
            id="assign",
        ),
    ],
)
def test_refusal_reads_well(status: S, event: E, message: str) -> None:
    with pytest.raises(InvalidTransition, match=f"^{message}$"):
        transition(status, event)


def test_resolved_is_terminal() -> None:
    assert allowed_events(S.RESOLVED) == frozenset()
    assert not is_open(S.RESOLVED)
    assert all(is_open(s) for s in OPEN)


def test_every_status_is_reachable_and_every_open_one_can_end() -> None:
    reachable = {S.FLOW}
    frontier = [S.FLOW]
    while frontier:
        status = frontier.pop()
        for event in allowed_events(status):
            after = transition(status, event)
            if after not in reachable:
                reachable.add(after)
                frontier.append(after)
    assert reachable == set(S)
    assert all(E.RESOLVE in allowed_events(s) for s in OPEN)


@pytest.mark.parametrize("status", list(S), ids=str)
def test_holds_slot(status: S) -> None:
    assert holds_slot(status) is (status in HOLDS_SLOT)
    assert holds_slot(status) is (status in SLOT_HOLDING)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(S)), st.lists(st.sampled_from(list(E)), max_size=30))
def test_random_walks_follow_the_table(start: S, events: list[E]) -> None:
    status = start
    for event in events:
        if (status, event) in TRANSITIONS:
            after = transition(status, event)
            assert after == TRANSITIONS[status, event]
            assert event in allowed_events(status)
            status = after
        else:
            was_resolved = status == S.RESOLVED
            with pytest.raises(InvalidTransition):
                transition(status, event)
            assert was_resolved or event not in allowed_events(status)
        if start == S.RESOLVED:
            assert status == S.RESOLVED


# ----------------------------------------------------------------------------- resolve


def conversation(status: S = S.IN_WORK) -> ConversationState:
    return ConversationState(
        conversation_id="c1",
        customer_id="u1",
        channel=Channel.WHATSAPP,
        account="acc",
        queue_id="q1",
        status=status,
        agent_id="a1",
    )


@pytest.mark.parametrize("topic", [None, "", "   "], ids=["none", "empty", "blank"])
def test_resolve_requires_a_topic(topic: str | None) -> None:
    with pytest.raises(BadRequest) as caught:
        resolve(conversation(), topic, now=5.0)
    assert caught.value.code == "topic_required"
    assert caught.value.status == 400


@pytest.mark.parametrize("status", OPEN, ids=str)
def test_resolve_closes_any_open_conversation(status: S) -> None:
    state = conversation(status)
    done = resolve(state, "  billing ", now=5.0)
    assert (done.status, done.topic, done.resolved_at, done.agent_id) == (
        S.RESOLVED,
        "billing",
        5.0,
        "a1",
    )
    assert state.status == status  # untouched


def test_resolve_twice_is_an_invalid_transition() -> None:
    done = resolve(conversation(), "billing", now=5.0)
    with pytest.raises(InvalidTransition):
        resolve(done, "billing", now=6.0)
    with pytest.raises(InvalidTransition):
        resolve(done, None, now=6.0)
