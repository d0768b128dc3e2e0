"""The web chat customer socket end to end over real sockets, plus its pure protocol helpers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
import trio
from quart_trio import QuartTrio
from trio_websocket import WebSocketConnection, open_websocket_url

import server.app as app_module
from actors.routing.model import Channel
from adapters.base import ChannelAdapter, OutboundItem
from adapters.content import ContentError, Template, Text
from adapters.errors import SignatureError, WebhookError
from adapters.webchat import (
    FrameError,
    Hello,
    LiveSessions,
    WebchatAdapter,
    customer_content,
    identities,
    identity_hash,
    read_hello,
    transcript_messages,
)
from server.app import serve
from server.catalog import Account, Catalog, demo_objects, seed
from server.services import Services
from server.webchat import webchat_blueprint
from storage.store import Storage
from switchboard.config import Config, load_config

ACCOUNT = "demo-webchat"
INAPP = "demo-app"
TEXT = {"kind": "text", "body": "Merhaba, kargom nerede?"}
#: content as the server keeps it: the canonical wire form (``adapters.content``)
STORED = Text(TEXT["body"]).to_wire()
UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}  # fmt: skip


def install_webchat(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve the web chat even where ``server.app`` / ``server.channels`` do not register it.

    Both steps are skipped once the server does them itself, so these tests run the real
    ``serve()`` either way.
    """
    plain_adapters = app_module.adapters
    plain_create_app = app_module.create_app

    def adapters() -> dict[Channel, ChannelAdapter]:
        channels = plain_adapters()
        if not isinstance(channels.get(Channel.WEBCHAT), WebchatAdapter):
            shared = WebchatAdapter()
            channels[Channel.WEBCHAT] = channels[Channel.INAPP] = shared
        return channels

    def create_app(
        config: Config, services: Services | None = None, channels: Any = None
    ) -> QuartTrio:
        app = plain_create_app(config, services, channels)
        if services is not None and "webchat" not in app.blueprints:
            app.register_blueprint(webchat_blueprint(services, channels or adapters()))
        return app

    monkeypatch.setattr(app_module, "adapters", adapters)
    monkeypatch.setattr(app_module, "create_app", create_app)


@dataclass
class Server:
    url: str
    http: httpx.AsyncClient
    data_dir: Path

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://")


@asynccontextmanager
async def running_server(
    redis_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Server]:
    """The real server with the demo workspace and a web chat account (also for tests/browser)."""
    install_webchat(monkeypatch)
    config = load_config(
        env={},
        overrides={
            "server.port": 0,
            "server.redis_url": redis_url,
            "server.data_dir": str(data_dir),
            "routing.disconnect_grace_s": 30.0,
            "limits.webhook_max_bytes": 256 * 1024,
        },
    )
    storage = Storage(redis_url)
    catalog = Catalog(storage)
    seed(catalog, demo_objects())
    catalog.put_account(
        Account(
            ACCOUNT,
            "demo",
            Channel.WEBCHAT,
            "demo-support",
            name="Demo web chat",
            settings={"upload_max_bytes": "65536"},
        )
    )
    catalog.put_account(Account(INAPP, "demo", Channel.INAPP, "demo-support", name="Demo app"))
    storage.close()
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        [url] = await nursery.start(partial(serve, config, demo=True, shutdown_trigger=stop.wait))
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            yield Server(url, http, data_dir)
        stop.set()


@pytest.fixture
async def server(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Server]:
    async with running_server(redis_url, tmp_path, monkeypatch) as running:
        yield running


class Client:
    """One websocket (a customer's browser tab or an agent's), speaking JSON or msgpack."""

    def __init__(self, ws: WebSocketConnection, *, binary: bool = False) -> None:
        self.ws = ws
        self.binary = binary
        self._ref = 0

    async def recv(self) -> dict[str, Any]:
        with trio.fail_after(5):
            data = await self.ws.get_message()
        frame: dict[str, Any] = (
            msgpack.unpackb(data) if isinstance(data, bytes) else json.loads(data)
        )
        return frame

    async def expect(self, kind: str) -> dict[str, Any]:
        while True:
            frame = await self.recv()
            if frame["type"] == kind:
                return frame

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_message(msgpack.packb(frame) if self.binary else json.dumps(frame))

    async def command(self, kind: str, **fields: Any) -> dict[str, Any]:
        self._ref += 1
        await self.send({"type": kind, "ref": self._ref, **fields})
        while True:
            answer = await self.recv()
            if answer["type"] in ("ack", "error", "welcome") and answer.get("ref") == self._ref:
                return answer


async def _open(url: str, *, task_status: trio.TaskStatus[WebSocketConnection]) -> None:
    async with open_websocket_url(url) as ws:
        task_status.started(ws)
        await trio.sleep_forever()


async def _agent(server: Server, token: str, nursery: trio.Nursery) -> Client:
    agent = Client(await nursery.start(_open, f"{server.ws}/ws/agent?token={token}"))
    assert (await agent.recv())["type"] == "hello"
    assert (await agent.command("status.set", status="online"))["type"] == "ack"
    return agent


async def _customer(server: Server, nursery: trio.Nursery, **kw: Any) -> Client:
    return Client(await nursery.start(_open, f"{server.ws}/ws/webchat/{ACCOUNT}"), **kw)


async def test_a_customer_chats_with_an_agent_reloads_and_keeps_the_conversation(
    server: Server,
) -> None:
    async with trio.open_nursery() as nursery:
        ayse = await _agent(server, "demo-ayse", nursery)
        tab = await _customer(server, nursery)
        welcome = await tab.command("hello", name="Ada", email="Ada@Example.com")
        assert (welcome["type"], welcome["messages"], welcome["resumed"]) == ("welcome", [], False)
        token, ref = welcome["session"]["token"], welcome["session"]["customer_ref"]

        sent = await tab.command("message.send", client_id="c1", content=TEXT)
        assert sent["type"] == "ack"
        assert sent["result"] == {"client_id": "c1", "message_id": f"{ref}:c1", "duplicate": False}
        assigned = await ayse.expect("conversation.assigned")
        cid = assigned["conversation_id"]
        assert assigned["conversation"]["channel"] == "webchat"
        message = await ayse.expect("conversation.message")
        assert message["message"]["content"] == STORED

        # the customer's typing shows on the agent's socket
        typing = await tab.command("typing", on=True)
        assert typing["result"]["forwarded"] >= 1
        shown = await ayse.expect("conversation.typing")
        assert (shown["conversation_id"], shown["on"]) == (cid, True)

        reply = Text("Hemen bakıyorum").to_wire()
        answer = await ayse.command("message.send", conversation_id=cid, content=reply)
        assert answer["type"] == "ack"
        pushed = await tab.expect("message")
        assert (pushed["direction"], pushed["content"], pushed["agent"]) == ("out", reply, "Ayse")
        assert pushed["message_id"] == answer["result"]["message_id"]
        delivered = await ayse.expect("conversation.message")
        assert (delivered["message"]["status"], delivered["message"]["delivery"]) == ("sent", True)

        # a reload (new socket, same token): the same customer and conversation
        await tab.ws.aclose()
        again = await _customer(server, nursery, binary=True)
        resumed = await again.command("hello", resume=token)
        assert resumed["resumed"] is True
        assert resumed["session"] == {"token": token, "customer_ref": ref}
        assert [(m["direction"], m["content"]) for m in resumed["messages"]] == [
            ("in", STORED), ("out", reply),
        ]  # fmt: skip
        assert resumed["messages"][0]["client_id"] == "c1"
        assert resumed["messages"][1]["agent"] == "Ayse"

        # a second tab with the same token is the same customer: it sees what the first sends
        second = await _customer(server, nursery)
        assert (await second.command("hello", resume=token))["session"]["customer_ref"] == ref
        # a resend of c1 after a reconnect is a repeat: acknowledged, not delivered twice
        repeat = await again.command("message.send", client_id="c1", content=TEXT)
        assert repeat["result"]["duplicate"] is True
        fresh = Text("bir şey daha").to_wire()
        assert (await again.command("message.send", client_id="c2", content=fresh))["type"] == "ack"
        echoed = await second.expect("message")
        assert (echoed["direction"], echoed["client_id"], echoed["content"]) == ("in", "c2", fresh)
        following = await ayse.expect("conversation.message")
        assert following["conversation_id"] == cid
        assert following["message"]["content"] == fresh  # not c1 again
        nursery.cancel_scope.cancel()


async def test_a_reply_to_a_customer_who_left_is_shown_when_they_come_back(
    server: Server,
) -> None:
    async with trio.open_nursery() as nursery:
        mehmet = await _agent(server, "demo-mehmet", nursery)
        tab = await _customer(server, nursery)
        token = (await tab.command("hello"))["session"]["token"]
        await tab.command("message.send", client_id="x", content=TEXT)
        cid = (await mehmet.expect("conversation.assigned"))["conversation_id"]
        await tab.ws.aclose()
        reply = Text("Kargonuz yolda").to_wire()
        await mehmet.command("message.send", conversation_id=cid, content=reply)
        status = await mehmet.expect("conversation.message")
        while not status["message"].get("delivery"):
            status = await mehmet.expect("conversation.message")
        assert status["message"]["status"] == "sent"  # no socket open: kept for the next visit
        back = await _customer(server, nursery)
        welcome = await back.command("hello", resume=token)
        assert [m["content"] for m in welcome["messages"]] == [STORED, reply]
        nursery.cancel_scope.cancel()


async def test_in_app_chat_speaks_the_same_protocol_and_floods_are_stopped(
    server: Server,
) -> None:
    async with trio.open_nursery() as nursery:
        ayse = await _agent(server, "demo-ayse", nursery)
        app = Client(await nursery.start(_open, f"{server.ws}/ws/webchat/{INAPP}"), binary=True)
        await app.command("hello", phone="+905321112233")
        assert (await app.command("message.send", client_id="1", content=TEXT))["type"] == "ack"
        assigned = await ayse.expect("conversation.assigned")
        assert assigned["conversation"]["channel"] == "inapp"
        # what the app cannot show is refused before it is queued
        template = {"kind": "template", "name": "promo", "language": "tr"}
        refused = await ayse.command("message.send", conversation_id=assigned["conversation_id"],
                                     content=template)  # fmt: skip
        assert (refused["type"], refused["code"]) == ("error", "invalid_content")
        answers = [await app.command("message.send", client_id=f"f{i}", content=TEXT)
                   for i in range(20)]  # fmt: skip
        assert [a["type"] for a in answers] == ["ack"] * 19 + ["error"]
        assert answers[-1]["code"] == "rate_limited"
        nursery.cancel_scope.cancel()


async def test_unknown_accounts_are_refused_at_the_handshake(server: Server) -> None:
    for path in ("/ws/webchat/nobody", "/ws/webchat/demo-whatsapp"):
        async with httpx.AsyncClient(base_url=server.url) as fresh:
            answer = await fresh.get(path, headers=UPGRADE)
        assert answer.status_code == 404, path
    assert (await server.http.get("/webchat/nobody")).status_code == 404
    page = await server.http.get(f"/webchat/{ACCOUNT}")
    assert page.status_code == 200
    assert "/webchat/widget.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    script = await server.http.get("/webchat/widget.js")
    assert (script.status_code, script.headers["content-type"].split(";")[0]) == (
        200, "text/javascript",
    )  # fmt: skip
    assert "SwitchboardChat" in script.text
    # no webhooks for this channel: refused, not a server error
    webhook = await server.http.post(f"/webhooks/webchat/{ACCOUNT}", content=b"{}")
    assert 400 <= webhook.status_code < 500


async def test_bad_frames_get_errors_and_the_socket_lives_on(server: Server) -> None:
    async with trio.open_nursery() as nursery:
        tab = await _customer(server, nursery)
        early = await tab.command("message.send", client_id="a", content=TEXT)
        assert (early["type"], early["code"]) == ("error", "hello_first")
        await tab.ws.send_message("{not json")
        assert (await tab.expect("error"))["code"] == "bad_frame"
        assert (await tab.command("teleport"))["code"] == "unknown_type"
        assert (await tab.command("hello", email="not an address"))["code"] == "invalid_field"
        assert (await tab.command("hello", resume=5))["code"] == "invalid_field"
        # an unknown or expired token is a new session, not an error
        welcome = await tab.command("hello", resume="wct_forged", phone="+90 532 111 22 33")
        assert (welcome["type"], welcome["resumed"]) == ("welcome", False)
        assert (await tab.command("hello"))["code"] == "already_greeted"
        bad = [
            ({"content": TEXT}, "missing_field"),
            ({"client_id": "b", "content": "hi"}, "invalid_content"),
            ({"client_id": "b", "content": {"kind": "hologram"}}, "invalid_content"),
            ({"client_id": "b", "content": {"kind": "text", "body": "  "}}, "invalid_content"),
            ({"client_id": "b", "content": {"kind": "template", "name": "x", "language": "tr"}},
             "invalid_content"),
            ({"client_id": "b", "content": {"kind": "image", "url": "https://evil.example/x.png"}},
             "invalid_content"),
            ({"client_id": "b", "content": {"kind": "image", "media_id": "wcu_" + "A" * 22}},
             "unknown_upload"),
            ({"client_id": "x" * 101, "content": TEXT}, "invalid_field"),
        ]  # fmt: skip
        for fields, code in bad:
            answer = await tab.command("message.send", **fields)
            assert (answer["type"], answer["code"]) == ("error", code), fields
        assert (await tab.command("typing", on="yes"))["code"] == "invalid_field"
        assert (await tab.command("typing", on=True))["result"] == {"forwarded": 0}
        assert (await tab.command("ping"))["result"] == {"pong": True}
        nursery.cancel_scope.cancel()


async def test_attachments_are_uploaded_to_disk_and_reach_the_agent(server: Server) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 1000
    async with trio.open_nursery() as nursery:
        zeynep = await _agent(server, "demo-zeynep", nursery)
        tab = await _customer(server, nursery)
        token = (await tab.command("hello"))["session"]["token"]
        uploads = f"/webchat/{ACCOUNT}/uploads"
        files = {"file": ("photo.jpg", jpeg, "image/jpeg")}
        refused = await server.http.post(uploads, files=files)
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "bad_session")
        session = {"X-Webchat-Session": token}
        too_big = {"file": ("big.bin", b"x" * 70_000, "application/octet-stream")}
        large = await server.http.post(uploads, files=too_big, headers=session)
        assert large.status_code == 413
        answer = await server.http.post(uploads, files=files, headers=session)
        assert answer.status_code == 201, answer.text
        assert answer.headers["access-control-allow-origin"] == "*"
        content = answer.json()["content"]
        media_id = content["media_id"]
        assert (content["kind"], content["mime_type"]) == ("image", "image/jpeg")
        assert (server.data_dir / "webchat" / "uploads" / media_id).read_bytes() == jpeg

        sent = await tab.command("message.send", client_id="p1",
                                 content={**content, "caption": "kırık geldi"})  # fmt: skip
        assert sent["type"] == "ack"
        cid = (await zeynep.expect("conversation.assigned"))["conversation_id"]
        got = (await zeynep.expect("conversation.message"))["message"]["content"]
        assert (got["kind"], got["media_id"], got["caption"]) == ("image", media_id, "kırık geldi")

        # the agent streams it through the REST media route; the customer through theirs
        media = await server.http.get(f"/api/v1/conversations/{cid}/media/{media_id}",
                                      headers={"Authorization": "Bearer demo-zeynep"})  # fmt: skip
        assert (media.status_code, media.content) == (200, jpeg)
        own = await server.http.get(f"{uploads}/{media_id}", headers=session)
        assert (own.status_code, own.content) == (200, jpeg)
        assert own.headers["x-content-type-options"] == "nosniff"
        # nobody else may send or read it
        other = await _customer(server, nursery)
        other_token = (await other.command("hello"))["session"]["token"]
        stolen = await other.command("message.send", client_id="s", content=content)
        assert stolen["code"] == "unknown_upload"
        peek = await server.http.get(f"{uploads}/{media_id}",
                                     headers={"X-Webchat-Session": other_token})  # fmt: skip
        assert peek.status_code == 404
        garbage = await server.http.post(uploads, content=b"--x\r\nnonsense", headers={
            **session, "Content-Type": "multipart/form-data; boundary=x"})  # fmt: skip
        assert garbage.status_code == 400, garbage.text
        empty = await server.http.post(uploads, content=b"", headers=session)
        assert (empty.status_code, empty.json()["error"]["code"]) == (400, "missing_file")
        nursery.cancel_scope.cancel()


# -- the pure protocol helpers ---------------------------------------------------------------


def test_hello_is_normalized_and_identities_need_a_signature_when_the_account_asks() -> None:
    hello = read_hello({"name": " Ada ", "email": "Ada@Example.COM", "phone": "0532 111 22 33"},
                       {"default_region": "tr"})  # fmt: skip
    assert hello == Hello(None, "Ada", "ada@example.com", "+905321112233")
    assert identities(hello, {}) == (("email", "ada@example.com"), ("phone", "+905321112233"))
    secret = {"identity_secret": "s3cret"}
    assert identities(hello, secret) == ()
    signed = Hello(None, "Ada", hello.email, hello.phone,
                   identity_hash("s3cret", hello.email, hello.phone))  # fmt: skip
    assert identities(signed, secret) == identities(hello, {})
    with pytest.raises(FrameError, match="phone"):
        read_hello({"phone": "12"}, {})


def test_customer_content_allows_what_a_chat_can_send() -> None:
    assert customer_content(TEXT) == Text(TEXT["body"])
    reply = {"kind": "interactive", "type": "button_reply", "id": "yes", "title": "Evet"}
    assert customer_content(reply).to_wire() == {**reply, "from_template": False}
    for bad in ({"kind": "sticker", "media_id": "1"}, {"kind": "text", "body": "x" * 4097}):
        with pytest.raises(FrameError):
            customer_content(bad)


def test_transcript_shows_messages_only_with_agent_names() -> None:
    entries = [
        {"type": "assigned", "agent_id": "ayse"},
        {"type": "message", "direction": "in", "provider_message_id": "wc_1:c1", "timestamp": 1.0,
         "content": TEXT},
        {"type": "message", "direction": "out", "message_id": "msg_1", "agent_id": "ayse",
         "at": 2.0, "content": {"kind": "text", "body": "ok"}, "status": "pending"},
        {"type": "delivery", "message_id": "msg_1", "status": "sent"},
    ]  # fmt: skip
    assert transcript_messages(entries, str.title) == [
        {"message_id": "wc_1:c1", "client_id": "c1", "direction": "in", "content": TEXT, "at": 1.0},
        {"message_id": "msg_1", "direction": "out", "content": {"kind": "text", "body": "ok"},
         "at": 2.0, "agent": "Ayse"},
    ]  # fmt: skip


class _Socket:
    def __init__(self, room: int) -> None:
        self.frames: list[Any] = []
        self.room = room

    def offer(self, frame: Any) -> bool:
        if len(self.frames) >= self.room:
            return False
        self.frames.append(frame)
        return True


async def test_the_adapter_pushes_to_every_open_socket_and_refuses_webhooks() -> None:
    sessions = LiveSessions()
    adapter = WebchatAdapter(sessions, clock=lambda: 5.0)
    tabs = [_Socket(1), _Socket(0)]
    for tab in tabs:
        sessions.attach("wc_1", tab)
    item = OutboundItem("msg_9", "wc_1", Text("selam"))
    async with httpx.AsyncClient() as http:
        assert await adapter.send(item, {}, http) == "msg_9"
        assert await adapter.send(OutboundItem("msg_10", "wc_gone", Text("?")), {}, http)
    wire = Text("selam").to_wire()
    assert tabs[0].frames == [
        {"type": "message", "message_id": "msg_9", "direction": "out", "content": wire, "at": 5.0}
    ]
    for tab in tabs:
        sessions.detach("wc_1", tab)
    assert len(sessions) == 0
    for call in (adapter.verify, adapter.parse):
        with pytest.raises(WebhookError):
            call(b"{}", {}, {})  # type: ignore[arg-type]
        with pytest.raises(SignatureError):
            call(b"{}", {}, {})  # type: ignore[arg-type]
    adapter.check(OutboundItem("m", "wc_1", Text("ok")), 0)
    for refused in (Text("x" * 5000), Template(name="promo", language="tr")):
        with pytest.raises(ContentError):
            adapter.check(OutboundItem("m", "wc_1", refused), 0)
