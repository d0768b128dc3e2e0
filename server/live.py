"""Live state of one workspace: a snapshot (REST, websocket hello) and its change stream.

The snapshot asks each queue and agent actor for its state (through the trio bridge,
never blocking the loop).  Supervisors' websockets then receive the changes the
actors push (``agent.changed``, ``queue.changed``, ``conversation.changed``,
``sla.alert``), coalesced per object so a busy queue sends its latest state a few
times a second rather than every step.
"""

from __future__ import annotations

from typing import Any

from actors.events import AgentChanged, ConversationChanged, Event, QueueChanged
from actors.messages import Describe
from server.bridge import Bridge
from server.services import Services

__all__ = ["coalesce_key", "snapshot"]

_ASK_TIMEOUT_S = 10.0


async def snapshot(services: Services, workspace: str) -> dict[str, Any]:
    routing = services.routing
    catalog = services.catalog
    bridge = Bridge.current()
    queues = []
    for queue_id, config in sorted(catalog.queues.items()):
        if config.workspace == workspace and queue_id in routing.queues:
            queue = routing.queue(queue_id)
            queues.append(await bridge.ask(queue, Describe(), timeout=_ASK_TIMEOUT_S))
    agents = []
    for agent_id, agent in sorted(catalog.agents.items()):
        if agent.workspace == workspace and agent_id in routing.agents:
            address = routing.agent(agent_id)
            agents.append(await bridge.ask(address, Describe(), timeout=_ASK_TIMEOUT_S))
    return {
        "queues": queues,
        "agents": agents,
        "conversations": {
            "waiting": sum(q["waiting"] for q in queues),
            "active": sum(len(a["active"]) for a in agents),
            "parked": sum(len(a["parked"]) for a in agents),
        },
    }


def coalesce_key(event: object) -> tuple[str, str] | None:
    """Events about the same object replace each other; None: always sent (alerts)."""
    match event:
        case AgentChanged(agent):
            return ("agent", str(agent.get("agent_id")))
        case QueueChanged(queue):
            return ("queue", str(queue.get("queue_id")))
        case ConversationChanged(conversation):
            return ("conversation", str(conversation.get("conversation_id")))
        case Event():
            return None
    return None
