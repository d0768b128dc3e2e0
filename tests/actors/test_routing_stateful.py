"""Random contact-center days, on both runtimes, checked after every step.

A hypothesis state machine drives the real routing actors (directory, queues,
agents, conversations, supervisors, passivation) with virtual time: customers
write on several channels (one person reaches us on WhatsApp and Telegram with
the same phone number), agents change status, drop and reconnect, park, resolve
and transfer chats, phone calls start and end, and time passes.  After each step
the system is left to settle and these must hold:

* no agent holds more chats than its capacity, in total or per channel;
* every open conversation is in exactly one place: waiting in its queue, active
  with its agent, or parked with the agent who parked it;
* an agent that was not online before a step and was not set online by it
  received no new chat in that step;
* a queue never leaves a chat waiting that an eligible agent could take
  (work-conserving), and takes its chats in line order: a chat is never taken
  by an agent while an earlier chat of the same channel, which that agent could
  equally take, stays waiting;
* no actor failed.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from actors.errors import SwitchboardError
from actors.messages import (
    AgentDisconnect,
    CallEnded,
    CallStarted,
    Describe,
    Inbound,
    ListWaiting,
    Park,
    Resolve,
    SetStatus,
    Transfer,
)
from actors.routing.model import (
    AgentState,
    AgentStatus,
    AgentView,
    Capacity,
    Channel,
    DisconnectPolicy,
    PostParkPolicy,
    QueueConfig,
    QueueEntry,
    Strategy,
)
from actors.routing.strategies import choose_agent
from actors.runtime import VirtualClock, make_runtime
from actors.system import Routing, RoutingSettings

CHANNELS = (Channel.WHATSAPP, Channel.TELEGRAM, Channel.WEBCHAT)
CUSTOMERS = tuple(f"+90532111000{i}" for i in range(6))
QUEUES = {
    "sales": QueueConfig("sales", strategy=Strategy.LONGEST_IDLE, affinity_wait=20.0),
    "support": QueueConfig(
        "support",
        strategy=Strategy.LEAST_BUSY,
        post_park=PostParkPolicy.QUEUE,
        park_timeout=90.0,
        affinity_wait=20.0,
    ),
}
AGENTS = {
    "ayse": AgentState("ayse", queues=frozenset({"sales"}), capacity=Capacity(2)),
    "mehmet": AgentState(
        "mehmet",
        queues=frozenset({"sales", "support"}),
        capacity=Capacity(3, {Channel.WHATSAPP: 1}),
    ),
    "zeynep": AgentState("zeynep", queues=frozenset({"support"}), capacity=Capacity(1)),
    "can": AgentState("can", queues=frozenset({"sales", "support"}), capacity=Capacity(2)),
}
ACCOUNTS = {"acc-sales": "sales", "acc-support": "support"}
STATUSES = tuple(AgentStatus)


class Desk:
    """An agent's connection: only counts what it is told."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def push(self, event: object) -> None:
        self.events.append(event)


class RoutingDay(RuleBasedStateMachine):
    kind = "pool"

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock()
        self.runtime = make_runtime(self.kind, self.clock, track=True)
        self.routing = Routing(
            self.runtime,
            RoutingSettings(
                disconnect_grace_s=30.0,
                disconnect_policy=DisconnectPolicy.REQUEUE,
                passivate_after_s=60.0,
                accounts=ACCOUNTS,
                default_queue="sales",
            ),
        )
        for config in QUEUES.values():
            self.routing.add_queue(config)
        self.desks: dict[str, Desk] = {}
        for agent in AGENTS.values():
            self.routing.add_agent(agent)
            self.desks[agent.agent_id] = Desk()
            self.routing.connect(agent.agent_id, self.desks[agent.agent_id])
        self.messages = 0
        self.calls: dict[str, tuple[str, str]] = {}
        self.set_online: str | None = None
        self.runtime.settle()
        self.before = self.snapshot()

    def teardown(self) -> None:
        self.routing.stop()
        self.runtime.shutdown()

    # -- rules ---------------------------------------------------------------------

    @rule(
        customer=st.sampled_from(CUSTOMERS),
        channel=st.sampled_from(CHANNELS),
        account=st.sampled_from(sorted(ACCOUNTS)),
    )
    def customer_writes(self, customer: str, channel: Channel, account: str) -> None:
        self.messages += 1
        sender = customer.lstrip("+") if channel is Channel.WHATSAPP else f"user-{customer[-1]}"
        self.routing.deliver(
            Inbound(
                channel,
                account,
                sender,
                f"m{self.messages}",
                self.clock.wall(),
                {"kind": "text", "text": "merhaba"},
                identities=(("phone", customer),),
            )
        )

    @rule(agent=st.sampled_from(sorted(AGENTS)), status=st.sampled_from(STATUSES))
    def set_status(self, agent: str, status: AgentStatus) -> None:
        self.routing.agent(agent).ask(SetStatus(status))
        if status is AgentStatus.ONLINE:
            self.set_online = agent

    @rule(agent=st.sampled_from(sorted(AGENTS)))
    def connection_drops(self, agent: str) -> None:
        self.routing.agent(agent).ask(AgentDisconnect(self.desks[agent]))

    @rule(agent=st.sampled_from(sorted(AGENTS)))
    def connection_returns(self, agent: str) -> None:
        self.routing.connect(agent, self.desks[agent])

    @rule(agent=st.sampled_from(sorted(AGENTS)), pick=st.integers(0, 5))
    def park(self, agent: str, pick: int) -> None:
        self._command(agent, pick, "active", lambda: Park(agent))

    @rule(
        agent=st.sampled_from(sorted(AGENTS)),
        pick=st.integers(0, 5),
        where=st.sampled_from(["active", "parked"]),
    )
    def resolve(self, agent: str, pick: int, where: str) -> None:
        self._command(agent, pick, where, lambda: Resolve(agent, "billing"))

    @rule(
        agent=st.sampled_from(sorted(AGENTS)),
        pick=st.integers(0, 5),
        queue=st.sampled_from(sorted(QUEUES)),
    )
    def transfer_to_queue(self, agent: str, pick: int, queue: str) -> None:
        self._command(agent, pick, "active", lambda: Transfer(agent, to_queue=queue))

    @rule(
        agent=st.sampled_from(sorted(AGENTS)),
        pick=st.integers(0, 5),
        colleague=st.sampled_from(sorted(AGENTS)),
    )
    def transfer_to_agent(self, agent: str, pick: int, colleague: str) -> None:
        if colleague != agent:
            self._command(agent, pick, "active", lambda: Transfer(agent, to_agent=colleague))

    @rule(customer=st.sampled_from(CUSTOMERS), agent=st.sampled_from(sorted(AGENTS)))
    def call_starts(self, customer: str, agent: str) -> None:
        call_id = f"call-{len(self.calls)}"
        self.calls[call_id] = (customer, agent)
        self.routing.directory.tell(CallStarted(call_id, customer, agent))

    @precondition(lambda self: bool(self.calls))
    @rule(data=st.data())
    def call_ends(self, data: st.DataObject) -> None:
        call_id = data.draw(st.sampled_from(sorted(self.calls)))
        customer, agent = self.calls.pop(call_id)
        self.routing.directory.tell(CallEnded(call_id, customer, agent))

    @rule(seconds=st.sampled_from([1.0, 5.0, 25.0, 45.0, 100.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def _command(self, agent: str, pick: int, where: str, make: Any) -> None:
        held = self.before["agents"][agent][where]
        if not held:
            return
        conversation = self.routing.conversation(held[pick % len(held)])
        with contextlib.suppress(SwitchboardError):  # a refusal (colleague full) is fine
            conversation.ask(make())

    # -- checking ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        r = self.routing
        agents = {a: r.agent(a).ask(Describe()) for a in AGENTS}
        conversations = {c["conversation_id"]: c for c in r.describe_all(r.conversations)}
        lines = {q: r.queue(q).ask(ListWaiting()) for q in QUEUES}
        return {"agents": agents, "conversations": conversations, "lines": lines}

    @invariant()
    def holds(self) -> None:
        self.runtime.settle()
        now = self.snapshot()
        before, self.before = self.before, now
        set_online, self.set_online = self.set_online, None
        agents, conversations, lines = now["agents"], now["conversations"], now["lines"]

        for agent_id, agent in agents.items():
            limit = AGENTS[agent_id].capacity
            assert len(agent["active"]) <= limit.total, agent
            per_channel = Counter(Channel(conversations[c]["channel"]) for c in agent["active"])
            for channel, n in per_channel.items():
                assert n <= limit.limit_for(channel), (agent, channel)
            was = before["agents"][agent_id]
            if was["status"] != "online" and set_online != agent_id:
                gained = set(agent["active"]) - set(was["active"])
                assert not gained, f"{agent_id} ({was['status']}) got {gained}"

        places: Counter[str] = Counter()
        for queue_id, line in lines.items():
            for entry in line:
                places[entry.conversation_id] += 1
                assert conversations[entry.conversation_id]["queue_id"] == queue_id
        for agent in agents.values():
            places.update(agent["active"])
            places.update(agent["parked"])
        for cid, conversation in conversations.items():
            status = conversation["status"]
            expected = 0 if status == "resolved" else 1
            assert places[cid] == expected, (conversation, places[cid])
            if status == "queued":
                assert any(e.conversation_id == cid for e in lines[conversation["queue_id"]])
            elif status == "parked":
                assert cid in agents[conversation["parked_by"]]["parked"]
            elif status != "resolved":
                assert cid in agents[conversation["agent_id"]]["active"], conversation

        views = self._views(agents, conversations)
        for queue_id, line in lines.items():
            members = [views[a] for a in AGENTS if queue_id in AGENTS[a].queues]
            config = QUEUES[queue_id]
            for entry in line:
                chosen = choose_agent(
                    config.strategy, members, entry, config.required_skills, self.clock.now()
                )
                assert chosen is None, f"{entry.conversation_id} waits but {chosen} could take it"
            self._check_line_order(queue_id, before["lines"][queue_id], line, conversations, views)

        for supervisor in (r := self.routing).conversations, r.agents, r.queues, r.directories:
            assert supervisor.stats().failures == 0

    def _views(self, agents: dict[str, Any], conversations: dict[str, Any]) -> dict[str, AgentView]:
        views = {}
        for agent_id, agent in agents.items():
            per_channel = Counter(Channel(conversations[c]["channel"]) for c in agent["active"])
            views[agent_id] = AgentView(
                agent_id,
                AgentStatus(agent["status"]),
                {},
                AGENTS[agent_id].capacity,
                dict(per_channel),
                len(agent["active"]),
                0.0,
                0,
            )
        return views

    def _check_line_order(
        self,
        queue_id: str,
        line_before: list[QueueEntry],
        line_now: list[QueueEntry],
        conversations: dict[str, Any],
        views: dict[str, AgentView],
    ) -> None:
        still_waiting = {e.conversation_id for e in line_now}
        for taken_at, taken in enumerate(line_before):
            conversation = conversations[taken.conversation_id]
            if taken.conversation_id in still_waiting or conversation["queue_id"] != queue_id:
                continue
            agent = conversation["agent_id"]
            if conversation["status"] != "in_work" or agent is None:
                continue
            for earlier in line_before[:taken_at]:
                if earlier.conversation_id not in still_waiting or earlier.channel != taken.channel:
                    continue
                waits_for_other = (
                    earlier.preferred_agent not in (None, agent)
                    and earlier.preferred_until > self.clock.now()
                )
                assert waits_for_other or agent in earlier.excluded, (
                    f"{agent} took {taken.conversation_id} before {earlier.conversation_id}"
                )


class ThreadRoutingDay(RoutingDay):
    kind = "thread"


_SETTINGS = {
    "max_examples": 50,
    "stateful_step_count": 40,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
}
TestRoutingDayOnPool = RoutingDay.TestCase
TestRoutingDayOnPool.settings = settings(**_SETTINGS)  # type: ignore[attr-defined]
TestRoutingDayOnThreads = ThreadRoutingDay.TestCase
TestRoutingDayOnThreads.settings = settings(**_SETTINGS)  # type: ignore[attr-defined]
