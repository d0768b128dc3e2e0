"""A parked chat that times out is closed or requeued, as its queue says."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actors.messages import Describe, Inbound, Park, SetStatus
from actors.routing.model import AgentState, AgentStatus, Capacity, Channel, QueueConfig
from actors.runtime import Runtime, VirtualClock, make_runtime
from actors.system import Routing, RoutingSettings


class Desk:
    def __init__(self) -> None:
        self.types: list[str] = []

    def push(self, event: object) -> None:
        self.types.append(getattr(event, "type", "?"))


@pytest.fixture(params=["pool", "thread"])
def center(request: pytest.FixtureRequest) -> Iterator[tuple[Routing, Runtime, VirtualClock]]:
    clock = VirtualClock()
    runtime = make_runtime(request.param, clock, track=True)
    routing = Routing(runtime, RoutingSettings(passivate_after_s=None))
    yield routing, runtime, clock
    routing.stop()
    runtime.shutdown()


@pytest.mark.parametrize(
    ("closes", "status_after", "agent_has_it"),
    [(True, "resolved", False), (False, "in_work", True)],
    ids=["close", "requeue"],
)
def test_park_time_out(
    center: tuple[Routing, Runtime, VirtualClock],
    closes: bool,
    status_after: str,
    agent_has_it: bool,
) -> None:
    routing, runtime, clock = center
    routing.add_queue(QueueConfig("default", park_timeout=3600.0, park_timeout_closes=closes))
    routing.add_agent(AgentState("ayse", queues=frozenset({"default"}), capacity=Capacity(1)))
    desk = Desk()
    routing.connect("ayse", desk)
    routing.agent("ayse").ask(SetStatus(AgentStatus.ONLINE))
    routing.deliver(Inbound(Channel.WHATSAPP, "acc", "905321112233", "m1", 0.0, {"kind": "text"}))
    runtime.settle()
    conversation = routing.conversation("conv_1")
    conversation.ask(Park("ayse"))
    runtime.settle()

    clock.advance(3599.0)
    runtime.settle()
    assert conversation.ask(Describe())["status"] == "parked"

    clock.advance(2.0)
    runtime.settle()
    state = conversation.ask(Describe())
    assert state["status"] == status_after
    held = routing.agent("ayse").ask(Describe())
    assert ("conv_1" in held["active"]) is agent_has_it
    assert "conv_1" not in held["parked"]
    if closes:
        assert state["topic"] == "park timeout"
        assert desk.types[-1] == "conversation.resolved"
