"""Build the routing system a server runs, from the one configuration.

How it works: the configured actor runtime (``[runtime]``) and routing settings
(``[routing]``) become a :class:`actors.system.Routing` with one ``default`` queue,
which every channel account uses until queues are configured.  The server owns
it: started before the first request, stopped after the last.
"""

from __future__ import annotations

from actors.routing.model import DisconnectPolicy, QueueConfig
from actors.runtime import make_runtime
from actors.system import Routing, RoutingSettings
from switchboard.config import Config

__all__ = ["build_routing", "stop_routing"]


def build_routing(config: Config) -> Routing:
    """The routing system for ``config``, with its default queue."""
    runtime = make_runtime(
        config.runtime.kind,
        threads=config.runtime.dispatcher_threads,
        batch=config.runtime.batch,
    )
    routing = Routing(
        runtime,
        RoutingSettings(
            disconnect_grace_s=config.routing.disconnect_grace_s,
            disconnect_policy=DisconnectPolicy(config.routing.disconnect_policy),
            passivate_after_s=config.runtime.passivate_after_s,
        ),
    )
    routing.add_queue(
        QueueConfig(
            "default",
            offer_timeout=config.routing.offer_timeout_s,
            affinity_wait=config.routing.affinity_wait_s,
        )
    )
    return routing


def stop_routing(routing: Routing) -> None:
    """Stop every actor, then the runtime's threads."""
    routing.stop()
    routing.runtime.shutdown()
