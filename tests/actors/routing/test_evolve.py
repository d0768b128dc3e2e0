"""``evolve`` is ``dataclasses.replace`` for the routing records, only faster."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.routing.model import (
    AgentState,
    Capacity,
    Channel,
    ConversationState,
    ConversationStatus,
    QueueEntry,
    evolve,
)

changes = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(ConversationStatus),
        "agent_id": st.none() | st.text(max_size=5),
        "messages": st.integers(0, 100),
        "invited": st.frozensets(st.text(max_size=3), max_size=3),
        "thread": st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    },
)


@given(changes)
def test_evolve_equals_replace_and_leaves_the_original_alone(change: dict[str, Any]) -> None:
    original = ConversationState("c1", "cus_1", Channel.TELEGRAM, "bot", "q", messages=3)
    snapshot = dataclasses.replace(original)
    assert evolve(original, **change) == dataclasses.replace(original, **change)
    assert original == snapshot


@pytest.mark.parametrize(
    "record",
    [
        AgentState("ayse", capacity=Capacity(3)),
        QueueEntry("c1", Channel.EMAIL, 0, 1.0, 1),
        ConversationState("c1", "cus_1", Channel.WHATSAPP, "acc", "q"),
    ],
)
def test_an_unknown_field_is_an_error(record: object) -> None:
    with pytest.raises(TypeError, match="has no field colour"):
        evolve(record, colour="red")
