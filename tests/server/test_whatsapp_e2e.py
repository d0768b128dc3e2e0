"""WhatsApp end to end over real sockets: signed webhook in, agent websocket out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import msgpack
import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from adapters.meta import sign
from server.app import serve
from server.catalog import (
    DEMO_ACCOUNT,
    DEMO_APP_SECRET,
    DEMO_VERIFY_TOKEN,
    Catalog,
    demo_objects,
    seed,
)
from storage.store import Storage
from switchboard.config import load_config
from tests.support.fake_graph import IMAGE, Answer, FakeGraph, graph_error, running_graph
from tests.support.whatsapp import fixture, status_webhook, text_webhook

WEBHOOK = f"/webhooks/whatsapp/{DEMO_ACCOUNT}"


_text_webhook = text_webhook


@dataclass
class Server:
    url: str
    http: httpx.AsyncClient
    graph: FakeGraph

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://")

    async def post(self, body: bytes | dict[str, Any], *, signature: str | None = None) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        header = sign(DEMO_APP_SECRET.encode(), raw) if signature is None else signature
        return await self.http.post(
            WEBHOOK,
            content=raw,
            headers={"X-Hub-Signature-256": header, "Content-Type": "application/json"},
        )


@pytest.fixture
async def server(redis_url: str) -> AsyncIterator[Server]:
    config = load_config(
        env={},
        overrides={
            "server.port": 0,
            "server.redis_url": redis_url,
            "routing.disconnect_grace_s": 30.0,
            "limits.webhook_max_bytes": 64 * 1024,
        },
    )
    stop = trio.Event()
    async with trio.open_nursery() as nursery, running_graph(nursery) as graph:
        # the demo workspace, its WhatsApp account sending to the local Graph
        storage = Storage(redis_url)
        seed(Catalog(storage), demo_objects(f"{graph.url}/v21.0"))
        storage.close()
        [url] = await nursery.start(partial(serve, config, demo=True, shutdown_trigger=stop.wait))
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            yield Server(url, http, graph)
        stop.set()


class Agent:
    """A websocket client of one agent, as a browser tab would be."""

    def __init__(self, ws: WebSocketConnection, *, binary: bool = False) -> None:
        self.ws = ws
        self.binary = binary
        self.seen: list[dict[str, Any]] = []
        self._ref = 0

    async def recv(self) -> dict[str, Any]:
        with trio.fail_after(5):
            data = await self.ws.get_message()
        frame: dict[str, Any] = (
            msgpack.unpackb(data) if isinstance(data, bytes) else json.loads(data)
        )
        self.seen.append(frame)
        return frame

    async def expect(self, kind: str) -> dict[str, Any]:
        while True:
            frame = await self.recv()
            if frame["type"] == kind:
                return frame

    async def command(self, kind: str, **fields: Any) -> dict[str, Any]:
        self._ref += 1
        frame = {"type": kind, "ref": self._ref, **fields}
        if self.binary:
            await self.ws.send_message(msgpack.packb(frame))
        else:
            await self.ws.send_message(json.dumps(frame))
        while True:
            answer = await self.recv()
            if answer["type"] in ("ack", "error") and answer.get("ref") == self._ref:
                return answer


async def _connect(server: Server, token: str, nursery: trio.Nursery, **kw: Any) -> Agent:
    ws = await nursery.start(_open, f"{server.ws}/ws/agent?token={token}")
    agent = Agent(ws, **kw)
    hello = await agent.recv()
    assert hello["type"] == "hello"
    return agent


async def _open(url: str, *, task_status: trio.TaskStatus[WebSocketConnection]) -> None:
    async with open_websocket_url(url) as ws:
        task_status.started(ws)
        await trio.sleep_forever()


async def test_a_signed_webhook_reaches_the_agent_who_replies_parks_and_gets_it_back(
    server: Server,
) -> None:
    async with trio.open_nursery() as nursery:
        ayse = await _connect(server, "demo-ayse", nursery)
        assert (await ayse.command("status.set", status="online"))["type"] == "ack"
        second_tab = await _connect(server, "demo-ayse", nursery, binary=True)

        answer = await server.post(_text_webhook("Merhaba, siparişim nerede?", "wamid.A1"))
        assert answer.status_code == 200
        assert answer.json() == {"accepted": 1, "duplicates": 0}

        assigned = await ayse.expect("conversation.assigned")
        cid = assigned["conversation_id"]
        message = await ayse.expect("conversation.message")
        content = message["message"]["content"]
        assert (content["kind"], content["body"]) == ("text", "Merhaba, siparişim nerede?")
        # the same events on the agent's other connection, in msgpack
        assert (await second_tab.expect("conversation.assigned"))["conversation_id"] == cid

        reply = await ayse.command(
            "message.send", conversation_id=cid, content={"kind": "text", "body": "Bakıyorum"}
        )
        assert reply["type"] == "ack"
        # the reply reaches Graph, from the account's number, to the customer
        sent = await ayse.expect("conversation.message")
        assert (sent["message"]["status"], sent["message"]["delivery"]) == ("sent", True)
        [request] = server.graph.messages()
        assert request.path == "/v21.0/100000000000001/messages"
        assert request.authorization == "Bearer demo-access-token"
        assert request.body["to"] == "905321112233"
        assert request.body["text"]["body"] == "Bakıyorum"
        # Graph's receipt comes back as a webhook and shows on the message
        wamid = sent["message"]["provider_message_id"]
        receipt = await server.post(_status_webhook(wamid, "delivered"))
        assert receipt.status_code == 200
        delivered = await ayse.expect("conversation.message")
        assert (delivered["message"]["message_id"], delivered["message"]["status"]) == (
            reply["result"]["message_id"],
            "delivered",
        )
        parked = await ayse.command("conversation.park", conversation_id=cid)
        assert parked["result"]["status"] == "parked"

        answer = await server.post(_text_webhook("Hâlâ bekliyorum", "wamid.A2"))
        assert answer.status_code == 200
        await ayse.expect("conversation.unparked")
        again = await ayse.expect("conversation.message")
        assert again["message"]["content"]["body"] == "Hâlâ bekliyorum"
        got = await ayse.command("conversation.get", conversation_id=cid)
        assert got["result"]["agent_id"] == "ayse"
        nursery.cancel_scope.cancel()


_status_webhook = status_webhook


async def test_provider_failures_are_retried_or_shown_to_the_agent(server: Server) -> None:
    async with trio.open_nursery() as nursery:
        agent = await _connect(server, "demo-mehmet", nursery)
        await agent.command("status.set", status="online")
        await server.post(_text_webhook("selam", "wamid.P1", wa_id="905320000001"))
        cid = (await agent.expect("conversation.assigned"))["conversation_id"]
        # a 429 then success: sent once
        server.graph.script = [Answer(429, graph_error(130429, "Rate limit hit"),
                                      headers={"Retry-After": "0"}), Answer()]  # fmt: skip
        text = {"kind": "text", "body": "bir"}
        await agent.command("message.send", conversation_id=cid, content=text)
        first = await agent.expect("conversation.message")
        assert first["message"]["status"] == "sent"
        # a permanent refusal: the agent sees why
        server.graph.script = [Answer(400, graph_error(131026, "Message undeliverable"))]
        await agent.command("message.send", conversation_id=cid, content=text)
        failed = await agent.expect("conversation.message")
        assert failed["message"]["status"] == "failed"
        assert failed["message"]["error"]["code"] == 131026
        assert len(server.graph.messages()) == 3
        # content WhatsApp would refuse is refused at once, before anything is queued
        buttons = {"kind": "interactive", "type": "buttons", "body": "?",
                   "buttons": [{"id": str(i), "title": f"b{i}"} for i in range(4)]}  # fmt: skip
        refused = await agent.command("message.send", conversation_id=cid, content=buttons)
        assert (refused["type"], refused["code"]) == ("error", "invalid_content")
        nursery.cancel_scope.cancel()


async def test_a_retried_webhook_is_not_a_second_message(server: Server) -> None:
    body = _text_webhook("bir kez", "wamid.R1")
    first = await server.post(body)
    second = await server.post(body)
    assert first.json() == {"accepted": 1, "duplicates": 0}
    assert second.status_code == 200
    assert second.json() == {"accepted": 0, "duplicates": 1}


@pytest.mark.parametrize(
    ("signature", "status", "code"),
    [
        ("sha256=" + "0" * 64, 401, "bad_signature"),
        ("", 401, "bad_signature"),
        ("md5=abc", 401, "bad_signature"),
    ],
)
async def test_bad_signatures_are_refused_and_nothing_is_stored(
    server: Server, signature: str, status: int, code: str
) -> None:
    answer = await server.post(_text_webhook("sahte", "wamid.F1"), signature=signature)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    # the genuine one later is new, so the forged one left no trace
    genuine = await server.post(_text_webhook("sahte", "wamid.F1"))
    assert genuine.json() == {"accepted": 1, "duplicates": 0}


async def test_malformed_unknown_and_oversized_webhooks_get_precise_errors(
    server: Server,
) -> None:
    malformed = await server.post(b'{"object": "whatsapp_business_account", "entry": 5}')
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed"
    assert "entry" in malformed.json()["error"]["message"]
    not_json = await server.post(b"{nope")
    assert not_json.status_code == 400
    unknown = await server.http.post("/webhooks/whatsapp/nobody", content=b"{}")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_account"
    huge = await server.post(b"x" * (65 * 1024))
    assert huge.status_code == 413
    health = await server.http.get("/healthz")
    assert health.json()["status"] == "ok"


async def test_meta_verification_get(server: Server) -> None:
    ok = await server.http.get(
        WEBHOOK,
        params={"hub.mode": "subscribe", "hub.verify_token": DEMO_VERIFY_TOKEN,
                "hub.challenge": "1158201444"},
    )  # fmt: skip
    assert (ok.status_code, ok.text) == (200, "1158201444")
    wrong = await server.http.get(
        WEBHOOK,
        params={"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"},
    )
    assert wrong.status_code == 403


async def test_agent_socket_needs_an_agent_token(server: Server) -> None:
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    attempts = [
        ("/ws/agent?token=wrong", upgrade),
        ("/ws/agent?token=demo-supervisor", upgrade),  # not an agent
        ("/ws/agent", {**upgrade, "Authorization": "Bearer wrong"}),
        ("/ws/agent", upgrade),
    ]
    for path, headers in attempts:  # each handshake is refused before the socket opens
        async with httpx.AsyncClient(base_url=server.url) as fresh:
            answer = await fresh.get(path, headers=headers)
        assert answer.status_code == 401, path


async def test_bad_commands_get_errors_and_the_connection_lives_on(server: Server) -> None:
    async with trio.open_nursery() as nursery:
        agent = await _connect(server, "demo-mehmet", nursery)
        unknown = await agent.command("teleport")
        assert (unknown["type"], unknown["code"]) == ("error", "unknown_type")
        bad_status = await agent.command("status.set", status="sleeping")
        assert bad_status["code"] == "invalid_status"
        missing = await agent.command("conversation.park", conversation_id="conv_999999")
        assert missing["code"] == "not_found"
        bad_content = await agent.command(
            "message.send", conversation_id="x", content={"kind": "hologram"}
        )
        assert bad_content["code"] == "invalid_content"
        await agent.ws.send_message("{not json")
        broken = await agent.expect("error")
        assert broken["code"] == "bad_frame"
        assert (await agent.command("ping"))["type"] == "ack"
        nursery.cancel_scope.cancel()


async def test_a_supervisor_sees_a_snapshot_then_the_changes(server: Server) -> None:
    async with trio.open_nursery() as nursery:
        ws = await nursery.start(_open, f"{server.ws}/ws/supervisor?token=demo-supervisor")
        supervisor = Agent(ws)
        snapshot = await supervisor.expect("snapshot")
        assert [q["queue_id"] for q in snapshot["queues"]] == ["demo-sales", "demo-support"]
        assert {a["agent_id"] for a in snapshot["agents"]} == {"ayse", "mehmet", "zeynep"}
        await server.post(_text_webhook("merhaba", "wamid.S1", wa_id="905320000009"))
        queue = await supervisor.expect("queue.changed")
        assert (queue["queue"]["queue_id"], queue["queue"]["waiting"]) == ("demo-support", 1)
        zeynep = await _connect(server, "demo-zeynep", nursery)
        await zeynep.command("status.set", status="online")
        changed = await supervisor.expect("agent.changed")
        while changed["agent"]["active"] == []:
            changed = await supervisor.expect("agent.changed")
        assert changed["agent"]["agent_id"] == "zeynep"
        conversation = await supervisor.expect("conversation.changed")
        assert conversation["conversation"]["agent_id"] == "zeynep"
        await ws.send_message(json.dumps({"type": "snapshot", "ref": 1}))
        again = await supervisor.expect("snapshot")
        assert (again["ref"], again["conversations"]["active"]) == (1, 1)
        nursery.cancel_scope.cancel()


async def test_the_supervisor_socket_is_for_supervisors(server: Server) -> None:
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}  # fmt: skip
    for token in ("demo-ayse", "nope"):
        async with httpx.AsyncClient(base_url=server.url) as fresh:
            answer = await fresh.get(f"/ws/supervisor?token={token}", headers=upgrade)
        assert answer.status_code == 401


async def test_an_agent_streams_the_customer_s_media_and_edits_their_profile(
    server: Server,
) -> None:
    body = fixture("message", "image")
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = "905321119999"
    value["messages"][0]["from"] = "905321119999"
    async with trio.open_nursery() as nursery:
        ayse = await _connect(server, "demo-ayse", nursery)
        await ayse.command("status.set", status="online")
        assert (await server.post(body)).status_code == 200
        assigned = await ayse.expect("conversation.assigned")
        cid, customer = assigned["conversation_id"], assigned["conversation"]["customer_id"]
        nursery.cancel_scope.cancel()
    as_ayse = {"Authorization": "Bearer demo-ayse"}
    as_mehmet = {"Authorization": "Bearer demo-mehmet"}
    media = await server.http.get(f"/api/v1/conversations/{cid}/media/65463453", headers=as_ayse)
    assert media.status_code == 200
    assert media.headers["content-type"] == "image/jpeg"
    assert media.content == IMAGE  # streamed from the provider, never stored here
    assert server.graph.received[-2].path == "/v21.0/65463453"
    for path, headers in (
        (f"/api/v1/conversations/{cid}/media/65463453", as_mehmet),  # not his chat
        (f"/api/v1/conversations/{cid}/media/999", as_ayse),  # not in this chat
    ):
        assert (await server.http.get(path, headers=headers)).status_code == 404

    profile = await server.http.get(f"/api/v1/customers/{customer}", headers=as_ayse)
    assert ["phone", "+905321119999"] in profile.json()["identities"]
    edited = await server.http.patch(
        f"/api/v1/customers/{customer}",
        json={"name": "Ada Yılmaz", "notes": "prefers mornings", "favourite": True},
        headers=as_ayse,
    )
    assert edited.json()["profile"] == {
        "name": "Ada Yılmaz", "notes": "prefers mornings", "favourite": True,
    }  # fmt: skip
    bad = await server.http.patch(f"/api/v1/customers/{customer}", json={"age": 3},
                                  headers=as_ayse)  # fmt: skip
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_field")
    assert (await server.http.get(f"/api/v1/customers/{customer}", headers=as_mehmet)
            ).status_code == 404  # fmt: skip


async def test_a_customer_on_the_phone_with_an_agent_writes_on_whatsapp_and_lands_with_them(
    server: Server,
) -> None:
    async with trio.open_nursery() as nursery:
        ayse = await _connect(server, "demo-ayse", nursery)
        mehmet = await _connect(server, "demo-mehmet", nursery)
        for agent in (ayse, mehmet):
            await agent.command("status.set", status="online")
        call = json.dumps({"event": "call.started", "call_id": "call-1",
                           "customer": {"phone": "+905321112233"},
                           "agent_id": "mehmet"}).encode()  # fmt: skip
        # a voice account, created through the admin API
        created = await server.http.post(
            "/api/v1/accounts",
            json={"id": "demo-voice", "channel": "voice", "queue_id": "demo-support",
                  "settings": {"signing_secret": "voice-secret"}},
            headers={"Authorization": "Bearer demo-admin"},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        answer = await server.http.post(
            "/webhooks/voice/demo-voice",
            content=call,
            headers={"X-Switchboard-Signature": sign(b"voice-secret", call)},
        )
        assert answer.status_code == 200, answer.text
        # the same person writes on WhatsApp: the chat goes to the agent on the call
        await server.post(_text_webhook("az önce konuştuk", "wamid.V1"))
        assigned = await mehmet.expect("conversation.assigned")
        assert assigned["conversation"]["channel"] == "whatsapp"
        nursery.cancel_scope.cancel()
    metrics = (await server.http.get("/metrics")).text
    assert 'switchboard_assignments_total{queue="demo-support"}' in metrics
    assert "switchboard_actor_failures_total" in metrics


async def test_a_reconnect_within_the_grace_period_keeps_status_and_chats(
    server: Server,
) -> None:
    async with trio.open_nursery() as nursery:
        first = await _connect(server, "demo-zeynep", nursery)
        await first.command("status.set", status="online")
        await server.post(_text_webhook("merhaba", "wamid.G1", wa_id="905320000077"))
        cid = (await first.expect("conversation.assigned"))["conversation_id"]
        await first.ws.aclose()  # the tab closes (or the network drops)
        ws = await nursery.start(_open, f"{server.ws}/ws/agent?token=demo-zeynep")
        again = Agent(ws)
        hello = await again.recv()
        assert hello["type"] == "hello"
        assert hello["agent"]["status"] == "online"
        assert [c["conversation_id"] for c in hello["conversations"]] == [cid]
        # and the chat goes on: the customer's next message reaches the new connection
        await server.post(_text_webhook("hâlâ orada mısınız?", "wamid.G2", wa_id="905320000077"))
        message = await again.expect("conversation.message")
        assert message["conversation_id"] == cid
        nursery.cancel_scope.cancel()


async def test_a_command_s_ack_comes_after_the_events_that_happened_before_it(
    server: Server,
) -> None:
    """Messages that waited in the queue are pushed on assignment; an agent who resolves
    at once still reads every one of them, and its own ``conversation.resolved``, before
    the resolve's ``ack``."""
    wa_id = "905320000088"
    for n in range(12):
        answer = await server.post(_text_webhook(f"mesaj {n}", f"wamid.O{n}", wa_id=wa_id))
        assert answer.status_code == 200
    async with trio.open_nursery() as nursery:
        mehmet = await _connect(server, "demo-mehmet", nursery)
        # offline since the server started, not since 1970
        assert 0 <= mehmet.seen[0]["agent"]["seconds_in_status"] < 60
        online = await mehmet.command("status.set", status="online")
        if not any(f["type"] == "conversation.assigned" for f in mehmet.seen):
            await mehmet.expect("conversation.assigned")
        assigned = next(f for f in mehmet.seen if f["type"] == "conversation.assigned")
        cid = assigned["conversation_id"]
        ack = await mehmet.command("conversation.resolve", conversation_id=cid, topic="billing")
        assert ack["type"] == "ack"
        frames = [f for f in mehmet.seen[mehmet.seen.index(assigned) + 1 :] if f is not online]
        bodies = [
            f["message"]["content"]["body"] for f in frames if f["type"] == "conversation.message"
        ]
        assert bodies == [f"mesaj {n}" for n in range(12)]
        assert [f["type"] for f in frames][-2:] == ["conversation.resolved", "ack"]
        nursery.cancel_scope.cancel()


async def test_replies_still_go_out_after_an_agent_opened_the_customer_s_media(
    server: Server,
) -> None:
    # the adapter keeps one Graph client per account: opening media first must not leave it
    # holding an HTTP client that the media request closed
    body = fixture("message", "image")
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = "905321118888"
    value["messages"][0]["from"] = "905321118888"
    async with trio.open_nursery() as nursery:
        ayse = await _connect(server, "demo-ayse", nursery)
        await ayse.command("status.set", status="online")
        assert (await server.post(body)).status_code == 200
        cid = (await ayse.expect("conversation.assigned"))["conversation_id"]
        await ayse.expect("conversation.message")
        as_ayse = {"Authorization": "Bearer demo-ayse"}
        for _ in range(2):
            path = f"/api/v1/conversations/{cid}/media/65463453"
            media = await server.http.get(path, headers=as_ayse)
            assert (media.status_code, media.content) == (200, IMAGE)
        reply = await ayse.command(
            "message.send", conversation_id=cid, content={"kind": "text", "body": "Gördüm"}
        )
        assert reply["type"] == "ack"
        sent = await ayse.expect("conversation.message")
        assert (sent["message"]["status"], sent["message"]["delivery"]) == ("sent", True)
        assert server.graph.messages()[-1].body["text"]["body"] == "Gördüm"
        nursery.cancel_scope.cancel()
