"""The HTTP application and how it is served.

How it works: ``create_app(config)`` builds a quart-trio application holding the config;
routes are plain quart handlers.  ``serve(config)`` runs it with hypercorn's trio worker
inside the caller's trio loop and returns when ``shutdown_trigger`` returns (hypercorn
then stops accepting, lets open requests finish for its graceful timeout and exits).
``run(config)`` is the process entry point used by ``switchboard serve``: it starts trio,
turns the first SIGINT or SIGTERM into a graceful shutdown and serves until then.

The server holds its services (``server.services``: storage, the catalog of
workspace objects, the routing system recovered from storage), started before the
first request and stopped after the last.  Webhooks (``server.webhooks``) and the
other interfaces are blueprints over those services.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

import httpx
import prometheus_client
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve
from quart import Response, request
from quart_trio import QuartTrio

from actors.routing.model import Channel
from actors.runtime import heap
from adapters.base import ChannelAdapter
from server.admin_api import admin_blueprint
from server.agent_ws import agent_ws_blueprint
from server.api import api_blueprint
from server.channels import adapters, outbound_adapters
from server.metrics import install_metrics
from server.outbound import OutboundThread, install_checks
from server.services import Services, start_services, stop_services
from server.supervisor_ws import supervisor_ws_blueprint
from server.webchat import webchat_blueprint
from server.webhooks import FastWebhooks, Ingress, webhooks_blueprint
from switchboard.config import Config

__all__ = ["create_app", "hypercorn_config", "run", "serve"]

logger = logging.getLogger(__name__)

ShutdownTrigger = Callable[[], Awaitable[None]]


def create_app(
    config: Config,
    services: Services | None = None,
    channels: Mapping[Channel, ChannelAdapter] | None = None,
) -> QuartTrio:
    """Build the quart-trio application for ``config``, serving ``services`` if given."""
    app = QuartTrio("switchboard")
    app.config["SWITCHBOARD"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.limits.webhook_max_bytes
    if services is not None:
        ingress = Ingress(services, channels or adapters())
        app.register_blueprint(webhooks_blueprint(ingress))
        bare = config.server.bench_endpoint
        app.asgi_app = FastWebhooks(app.asgi_app, ingress, bench_empty=bare)  # type: ignore[method-assign,assignment]
        app.register_blueprint(agent_ws_blueprint(services))
        app.register_blueprint(supervisor_ws_blueprint(services))
        app.register_blueprint(api_blueprint(services, channels or adapters()))
        app.register_blueprint(admin_blueprint(services))
        app.register_blueprint(webchat_blueprint(services, channels or adapters()))

    if config.server.bench_endpoint:

        @app.post("/bench/empty")
        async def bench_empty() -> Response:
            await request.get_data(cache=False)
            return Response(b"{}", status=200, content_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Any:
        health: dict[str, Any] = {"status": "ok"}
        if services is not None:
            routing = services.routing
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
            writer = services.storage.writer.stats()
            if not writer.healthy:
                health["status"] = "degraded"  # storage unreachable: writes wait
            health["storage"] = {
                "healthy": writer.healthy,
                "pending_steps": writer.pending_steps,
                "last_round_ms": round(writer.last_round_ms, 2),
                "embedded": services.embedded is not None,
            }
            recovered = services.recovered
            health["recovered"] = {
                "conversations": recovered.conversations,
                "redelivered": recovered.redelivered,
                "seconds": round(recovered.seconds, 3),
            }
        # a load balancer or orchestrator acts on the status code: degraded is 503
        return health, 200 if health["status"] == "ok" else 503

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
    # through the root handler (plain or JSON lines, docs/operations.md), not its own
    hyper.errorlog = logging.getLogger("hypercorn.error")
    return hyper


async def serve(
    config: Config,
    *,
    demo: bool = False,
    shutdown_trigger: ShutdownTrigger | None = None,
    freeze_heap: bool = False,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the app until ``shutdown_trigger`` returns; reports the bound URLs on start.

    ``freeze_heap`` (the ``serve`` command: one server per process) keeps what start-up
    loaded out of later garbage collections (``actors.runtime.heap``).

    With ``port = 0`` the operating system picks a free port; the URLs passed to
    ``task_status.started`` carry the real one (``nursery.start(serve, config)``).
    """
    services = await trio.to_thread.run_sync(partial(start_services, config, demo=demo))
    if freeze_heap:  # what recovery loaded lives long: out of the collector's way
        heap.freeze_heap()
    try:
        if services.demo_tokens:
            _print_demo(services)
        channels = adapters()
        install_checks(services.routing, channels)
        collector = install_metrics(services)
        app = create_app(config, services, channels)
        timeout = httpx.Timeout(10.0, connect=5.0)
        token = trio.lowlevel.current_trio_token()
        outbound = OutboundThread(
            services, partial(outbound_adapters, channels, token), timeout=timeout
        )
        await trio.to_thread.run_sync(outbound.start)
        try:
            async with httpx.AsyncClient(timeout=timeout) as http:
                # requests that call providers (media) share it: adapters keep provider
                # clients bound to the HTTP client they were first given, which must
                # outlive a request
                app.config["SWITCHBOARD_HTTP"] = http
                await hypercorn_serve(
                    app,
                    hypercorn_config(config),
                    shutdown_trigger=shutdown_trigger,
                    task_status=task_status,
                )
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(outbound.stop)
    finally:
        with contextlib.suppress(NameError, KeyError):  # registered only once serving began
            prometheus_client.REGISTRY.unregister(collector)
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(stop_services, services)


def _print_demo(services: Services) -> None:
    lines = ["demo workspace seeded (docs/configuration.md); bearer tokens:"]
    tokens = services.demo_tokens or []
    lines += [f"  {user:<12} {role:<11} {token}" for user, role, token in tokens]
    logger.warning("\n".join(lines))


async def _serve_until_signal(config: Config, demo: bool) -> None:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:

        async def wait_for_signal() -> None:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    logger.info("received %s, shutting down", signal.Signals(signum).name)
                    stop.set()
                    return

        nursery.start_soon(wait_for_signal)
        binds = await nursery.start(
            _serve_then_cancel, config, demo, stop.wait, nursery.cancel_scope
        )
        logger.info("switchboard listening on %s", ", ".join(binds))


async def _serve_then_cancel(
    config: Config,
    demo: bool,
    shutdown_trigger: ShutdownTrigger,
    scope: trio.CancelScope,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    try:
        await serve(
            config,
            demo=demo,
            shutdown_trigger=shutdown_trigger,
            freeze_heap=True,
            task_status=task_status,
        )
    finally:
        scope.cancel()  # the server is gone: stop waiting for signals too


def run(config: Config, *, demo: bool = False) -> None:
    """Serve ``config`` in a new trio run until SIGINT or SIGTERM (blocking)."""
    # The server is threads sharing one interpreter (trio, the actor dispatchers, the
    # storage writer): each hand-over of a message waits for the GIL.  CPython's default
    # 5 ms switch interval made that wait most of a webhook's latency under load
    # (docs/benchmarks.md, ingest); a shorter one trades a little throughput for it.
    sys.setswitchinterval(config.runtime.switch_interval_s)
    heap.collect_less_often(config.runtime.gc_young_threshold)
    trio.run(_serve_until_signal, config, demo)
