"""A restarted routing system puts back exactly what it held, from a real Redis."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from actors.events import ConversationAssigned
from actors.messages import AgentConnect, Describe, Inbound, ListWaiting, Park, SetStatus
from actors.routing.model import (
    AgentState,
    AgentStatus,
    Capacity,
    Channel,
    PostParkPolicy,
    QueueConfig,
)
from actors.runtime import Runtime, VirtualClock, make_runtime
from actors.system import Routing, RoutingSettings
from storage.recovery import Recovered, open_routing
from storage.store import AcceptResult, Storage

QUEUES = [QueueConfig("default", post_park=PostParkPolicy.SAME_AGENT)]
AGENTS = [
    AgentState("ayse", queues=frozenset({"default"}), capacity=Capacity(2)),
    AgentState("mehmet", queues=frozenset({"default"}), capacity=Capacity(2)),
]
SETTINGS = RoutingSettings(passivate_after_s=None, disconnect_grace_s=60.0)


class _Sink:
    def __init__(self) -> None:
        self.events: list[object] = []

    def push(self, event: object) -> None:
        self.events.append(event)


class _Done:
    def __init__(self) -> None:
        self.future: Future[Any] = Future()

    def set(self, value: Any = None) -> None:
        self.future.set_result(value)

    def set_exception(self, exc_info: Any = None) -> None:
        self.future.set_exception(exc_info[1])


class Center:
    """A durable routing system on one storage, restartable in place."""

    def __init__(self, redis_url: str, kind: str) -> None:
        self.redis_url = redis_url
        self.kind = kind
        self.clock = VirtualClock()
        self.storage: Storage
        self.runtime: Runtime
        self.routing: Routing
        self.recovered: Recovered
        self.start()

    def start(self) -> None:
        self.storage = Storage(self.redis_url)
        self.runtime = make_runtime(self.kind, self.clock, track=True)
        self.routing, self.recovered = open_routing(
            self.runtime, self.storage, settings=SETTINGS, queues=QUEUES, agents=AGENTS
        )
        self.runtime.settle()

    def stop(self) -> None:
        self.storage.writer.flush()
        self.routing.stop()
        self.runtime.shutdown()
        self.storage.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def accept(self, provider_id: str, sender: str, *, deliver: bool = True) -> AcceptResult:
        content = {"kind": "text", "text": f"mesaj {provider_id}"}
        inbound = Inbound(Channel.WHATSAPP, "acc", sender, provider_id, 1.7e9, content)
        done = _Done()
        self.storage.accept([inbound], done)
        [result] = done.future.result(timeout=10)
        if deliver and not result.duplicate:
            self.routing.deliver(dataclasses.replace(inbound, inbox_id=result.inbox_id))
        self.runtime.settle()
        return result

    def picture(self) -> dict[str, Any]:
        """Everything a supervisor would compare: holdings, queue order, conversations."""
        routing = self.routing
        agents = {a.key: a.ask(Describe()) for a in routing.agents}
        conversations = {c.key: c.ask(Describe()) for c in routing.conversations}
        return {
            "agents": {
                k: (v["status"], v["active"], v["parked"], v["capacity"]) for k, v in agents.items()
            },
            "queue": [e.conversation_id for e in routing.queue("default").ask(ListWaiting())],
            "conversations": {
                k: (v["status"], v["agent_id"], v["parked_by"], v["messages"])
                for k, v in conversations.items()
                if v["status"] != "resolved"
            },
        }


@pytest.fixture(params=["pool", "thread"])
def center(request: pytest.FixtureRequest, redis_url: str) -> Iterator[Center]:
    c = Center(redis_url, request.param)
    yield c
    c.stop()


def _busy_day(center: Center) -> None:
    routing = center.routing
    for agent_id in ("ayse", "mehmet"):
        routing.agent(agent_id).ask(SetStatus(AgentStatus.ONLINE))
        routing.agent(agent_id).ask(AgentConnect(_Sink()))
    for i in range(7):
        center.accept(f"wamid.{i}", f"90532000000{i}")
    held = routing.agent("ayse").ask(Describe())["active"]
    routing.conversation(held[0]).ask(Park("ayse"))
    center.runtime.settle()


def test_a_restart_puts_back_holdings_queue_order_and_parked_chats(center: Center) -> None:
    _busy_day(center)
    before = center.picture()
    assert len(before["queue"]) == 2  # 7 chats, 4 slots, one parked
    assert sum(len(a[2]) for a in before["agents"].values()) == 1
    center.restart()
    assert center.picture() == before
    assert center.recovered.conversations == 7


def test_agents_reconnecting_in_the_grace_period_keep_their_chats(center: Center) -> None:
    _busy_day(center)
    before = center.picture()
    center.restart()
    sink = _Sink()
    hello = center.routing.agent("ayse").ask(AgentConnect(sink))
    assert (hello["active"], hello["parked"]) == before["agents"]["ayse"][1:3]
    # mehmet does not come back: after the grace period his chats follow the policy
    center.clock.advance(61)
    center.runtime.settle()
    mehmet = center.routing.agent("mehmet").ask(Describe())
    assert mehmet["status"] == "offline"


def _sender_of(center: Center, conversation_id: str) -> str:
    first = next(e for e in center.storage.transcript(conversation_id) if e["type"] == "message")
    return "90532000000" + first["provider_message_id"].removeprefix("wamid.")


def test_a_parked_chat_unparks_to_its_agent_after_a_restart(center: Center) -> None:
    _busy_day(center)
    [parked] = center.picture()["agents"]["ayse"][2]
    center.restart()
    center.routing.agent("ayse").ask(AgentConnect(_Sink()))
    center.routing.agent("ayse").ask(SetStatus(AgentStatus.ONLINE))
    center.accept("wamid.again", _sender_of(center, parked))
    # the customer wrote again: the chat comes back to ayse, if she has room (she has 2
    # active of 2: it waits in the queue for her, preferring her)
    after = center.routing.conversation(parked).ask(Describe())
    assert after["messages"] == 2
    assert after["status"] in {"assigned", "queued"}
    assert parked not in center.routing.agent("ayse").ask(Describe())["parked"]


def test_messages_accepted_but_not_yet_delivered_are_delivered_after_a_crash(
    center: Center,
) -> None:
    _busy_day(center)
    center.accept("wamid.lost", "905329999999", deliver=False)  # the crash came right here
    center.restart()
    assert center.recovered.redelivered == 1
    center.runtime.settle()
    center.storage.writer.flush()
    texts = [
        e["content"]["text"]
        for c in center.routing.conversations
        for e in center.storage.transcript(c.key)
        if e["type"] == "message"
    ]
    assert texts.count("mesaj wamid.lost") == 1
    assert center.storage.inbox() == []
    # the provider retries the same webhook: nothing new
    assert center.accept("wamid.lost", "905329999999").duplicate


def test_new_ids_after_a_restart_never_collide(center: Center) -> None:
    _busy_day(center)
    before = set(center.picture()["conversations"])
    center.restart()
    center.accept("wamid.new", "905328888888")
    after = set(center.picture()["conversations"])
    assert before < after
    assert len(after - before) == 1


def test_every_message_is_in_its_transcript_once(center: Center) -> None:
    _busy_day(center)
    center.storage.writer.flush()
    messages = [
        e
        for c in center.routing.conversations
        for e in center.storage.transcript(c.key)
        if e["type"] == "message"
    ]
    assert sorted(e["provider_message_id"] for e in messages) == [f"wamid.{i}" for i in range(7)]
    changes = [
        (e["event"], e["agent_id"])
        for c in center.routing.conversations
        for e in center.storage.transcript(c.key)
        if e["type"] == "status"
    ]
    assert sum(1 for event, _agent in changes if event == "assign") == 5
    assert ("park", "ayse") in changes


def test_passivated_conversations_wake_from_storage(redis_url: str) -> None:
    clock = VirtualClock()
    runtime = make_runtime("pool", clock, track=True)
    storage = Storage(redis_url)
    settings = dataclasses.replace(SETTINGS, passivate_after_s=30.0)
    routing, _ = open_routing(runtime, storage, settings=settings, queues=QUEUES, agents=AGENTS)
    try:
        routing.agent("ayse").ask(SetStatus(AgentStatus.ONLINE))
        sink = _Sink()
        routing.agent("ayse").ask(AgentConnect(sink))
        content = {"kind": "text", "text": "selam"}
        routing.deliver(Inbound(Channel.TELEGRAM, "bot", "42", "u1", 1.7e9, content))
        runtime.settle()
        [assigned] = [e for e in sink.events if isinstance(e, ConversationAssigned)]
        cid = assigned.conversation_id
        routing.conversation(cid).ask(Park("ayse"))
        clock.advance(120)
        runtime.settle()
        assert routing.conversations.stats().passivations == 1
        assert routing.conversation(cid).ask(Describe())["status"] == "parked"
        assert routing.conversations.stats().wakes == 1
    finally:
        routing.stop()
        runtime.shutdown()
        storage.close()
