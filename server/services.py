"""Everything a running server holds besides HTTP: storage, the catalog, routing.

How it works: :func:`start_services` (blocking; the server calls it in a worker
thread) connects to Redis — the configured URL, or an embedded server it starts
with its files under the data directory —, loads the catalog (seeding the demo
workspace on a fresh server started without a config file), and rebuilds the
routing system from storage (:func:`storage.recovery.open_routing`), so a
restart after a crash picks up every open conversation.  :func:`stop_services`
undoes it in reverse: routing first, then the storage writer is flushed, then
the embedded server is shut down (its append-only file fsynced).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import cast

from actors.routing.model import DisconnectPolicy, QueueConfig
from actors.runtime import make_runtime
from actors.system import Routing, RoutingSettings
from server import catalog as catalog_module
from server.catalog import Catalog
from storage.embedded import EmbeddedRedis, Fsync
from storage.recovery import Recovered, open_routing
from storage.store import Storage
from switchboard.config import Config

__all__ = ["Services", "start_services", "stop_services"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Services:
    config: Config
    storage: Storage
    catalog: Catalog
    routing: Routing
    recovered: Recovered
    embedded: EmbeddedRedis | None = None
    #: (user, role, token) of the demo workspace, when it was seeded now
    demo_tokens: list[tuple[str, str, str]] | None = None


def start_services(config: Config, *, demo: bool = False) -> Services:
    """Connect storage, load the catalog, recover routing (blocking)."""
    embedded = None
    url = config.server.redis_url
    if url is None:
        embedded = EmbeddedRedis(
            config.server.data_dir,
            fsync=cast(Fsync, config.server.fsync),
            binary=config.server.redis_binary,
        )
        embedded.start()
        url = embedded.url
        logger.info("embedded storage server at %s (data in %s)", url, config.server.data_dir)
    try:
        storage = Storage(url)
        if not storage.ping():
            raise RuntimeError(f"storage at {url} does not answer")
        catalog = Catalog(storage)
        catalog.load()
        demo_tokens = None
        if demo and catalog.empty():
            objects = catalog_module.demo_objects()
            catalog_module.seed(catalog, objects)
            demo_tokens = list(catalog_module.users_with_tokens(objects))
        routing, recovered = _routing(config, storage, catalog)
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    return Services(config, storage, catalog, routing, recovered, embedded, demo_tokens)


def _routing(config: Config, storage: Storage, catalog: Catalog) -> tuple[Routing, Recovered]:
    runtime = make_runtime(
        config.runtime.kind,
        threads=config.runtime.dispatcher_threads,
        batch=config.runtime.batch,
    )
    queues = list(catalog.queues.values())
    settings = RoutingSettings(
        disconnect_grace_s=config.routing.disconnect_grace_s,
        disconnect_policy=DisconnectPolicy(config.routing.disconnect_policy),
        passivate_after_s=config.runtime.passivate_after_s,
        default_queue=queues[0].queue_id if queues else "default",
        accounts=catalog.routing_accounts(),
    )
    if not queues:  # a server with no workspace yet still routes (to "default")
        queues = [QueueConfig("default", offer_timeout=config.routing.offer_timeout_s)]
    return open_routing(
        runtime, storage, settings=settings, queues=queues, agents=catalog.agents.values()
    )


def stop_services(services: Services) -> None:
    """Stop routing, write what is pending, stop the embedded server (blocking)."""
    try:
        services.routing.stop()
        services.routing.runtime.shutdown()
    finally:
        try:
            services.storage.close()
        finally:
            if services.embedded is not None:
                services.embedded.stop()
