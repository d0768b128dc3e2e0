"""``switchboard bench recovery``: how fast a killed server is back, and what it lost.

The run, all against real processes:

1. a workspace (one WhatsApp account, one queue, ``--agents`` agents of capacity
   ``--capacity``) is written to a fresh data directory;
2. ``switchboard serve`` starts on it (embedded storage server); every agent connects
   over ``/ws/agent`` and goes online; ``--conversations`` customers write over signed
   webhooks; each agent parks its first ``--park`` chats, so the open conversations are
   a mix of assigned, parked and queued;
3. while a last burst of webhooks is in flight, the server **and** its storage server
   get ``SIGKILL``;
4. a new ``switchboard serve`` starts on the same data directory: ``restart_s`` is the
   time from its spawn until ``/healthz`` answers ``ok`` with every conversation back;
5. checks, read from storage and the live state: ``lost_messages`` — webhooks answered
   200 whose message is in no transcript; ``duplicated_messages``; and
   ``capacity_violations`` — agents holding more chats than their capacity, or holdings
   that differ from what the conversations say.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from actors.routing.model import HOLDS_SLOT
from storage.codec import decode, decode_plain
from storage.keys import Keys
from switchboard.bench import register, report
from switchboard.bench.harness import ACCOUNT, ServerProcess, seed, webhook

__all__ = ["run"]


_ENV = {
    "SWITCHBOARD_ROUTING_DISCONNECT_GRACE_S": "600",
    "SWITCHBOARD_LIMITS_WS_SEND_BUFFER": "100000",
}
_CONFIG = "[runtime]\npassivate_after_s = 3600\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--capacity", type=int, default=50)
    parser.add_argument("--park", type=int, default=20, help="chats each agent parks")
    parser.add_argument("--burst", type=int, default=2_000, help="webhooks in flight at the kill")
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--data-dir", type=Path, default=None)


async def _send_all(
    url: str, numbers: range, concurrency: int, accepted: set[str], *, tolerate: bool = False
) -> None:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        todo = iter(numbers)

        async def worker() -> None:
            for i in todo:
                wamid, raw, signature = webhook(i)
                headers = {"X-Hub-Signature-256": signature}
                try:
                    answer = await http.post(f"/webhooks/whatsapp/{ACCOUNT}", content=raw,
                                             headers=headers)  # fmt: skip
                except httpx.HTTPError:
                    if tolerate:
                        return
                    raise
                if answer.status_code == 200:
                    accepted.add(wamid)
                elif not tolerate:
                    raise RuntimeError(f"webhook {i}: {answer.status_code} {answer.text}")

        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(worker)


async def _agent(url: str, agent_id: str, park: int) -> None:
    """An agent's connection: online, parks its first ``park`` chats, runs until cancelled."""
    ws_url = url.replace("http://", "ws://") + f"/ws/agent?token=bench-{agent_id}"
    async with open_websocket_url(ws_url, max_message_size=16 * 2**20) as ws:
        await ws.send_message(json.dumps({"type": "status.set", "status": "online"}))
        with contextlib.suppress(ConnectionClosed):  # the kill
            await _work(ws, park)


async def _work(ws: WebSocketConnection, park: int) -> None:
    parked = 0
    while True:
        frame = json.loads(await ws.get_message())
        if frame["type"] == "conversation.assigned" and parked < park:
            parked += 1
            command = {"type": "conversation.park", "conversation_id": frame["conversation_id"]}
            await ws.send_message(json.dumps(command))


async def _traffic(args: argparse.Namespace, url: str, server: ServerProcess) -> set[str]:
    accepted: set[str] = set()
    async with trio.open_nursery() as agents:
        for i in range(args.agents):
            agents.start_soon(_agent, url, f"agent-{i}", args.park)
        await trio.sleep(0.5)
        started = time.perf_counter()
        await _send_all(url, range(args.conversations), args.concurrency, accepted)
        rate = args.conversations / (time.perf_counter() - started)
        report.progress(f"{args.conversations} webhooks accepted ({rate:.0f}/s); settling")
        await _wait_assigned(url, args)
        report.progress("burst in flight; SIGKILL")
        burst = range(args.conversations, args.conversations + args.burst)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                lambda: _send_all(url, burst, args.concurrency, accepted, tolerate=True)
            )
            target = args.conversations + args.burst // 3
            while len(accepted) < target:
                await trio.sleep(0.001)
            _kill_all(server)
        agents.cancel_scope.cancel()
    return accepted


async def _wait_assigned(url: str, args: argparse.Namespace) -> None:
    slots = args.agents * args.capacity
    expected = min(args.conversations, slots + args.agents * args.park)
    headers = {"Authorization": "Bearer bench-supervisor"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            live = (await http.get("/api/v1/live", headers=headers)).json()
            held = live["conversations"]["active"] + live["conversations"]["parked"]
            if held >= expected:
                return
            await trio.sleep(0.2)
    raise TimeoutError("assignments did not settle")


def _kill_all(server: ServerProcess) -> None:
    """SIGKILL the server and its storage server child: nothing shuts down cleanly."""
    pids = []
    pid_file = server.data_dir / "server.pid"
    if pid_file.exists():
        pids.append(int(pid_file.read_text().split()[0]))
    server.kill()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _wait_healthy(url: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=5) as http:
        while time.monotonic() < deadline:
            try:
                health: dict[str, Any] = http.get("/healthz").json()
            except httpx.HTTPError:
                time.sleep(0.01)
                continue
            if health.get("status") == "ok":
                return health
            time.sleep(0.01)
    raise TimeoutError("server did not become healthy")


def _check(data_dir: Path, accepted: set[str], url: str) -> dict[str, int]:
    client = redis.Redis.from_url("unix://" + str(data_dir / "redis.sock"))
    keys = Keys()
    try:
        recorded: list[str] = []
        open_ids = sorted(m.decode() for m in client.smembers(keys.open))
        held: dict[str, int] = {}
        for start in range(0, len(open_ids), 1000):
            chunk = open_ids[start : start + 1000]
            pipe = client.pipeline(transaction=False)
            for cid in chunk:
                pipe.lrange(keys.log(cid), 0, -1)
            for entries in pipe.execute():
                for raw in entries:
                    entry = decode_plain(raw)
                    if entry.get("type") == "message" and entry.get("direction") == "in":
                        recorded.append(entry["provider_message_id"])
            from actors.routing.model import ConversationState  # noqa: PLC0415

            for raw in client.mget([keys.conversation(c) for c in chunk]):
                state = decode(raw, ConversationState)
                if state.status in HOLDS_SLOT and state.agent_id:
                    held[state.agent_id] = held.get(state.agent_id, 0) + 1
    finally:
        client.close()
    headers = {"Authorization": "Bearer bench-supervisor"}
    live = httpx.get(f"{url}/api/v1/live", headers=headers, timeout=30).json()
    violations = 0
    for agent in live["agents"]:
        active = len(agent["active"])
        if active > agent["capacity"] or active != held.get(agent["agent_id"], 0):
            violations += 1
    return {
        "open_conversations": len(open_ids),
        "lost_messages": len(accepted - set(recorded)),
        "duplicated_messages": len(recorded) - len(set(recorded)),
        "capacity_violations": violations,
        "queued_after": sum(q["waiting"] for q in live["queues"]),
        "active_after": live["conversations"]["active"],
        "parked_after": live["conversations"]["parked"],
    }


@register("recovery", help="restart time and losses after SIGKILL mid-traffic",
          add_arguments=add_arguments)  # fmt: skip
def run(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        report.progress(f"seeding {args.agents} agents of capacity {args.capacity}")
        seed(data_dir, args.agents, args.capacity)
        first = ServerProcess(data_dir, env=_ENV, config=_CONFIG)
        try:
            url = first.wait_url()
            accepted = trio.run(_traffic, args, url, first)
        finally:
            first.stop()
        report.progress(f"killed with {len(accepted)} messages accepted; restarting")
        second = ServerProcess(data_dir, env=_ENV, config=_CONFIG)
        try:
            url = second.wait_url()
            health = _wait_healthy(url)
            restart_s = time.perf_counter() - second.spawned
            report.progress(f"serving again after {restart_s:.2f}s; checking")
            checks = _check(data_dir, accepted, url)
        finally:
            second.stop()
    return {
        "open_conversations": checks.pop("open_conversations"),
        "restart_s": round(restart_s, 3),
        "recovery_s": health.get("recovered", {}).get("seconds"),
        "redelivered": health.get("recovered", {}).get("redelivered"),
        "accepted_messages": len(accepted),
        **checks,
    }
