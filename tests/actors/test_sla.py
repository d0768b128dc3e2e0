"""SLA norms: a conversation too long in a status raises alerts, level by level."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actors.errors import InvalidTransition
from actors.events import (
    AgentChanged,
    ConversationAssigned,
    ConversationChanged,
    ConversationMessage,
    QueueChanged,
    SlaAlert,
)
from actors.messages import (
    CustomerMessage,
    Describe,
    Inbound,
    Park,
    Resolve,
    SetStatus,
    Transfer,
    UpdateProfile,
)
from actors.routing.model import (
    AgentState,
    AgentStatus,
    Capacity,
    Channel,
    ConversationStatus,
    QueueConfig,
)
from actors.runtime import Runtime, VirtualClock, make_runtime
from actors.system import Routing, RoutingSettings

NORMS = {
    ConversationStatus.QUEUED: (60.0, 300.0),
    ConversationStatus.IN_WORK: (120.0, 600.0),
}


class Sink:
    def __init__(self) -> None:
        self.events: list[object] = []

    def push(self, event: object) -> None:
        self.events.append(event)

    def alerts(self) -> list[tuple[str, str]]:
        return [(e.status, e.level) for e in self.events if isinstance(e, SlaAlert)]


@pytest.fixture(params=["pool", "thread"])
def center(request: pytest.FixtureRequest) -> Iterator[tuple[Routing, Runtime, VirtualClock]]:
    clock = VirtualClock()
    runtime = make_runtime(request.param, clock, track=True)
    routing = Routing(runtime, RoutingSettings(passivate_after_s=None))
    routing.add_queue(QueueConfig("default", sla=NORMS))
    routing.add_agent(AgentState("ayse", queues=frozenset({"default"}), capacity=Capacity(1)))
    yield routing, runtime, clock
    routing.stop()
    runtime.shutdown()


def _write(routing: Routing, sender: str = "905321112233") -> None:
    routing.deliver(Inbound(Channel.WHATSAPP, "acc", sender, f"m-{sender}", 0.0, {"kind": "text"}))


@pytest.mark.parametrize(
    ("waited", "expected"),
    [
        (59.0, []),
        (61.0, [("queued", "bad")]),
        (301.0, [("queued", "bad"), ("queued", "unsatisfactory")]),
    ],
)
def test_a_waiting_chat_raises_alerts_as_it_crosses_each_norm(
    center: tuple[Routing, Runtime, VirtualClock],
    waited: float,
    expected: list[tuple[str, str]],
) -> None:
    routing, runtime, clock = center
    supervisor = Sink()
    routing.watchers["default"] = [supervisor]
    _write(routing)
    runtime.settle()
    clock.advance(waited)
    runtime.settle()
    assert supervisor.alerts() == expected
    level = expected[-1][1] if expected else "normal"
    assert routing.conversation("conv_1").ask(Describe())["sla_level"] == level


def test_a_status_change_resets_the_level_and_the_agent_hears_of_its_alerts(
    center: tuple[Routing, Runtime, VirtualClock],
) -> None:
    routing, runtime, clock = center
    desk, supervisor = Sink(), Sink()
    routing.watchers["default"] = [supervisor]
    routing.connect("ayse", desk)
    _write(routing)
    runtime.settle()
    clock.advance(100)  # bad while waiting
    runtime.settle()
    routing.agent("ayse").ask(SetStatus(AgentStatus.ONLINE))
    runtime.settle()
    conversation = routing.conversation("conv_1").ask(Describe())
    assert (conversation["status"], conversation["sla_level"]) == ("in_work", "normal")
    clock.advance(121)  # in work past its norm: the agent sees it too
    runtime.settle()
    assert desk.alerts() == [("in_work", "bad")]
    assert supervisor.alerts() == [("queued", "bad"), ("in_work", "bad")]
    # parking moves it to a status without norms: no more alerts
    routing.conversation("conv_1").ask(Park("ayse"))
    clock.advance(10_000)
    runtime.settle()
    assert supervisor.alerts() == [("queued", "bad"), ("in_work", "bad")]


def test_supervisors_see_agents_queues_and_conversations_change(
    center: tuple[Routing, Runtime, VirtualClock],
) -> None:
    routing, runtime, _clock = center
    supervisor = Sink()
    routing.watchers["default"] = [supervisor]
    _write(routing)
    runtime.settle()
    routing.agent("ayse").ask(SetStatus(AgentStatus.ONLINE))
    runtime.settle()
    kinds = {type(e) for e in supervisor.events}
    assert {AgentChanged, QueueChanged, ConversationChanged} <= kinds
    last_agent = [e for e in supervisor.events if isinstance(e, AgentChanged)][-1]
    assert last_agent.agent["active"] == ["conv_1"]
    last_queue = [e for e in supervisor.events if isinstance(e, QueueChanged)][-1]
    assert last_queue.queue["waiting"] == 0


def test_a_profile_change_applies_at_once(center: tuple[Routing, Runtime, VirtualClock]) -> None:
    routing, runtime, _clock = center
    routing.add_queue(QueueConfig("vip"))
    agent = routing.agent("ayse")
    agent.ask(SetStatus(AgentStatus.ONLINE))
    described = agent.ask(UpdateProfile(frozenset({"vip"}), {"turkish": 3}, Capacity(4)))
    assert (described["queues"], described["capacity"]) == (["vip"], 4)
    _write(routing)  # the account routes to "default", which ayse left
    runtime.settle()
    assert routing.queue("default").ask(Describe())["waiting"] == 1
    assert agent.ask(Describe())["active"] == []


def test_a_refused_transfer_of_a_parked_chat_changes_nothing(
    center: tuple[Routing, Runtime, VirtualClock],
) -> None:
    routing, runtime, _clock = center
    desk = Sink()
    routing.connect("ayse", desk)
    routing.agent("ayse").ask(SetStatus(AgentStatus.ONLINE))
    _write(routing)
    runtime.settle()
    conversation = routing.conversation("conv_1")
    conversation.ask(Park("ayse"))
    runtime.settle()
    seen = len(desk.events)
    with pytest.raises(InvalidTransition):
        conversation.ask(Transfer("ayse", to_queue="default"))
    runtime.settle()
    assert len(desk.events) == seen  # no "transferred" for a step that did not happen
    assert routing.agent("ayse").ask(Describe())["parked"] == ["conv_1"]
    assert conversation.ask(Describe())["status"] == "parked"


def test_a_message_that_crosses_the_agent_s_resolve_opens_a_new_conversation(
    center: tuple[Routing, Runtime, VirtualClock],
) -> None:
    """The customer writes to a parked chat while the agent resolves it: nobody saw that
    message, so it must not end in a closed conversation — it starts a new one."""
    routing, runtime, _clock = center
    desk = Sink()
    routing.connect("ayse", desk)
    routing.agent("ayse").ask(SetStatus(AgentStatus.ONLINE))
    _write(routing)
    runtime.settle()
    old = routing.conversation("conv_1")
    old.ask(Park("ayse"))
    runtime.settle()
    customer = old.ask(Describe())["customer_id"]
    late = Inbound(Channel.WHATSAPP, "acc", "905321112233", "m-late", 0.0,
                   {"kind": "text", "body": "bir sorum daha var"})  # fmt: skip
    # in this order on the conversation's mailbox: the message (it asks ayse to unpark),
    # then her resolve, which arrives before her answer to the unpark can
    old.tell(CustomerMessage(late, customer))
    old.ask(Resolve("ayse", "done"))
    runtime.settle()
    assert old.ask(Describe())["status"] == "resolved"
    new = routing.conversation("conv_2").ask(Describe())
    assert new["previous_conversation_id"] == "conv_1"
    assert new["messages"] == 1
    # it reaches an agent: ayse, the customer's last agent, has room again
    assigned = [e for e in desk.events if isinstance(e, ConversationAssigned)]
    assert [e.conversation_id for e in assigned] == ["conv_1", "conv_2"]
    shown = [e for e in desk.events if isinstance(e, ConversationMessage)
             and e.message.get("provider_message_id") == "m-late"]  # fmt: skip
    assert [e.conversation_id for e in shown] == ["conv_2"]
