"""Contact-center scenarios, end to end through the real routing actors, on both runtimes.

Each test plays a short, scripted scene with customers writing on their channels and
agents going online, parking, resolving, transferring and inviting, in virtual time. It
checks what the people involved would notice: who gets a chat, when, and what the
agents' connections are told.  ``Center`` wraps the routing system and settles it
after every step, so every assertion sees a quiet system.  After each test no actor
may have failed (checked when the ``Center`` is closed).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from actors.errors import BadRequest, Forbidden, NotFound, Unavailable
from actors.events import ConversationMessage, ConversationTransferred, Event, StatusChanged
from actors.messages import (
    AgentDisconnect,
    AgentMessage,
    CallEnded,
    CallStarted,
    CustomerMessage,
    Describe,
    Inbound,
    Invite,
    ListWaiting,
    Park,
    Pick,
    Remove,
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
    ConversationState,
    ConversationStatus,
    DisconnectPolicy,
    PostParkPolicy,
    QueueConfig,
    QueueEntry,
    Strategy,
)
from actors.runtime import Phase, VirtualClock, make_runtime
from actors.system import Routing, RoutingSettings

#: the person who reaches us on several channels
PHONE = "+905321234567"
#: other customers, one phone number each
CUSTOMERS = tuple(f"+90532111000{i}" for i in range(10))
ACCOUNTS = {"acc-sales": "sales", "acc-support": "support"}


class Desk:
    """An agent's connection (a websocket in production): records what it is told."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []

    def push(self, event: object) -> None:
        assert isinstance(event, Event), event
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)


class Center:
    """A contact center on virtual time: routing, its runtime, and the agents' desks."""

    def __init__(
        self,
        kind: str,
        *,
        queues: tuple[QueueConfig, ...] = (QueueConfig("sales"), QueueConfig("support")),
        settings: RoutingSettings | None = None,
    ) -> None:
        self.clock = VirtualClock()
        self.runtime = make_runtime(kind, self.clock, track=True)
        self.routing = Routing(
            self.runtime,
            settings or RoutingSettings(accounts=ACCOUNTS, default_queue="sales"),
        )
        for config in queues:
            self.routing.add_queue(config)
        self.desks: dict[str, Desk] = {}
        self._message_ids = itertools.count(1)

    # -- people -------------------------------------------------------------------

    def hire(
        self,
        agent_id: str,
        *,
        capacity: Capacity | None = None,
        queues: tuple[str, ...] = ("sales",),
        skills: Mapping[str, int] | None = None,
    ) -> None:
        """Add an agent (offline) with a connected desk."""
        self.routing.add_agent(
            AgentState(
                agent_id,
                queues=frozenset(queues),
                capacity=capacity or Capacity(5),
                skills=dict(skills or {}),
            )
        )
        self.desks[agent_id] = Desk()
        self.routing.connect(agent_id, self.desks[agent_id])
        self.settle()

    def set_status(self, agent_id: str, status: AgentStatus) -> None:
        self.routing.agent(agent_id).ask(SetStatus(status))
        self.settle()

    def online(self, agent_id: str) -> None:
        self.set_status(agent_id, AgentStatus.ONLINE)

    def drop_connection(self, agent_id: str) -> None:
        self.routing.agent(agent_id).ask(AgentDisconnect(self.desks[agent_id]))
        self.settle()

    def reconnect(self, agent_id: str) -> None:
        self.routing.connect(agent_id, self.desks[agent_id])
        self.settle()

    # -- customers ------------------------------------------------------------------

    def inbound(
        self,
        phone: str,
        text: str = "merhaba",
        *,
        channel: Channel = Channel.WHATSAPP,
        account: str = "acc-sales",
    ) -> Inbound:
        """A message from the customer with this phone number on ``channel``."""
        digits = phone.lstrip("+")
        sender = digits if channel is Channel.WHATSAPP else f"{channel.value}-user-{digits}"
        return Inbound(
            channel,
            account,
            sender,
            f"msg-{next(self._message_ids)}",
            self.clock.wall(),
            {"kind": "text", "text": text},
            identities=(("phone", phone),),
        )

    def write(
        self,
        phone: str,
        text: str = "merhaba",
        *,
        channel: Channel = Channel.WHATSAPP,
        account: str = "acc-sales",
    ) -> str:
        """The customer writes; returns the id of the conversation the message went to."""
        reply = self.routing.directory.ask(
            self.inbound(phone, text, channel=channel, account=account)
        )
        self.settle()
        conversation_id: str = reply["conversation_id"]
        return conversation_id

    # -- commands on conversations -------------------------------------------------

    def ask(self, conversation_id: str, command: object) -> Any:
        """A client command on a conversation (refusals raise), then settle."""
        try:
            return self.routing.conversation(conversation_id).ask(command)
        finally:
            self.settle()

    def pick(self, queue_id: str, agent_id: str, conversation_id: str) -> None:
        try:
            self.routing.queue(queue_id).ask(Pick(agent_id, conversation_id))
        finally:
            self.settle()

    # -- time --------------------------------------------------------------------------

    def settle(self) -> None:
        self.runtime.settle()

    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.settle()

    # -- looking -----------------------------------------------------------------------

    def agent(self, agent_id: str) -> dict[str, Any]:
        described: dict[str, Any] = self.routing.agent(agent_id).ask(Describe())
        return described

    def active(self, agent_id: str) -> set[str]:
        return set(self.agent(agent_id)["active"])

    def parked(self, agent_id: str) -> set[str]:
        return set(self.agent(agent_id)["parked"])

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        described: dict[str, Any] = self.routing.conversation(conversation_id).ask(Describe())
        return described

    def status(self, conversation_id: str) -> str:
        status: str = self.conversation(conversation_id)["status"]
        return status

    def holder(self, conversation_id: str) -> str | None:
        holder: str | None = self.conversation(conversation_id)["agent_id"]
        return holder

    def phase(self, conversation_id: str) -> Phase:
        """Whether the conversation's actor is live or asleep (passivated)."""
        return self.routing.conversation(conversation_id).phase

    def queue_info(self, queue_id: str, conversation_id: str | None = None) -> dict[str, Any]:
        described: dict[str, Any] = self.routing.queue(queue_id).ask(Describe(conversation_id))
        return described

    def waiting(self, queue_id: str) -> list[QueueEntry]:
        entries: list[QueueEntry] = self.routing.queue(queue_id).ask(ListWaiting())
        return entries

    def events(self, agent_id: str, conversation_id: str | None = None) -> list[Event]:
        """What the agent's desk was told, optionally only about one conversation."""
        return [
            e
            for e in self.desks[agent_id].events
            if conversation_id is None or getattr(e, "conversation_id", None) == conversation_id
        ]

    def kinds(self, agent_id: str, conversation_id: str | None = None) -> list[str]:
        return [e.type for e in self.events(agent_id, conversation_id)]

    def assigned_to(self, agent_id: str) -> list[str]:
        """The conversations announced to the agent as assigned, in order."""
        return [
            str(getattr(e, "conversation_id", ""))
            for e in self.events(agent_id)
            if e.type == "conversation.assigned"
        ]

    def texts(self, agent_id: str, conversation_id: str) -> list[str]:
        """The texts of the messages the agent's desk showed in the conversation."""
        return [
            e.message["content"]["text"]
            for e in self.events(agent_id, conversation_id)
            if isinstance(e, ConversationMessage)
        ]

    # -- the end ---------------------------------------------------------------------

    def failures(self) -> int:
        r = self.routing
        return sum(
            s.stats().failures for s in (r.conversations, r.agents, r.queues, r.directories, r.root)
        )

    def close(self) -> None:
        self.routing.stop()
        self.runtime.shutdown()


def _grace_settings(policy: DisconnectPolicy) -> RoutingSettings:
    """A 60-second disconnect grace period with ``policy`` after it."""
    return RoutingSettings(
        disconnect_grace_s=60.0,
        disconnect_policy=policy,
        accounts=ACCOUNTS,
        default_queue="sales",
    )


@pytest.fixture(params=["pool", "thread"])
def make_center(request: pytest.FixtureRequest) -> Iterator[Callable[..., Center]]:
    """Build contact centers on the runtime of this run; each is checked and closed after."""
    made: list[Center] = []

    def build(**options: Any) -> Center:
        center = Center(request.param, **options)
        made.append(center)
        return center

    yield build
    try:
        for center in made:
            center.settle()
            assert center.failures() == 0, "an actor failed during the scenario"
    finally:
        for center in made:
            center.close()


@pytest.fixture
def center(make_center: Callable[..., Center]) -> Center:
    """A center with a 'sales' (longest idle) and a 'support' queue."""
    return make_center()


def with_sales(**options: Any) -> tuple[QueueConfig, QueueConfig]:
    """The usual two queues, with 'sales' configured differently."""
    return (QueueConfig("sales", **options), QueueConfig("support"))


# ---------------------------------------------------------------------------- 1. capacity


def test_agent_takes_chats_up_to_capacity_and_the_next_waits_with_position_and_wait(
    center: Center,
) -> None:
    center.hire("ayse", capacity=Capacity(2))
    center.online("ayse")

    first = center.write(CUSTOMERS[0], "ilk")
    second = center.write(CUSTOMERS[1], "ikinci")
    third = center.write(CUSTOMERS[2], "üçüncü")
    fourth = center.write(CUSTOMERS[3], "dördüncü")

    assert center.active("ayse") == {first, second}
    assert center.assigned_to("ayse") == [first, second]
    assert center.texts("ayse", first) == ["ilk"]  # the held first message reaches her
    assert center.status(third) == center.status(fourth) == "queued"
    # 300 s handle time, one agent with two slots: 150 s per place in line
    third_info = center.queue_info("sales", third)
    assert third_info["position"] == 1
    assert third_info["estimated_wait_s"] == pytest.approx(150.0)
    fourth_info = center.queue_info("sales", fourth)
    assert fourth_info["position"] == 2
    assert fourth_info["estimated_wait_s"] == pytest.approx(300.0)
    assert center.queue_info("sales")["waiting"] == 2


def test_resolve_needs_a_topic_and_frees_the_slot_for_the_next_chat_at_once(
    center: Center,
) -> None:
    center.hire("ayse", capacity=Capacity(2))
    center.online("ayse")
    first = center.write(CUSTOMERS[0])
    second = center.write(CUSTOMERS[1])
    third = center.write(CUSTOMERS[2], "bekliyorum")

    with pytest.raises(BadRequest) as refused:
        center.ask(first, Resolve("ayse", None))
    assert refused.value.code == "topic_required"
    assert center.status(first) == "in_work"
    assert center.status(third) == "queued"

    center.ask(first, Resolve("ayse", "billing"))

    assert center.conversation(first)["topic"] == "billing"
    assert center.status(first) == "resolved"
    assert center.holder(third) == "ayse"
    assert center.status(third) == "in_work"
    assert center.active("ayse") == {second, third}
    assert center.kinds("ayse", first)[-1] == "conversation.resolved"
    assert center.assigned_to("ayse") == [first, second, third]
    assert center.texts("ayse", third) == ["bekliyorum"]
    assert center.queue_info("sales")["waiting"] == 0


# -------------------------------------------------------------------- 2. per-channel limit


def test_per_channel_capacity_holds_back_a_second_whatsapp_chat(center: Center) -> None:
    center.hire("ayse", capacity=Capacity(3, {Channel.WHATSAPP: 1}))
    center.online("ayse")

    whatsapp = center.write(CUSTOMERS[0], channel=Channel.WHATSAPP)
    telegram = center.write(CUSTOMERS[1], channel=Channel.TELEGRAM)
    second_whatsapp = center.write(CUSTOMERS[2], channel=Channel.WHATSAPP)
    webchat = center.write(CUSTOMERS[3], channel=Channel.WEBCHAT)

    assert center.active("ayse") == {whatsapp, telegram, webchat}
    assert center.status(second_whatsapp) == "queued"
    assert center.queue_info("sales", second_whatsapp)["position"] == 1

    center.ask(whatsapp, Resolve("ayse", "done"))
    # the WhatsApp slot is free, and the total (3) allows it again
    assert center.holder(second_whatsapp) == "ayse"


# -------------------------------------------------------------------------- 3. only online


def test_agents_on_break_or_away_get_nothing_and_online_takes_the_oldest_first(
    center: Center,
) -> None:
    center.hire("ayse", capacity=Capacity(1))
    center.hire("burak", capacity=Capacity(1))
    center.set_status("ayse", AgentStatus.BREAK)
    center.set_status("burak", AgentStatus.AWAY)

    older = center.write(CUSTOMERS[0])
    center.wait(5)
    newer = center.write(CUSTOMERS[1])
    center.wait(60)

    assert center.active("ayse") == center.active("burak") == set()
    assert center.status(older) == center.status(newer) == "queued"
    assert center.queue_info("sales", older)["position"] == 1

    center.online("burak")
    assert center.active("burak") == {older}
    assert center.status(newer) == "queued"

    center.online("ayse")
    assert center.active("ayse") == {newer}

    statuses = [e for e in center.events("ayse") if isinstance(e, StatusChanged)]
    assert [(e.agent_id, e.status) for e in statuses] == [("ayse", "break"), ("ayse", "online")]
    assert [e.type for e in center.events("burak")][:2] == ["status.changed", "status.changed"]


# ------------------------------------------------------------------------------ 4. park


def test_park_frees_the_slot_for_the_next_waiting_chat(center: Center) -> None:
    center.hire("ayse", capacity=Capacity(1))
    center.online("ayse")
    parked = center.write(CUSTOMERS[0])
    waiting = center.write(CUSTOMERS[1])
    assert center.status(waiting) == "queued"

    described = center.ask(parked, Park("ayse"))

    assert described["status"] == "parked"
    assert center.conversation(parked)["parked_by"] == "ayse"
    assert center.kinds("ayse", parked)[-1] == "conversation.parked"
    assert center.parked("ayse") == {parked}
    assert center.active("ayse") == {waiting}
    assert center.holder(waiting) == "ayse"


def test_parked_chat_of_a_full_agent_waits_in_the_queue_for_that_agent(center: Center) -> None:
    center.hire("ayse", capacity=Capacity(1))
    center.online("ayse")
    parked = center.write(CUSTOMERS[0])
    center.ask(parked, Park("ayse"))
    other = center.write(CUSTOMERS[1])
    assert center.active("ayse") == {other}

    center.write(CUSTOMERS[0], "hala bekliyorum")  # post_park SAME_AGENT, but she is full

    described = center.conversation(parked)
    assert described["status"] == "queued"
    assert described["agent_id"] is None
    (entry,) = center.waiting("sales")
    assert entry.conversation_id == parked
    assert entry.preferred_agent == "ayse"
    assert center.parked("ayse") == set()

    center.ask(other, Resolve("ayse", "done"))

    assert center.holder(parked) == "ayse"
    assert center.active("ayse") == {parked}
    assert center.assigned_to("ayse") == [parked, other, parked]
    assert center.texts("ayse", parked)[-1] == "hala bekliyorum"


def test_parked_chat_of_a_free_agent_is_unparked_straight_to_them(center: Center) -> None:
    center.hire("ayse", capacity=Capacity(1))
    center.hire("burak", capacity=Capacity(1))
    center.online("ayse")
    parked = center.write(CUSTOMERS[0], "merhaba")
    center.online("burak")  # free too, and would be an option for the queue
    center.ask(parked, Park("ayse"))
    before = len(center.events("ayse", parked))

    center.write(CUSTOMERS[0], "tekrar merhaba")

    assert center.holder(parked) == "ayse"
    assert center.status(parked) == "in_work"
    assert center.active("ayse") == {parked}
    assert center.parked("ayse") == set()
    after = center.events("ayse", parked)[before:]
    assert [e.type for e in after] == ["conversation.unparked", "conversation.message"]
    assert center.texts("ayse", parked) == ["merhaba", "tekrar merhaba"]
    assert center.assigned_to("ayse") == [parked]  # unparked, not assigned anew
    assert center.events("burak", parked) == []


# ------------------------------------------------------------------ 5. post-park QUEUE


def test_post_park_queue_sends_the_parked_chat_to_another_agent(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(queues=with_sales(post_park=PostParkPolicy.QUEUE))
    center.hire("ayse", capacity=Capacity(1))
    center.hire("burak", capacity=Capacity(1))
    center.online("ayse")
    parked = center.write(CUSTOMERS[0])
    center.wait(5)
    center.online("burak")
    center.ask(parked, Park("ayse"))
    busy = center.write(CUSTOMERS[1])  # ayse (idle longest) fills her slot again
    assert center.holder(busy) == "ayse"

    center.write(CUSTOMERS[0], "orada misiniz?")

    assert center.holder(parked) == "burak"
    assert center.parked("ayse") == set()
    assert center.active("burak") == {parked}
    assert center.assigned_to("burak") == [parked]
    assert center.texts("burak", parked) == ["orada misiniz?"]
    assert "conversation.unparked" not in center.kinds("ayse", parked)
    assert center.waiting("sales") == []


def test_post_park_queue_does_not_prefer_the_parking_agent(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(queues=with_sales(post_park=PostParkPolicy.QUEUE))
    center.hire("ayse", capacity=Capacity(1))
    center.online("ayse")
    parked = center.write(CUSTOMERS[0])
    center.ask(parked, Park("ayse"))
    center.set_status("ayse", AgentStatus.BREAK)

    center.write(CUSTOMERS[0], "orada misiniz?")

    (entry,) = center.waiting("sales")
    assert entry.conversation_id == parked
    assert entry.preferred_agent is None
    assert center.status(parked) == "queued"
    assert center.parked("ayse") == set()


# ------------------------------------------------------------------- 6. park time-out


def test_park_time_out_puts_the_chat_back_in_the_queue(make_center: Callable[..., Center]) -> None:
    center = make_center(queues=with_sales(park_timeout=60.0))
    center.hire("ayse", capacity=Capacity(1))
    center.hire("burak", capacity=Capacity(1))
    center.online("ayse")
    parked = center.write(CUSTOMERS[0])
    center.ask(parked, Park("ayse"))
    center.set_status("ayse", AgentStatus.BREAK)

    center.wait(59)
    assert center.status(parked) == "parked"
    assert center.parked("ayse") == {parked}

    center.wait(2)
    assert center.status(parked) == "queued"
    assert center.parked("ayse") == set()
    assert center.queue_info("sales", parked)["position"] == 1

    center.online("burak")
    assert center.holder(parked) == "burak"


def test_park_time_out_reassigns_at_once_when_an_agent_is_free(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(queues=with_sales(park_timeout=60.0))
    center.hire("ayse", capacity=Capacity(1))
    center.online("ayse")
    parked = center.write(CUSTOMERS[0])
    center.ask(parked, Park("ayse"))

    center.wait(30)
    assert center.status(parked) == "parked"
    center.wait(31)

    assert center.status(parked) == "in_work"
    assert center.holder(parked) == "ayse"
    assert center.active("ayse") == {parked}
    assert center.assigned_to("ayse") == [parked, parked]


def test_park_time_out_is_stopped_by_an_unpark(make_center: Callable[..., Center]) -> None:
    center = make_center(queues=with_sales(park_timeout=60.0))
    center.hire("ayse", capacity=Capacity(1))
    center.online("ayse")
    parked = center.write(CUSTOMERS[0])
    center.ask(parked, Park("ayse"))
    center.wait(30)
    center.write(CUSTOMERS[0], "geri döndüm")  # unparked to ayse
    assert center.holder(parked) == "ayse"

    center.wait(100)

    assert center.status(parked) == "in_work"
    assert center.assigned_to("ayse") == [parked]  # never went through the queue again


def test_agent_hears_when_a_parked_chat_times_out_to_the_queue(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(queues=with_sales(park_timeout=60.0))
    center.hire("ayse", capacity=Capacity(1))
    center.online("ayse")
    parked = center.write(CUSTOMERS[0])
    center.ask(parked, Park("ayse"))
    center.set_status("ayse", AgentStatus.BREAK)

    center.wait(61)

    assert center.parked("ayse") == set()  # the chat did leave her...
    assert center.kinds("ayse", parked)[-1] == "conversation.requeued"  # ...she should know


# ----------------------------------------------------------- 7. cross-channel affinity


def test_same_person_on_another_channel_goes_to_the_agent_they_talk_to(
    make_center: Callable[..., Center],
) -> None:
    # least busy: once ayse has a chat, burak (none) is the strategy's choice
    center = make_center(queues=with_sales(strategy=Strategy.LEAST_BUSY))
    center.hire("ayse", capacity=Capacity(2))
    center.hire("burak", capacity=Capacity(2))
    center.online("ayse")
    whatsapp = center.write(PHONE, "WhatsApp'tan yazıyorum", channel=Channel.WHATSAPP)
    center.online("burak")
    assert center.holder(whatsapp) == "ayse"

    telegram = center.write(PHONE, "Telegram'dan da", channel=Channel.TELEGRAM)

    assert telegram != whatsapp
    assert center.conversation(telegram)["channel"] == "telegram"
    assert center.holder(telegram) == "ayse"
    assert center.active("ayse") == {whatsapp, telegram}
    assert center.active("burak") == set()
    assert center.texts("ayse", telegram) == ["Telegram'dan da"]
    # a stranger is routed by the strategy as usual
    stranger = center.write(CUSTOMERS[0], channel=Channel.TELEGRAM)
    assert center.holder(stranger) == "burak"


def test_a_new_chat_is_not_held_up_by_an_open_chat_that_cannot_answer(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(queues=with_sales(strategy=Strategy.LEAST_BUSY))
    center.hire("ayse", capacity=Capacity(2))
    center.hire("burak", capacity=Capacity(2))
    center.online("ayse")
    whatsapp = center.write(PHONE, channel=Channel.WHATSAPP)
    center.online("burak")
    stopped = center.routing.conversations.get(whatsapp)
    assert stopped is not None
    stopped.close()  # its actor is stopped and refuses mail: no answer will come

    telegram = center.write(PHONE, channel=Channel.TELEGRAM)
    assert center.status(telegram) == "queued"  # asking the WhatsApp chat who serves it

    center.wait(1.0)
    assert center.holder(telegram) == "burak"  # no answer, no preference: the strategy's pick


def test_the_most_recently_assigned_open_chat_decides_the_preference(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(queues=with_sales(strategy=Strategy.LEAST_BUSY))
    for agent in ("ayse", "burak", "cem"):
        center.hire(agent, capacity=Capacity(3))
    center.online("ayse")
    center.write(PHONE, channel=Channel.WHATSAPP)
    center.set_status("ayse", AgentStatus.AWAY)
    center.online("burak")
    center.wait(5.0)
    center.write(PHONE, channel=Channel.MESSENGER)
    center.online("ayse")
    center.online("cem")

    telegram = center.write(PHONE, channel=Channel.TELEGRAM)

    assert center.holder(telegram) == "burak"  # his chat with the customer began last


def test_chat_waits_for_the_busy_engaged_agent_then_goes_to_another(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(
        queues=with_sales(strategy=Strategy.LEAST_BUSY, affinity_wait=30.0),
    )
    center.hire("ayse", capacity=Capacity(1))
    center.hire("burak", capacity=Capacity(2))
    center.online("ayse")
    whatsapp = center.write(PHONE, channel=Channel.WHATSAPP)
    center.online("burak")

    telegram = center.write(PHONE, channel=Channel.TELEGRAM)
    assert center.status(telegram) == "queued"  # held for ayse, who is full
    stranger = center.write(CUSTOMERS[0])  # others are not blocked by the held chat
    assert center.holder(stranger) == "burak"

    center.wait(29)
    assert center.status(telegram) == "queued"
    assert center.active("burak") == {stranger}

    center.wait(2)
    assert center.holder(telegram) == "burak"
    assert center.active("ayse") == {whatsapp}


def test_chat_held_for_the_engaged_agent_goes_to_them_when_they_free_up(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(queues=with_sales(strategy=Strategy.LEAST_BUSY, affinity_wait=30.0))
    center.hire("ayse", capacity=Capacity(1))
    center.hire("burak", capacity=Capacity(2))
    center.online("ayse")
    whatsapp = center.write(PHONE, channel=Channel.WHATSAPP)
    center.online("burak")
    telegram = center.write(PHONE, channel=Channel.TELEGRAM)
    center.wait(10)

    center.ask(whatsapp, Resolve("ayse", "done"))

    assert center.holder(telegram) == "ayse"
    assert center.active("burak") == set()


def test_chat_held_for_an_engaged_agent_who_goes_on_break_is_released_at_once(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(queues=with_sales(strategy=Strategy.LEAST_BUSY, affinity_wait=30.0))
    center.hire("ayse", capacity=Capacity(1))
    center.hire("burak", capacity=Capacity(2))
    center.online("ayse")
    center.write(PHONE, channel=Channel.WHATSAPP)
    center.online("burak")
    telegram = center.write(PHONE, channel=Channel.TELEGRAM)
    assert center.status(telegram) == "queued"

    center.set_status("ayse", AgentStatus.BREAK)

    assert center.holder(telegram) == "burak"


def test_affinity_follows_the_chat_when_it_is_transferred(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(queues=with_sales(strategy=Strategy.LEAST_BUSY))
    for agent in ("ayse", "burak", "cem"):
        center.hire(agent)
    center.online("ayse")
    whatsapp = center.write(PHONE, channel=Channel.WHATSAPP)
    center.online("burak")
    center.ask(whatsapp, Transfer("ayse", to_agent="burak"))
    center.online("cem")
    center.write(CUSTOMERS[0])  # everybody holds one chat now
    center.write(CUSTOMERS[1])
    assert [len(center.active(a)) for a in ("ayse", "burak", "cem")] == [1, 1, 1]

    telegram = center.write(PHONE, channel=Channel.TELEGRAM)

    assert center.holder(telegram) == "burak"


# ------------------------------------------------------------------- 8. voice affinity


def test_customer_on_a_call_is_routed_to_the_agent_on_the_call(center: Center) -> None:
    center.hire("ayse")
    center.hire("burak")
    center.online("burak")
    center.wait(5)
    center.online("ayse")  # burak has been idle longer: the strategy's choice
    center.routing.directory.tell(CallStarted("call-1", PHONE, "ayse"))
    center.settle()

    chat = center.write(PHONE, "telefonda konuştuğumuz konu", channel=Channel.WHATSAPP)

    assert center.holder(chat) == "ayse"
    assert center.active("burak") == set()

    center.routing.directory.tell(CallEnded("call-1", PHONE, "ayse"))
    center.settle()
    stranger = center.write(CUSTOMERS[0])
    assert center.holder(stranger) == "burak"


def test_a_finished_call_no_longer_steers_the_customer(center: Center) -> None:
    center.hire("ayse")
    center.hire("burak")
    center.online("burak")
    center.wait(5)
    center.online("ayse")
    center.routing.directory.tell(CallStarted("call-1", PHONE, "ayse"))
    center.routing.directory.tell(CallEnded("call-1", PHONE, "ayse"))
    center.settle()

    chat = center.write(PHONE, channel=Channel.WHATSAPP)

    assert center.holder(chat) == "burak"


# ----------------------------------------------------------------- 9. returning customer


def _returning_setup(center: Center) -> str:
    """Ayse resolved the customer's chat; burak has been idle longer since. Returns its id."""
    center.hire("ayse", capacity=Capacity(1))
    center.hire("burak", capacity=Capacity(2))
    center.online("ayse")
    first = center.write(PHONE)
    center.wait(5)
    center.online("burak")
    center.wait(5)
    center.ask(first, Resolve("ayse", "billing"))
    return first


def test_returning_customer_gets_a_new_linked_chat_with_the_previous_agent(
    center: Center,
) -> None:
    first = _returning_setup(center)

    again = center.write(PHONE, "bir sorum daha var")

    assert again != first
    described = center.conversation(again)
    assert described["previous_conversation_id"] == first
    assert described["agent_id"] == "ayse"
    assert center.texts("ayse", again) == ["bir sorum daha var"]
    assert center.status(first) == "resolved"


@pytest.mark.parametrize("ayse_is", ["offline", "full"])
def test_returning_customer_never_waits_for_an_unavailable_previous_agent(
    center: Center, ayse_is: str
) -> None:
    first = _returning_setup(center)
    if ayse_is == "offline":
        center.set_status("ayse", AgentStatus.OFFLINE)
    else:
        center.write(CUSTOMERS[0])  # burak has idled longer: his
        busy = center.write(CUSTOMERS[1])  # now ayse has: hers, and she is full
        assert center.active("ayse") == {busy}

    again = center.write(PHONE)

    described = center.conversation(again)
    assert described["previous_conversation_id"] == first
    assert described["agent_id"] == "burak"  # at once, no virtual time passed


# ---------------------------------------------------------------- 10. disconnect grace


def test_dropped_connection_keeps_the_agent_through_the_grace_period(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(settings=_grace_settings(DisconnectPolicy.REQUEUE))
    center.hire("ayse", capacity=Capacity(2))
    center.hire("burak", capacity=Capacity(2))
    center.online("ayse")
    chats = {center.write(CUSTOMERS[0]), center.write(CUSTOMERS[1])}
    assert center.active("ayse") == chats

    center.drop_connection("ayse")
    center.wait(30)
    described = center.agent("ayse")
    assert described["status"] == "online"
    assert described["connected"] is False
    assert set(described["active"]) == chats

    center.reconnect("ayse")
    center.wait(45)  # past the first drop's grace period: it was cancelled
    described = center.agent("ayse")
    assert described["status"] == "online"
    assert described["connected"] is True
    assert set(described["active"]) == chats

    center.drop_connection("ayse")
    center.online("burak")
    center.wait(59)
    assert center.agent("ayse")["status"] == "online"
    assert center.active("burak") == set()

    center.wait(2)
    described = center.agent("ayse")
    assert described["status"] == "offline"
    assert described["active"] == []
    assert center.active("burak") == chats
    assert set(center.assigned_to("burak")) == chats
    for chat in chats:
        assert center.holder(chat) == "burak"


def test_dropping_one_of_two_connections_starts_no_grace_period(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(settings=_grace_settings(DisconnectPolicy.REQUEUE))
    center.hire("ayse")
    center.online("ayse")
    chat = center.write(CUSTOMERS[0])
    second_tab = Desk()
    center.routing.connect("ayse", second_tab)

    center.drop_connection("ayse")
    center.wait(120)

    described = center.agent("ayse")
    assert described["status"] == "online"
    assert described["connected"] is True
    assert center.holder(chat) == "ayse"
    center.write(CUSTOMERS[0], "hala orada mısınız?")
    assert [e.type for e in second_tab.events] == ["conversation.message"]


def test_requeued_chats_wait_in_the_queue_when_nobody_is_online(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(settings=_grace_settings(DisconnectPolicy.REQUEUE))
    center.hire("ayse", capacity=Capacity(2))
    center.online("ayse")
    older = center.write(CUSTOMERS[0])
    center.wait(10)
    newer = center.write(CUSTOMERS[1])
    center.drop_connection("ayse")

    center.wait(61)

    assert center.status(older) == center.status(newer) == "queued"
    assert [e.conversation_id for e in center.waiting("sales")] == [older, newer]


def test_keep_policy_leaves_the_chats_with_the_vanished_agent_but_sends_no_new_ones(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(settings=_grace_settings(DisconnectPolicy.KEEP))
    center.hire("ayse", capacity=Capacity(3))
    center.online("ayse")
    kept = center.write(CUSTOMERS[0])
    center.drop_connection("ayse")

    center.wait(61)

    described = center.agent("ayse")
    assert described["status"] == "offline"
    assert described["active"] == [kept]
    assert center.holder(kept) == "ayse"
    assert center.status(kept) == "in_work"
    newcomer = center.write(CUSTOMERS[1])
    assert center.status(newcomer) == "queued"
    assert center.active("ayse") == {kept}


# ------------------------------------------------------------------------ 11. transfer


def test_transfer_to_a_colleague_moves_the_chat_and_frees_the_slot(center: Center) -> None:
    center.hire("ayse", capacity=Capacity(1))
    center.hire("burak", capacity=Capacity(1))
    center.online("ayse")
    chat = center.write(CUSTOMERS[0], "merhaba")
    center.online("burak")

    center.ask(chat, Transfer("ayse", to_agent="burak"))

    assert center.holder(chat) == "burak"
    assert center.status(chat) == "in_work"
    assert center.assigned_to("burak") == [chat]
    (moved,) = [e for e in center.events("ayse", chat) if isinstance(e, ConversationTransferred)]
    assert (moved.from_agent, moved.to_agent) == ("ayse", "burak")
    assert center.active("ayse") == set()
    # her slot is free: the next chat is hers (burak is full)
    nxt = center.write(CUSTOMERS[1])
    assert center.holder(nxt) == "ayse"
    # and the customer's next message goes to burak only
    center.write(CUSTOMERS[0], "devam")
    assert center.texts("burak", chat) == ["devam"]
    assert center.texts("ayse", chat) == ["merhaba"]


def test_transfer_to_a_full_colleague_leaves_the_chat_with_its_agent(center: Center) -> None:
    center.hire("ayse", capacity=Capacity(1))
    center.hire("burak", capacity=Capacity(1))
    center.online("ayse")
    chat = center.write(CUSTOMERS[0])
    center.online("burak")
    burak_chat = center.write(CUSTOMERS[1])
    assert center.holder(burak_chat) == "burak"

    center.ask(chat, Transfer("ayse", to_agent="burak"))

    assert center.holder(chat) == "ayse"
    assert center.status(chat) == "in_work"
    assert center.active("ayse") == {chat}
    assert center.active("burak") == {burak_chat}
    (refused,) = [e for e in center.events("ayse", chat) if isinstance(e, ConversationTransferred)]
    assert refused.to_agent is None
    assert center.events("burak", chat) == []


def test_transfer_to_a_colleague_on_break_is_refused(center: Center) -> None:
    center.hire("ayse")
    center.hire("burak")
    center.online("ayse")
    chat = center.write(CUSTOMERS[0])
    center.set_status("burak", AgentStatus.BREAK)

    center.ask(chat, Transfer("ayse", to_agent="burak"))

    assert center.holder(chat) == "ayse"
    assert center.active("burak") == set()
    (refused,) = [e for e in center.events("ayse", chat) if isinstance(e, ConversationTransferred)]
    assert refused.to_agent is None


def test_transfer_to_another_queue_waits_there_for_its_agents(center: Center) -> None:
    center.hire("ayse", capacity=Capacity(1))
    center.hire("cem", capacity=Capacity(1), queues=("support",))
    center.online("ayse")
    chat = center.write(CUSTOMERS[0], "fatura sorunu")

    center.ask(chat, Transfer("ayse", to_queue="support"))

    described = center.conversation(chat)
    assert described["status"] == "queued"
    assert described["queue_id"] == "support"
    assert center.queue_info("support", chat)["position"] == 1
    assert center.active("ayse") == set()
    (moved,) = [e for e in center.events("ayse", chat) if isinstance(e, ConversationTransferred)]
    assert moved.to_queue == "support"
    center.write(CUSTOMERS[0], "hala orada misiniz?")

    center.online("cem")

    assert center.holder(chat) == "cem"
    assert center.texts("cem", chat) == ["hala orada misiniz?"]
    assert center.queue_info("support")["waiting"] == 0


def test_supervisor_hands_a_waiting_chat_to_an_agent_with_its_messages(center: Center) -> None:
    center.hire("ayse", capacity=Capacity(1))
    center.hire("burak", capacity=Capacity(1), queues=("support",))
    center.online("ayse")
    center.write(CUSTOMERS[0])  # ayse is full
    waiting = center.write(CUSTOMERS[1], "ilk mesajım")
    center.online("burak")  # not in 'sales': the queue will not give it to him
    assert center.status(waiting) == "queued"

    center.ask(waiting, Transfer(None, to_agent="burak"))

    assert center.holder(waiting) == "burak"
    assert center.assigned_to("burak") == [waiting]
    assert center.texts("burak", waiting) == ["ilk mesajım"]


def test_transfer_to_an_invited_colleague_shows_each_message_once(center: Center) -> None:
    center.hire("ayse")
    center.hire("cem")
    center.online("ayse")
    chat = center.write(CUSTOMERS[0])
    center.online("cem")
    center.ask(chat, Invite("ayse", "cem"))

    center.ask(chat, Transfer("ayse", to_agent="cem"))
    center.write(CUSTOMERS[0], "selam")

    assert center.holder(chat) == "cem"
    assert center.texts("cem", chat) == ["selam"]
    assert center.conversation(chat)["invited"] == []


def test_transfer_to_an_unknown_agent_is_refused(center: Center) -> None:
    center.hire("ayse")
    center.online("ayse")
    chat = center.write(CUSTOMERS[0])

    with pytest.raises((BadRequest, NotFound)):
        center.ask(chat, Transfer("ayse", to_agent="ghost"))
    assert center.holder(chat) == "ayse"


# -------------------------------------------------------------------------- 12. invite


def test_invited_colleague_follows_the_chat_without_losing_capacity(center: Center) -> None:
    center.hire("ayse", capacity=Capacity(1))
    center.hire("cem", capacity=Capacity(1), queues=("support",))
    center.hire("deniz", capacity=Capacity(1), queues=("support",))
    center.online("ayse")
    chat = center.write(CUSTOMERS[0], "merhaba")

    center.ask(chat, Invite("ayse", "cem"))

    assert center.conversation(chat)["invited"] == ["cem"]
    assert center.kinds("cem", chat) == ["conversation.invited"]
    center.write(CUSTOMERS[0], "fatura nerede?")
    assert center.texts("cem", chat) == ["fatura nerede?"]
    assert center.texts("ayse", chat) == ["merhaba", "fatura nerede?"]

    sent = center.ask(chat, AgentMessage("cem", {"kind": "text", "text": "bakıyorum"}))
    assert sent["direction"] == "out"
    notes = [e for e in center.events("ayse", chat) if isinstance(e, ConversationMessage)]
    assert notes[-1].message["agent_id"] == "cem"
    assert notes[-1].message["content"]["text"] == "bakıyorum"
    assert center.texts("cem", chat) == ["fatura nerede?"]  # no echo of her own message

    with pytest.raises(Forbidden):
        center.ask(chat, AgentMessage("deniz", {"kind": "text", "text": "merhaba"}))
    assert center.events("deniz", chat) == []

    # the invitation holds no slot: cem still takes a full load from her own queue
    center.online("cem")
    own = center.write(CUSTOMERS[1], account="acc-support")
    assert center.holder(own) == "cem"
    assert center.active("cem") == {own}

    center.ask(chat, Remove("ayse", "cem"))
    assert center.kinds("cem", chat)[-1] == "conversation.removed"
    center.write(CUSTOMERS[0], "teşekkürler")
    assert center.texts("cem", chat) == ["fatura nerede?"]
    assert center.texts("ayse", chat)[-1] == "teşekkürler"
    with pytest.raises(Forbidden):
        center.ask(chat, AgentMessage("cem", {"kind": "text", "text": "bir şey daha"}))


# -------------------------------------------------------------------------- 13. rights


def test_an_agent_may_not_park_resolve_or_transfer_a_colleagues_chat(center: Center) -> None:
    center.hire("ayse")
    center.hire("burak")
    center.online("ayse")
    chat = center.write(CUSTOMERS[0])
    center.online("burak")

    for command in (
        Park("burak"),
        Resolve("burak", "billing"),
        Transfer("burak", to_agent="burak"),
    ):
        with pytest.raises(Forbidden):
            center.ask(chat, command)

    assert center.holder(chat) == "ayse"
    assert center.status(chat) == "in_work"
    assert center.active("ayse") == {chat}
    assert center.active("burak") == set()
    assert center.kinds("ayse", chat) == ["conversation.assigned", "conversation.message"]


def test_an_invited_colleague_may_write_but_not_park_resolve_or_move_the_chat(
    center: Center,
) -> None:
    center.hire("ayse")
    center.hire("cem")
    center.online("ayse")
    chat = center.write(CUSTOMERS[0])
    center.ask(chat, Invite("ayse", "cem"))

    center.ask(chat, AgentMessage("cem", {"kind": "text", "text": "yardım edeyim"}))
    for command in (
        Park("cem"),
        Resolve("cem", "billing"),
        Transfer("cem", to_queue="support"),
        Invite("cem", "burak"),
    ):
        with pytest.raises(Forbidden):
            center.ask(chat, command)

    described = center.conversation(chat)
    assert (described["agent_id"], described["status"]) == ("ayse", "in_work")
    assert described["queue_id"] == "sales"


# ------------------------------------------------------------------------ 14. pick-up


def _open(
    center: Center,
    conversation_id: str,
    *,
    priority: int = 0,
    preferred_agent: str | None = None,
    preferred_wait: float = 0.0,
    customer: str | None = None,
) -> str:
    center.routing.conversations.open(
        conversation_id,
        ConversationState(
            conversation_id=conversation_id,
            customer_id=customer or f"cus-{conversation_id}",
            channel=Channel.WEBCHAT,
            account="acc-sales",
            queue_id="sales",
            status=ConversationStatus.QUEUED,
            priority=priority,
            created_at=center.clock.now(),
            preferred_agent=preferred_agent,
            preferred_wait=preferred_wait,
        ),
    )
    # settle() counts messages, not an actor's start: an ask is handled after on_start,
    # which is where a new conversation joins its queue
    center.conversation(conversation_id)
    center.settle()
    return conversation_id


def test_agent_picks_a_specific_waiting_chat(center: Center) -> None:
    center.hire("ayse", capacity=Capacity(1))
    center.hire("burak", capacity=Capacity(2))
    center.online("ayse")
    center.write(CUSTOMERS[0])  # ayse is full
    # three chats held for ayse (e.g. customers she talks to elsewhere)
    held = [
        _open(center, f"held-{i}", preferred_agent="ayse", preferred_wait=600.0) for i in (1, 2, 3)
    ]
    center.online("burak")
    assert [e.conversation_id for e in center.waiting("sales")] == held
    assert center.active("burak") == set()

    center.pick("sales", "burak", held[1])

    assert center.holder(held[1]) == "burak"
    assert center.assigned_to("burak") == [held[1]]
    assert [e.conversation_id for e in center.waiting("sales")] == [held[0], held[2]]
    assert center.queue_info("sales", held[2])["position"] == 2

    with pytest.raises(NotFound):  # no longer waiting
        center.pick("sales", "burak", held[1])
    with pytest.raises(Unavailable):  # ayse has no room
        center.pick("sales", "ayse", held[0])
    center.set_status("burak", AgentStatus.BREAK)
    with pytest.raises(Unavailable):  # not online
        center.pick("sales", "burak", held[0])
    assert center.status(held[0]) == "queued"


def test_pick_respects_the_queues_required_skills(make_center: Callable[..., Center]) -> None:
    center = make_center(queues=with_sales(required_skills={"tr": 1}))
    center.hire("eve", skills={})  # no Turkish
    center.online("eve")
    chat = center.write(CUSTOMERS[0], "merhaba")
    assert center.status(chat) == "queued"  # the queue rightly does not offer it to eve

    with pytest.raises(Unavailable):
        center.pick("sales", "eve", chat)
    assert center.status(chat) == "queued"


# ------------------------------------------------------- 15. message after resolution


def test_message_after_resolution_opens_a_new_linked_conversation(center: Center) -> None:
    center.hire("ayse")
    center.online("ayse")
    old = center.write(CUSTOMERS[0])
    center.ask(old, Resolve("ayse", "billing"))

    new = center.write(CUSTOMERS[0], "bir şey unuttum")

    assert new != old
    described = center.conversation(new)
    assert described["previous_conversation_id"] == old
    assert described["agent_id"] == "ayse"  # returning customer, she is free
    assert center.conversation(old)["messages"] == 1
    assert center.texts("ayse", new) == ["bir şey unuttum"]


def test_messages_in_flight_to_a_resolved_conversation_are_rerouted(center: Center) -> None:
    center.hire("ayse")
    center.online("ayse")
    old = center.write(CUSTOMERS[0], "ilk")
    customer_id = center.conversation(old)["customer_id"]

    # the agent resolves while two more messages are on their way: told, not awaited
    center.routing.conversation(old).tell(Resolve("ayse", "billing"))
    center.routing.deliver(center.inbound(CUSTOMERS[0], "iki"))
    center.routing.deliver(center.inbound(CUSTOMERS[0], "üç"))
    center.settle()

    assert center.status(old) == "resolved"
    assert center.conversation(old)["messages"] == 1
    assert center.texts("ayse", old) == ["ilk"]
    new_chats = [c for c in center.assigned_to("ayse") if c != old]
    assert len(new_chats) == 1, "both messages belong to one new conversation"
    (new,) = new_chats
    assert center.conversation(new)["previous_conversation_id"] == old
    assert center.conversation(new)["messages"] == 2
    # (their order is the subject of test_rerouted_messages_keep_the_customers_order)
    assert sorted(center.texts("ayse", new)) == sorted(["iki", "üç"])

    # messages the directory had already forwarded to the old conversation
    resolved_too = center.write(CUSTOMERS[1])
    center.ask(resolved_too, Resolve("ayse", "billing"))
    address = center.routing.conversation(resolved_too)
    c1 = center.conversation(resolved_too)["customer_id"]
    address.tell(CustomerMessage(center.inbound(CUSTOMERS[1], "dört"), c1))
    address.tell(CustomerMessage(center.inbound(CUSTOMERS[1], "beş"), c1))
    center.settle()

    rerouted = [c for c in center.assigned_to("ayse") if c not in (old, new, resolved_too)]
    assert len(rerouted) == 1
    assert center.conversation(rerouted[0])["previous_conversation_id"] == resolved_too
    assert center.texts("ayse", rerouted[0]) == ["dört", "beş"]
    assert center.conversation(rerouted[0])["customer_id"] == c1
    assert center.conversation(new)["customer_id"] == customer_id


def test_rerouted_messages_keep_the_customers_order(center: Center) -> None:
    center.hire("ayse")
    center.online("ayse")
    old = center.write(CUSTOMERS[0], "ilk")
    address = center.routing.conversation(old)
    for _ in range(500):  # the conversation is busy for a moment...
        address.tell(Describe())
    resolving = address.ask_future(Resolve("ayse", "billing"))
    for _ in range(500):  # ...and again after it resolves
        address.tell(Describe())
    # "bir" reaches the directory while the conversation is still open there: it is
    # forwarded to the old conversation, which resolves first and sends it back
    center.routing.deliver(center.inbound(CUSTOMERS[0], "bir"))
    resolving.get(timeout=10)
    # "iki" reaches the directory after it heard of the closure
    center.routing.deliver(center.inbound(CUSTOMERS[0], "iki"))
    center.settle()

    (new,) = [c for c in center.assigned_to("ayse") if c != old]
    assert center.texts("ayse", new) == ["bir", "iki"]


# ------------------------------------------------------------------------ 16. priority


def test_higher_priority_chats_are_assigned_before_older_ones(center: Center) -> None:
    center.hire("ayse", capacity=Capacity(1))
    low_old = _open(center, "low-old", priority=0)
    center.wait(10)
    low_new = _open(center, "low-new", priority=0)
    center.wait(10)
    vip = _open(center, "vip", priority=5)
    assert [e.conversation_id for e in center.waiting("sales")] == [vip, low_old, low_new]
    assert center.queue_info("sales", vip)["position"] == 1

    center.online("ayse")
    assert center.active("ayse") == {vip}
    center.ask(vip, Resolve("ayse", "done"))
    assert center.active("ayse") == {low_old}
    center.ask(low_old, Resolve("ayse", "done"))
    assert center.active("ayse") == {low_new}
    assert center.assigned_to("ayse") == [vip, low_old, low_new]


# ---------------------------------------------------------------------- 17. strategies


def test_least_busy_gives_the_chat_to_the_agent_with_fewest_chats(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(queues=with_sales(strategy=Strategy.LEAST_BUSY))
    center.hire("ayse", capacity=Capacity(3))
    center.hire("burak", capacity=Capacity(3))
    center.online("ayse")
    center.write(CUSTOMERS[0])
    center.write(CUSTOMERS[1])
    center.wait(5)
    center.online("burak")  # ayse has idled longer, but holds two chats

    second = center.write(CUSTOMERS[2])
    third = center.write(CUSTOMERS[3])
    assert center.holder(second) == "burak"
    assert center.holder(third) == "burak"
    fourth = center.write(CUSTOMERS[4])  # 2 each: the longer idle one
    assert len(center.active("ayse")) == 3
    assert center.holder(fourth) == "ayse"


def test_a_queue_that_had_nothing_waiting_still_fills_a_slot_freed_later(
    center: Center,
) -> None:
    # an agent asks a queue with nothing waiting last in its rounds, but tells it of
    # free room at once: chats that arrived there meanwhile must not wait for a round
    center.hire("ayse", capacity=Capacity(1), queues=("sales", "support"))
    center.online("ayse")  # both queues say they have nothing
    first = center.write(CUSTOMERS[0], account="acc-support")
    assert center.holder(first) == "ayse"  # it took support's only chat
    second = center.write(CUSTOMERS[1], account="acc-support")
    third = center.write(CUSTOMERS[2], account="acc-support")
    assert center.status(second) == center.status(third) == "queued"  # she is full

    center.ask(first, Resolve("ayse", "done"))

    assert center.holder(second) == "ayse"  # the oldest, at once
    assert center.status(third) == "queued"
    center.ask(second, Resolve("ayse", "done"))
    assert center.holder(third) == "ayse"


def test_a_queue_that_never_answers_does_not_stall_an_agents_round(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(queues=(QueueConfig("sales"), QueueConfig("support", offer_timeout=5.0)))
    center.hire("ayse", capacity=Capacity(1), queues=("sales", "support"))
    waiting = center.write(CUSTOMERS[0])  # acc-sales
    down = center.routing.queues.get("support")
    assert down is not None
    down.close()  # its actor is gone: it will never answer

    # rounds start with each queue in turn; this one (her third change) asks support first
    center.online("ayse")
    assert center.status(waiting) == "queued"  # the round waits for support's answer

    center.wait(5.0)  # ...but not longer than an offer may take
    assert center.holder(waiting) == "ayse"


def test_leaving_the_queue_a_round_waits_for_starts_a_new_round_at_once(
    make_center: Callable[..., Center],
) -> None:
    queues = (QueueConfig("archive"), QueueConfig("sales"), QueueConfig("support"))
    center = make_center(queues=queues)
    center.hire("ayse", capacity=Capacity(1), queues=("archive", "sales", "support"))
    waiting = center.write(CUSTOMERS[0])  # acc-sales
    down = center.routing.queues.get("archive")
    assert down is not None
    down.close()
    center.online("ayse")  # her round asks the archive first, which never answers
    assert center.status(waiting) == "queued"

    stays = frozenset({"sales", "support"})
    center.routing.agent("ayse").ask(UpdateProfile(stays, {}, Capacity(1)))
    center.settle()

    assert center.holder(waiting) == "ayse"  # a new round at once: no time-out to sit out


def test_round_robin_cycles_through_the_agents(make_center: Callable[..., Center]) -> None:
    center = make_center(queues=with_sales(strategy=Strategy.ROUND_ROBIN))
    for agent in ("ayse", "burak", "cem"):
        center.hire(agent)
        center.online(agent)

    chats = [center.write(phone) for phone in CUSTOMERS[:7]]

    holders = [center.holder(chat) for chat in chats]
    assert holders == ["ayse", "burak", "cem", "ayse", "burak", "cem", "ayse"]


def test_skills_strategy_prefers_the_higher_level_and_skips_the_unskilled(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(queues=with_sales(strategy=Strategy.SKILLS, required_skills={"tr": 1}))
    center.hire("eve", capacity=Capacity(5), skills={"en": 5})
    center.hire("ayse", capacity=Capacity(1), skills={"tr": 1})
    center.hire("burak", capacity=Capacity(1), skills={"tr": 3})
    center.online("eve")  # idle longest, most room, but no Turkish
    center.wait(5)
    center.online("ayse")
    center.wait(5)
    center.online("burak")

    first = center.write(CUSTOMERS[0])
    second = center.write(CUSTOMERS[1])
    third = center.write(CUSTOMERS[2])

    assert center.holder(first) == "burak"
    assert center.holder(second) == "ayse"
    assert center.status(third) == "queued"
    assert center.active("eve") == set()
    center.wait(120)
    assert center.active("eve") == set()
    center.ask(first, Resolve("burak", "done"))
    assert center.holder(third) == "burak"


# ------------------------------------------------------- 18. supervision and passivation


def test_parked_chat_sleeps_when_idle_and_wakes_intact_when_the_customer_writes(
    make_center: Callable[..., Center],
) -> None:
    center = make_center(
        settings=RoutingSettings(passivate_after_s=60.0, accounts=ACCOUNTS, default_queue="sales")
    )
    center.hire("ayse", capacity=Capacity(1))
    center.online("ayse")
    chat = center.write(PHONE, "merhaba")
    center.ask(chat, Park("ayse"))
    before = center.conversation(chat)

    center.wait(100)

    assert center.phase(chat) is Phase.DORMANT
    assert center.routing.conversations.stats().passivations >= 1
    assert center.parked("ayse") == {chat}  # the agent still holds it

    center.write(PHONE, "uyandım")

    after = center.conversation(chat)
    assert center.phase(chat) is Phase.LIVE
    assert after["status"] == "in_work"
    assert after["agent_id"] == "ayse"
    assert after["messages"] == before["messages"] + 1
    for field in ("conversation_id", "customer_id", "channel", "queue_id", "created_at"):
        assert after[field] == before[field]
    assert center.kinds("ayse", chat)[-2:] == ["conversation.unparked", "conversation.message"]
    assert center.texts("ayse", chat) == ["merhaba", "uyandım"]
    assert center.routing.conversations.stats().wakes >= 1


def test_a_busy_day_leaves_no_actor_failed(make_center: Callable[..., Center]) -> None:
    center = make_center(
        queues=with_sales(park_timeout=90.0),
        settings=RoutingSettings(
            passivate_after_s=60.0,
            disconnect_grace_s=30.0,
            disconnect_policy=DisconnectPolicy.REQUEUE,
            accounts=ACCOUNTS,
            default_queue="sales",
        ),
    )
    center.hire("ayse", capacity=Capacity(2))
    center.hire("burak", capacity=Capacity(2, {Channel.WHATSAPP: 1}), queues=("sales", "support"))
    center.hire("cem", capacity=Capacity(1), queues=("support",))
    for agent in ("ayse", "burak", "cem"):
        center.online(agent)
    chats = [center.write(phone) for phone in CUSTOMERS[:6]]
    chats.append(center.write(PHONE, channel=Channel.TELEGRAM, account="acc-support"))
    a, b = sorted(center.active("ayse"))
    center.ask(a, Park("ayse"))
    center.ask(b, Invite("ayse", "cem"))
    center.ask(b, Transfer("ayse", to_queue="support"))
    with pytest.raises(BadRequest):
        center.ask(a, Resolve("ayse", " "))
    with pytest.raises(Forbidden):
        center.ask(a, Park("cem"))
    center.drop_connection("burak")
    center.wait(45)
    center.write(CUSTOMERS[0], "hala burada mısınız?")
    center.wait(200)
    center.reconnect("burak")
    center.online("burak")
    # the agents work through the day's chats, waiting ones included, until none is left
    for _ in range(len(chats)):
        for chat in chats:
            holder = center.holder(chat)
            if holder is not None and center.status(chat) != "resolved":
                center.ask(chat, Resolve(holder, "done"))
    center.wait(100)

    assert [center.status(chat) for chat in chats] == ["resolved"] * len(chats)
    for agent in ("ayse", "burak", "cem"):
        assert center.active(agent) == center.parked(agent) == set()
    stats = center.routing.conversations.stats()
    assert stats.failures == 0
    assert stats.passivations >= 1
    assert center.failures() == 0
