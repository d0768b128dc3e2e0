"""Every channel's webhook through the real server: accepted once, refused when forged.

For each channel account: a signed customer message is answered 200 and reaches an
agent's websocket; the provider's retry of it is answered 200 and records nothing new; a
forged signature is answered 401 and records nothing (the genuine one sent afterwards is
still new).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial

import httpx
import pytest
import trio

from actors.routing.model import Channel
from adapters.email.signing import sign as mailgun_sign
from adapters.meta import sign as meta_sign
from server.app import serve
from server.catalog import Account, Catalog, demo_objects, seed
from storage.store import Storage
from switchboard.config import load_config
from tests.support.agent_socket import agent_socket, next_frame

Request = tuple[bytes, dict[str, str]]


@dataclass(frozen=True)
class Case:
    channel: Channel
    settings: dict[str, str]
    #: (message id, forged?) -> body and headers of one customer message
    build: Callable[[str, bool], Request]


def _meta(kind: str) -> Callable[[str, bool], Request]:
    def build(mid: str, forged: bool) -> Request:
        body = json.dumps({
            "object": kind,
            "entry": [{"id": "PAGE", "time": 1763900000000, "messaging": [{
                "sender": {"id": f"{kind}-user-1"}, "recipient": {"id": "PAGE"},
                "timestamp": 1763900000000,
                "message": {"mid": mid, "text": "merhaba"},
            }]}],
        }).encode()  # fmt: skip
        secret = b"wrong" if forged else b"meta-secret"
        return body, {"X-Hub-Signature-256": meta_sign(secret, body),
                      "Content-Type": "application/json"}  # fmt: skip

    return build


#: one signing time for the whole run: a provider's retry repeats the exact same POST
_SIGNED_AT = str(int(time.time()))


def _email(mid: str, forged: bool) -> Request:
    timestamp, token = _SIGNED_AT, f"token-{mid}-{forged}"
    fields = {
        "sender": "ada@example.com",
        "from": "Ada Yılmaz <ada@example.com>",
        "recipient": "support@example.com",
        "subject": "Siparişim",
        "body-plain": "Merhaba, siparişim nerede?",
        "stripped-text": "Merhaba, siparişim nerede?",
        "Message-Id": f"<{mid}@example.com>",
        "timestamp": timestamp,
        "token": token,
        "signature": mailgun_sign("wrong" if forged else "mail-key", timestamp, token),
    }
    body = urllib.parse.urlencode(fields).encode()
    return body, {"Content-Type": "application/x-www-form-urlencoded"}


def _telegram(mid: str, forged: bool) -> Request:
    number = int(hashlib.sha256(mid.encode()).hexdigest()[:6], 16)
    body = json.dumps({
        "update_id": number,
        "message": {
            "message_id": number, "date": 1763900000, "text": "merhaba",
            "from": {"id": 4242, "is_bot": False, "first_name": "Ada"},
            "chat": {"id": 4242, "type": "private", "first_name": "Ada"},
        },
    }).encode()  # fmt: skip
    secret = "wrong" if forged else "tg-secret"
    return body, {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}


def _viber(mid: str, forged: bool) -> Request:
    token = int(hashlib.sha256(mid.encode()).hexdigest()[:12], 16)
    body = json.dumps({
        "event": "message", "timestamp": 1763900000000, "message_token": token,
        "sender": {"id": "viber-user-1", "name": "Ada"},
        "message": {"type": "text", "text": "merhaba"},
    }).encode()  # fmt: skip
    key = b"wrong" if forged else b"viber-token"
    signature = hmac.new(key, body, hashlib.sha256).hexdigest()
    return body, {"X-Viber-Content-Signature": signature, "Content-Type": "application/json"}


CASES = [
    Case(Channel.MESSENGER, {"app_secret": "meta-secret"}, _meta("page")),
    Case(Channel.INSTAGRAM, {"app_secret": "meta-secret"}, _meta("instagram")),
    Case(Channel.EMAIL, {"signing_key": "mail-key"}, _email),
    Case(Channel.TELEGRAM, {"secret_token": "tg-secret", "bot_token": "1:x"}, _telegram),
    Case(Channel.VIBER, {"auth_token": "viber-token", "sender_name": "Demo"}, _viber),
]


@dataclass
class Server:
    url: str
    http: httpx.AsyncClient


@pytest.fixture
async def server(redis_url: str) -> AsyncIterator[Server]:
    storage = Storage(redis_url)
    catalog = Catalog(storage)
    seed(catalog, demo_objects())
    for case in CASES:
        account_id = f"demo-{case.channel.value}"
        catalog.put_account(Account(account_id, "demo", case.channel, "demo-support",
                                    settings=case.settings))  # fmt: skip
    storage.close()
    config = load_config(env={}, overrides={"server.port": 0, "server.redis_url": redis_url})
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        [url] = await nursery.start(partial(serve, config, shutdown_trigger=stop.wait))
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            yield Server(url, http)
        stop.set()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.channel.value)
async def test_a_channel_s_webhook_is_taken_once_and_refused_when_forged(
    server: Server, case: Case
) -> None:
    path = f"/webhooks/{case.channel.value}/demo-{case.channel.value}"
    async with trio.open_nursery() as nursery:
        ws = await nursery.start(agent_socket, server.url)
        await next_frame(ws, "hello")
        await ws.send_message(json.dumps({"type": "status.set", "status": "online"}))

        forged_body, forged_headers = case.build("m-1", True)
        forged = await server.http.post(path, content=forged_body, headers=forged_headers)
        assert forged.status_code == 401, forged.text

        body, headers = case.build("m-1", False)
        first = await server.http.post(path, content=body, headers=headers)
        assert first.status_code == 200, first.text
        assigned = await next_frame(ws, "conversation.assigned")
        assert assigned["conversation"]["channel"] == case.channel.value
        message = await next_frame(ws, "conversation.message")
        assert message["message"]["direction"] == "in"

        retry_body, retry_headers = case.build("m-1", False)
        retried = await server.http.post(path, content=retry_body, headers=retry_headers)
        assert retried.status_code == 200
        assert retried.json() == {"accepted": 0, "duplicates": 1}
        nursery.cancel_scope.cancel()


async def test_a_signed_voice_call_is_recorded_and_a_forged_one_refused(server: Server) -> None:
    token = (await server.http.post(
        "/api/v1/accounts",
        json={"id": "demo-voice", "channel": "voice", "queue_id": "demo-support",
              "settings": {"signing_secret": "voice-secret"}},
        headers={"Authorization": "Bearer demo-admin"},
    )).status_code  # fmt: skip
    assert token == 201
    call = json.dumps({"event": "call.started", "call_id": "c-1",
                       "customer": {"phone": "+905321112233"},
                       "agent_id": "ayse"}).encode()  # fmt: skip
    good = "sha256=" + hmac.new(b"voice-secret", call, hashlib.sha256).hexdigest()
    for signature, status in (("sha256=" + "0" * 64, 401), (good, 200)):
        answer = await server.http.post("/webhooks/voice/demo-voice", content=call,
                                        headers={"X-Switchboard-Signature": signature})  # fmt: skip
        assert answer.status_code == status, answer.text
    bad_phone = json.dumps({"event": "call.started", "call_id": "c-2",
                            "customer": {"phone": "not a number"},
                            "agent_id": "ayse"}).encode()  # fmt: skip
    signed = "sha256=" + hmac.new(b"voice-secret", bad_phone, hashlib.sha256).hexdigest()
    refused = await server.http.post("/webhooks/voice/demo-voice", content=bad_phone,
                                     headers={"X-Switchboard-Signature": signed})  # fmt: skip
    assert refused.status_code == 400
    assert "phone" in refused.json()["error"]["message"]
