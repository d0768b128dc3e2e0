"""``kill -9`` of a real ``switchboard serve`` in the middle of traffic loses nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from adapters.meta import sign
from server.catalog import DEMO_ACCOUNT, DEMO_APP_SECRET
from switchboard.bench.harness import ServerProcess as Server

pytestmark = [
    pytest.mark.slow,
    # requests cut off by the kill leave httpx's response iterators to the garbage
    # collector, which reports them as unraisable; that is the client's, not ours
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

WEBHOOK = f"/webhooks/whatsapp/{DEMO_ACCOUNT}"
SUPERVISOR = {"Authorization": "Bearer demo-supervisor"}


def _server(data_dir: Path) -> Server:
    """``switchboard serve`` on ``data_dir`` with the demo workspace, a long grace period."""
    return Server(data_dir, env={"SWITCHBOARD_ROUTING_DISCONNECT_GRACE_S": "120"}, config=None)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def _webhook(text: str, wamid: str, wa_id: str) -> bytes:
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "905550000000", "phone_number_id": "1"},
            "contacts": [{"profile": {"name": f"Müşteri {wa_id[-3:]}"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": "1763900000",
                          "type": "text", "text": {"body": text}}],
        }}]}],
    }  # fmt: skip
    return json.dumps(body).encode()


async def _post(http: httpx.AsyncClient, raw: bytes) -> httpx.Response:
    headers = {"X-Hub-Signature-256": sign(DEMO_APP_SECRET.encode(), raw)}
    return await http.post(WEBHOOK, content=raw, headers=headers)


async def _agent(url: str, token: str, nursery: trio.Nursery) -> WebSocketConnection:
    ws_url = url.replace("http://", "ws://") + f"/ws/agent?token={token}"

    async def hold(*, task_status: trio.TaskStatus[WebSocketConnection]) -> None:
        async with open_websocket_url(ws_url) as ws:
            task_status.started(ws)
            await trio.sleep_forever()

    ws: WebSocketConnection = await nursery.start(hold)
    return ws


async def _command(ws: WebSocketConnection, kind: str, **fields: Any) -> dict[str, Any]:
    await ws.send_message(json.dumps({"type": kind, "ref": kind, **fields}))
    while True:
        frame: dict[str, Any] = json.loads(await ws.get_message())
        if frame.get("ref") == kind:
            return frame


async def _live(http: httpx.AsyncClient) -> dict[str, Any]:
    answer = await http.get("/api/v1/live", headers=SUPERVISOR)
    assert answer.status_code == 200, answer.text
    live: dict[str, Any] = answer.json()
    return live


def _picture(live: dict[str, Any]) -> dict[str, Any]:
    return {
        "agents": {
            a["agent_id"]: (a["status"], sorted(a["active"]), sorted(a["parked"]))
            for a in live["agents"]
        },
        "waiting": {q["queue_id"]: q["waiting"] for q in live["queues"]},
    }


async def _settled(http: httpx.AsyncClient, check: Any) -> dict[str, Any]:
    with trio.fail_after(15):
        while True:
            live = await _live(http)
            if check(live):
                return live
            await trio.sleep(0.05)


async def _transcript_ids(http: httpx.AsyncClient) -> list[str]:
    listing = await http.get("/api/v1/conversations", params={"limit": 500}, headers=SUPERVISOR)
    ids = []
    for conversation in listing.json()["conversations"]:
        cid = conversation["conversation_id"]
        entries = await http.get(f"/api/v1/conversations/{cid}/messages", headers=SUPERVISOR)
        ids += [e["provider_message_id"] for e in entries.json()["entries"]
                if e["type"] == "message" and e["direction"] == "in"]  # fmt: skip
    return ids


async def _eventually(http: httpx.AsyncClient, done: Any) -> list[str]:
    """The recorded message ids once ``done(ids)`` holds (writes land asynchronously)."""
    deadline = trio.current_time() + 15
    while True:
        ids = await _transcript_ids(http)
        if done(ids) or trio.current_time() > deadline:
            return ids
        await trio.sleep(0.1)


async def test_kill_9_keeps_holdings_queue_and_every_accepted_message(
    servers: list[Server], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    first = _server(data)
    servers.append(first)
    url = first.wait_url()
    async with httpx.AsyncClient(base_url=url, timeout=10) as http, trio.open_nursery() as n:
        ayse = await _agent(url, "demo-ayse", n)
        mehmet = await _agent(url, "demo-mehmet", n)
        for ws in (ayse, mehmet):
            assert (await _command(ws, "status.set", status="online"))["type"] == "ack"
        for i in range(12):
            answer = await _post(http, _webhook(f"mesaj {i}", f"wamid.{i}", f"90532100{i:04d}"))
            assert answer.status_code == 200
        live = await _settled(http, lambda lv: lv["conversations"]["active"] == 6)
        ayse_chat = next(a for a in live["agents"] if a["agent_id"] == "ayse")["active"][0]
        parked = await _command(ayse, "conversation.park", conversation_id=ayse_chat)
        assert parked["type"] == "ack"
        before = _picture(await _settled(http, lambda lv: lv["conversations"]["active"] == 6
                                         and lv["conversations"]["parked"] == 1))  # fmt: skip
        n.cancel_scope.cancel()
    first.kill()

    second = _server(data)
    servers.append(second)
    url = second.wait_url()
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        assert (await http.get("/healthz")).json()["status"] == "ok"
        assert _picture(await _live(http)) == before
        async with trio.open_nursery() as n:
            ayse = await _agent(url, "demo-ayse", n)
            hello = json.loads(await ayse.get_message())
            seen = sorted(c["conversation_id"] for c in hello["conversations"])
            _status, active, parked_ids = before["agents"]["ayse"]
            assert seen == sorted(active + parked_ids)
            n.cancel_scope.cancel()

        # a burst in flight when the process dies: what got 200 must survive
        accepted: list[str] = []

        async def burst() -> None:
            for i in range(100, 160):
                wamid = f"wamid.{i}"
                try:
                    answer = await _post(http, _webhook("yoğun", wamid, f"90532200{i:04d}"))
                except httpx.HTTPError:
                    return
                if answer.status_code == 200:
                    accepted.append(wamid)

        async with trio.open_nursery() as n:
            n.start_soon(burst)
            while len(accepted) < 20:
                await trio.sleep(0.005)
            second.kill()
    assert 20 <= len(accepted) < 60

    third = _server(data)
    servers.append(third)
    url = third.wait_url()
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        recorded = await _eventually(http, lambda ids: set(accepted) <= set(ids))
        assert sorted(set(recorded)) == sorted(recorded), "a message was recorded twice"
        missing = set(accepted) - set(recorded)
        assert not missing, f"accepted but lost: {sorted(missing)}"
        # the provider retries everything it did not see answered: no duplicates
        for i in range(100, 160):
            answer = await _post(http, _webhook("yoğun", f"wamid.{i}", f"90532200{i:04d}"))
            assert answer.status_code == 200
        everything = {f"wamid.{i}" for i in range(100, 160)}
        recorded = await _eventually(http, lambda ids: everything <= set(ids))
        burst_ids = [r for r in recorded if int(r.split(".")[1]) >= 100]
        assert sorted(burst_ids) == sorted(f"wamid.{i}" for i in range(100, 160))
        live = await _live(http)
        for agent in live["agents"]:
            assert len(agent["active"]) <= agent["capacity"]
