"""server.app: health and metrics through quart's test client, a real socket and the CLI."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from server.app import create_app, hypercorn_config, serve
from server.services import start_services, stop_services
from switchboard.config import Config, load_config


@pytest.fixture
def config(redis_url: str) -> Config:
    return load_config(env={}, overrides={"server.port": 0, "server.redis_url": redis_url})


async def test_healthz_with_the_test_client(config: Config) -> None:
    client = create_app(config).test_client()
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}


async def test_metrics_with_the_test_client(config: Config) -> None:
    client = create_app(config).test_client()
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    assert "# TYPE" in (await response.get_data(as_text=True))


def test_hypercorn_binds_the_configured_address() -> None:
    config = load_config(env={}, overrides={"server.host": "::1", "server.port": 8123})
    assert hypercorn_config(config).bind == ["[::1]:8123"]


async def test_healthz_and_metrics_over_a_real_socket(config: Config) -> None:
    stop = trio.Event()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(partial(serve, config, shutdown_trigger=stop.wait))
            (url,) = binds
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
            async with httpx.AsyncClient(base_url=url) as client:
                health = await client.get("/healthz")
                metrics = await client.get("/metrics")
            stop.set()
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["runtime"] == "pool"
    assert metrics.status_code == 200
    assert "# HELP" in metrics.text


@pytest.mark.slow
def test_switchboard_serve_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["SWITCHBOARD_DATA_DIR"] = str(tmp_path / "data")  # the embedded storage server's
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, switchboard.cli as c; sys.exit(c.main())",
            "serve",
            "--port",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        url = None
        for line in process.stderr:  # hypercorn logs the bound address
            found = re.search(r"Running on (http://\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url is not None, "the server did not report its address"
        assert httpx.get(f"{url}/healthz", timeout=10).json()["status"] == "ok"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.mark.parametrize("kind", ["pool", "thread"])
async def test_healthz_reports_the_routing_system_it_serves(kind: str, redis_url: str) -> None:
    config = load_config(
        env={}, overrides={"server.port": 0, "runtime.kind": kind, "server.redis_url": redis_url}
    )
    services = start_services(config)
    try:
        client = create_app(config, services).test_client()
        health = await (await client.get("/healthz")).get_json()
        assert health["status"] == "ok"
        assert health["runtime"] == kind
        assert health["actors"] == {"directory": 1, "queue": 1, "agent": 0, "conversation": 0}
        assert health["failures"] == 0
        assert health["storage"]["healthy"] is True
    finally:
        stop_services(services)


async def test_healthz_is_503_while_storage_is_unreachable(redis_url: str) -> None:
    config = load_config(env={}, overrides={"server.port": 0, "server.redis_url": redis_url})
    services = start_services(config)
    try:
        client = create_app(config, services).test_client()
        writer = services.storage.writer
        healthy = writer.stats()
        writer.stats = lambda: dataclasses.replace(healthy, healthy=False)  # type: ignore[method-assign]
        answer = await client.get("/healthz")
        assert answer.status_code == 503
        health = await answer.get_json()
        assert (health["status"], health["storage"]["healthy"]) == ("degraded", False)
        writer.stats = lambda: healthy  # type: ignore[method-assign]
        assert (await client.get("/healthz")).status_code == 200
    finally:
        stop_services(services)
