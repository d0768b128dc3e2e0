"""Prometheus metrics of the routing system and the server (served at ``/metrics``).

Counters and histograms the actors update as things happen (``RoutingMetrics``: a
``actors.system.Metrics``), and a collector that reads supervisor and storage
statistics at scrape time (no actor is asked anything while Prometheus scrapes).
Webhook and websocket metrics live next to their code (``server.webhooks``,
``server.agent_ws``, ``server.outbound``).
"""

from __future__ import annotations

from collections.abc import Iterator

import prometheus_client
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from server.services import Services

__all__ = ["RoutingMetrics", "install_metrics"]

ASSIGNMENTS = prometheus_client.Counter(
    "switchboard_assignments_total", "Conversations assigned to agents, by queue", ["queue"]
)
WAIT = prometheus_client.Histogram(
    "switchboard_queue_wait_seconds",
    "Time a conversation waited in its queue before it was assigned",
    ["queue"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
WAITING = prometheus_client.Gauge(
    "switchboard_queue_waiting", "Conversations waiting (or being offered) per queue", ["queue"]
)


class RoutingMetrics:
    """What the queue actors report (called on actor threads: prometheus_client is thread-safe)."""

    def assigned(self, queue_id: str, waited_s: float) -> None:
        ASSIGNMENTS.labels(queue_id).inc()
        WAIT.labels(queue_id).observe(waited_s)

    def waiting(self, queue_id: str, count: int) -> None:
        WAITING.labels(queue_id).set(count)


class _ServicesCollector(Collector):
    """Supervisor and storage statistics, read when Prometheus scrapes."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        routing = self.services.routing
        failures = CounterMetricFamily(
            "switchboard_actor_failures", "Actor failures seen by supervisors", labels=["kind"]
        )
        restarts = CounterMetricFamily(
            "switchboard_actor_restarts", "Actor restarts by supervisors", labels=["kind"]
        )
        actors = GaugeMetricFamily(
            "switchboard_actors", "Actors known to their supervisor", labels=["kind", "phase"]
        )
        for supervisor in (routing.directories, routing.queues, routing.agents,
                           routing.conversations):  # fmt: skip
            stats = supervisor.stats()
            failures.add_metric([supervisor.name], stats.failures)
            restarts.add_metric([supervisor.name], stats.restarts)
            actors.add_metric([supervisor.name, "live"], stats.live)
            actors.add_metric([supervisor.name, "all"], stats.children)
        yield failures
        yield restarts
        yield actors
        writer = self.services.storage.writer.stats()
        yield GaugeMetricFamily("switchboard_storage_round_seconds",
                                "Duration of the storage writer's last round trip",
                                value=writer.last_round_ms / 1000)  # fmt: skip
        yield GaugeMetricFamily("switchboard_storage_pending_steps",
                                "Actor steps waiting for the storage writer",
                                value=writer.pending_steps)  # fmt: skip
        yield GaugeMetricFamily("switchboard_storage_healthy", "1 when storage writes succeed",
                                value=1.0 if writer.healthy else 0.0)  # fmt: skip


def install_metrics(services: Services) -> Collector:
    """Report the routing system's metrics; returns the collector (unregister on stop)."""
    services.routing.metrics = RoutingMetrics()
    collector = _ServicesCollector(services)
    prometheus_client.REGISTRY.register(collector)
    return collector
