"""The HTTP application and how it is served.

How it works: ``create_app(config)`` builds a quart-trio application holding the config;
routes are plain quart handlers.  ``serve(config)`` runs it with hypercorn's trio worker
inside the caller's trio loop and returns when ``shutdown_trigger`` returns (hypercorn
then stops accepting, lets open requests finish for its graceful timeout and exits).
``run(config)`` is the process entry point used by ``switchboard serve``: it starts trio,
turns the first SIGINT or SIGTERM into a graceful shutdown and serves until then.

The server runs the routing system built from the same configuration
(``server.routing``) and stops it on shutdown.  Only the health and metrics endpoints
exist so far; webhooks, REST and websockets are
added as blueprints by later modules of this package.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import prometheus_client
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve
from quart import Response
from quart_trio import QuartTrio

from actors.system import Routing
from server.routing import build_routing, stop_routing
from switchboard.config import Config

__all__ = ["create_app", "hypercorn_config", "run", "serve"]

logger = logging.getLogger(__name__)

ShutdownTrigger = Callable[[], Awaitable[None]]


def create_app(config: Config, routing: Routing | None = None) -> QuartTrio:
    """Build the quart-trio application for ``config``, serving ``routing`` if given."""
    app = QuartTrio("switchboard")
    app.config["SWITCHBOARD"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.limits.webhook_max_bytes

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        health: dict[str, Any] = {"status": "ok"}
        if routing is not None:
            supervisors = (
                routing.directories,
                routing.queues,
                routing.agents,
                routing.conversations,
            )
            stats = {s.name: s.stats() for s in supervisors}
            if any(st.failed for st in stats.values()) or routing.root.stats().failed:
                health["status"] = "degraded"  # a supervisor gave up: children wait
            health["runtime"] = routing.runtime.kind
            health["actors"] = {name: st.children for name, st in stats.items()}
            health["failures"] = sum(st.failures for st in stats.values())
        return health

    @app.get("/metrics")
    async def metrics() -> Response:
        body = prometheus_client.generate_latest(prometheus_client.REGISTRY)
        return Response(body, status=200, content_type=prometheus_client.CONTENT_TYPE_LATEST)

    return app


def hypercorn_config(config: Config) -> HypercornConfig:
    """Hypercorn settings for the configured host and port."""
    hyper = HypercornConfig()
    host = config.server.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    hyper.bind = [f"{host}:{config.server.port}"]
    hyper.graceful_timeout = 5.0
    hyper.accesslog = None
    return hyper


async def serve(
    config: Config,
    *,
    shutdown_trigger: ShutdownTrigger | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the app until ``shutdown_trigger`` returns; reports the bound URLs on start.

    With ``port = 0`` the operating system picks a free port; the URLs passed to
    ``task_status.started`` carry the real one (``nursery.start(serve, config)``).
    """
    routing = build_routing(config)
    app = create_app(config, routing)
    try:
        await hypercorn_serve(
            app,
            hypercorn_config(config),
            shutdown_trigger=shutdown_trigger,
            task_status=task_status,
        )
    finally:
        stop_routing(routing)


async def _serve_until_signal(config: Config) -> None:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:

        async def wait_for_signal() -> None:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    logger.info("received %s, shutting down", signal.Signals(signum).name)
                    stop.set()
                    return

        nursery.start_soon(wait_for_signal)
        binds = await nursery.start(_serve_then_cancel, config, stop.wait, nursery.cancel_scope)
        logger.info("switchboard listening on %s", ", ".join(binds))


async def _serve_then_cancel(
    config: Config,
    shutdown_trigger: ShutdownTrigger,
    scope: trio.CancelScope,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    try:
        await serve(config, shutdown_trigger=shutdown_trigger, task_status=task_status)
    finally:
        scope.cancel()  # the server is gone: stop waiting for signals too


def run(config: Config) -> None:
    """Serve ``config`` in a new trio run until SIGINT or SIGTERM (blocking)."""
    trio.run(_serve_until_signal, config)
