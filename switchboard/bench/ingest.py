"""``switchboard bench ingest``: webhooks in, agents' websockets out, against a bare endpoint.

The run, against a real ``switchboard serve`` process (embedded storage server):

1. a workspace of ``--agents`` agents; each connects over ``/ws/agent`` and goes online;
   ``--customers`` customers write once, so every customer has a conversation with an
   agent (their later messages go straight to that agent's websocket);
2. **throughput**, in ``--rounds`` turns: requests to ``POST /bench/empty`` — an endpoint
   that reads the body and answers ``{}`` on the same server stack — as fast as
   ``--connections`` keep-alive connections allow, then as many signed webhooks; the best
   round of each gives ``bare_endpoint_per_s`` and ``webhooks_per_s``; ``ratio`` is the
   second over the first;
3. **latency**: webhooks at a steady ``--rate`` per second (default: 40 % of the measured
   webhook throughput) for ``--seconds``; each message's latency runs from the moment its
   request is written until the agent's websocket receives it (``p50_ms``, ``p99_ms``);
   ``late`` counts messages that never arrived.

The load generator speaks HTTP/1.1 through ``h11`` on raw trio sockets (pre-signed
bodies, no per-request client overhead), so the server, not the client, is measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import h11
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from switchboard.bench import register, report
from switchboard.bench.harness import ACCOUNT, ServerProcess, seed, webhook

__all__ = ["run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--requests", type=int, default=4_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=None, help="steady webhooks/s")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (best counts)")


class _Connection:
    """One keep-alive HTTP/1.1 connection (h11 over a trio socket)."""

    def __init__(self, stream: trio.SocketStream, host: str, port: int) -> None:
        self.stream = stream
        self.host = host
        self.port = port
        self.h11 = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        return cls(await trio.open_tcp_stream(host, port), host, port)

    async def post(self, path: str, body: bytes, headers: list[tuple[str, str]]) -> int:
        request = h11.Request(
            method="POST",
            target=path,
            headers=[("Host", self.host), ("Content-Type", "application/json"),
                     ("Content-Length", str(len(body))), *headers],
        )  # fmt: skip
        wire = self.h11.send(request) + self.h11.send(h11.Data(data=body))
        await self.stream.send_all(wire + self.h11.send(h11.EndOfMessage()))
        status = 0
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(await self.stream.receive_some(65536))
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                if self.h11.our_state is h11.MUST_CLOSE:  # the server's keep-alive limit
                    await self.reconnect()
                else:
                    self.h11.start_next_cycle()
                return status
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("server closed the connection")

    async def reconnect(self) -> None:
        await self.stream.aclose()
        self.stream = await trio.open_tcp_stream(self.host, self.port)
        self.h11 = h11.Connection(h11.CLIENT)

    async def aclose(self) -> None:
        await self.stream.aclose()


class _Agents:
    """The agents' websockets: when each message (by provider id) arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.assigned = 0

    async def run(self, url: str, agent_id: str) -> None:
        ws_url = url.replace("http://", "ws://") + f"/ws/agent?token=bench-{agent_id}"
        async with open_websocket_url(ws_url, max_message_size=16 * 2**20) as ws:
            await ws.send_message(json.dumps({"type": "status.set", "status": "online"}))
            try:
                await self._listen(ws)
            except ConnectionClosed:
                return

    async def _listen(self, ws: WebSocketConnection) -> None:
        while True:
            frame = json.loads(await ws.get_message())
            kind = frame["type"]
            if kind == "conversation.message":
                pid = frame["message"].get("provider_message_id")
                if pid is not None:
                    self.arrived.setdefault(pid, time.perf_counter())
            elif kind == "conversation.assigned":
                self.assigned += 1


async def _blast(
    url: str, path: str, bodies: list[tuple[bytes, list[tuple[str, str]]]], connections: int
) -> float:
    """Send every body as fast as ``connections`` allow; requests per second."""
    host, port = url.removeprefix("http://").split(":")
    todo = iter(bodies)

    async def worker() -> None:
        conn = await _Connection.open(host, int(port))
        try:
            for body, headers in todo:
                status = await conn.post(path, body, headers)
                if status != 200:
                    raise RuntimeError(f"{path}: HTTP {status}")
        finally:
            await conn.aclose()

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(worker)
    return len(bodies) / (time.perf_counter() - started)


async def _steady(
    url: str, rate: float, seconds: float, first: int, customers: int, sent: dict[str, float]
) -> None:
    """Open-loop arrivals at ``rate``/s: each request leaves on schedule on a free connection."""
    host, port = url.removeprefix("http://").split(":")
    count = int(rate * seconds)
    send, receive = trio.open_memory_channel[tuple[str, bytes, str]](count)
    for n in range(first, first + count):
        send.send_nowait(webhook(n, customer=n % customers))
    send.close()
    path = f"/webhooks/whatsapp/{ACCOUNT}"
    start = time.perf_counter()
    schedule = iter(range(count))

    async def worker() -> None:
        conn = await _Connection.open(host, int(port))
        try:
            async for wamid, body, signature in receive:
                slot = next(schedule)
                delay = start + slot / rate - time.perf_counter()
                if delay > 0:
                    await trio.sleep(delay)
                sent[wamid] = time.perf_counter()
                await conn.post(path, body, [("X-Hub-Signature-256", signature)])
        finally:
            await conn.aclose()

    async with trio.open_nursery() as nursery:
        for _ in range(64):
            nursery.start_soon(worker)


async def _bench(args: argparse.Namespace, url: str) -> dict[str, Any]:
    agents = _Agents()
    async with trio.open_nursery() as nursery:
        for i in range(args.agents):
            nursery.start_soon(agents.run, url, f"agent-{i}")
        await trio.sleep(0.5)
        path = f"/webhooks/whatsapp/{ACCOUNT}"
        first_round = [webhook(c, customer=c) for c in range(args.customers)]
        await _blast(url, path, [(b, [("X-Hub-Signature-256", s)]) for _, b, s in first_round], 8)
        with trio.fail_after(60):
            while agents.assigned < args.customers:
                await trio.sleep(0.05)
        report.progress(f"{args.customers} conversations assigned; measuring throughput")
        base = args.customers
        load = [webhook(base + n, customer=n % args.customers) for n in range(args.requests)]
        # bare endpoint and webhooks in turns, each on a quiet server (the webhooks'
        # delivery work — actors, storage, websockets — runs on after their answers);
        # the best round of each counts, as background noise only ever slows a round
        bare_rounds, webhook_rounds = [], []
        per_round = args.requests // args.rounds
        for r in range(args.rounds):
            bare_rounds.append(await _blast(
                url, "/bench/empty", [(load[0][1], [])] * per_round, args.connections
            ))  # fmt: skip
            batch = load[r * per_round : (r + 1) * per_round]
            webhook_rounds.append(await _blast(
                url, path, [(b, [("X-Hub-Signature-256", s)]) for _, b, s in batch],
                args.connections,
            ))  # fmt: skip
            with trio.fail_after(60):
                while len(agents.arrived) < (r + 1) * per_round:
                    await trio.sleep(0.05)
        bare_per_s, webhooks_per_s = max(bare_rounds), max(webhook_rounds)
        report.progress(f"webhooks {webhooks_per_s:.0f}/s, bare endpoint {bare_per_s:.0f}/s")
        rate = args.rate or round(webhooks_per_s * 0.4)
        sent: dict[str, float] = {}
        first = base + args.requests
        report.progress(f"steady {rate}/s for {args.seconds:.0f}s")
        await _steady(url, rate, args.seconds, first, args.customers, sent)
        with trio.move_on_after(5):
            while any(w not in agents.arrived for w in sent):
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    arrived = agents.arrived
    latencies = sorted((arrived[w] - t) * 1000 for w, t in sent.items() if w in arrived)
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "webhooks_per_s": round(webhooks_per_s, 1),
        "bare_endpoint_per_s": round(bare_per_s, 1),
        "ratio": round(webhooks_per_s / bare_per_s, 3),
        "rounds": {
            "webhooks_per_s": [round(x, 1) for x in webhook_rounds],
            "bare_endpoint_per_s": [round(x, 1) for x in bare_rounds],
        },
        "steady_rate_per_s": rate,
        "p50_ms": round(quantiles[49], 2),
        "p99_ms": round(quantiles[98], 2),
        "max_ms": round(latencies[-1], 2),
        "delivered": len(latencies),
        "late": len(sent) - len(latencies),
    }


@register("ingest", help="webhooks/s and webhook→agent latency vs a bare endpoint",
          add_arguments=add_arguments)  # fmt: skip
def run(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        seed(data_dir, args.agents, max(1, 2 * args.customers // args.agents))
        env = {"SWITCHBOARD_BENCH_ENDPOINT": "true", "SWITCHBOARD_LIMITS_WS_SEND_BUFFER": "100000"}
        server = ServerProcess(data_dir, env=env)
        try:
            url = server.wait_url()
            result: dict[str, object] = trio.run(_bench, args, url)
        finally:
            server.stop()
    return {"agents": args.agents, "customers": args.customers, **result}
