"""The directory keeps a customer's messages in order, but never holds them for ever."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actors.messages import ChatEnded, Describe, Inbound, Resolve, SetStatus
from actors.routing.model import AgentState, AgentStatus, Capacity, Channel, QueueConfig
from actors.runtime import Runtime, VirtualClock, make_runtime
from actors.system import Routing, RoutingSettings


@pytest.fixture(params=["pool", "thread"])
def center(request: pytest.FixtureRequest) -> Iterator[tuple[Routing, Runtime, VirtualClock]]:
    clock = VirtualClock()
    runtime = make_runtime(request.param, clock, track=True)
    routing = Routing(runtime, RoutingSettings(passivate_after_s=None))
    routing.add_queue(QueueConfig("default"))
    routing.add_agent(AgentState("ayse", queues=frozenset({"default"}), capacity=Capacity(3)))
    routing.agent("ayse").ask(SetStatus(AgentStatus.ONLINE))
    yield routing, runtime, clock
    routing.stop()
    runtime.shutdown()


def _write(routing: Routing, text: str) -> None:
    content = {"kind": "text", "text": text}
    routing.deliver(Inbound(Channel.WHATSAPP, "acc", "905321112233", text, 0.0, content))


def test_messages_wait_for_a_lost_reroute_only_a_few_seconds(
    center: tuple[Routing, Runtime, VirtualClock],
) -> None:
    routing, runtime, clock = center
    _write(routing, "ilk")
    runtime.settle()
    old = routing.conversation("conv_1")
    customer = old.ask(Describe())["customer_id"]
    old.ask(Resolve("ayse", "billing"))
    runtime.settle()
    # a closing notice that says a message is still on its way back (as if the
    # conversation had failed on it): newer messages wait for it...
    routing.directory.tell(ChatEnded(customer, "conv_1", Channel.WHATSAPP, "acc", None, -1))
    _write(routing, "yeni")
    runtime.settle()
    assert routing.conversations.get("conv_2") is None
    # ...but not for ever
    clock.advance(6.0)
    runtime.settle()
    assert routing.conversation("conv_2").ask(Describe())["messages"] == 1
