"""The routing system: the supervision tree and the read-only context actors share.

How this works: one root :class:`Supervisor` has four children, each itself a
supervisor of one kind of actor — the customer directory, queues, agents and
conversations.  Conversations passivate when idle (parked, awaiting the
customer, resolved) and wake on their next message.  Actors find each other
through the supervisors' address books (``routing.agents.get(id)``), never
through shared mutable state: the only things shared here are addresses,
settings that are replaced whole, and id counters.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from actors.agent import AgentActor
from actors.conversation import ConversationActor
from actors.directory import DirectoryActor, DirectoryState
from actors.errors import NotFound
from actors.messages import AgentConnect, Describe, EventSink, Inbound, UpdateQueueConfig
from actors.queue import QueueActor, QueueState
from actors.routing.model import (
    AgentState,
    Channel,
    ConversationState,
    DisconnectPolicy,
    QueueConfig,
    QueueId,
)
from actors.runtime.address import Address
from actors.runtime.runtime import Runtime
from actors.runtime.supervisor import DormantStore, Journal, Supervisor

__all__ = ["CountingIds", "Flows", "IdSource", "Metrics", "Routing", "RoutingSettings"]


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    """Routing-wide settings (per-queue ones live in ``QueueConfig``)."""

    disconnect_grace_s: float = 60.0
    disconnect_policy: DisconnectPolicy = DisconnectPolicy.KEEP
    passivate_after_s: float | None = 300.0
    max_restarts: int = 5
    restart_window_s: float = 10.0
    #: queue for accounts that have none configured
    default_queue: QueueId = "default"
    #: channel account -> queue
    accounts: Mapping[str, QueueId] = field(default_factory=dict)


OutboundCheck = Callable[[ConversationState, Mapping[str, Any], float], None]


class Metrics(Protocol):
    """Where routing reports what operators graph (the server's is Prometheus)."""

    def assigned(self, queue_id: QueueId, waited_s: float) -> None: ...

    def waiting(self, queue_id: QueueId, count: int) -> None: ...


class IdSource(Protocol):
    """Numbers never handed out twice per counter (durable ones survive restarts)."""

    def next_id(self, counter: str) -> int: ...


class CountingIds:
    """Ids counted in this process (without durable storage)."""

    def __init__(self) -> None:
        self._counters: dict[str, Iterator[int]] = {}

    def next_id(self, counter: str) -> int:
        # lock-free: dict.setdefault and next() on itertools.count are atomic in CPython
        it = self._counters.get(counter)
        if it is None:
            it = self._counters.setdefault(counter, itertools.count(1))
        return next(it)


class Flows:
    """Bot flows a conversation runs before (or instead of) a queue.

    Without configured steps a flow hands the conversation straight to its queue.
    """

    def start(self, conversation: ConversationActor) -> None:
        conversation.hand_off()


class Routing:
    """Everything routing: the supervisors, the settings, and the ways in."""

    def __init__(
        self,
        runtime: Runtime,
        settings: RoutingSettings | None = None,
        *,
        store: DormantStore | None = None,
        flows: Flows | None = None,
        journals: Mapping[str, Journal] | None = None,
        ids: IdSource | None = None,
        directory: DirectoryState | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings or RoutingSettings()
        self.flows = flows or Flows()
        self.agent_sinks: dict[str, list[EventSink]] = {}
        #: operators' metrics (None: not collected)
        self.metrics: Metrics | None = None
        #: supervisors' connections per workspace (live state as a stream)
        self.watchers: dict[str, list[EventSink]] = {}
        #: per channel, a check of an agent's outbound content (raise a SwitchboardError)
        self.outbound_checks: dict[Channel, OutboundCheck] = {}
        self._queue_configs: dict[QueueId, QueueConfig] = {}
        self.ids: IdSource = ids if ids is not None else CountingIds()
        s = self.settings
        self.root: Supervisor[Any] = Supervisor(
            "root",
            runtime,
            object,
            context=self,
            max_restarts=s.max_restarts,
            within_s=s.restart_window_s,
        )
        j = journals or {}
        self.directories: Supervisor[DirectoryState] = self._child(
            "directory", DirectoryActor, store, journal=j.get("directory")
        )
        self.queues: Supervisor[QueueState] = self._child("queue", QueueActor, store)
        self.agents: Supervisor[AgentState] = self._child(
            "agent", AgentActor, store, journal=j.get("agent")
        )
        self.conversations: Supervisor[Any] = self._child(
            "conversation",
            ConversationActor,
            store,
            passivate_after=s.passivate_after_s,
            journal=j.get("conversation"),
        )
        if directory is None:
            self.directory = self.directories.open("directory", DirectoryState())
        else:  # recovered from storage
            self.directory = self.directories.restore("directory", directory)

    def _child(
        self,
        name: str,
        actor_class: type[Any],
        store: DormantStore | None,
        passivate_after: float | None = None,
        journal: Journal | None = None,
    ) -> Supervisor[Any]:
        s = self.settings
        return Supervisor(
            name,
            self.runtime,
            actor_class,
            context=self,
            parent=self.root,
            store=store,
            max_restarts=s.max_restarts,
            within_s=s.restart_window_s,
            passivate_after=passivate_after,
            journal=journal,
        )

    # -- configuration ----------------------------------------------------------------

    def add_queue(self, config: QueueConfig) -> Address:
        self._queue_configs[config.queue_id] = config
        return self.queues.open(config.queue_id, QueueState(config))

    def update_queue(self, config: QueueConfig) -> None:
        """New settings for an existing queue (conversations read them on their next step)."""
        address = self.queue(config.queue_id)
        self._queue_configs[config.queue_id] = config
        address.tell(UpdateQueueConfig(config))

    def queue_config(self, queue_id: QueueId) -> QueueConfig:
        config = self._queue_configs.get(queue_id)
        if config is None:
            raise NotFound(f"no queue {queue_id}")
        return config

    def queue_for(self, channel: Channel, account: str) -> QueueId:
        del channel  # routing rules by channel come with flows; accounts map to queues today
        return self.settings.accounts.get(account, self.settings.default_queue)

    def add_agent(self, state: AgentState) -> Address:
        for queue_id in state.queues:
            self.queue_config(queue_id)
        return self.agents.open(state.agent_id, state)

    # -- ways in -------------------------------------------------------------------------

    def deliver(self, inbound: Inbound) -> None:
        """Route a durably accepted customer message (answer not awaited)."""
        self.directory.tell(inbound)

    def connect(self, agent_id: str, sink: EventSink) -> dict[str, Any]:
        """Attach a connection to an agent; returns the agent's state for ``hello``."""
        agent = self.agents.get(agent_id)
        if agent is None:
            raise NotFound(f"no agent {agent_id}")
        hello: dict[str, Any] = agent.ask(AgentConnect(sink))
        return hello

    def agent(self, agent_id: str) -> Address:
        return self._need(self.agents.get(agent_id), "agent", agent_id)

    def queue(self, queue_id: str) -> Address:
        return self._need(self.queues.get(queue_id), "queue", queue_id)

    def conversation(self, conversation_id: str) -> Address:
        return self._need(self.conversations.get(conversation_id), "conversation", conversation_id)

    @staticmethod
    def _need(address: Address | None, kind: str, key: str) -> Address:
        if address is None:
            raise NotFound(f"no {kind} {key}")
        return address

    def watch(self, workspace: str, event: object) -> None:
        """Show ``event`` to the workspace's supervisors (never blocks, never raises)."""
        for sink in tuple(self.watchers.get(workspace, ())):
            sink.push(event)

    # -- ids ---------------------------------------------------------------------------

    def next_seq(self) -> int:
        return self.ids.next_id("seq")

    def new_conversation_id(self) -> str:
        return f"conv_{self.ids.next_id('conversation')}"

    def new_customer_id(self) -> str:
        return f"cus_{self.ids.next_id('customer')}"

    # -- reading and stopping ------------------------------------------------------------

    def describe_all(self, addresses: Iterable[Address], timeout: float = 10.0) -> list[Any]:
        """Ask each address for its snapshot (from a non-actor thread)."""
        futures = [a.ask_future(Describe()) for a in addresses]
        return [f.get(timeout=timeout) for f in futures]

    def stop(self) -> None:
        for supervisor in (
            self.conversations,
            self.agents,
            self.queues,
            self.directories,
            self.root,
        ):
            supervisor.stop()

    def __repr__(self) -> str:
        kind = self.runtime.kind
        return f"<Routing {kind}: {len(self.agents)} agents, {len(self.queues)} queues>"
