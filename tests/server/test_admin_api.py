"""The administration API over real sockets: CRUD with its live effects, roles, login, OpenAPI."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import httpx
import openapi_spec_validator
import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from actors.routing.model import QueueConfig
from adapters.meta import sign
from server.app import create_app, serve
from server.services import start_services, stop_services
from switchboard.config import Config, load_config
from tests.support.whatsapp import text_webhook

ADMIN, SUPERVISOR, AYSE = "demo-admin", "demo-supervisor", "demo-ayse"


class Api:
    """An HTTP client of one running server; ``call`` speaks as the given token."""

    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self.url = url
        self.http = http

    async def call(
        self, token: str | None, method: str, path: str, body: Any = None
    ) -> httpx.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        content = None if body is None else json.dumps(body).encode()
        return await self.http.request(method, f"/api/v1{path}", headers=headers, content=content)

    async def ok(self, token: str | None, method: str, path: str, body: Any = None) -> Any:
        answer = await self.call(token, method, path, body)
        assert answer.status_code in (200, 201, 204), answer.text
        return answer.json() if answer.content else None


def _config(redis_url: str) -> Config:
    return load_config(
        env={},
        overrides={
            "server.port": 0,
            "server.redis_url": redis_url,
            "routing.disconnect_grace_s": 30.0,
        },
    )


@asynccontextmanager
async def running(redis_url: str, *, demo: bool = True) -> AsyncIterator[Api]:
    """A server on ``redis_url`` until the block ends (then stopped: a restart starts anew)."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        serving = partial(serve, _config(redis_url), demo=demo, shutdown_trigger=stop.wait)
        [url] = await nursery.start(serving)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            yield Api(url, http)
        stop.set()


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    async with running(redis_url) as api:
        yield api


def _error(answer: httpx.Response) -> tuple[int, str, str]:
    error = answer.json()["error"]
    return answer.status_code, error["code"], error["message"]


# -- the document -----------------------------------------------------------------------------


async def test_the_openapi_document_names_every_api_route_and_is_valid(redis_url: str) -> None:
    config = _config(redis_url)
    services = await trio.to_thread.run_sync(partial(start_services, config, demo=True))
    try:
        app = create_app(config, services)
        answer = await app.test_client().get("/api/v1/openapi.json")  # no token needed
        document = await answer.get_json()
        routes = {
            (
                re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1")),
                method.lower(),
            )
            for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/api/v1/")
            for method in rule.methods or ()
            if method not in ("HEAD", "OPTIONS")
        }
    finally:
        await trio.to_thread.run_sync(stop_services, services)
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert routes == documented
    for path in (
        "/conversations",
        "/conversations/{conversation_id}/messages",
        "/live",
        "/customers/{customer_id}/conversations",
        "/agents/{agent_id}",
        "/login",
    ):
        assert path in document["paths"]
    filters = {p["name"] for p in document["paths"]["/conversations"]["get"]["parameters"]}
    assert {"status", "queue", "agent", "topic", "channel", "customer", "since", "until"} <= filters
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    openapi_spec_validator.validate(document)


# -- validation -------------------------------------------------------------------------------

CHANNELS = "whatsapp, messenger, instagram, telegram, viber, webchat, inapp, email, voice"


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/agents",
            {"id": "x", "capacity": {"total": 0}},
            "capacity.total: must be a positive integer",
        ),
        (
            "/agents",
            {"id": "x", "capacity": {"total": 2, "per_channel": {"fax": 1}}},
            f"capacity.per_channel.fax: must be one of {CHANNELS}",
        ),
        (
            "/agents",
            {"id": "x", "capacity": {"total": 2, "extra": 1}},
            "capacity.extra: unknown field (expected total, per_channel)",
        ),
        ("/agents", {"id": "x", "queues": ["demo-sales", "nope"]}, "queues[1]: no queue 'nope'"),
        (
            "/agents",
            {"id": "x", "queues": ["demo-sales", "demo-sales"]},
            "queues[1]: 'demo-sales' is listed twice",
        ),
        (
            "/agents",
            {"id": "x", "skils": {"tr": 3}},
            "skils: unknown field (expected id, name, queues, skills, capacity)",
        ),
        ("/agents", {"id": "x", "skills": {"tr": -1}}, "skills.tr: must be an integer ≥ 0"),
        ("/agents", {"name": "Nobody"}, "id: is required"),
        (
            "/agents",
            {"id": "no spaces"},
            "id: must be letters, digits, '.', '_' or '-', starting with a letter or digit",
        ),
        (
            "/queues",
            {"id": "q", "strategy": "random"},
            "strategy: must be one of longest_idle, least_busy, round_robin, skills",
        ),
        ("/queues", {"id": "q", "offer_timeout": 0}, "offer_timeout: must be a number > 0"),
        ("/queues", {"id": "q", "park_timeout": True}, "park_timeout: must be a number > 0"),
        ("/queues", {"id": "q", "affinity_wait": "30"}, "affinity_wait: must be a number ≥ 0"),
        (
            "/queues",
            {"id": "q", "post_park": "flow"},
            'post_park_flow: is required when post_park is "flow"',
        ),
        (
            "/queues",
            {"id": "q", "sla": {"resolved": {"bad": 1, "unsatisfactory": 2}}},
            "sla.resolved: must be one of flow, queued, in_work, awaiting_customer, parked, "
            "in_development, solution_proposed",
        ),
        (
            "/queues",
            {"id": "q", "sla": {"queued": {"bad": 60}}},
            "sla.queued.unsatisfactory: is required",
        ),
        (
            "/queues",
            {"id": "q", "sla": {"queued": {"bad": 60, "unsatisfactory": 30}}},
            "sla.queued.unsatisfactory: must not be less than bad",
        ),
        (
            "/accounts",
            {"id": "a", "channel": "fax", "queue_id": "demo-sales"},
            f"channel: must be one of {CHANNELS}",
        ),
        (
            "/accounts",
            {"id": "a", "channel": "whatsapp", "queue_id": "gone"},
            "queue_id: no queue 'gone'",
        ),
        (
            "/accounts",
            {"id": "a", "channel": "whatsapp", "queue_id": "demo-sales", "secrets": []},
            "secrets: is read-only",
        ),
        (
            "/accounts",
            {
                "id": "a",
                "channel": "whatsapp",
                "queue_id": "demo-sales",
                "settings": {"app_secret": 5},
            },
            "settings.app_secret: must be a string",
        ),
        ("/topics", {"name": ""}, "name: must not be empty"),
        ("/canned-replies", {"title": "Hi", "content": {"kind": "text"}}, "content.body: missing"),
        (
            "/canned-replies",
            {"title": "Hi", "content": {"kind": "hologram"}},
            "content.kind: unknown kind 'hologram'",
        ),
        (
            "/canned-replies",
            {"title": "Hi", "content": {"kind": "text", "body": "x"}, "queue_id": "gone"},
            "queue_id: no queue 'gone'",
        ),
        ("/users", {"id": "u", "role": "agent"}, "role: must be one of admin, supervisor"),
        (
            "/users",
            {"id": "u", "role": "admin", "email": "nope"},
            "email: must be an e-mail address",
        ),
        ("/users", ["not", "an", "object"], "must be a JSON object"),
    ],
)
async def test_bad_bodies_get_a_400_naming_the_field(
    api: Api, path: str, body: Any, message: str
) -> None:
    answer = await api.call(ADMIN, "POST", path, body)
    status, code, got = _error(answer)
    assert (status, code) == (400, "invalid_field")
    assert re.fullmatch(re.escape(message) + r"( \(.*\))?", got), got  # "(expected ...)" may follow
    # nothing was created on the way
    listed = await api.ok(ADMIN, "GET", path)
    assert all(o["id"] not in ("x", "q", "a", "u") for o in next(iter(listed.values())))


async def test_a_body_that_is_not_json_is_refused(api: Api) -> None:
    answer = await api.http.post(
        "/api/v1/topics", content=b"{nope", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert _error(answer)[:2] == (400, "invalid_json")


# -- roles ------------------------------------------------------------------------------------

TOPIC = {"name": "Billing"}
REPLY = {"title": "Hello", "content": {"kind": "text", "body": "Merhaba!"}}


@pytest.mark.parametrize(
    ("token", "method", "path", "body", "status"),
    [
        (None, "GET", "/topics", None, 401),
        ("wrong", "GET", "/topics", None, 401),
        (AYSE, "GET", "/topics", None, 200),
        (AYSE, "GET", "/canned-replies?queue_id=demo-sales", None, 200),
        (AYSE, "POST", "/topics", TOPIC, 403),
        (AYSE, "POST", "/canned-replies", REPLY, 403),
        (AYSE, "GET", "/agents", None, 403),
        (AYSE, "GET", "/queues/demo-sales", None, 403),
        (AYSE, "GET", "/users", None, 403),
        (AYSE, "GET", "/me", None, 200),
        (SUPERVISOR, "GET", "/agents", None, 200),
        (SUPERVISOR, "GET", "/queues", None, 200),
        (SUPERVISOR, "GET", "/accounts", None, 200),
        (SUPERVISOR, "GET", "/users", None, 200),
        (SUPERVISOR, "POST", "/topics", TOPIC, 201),
        (SUPERVISOR, "POST", "/canned-replies", REPLY, 201),
        (SUPERVISOR, "POST", "/queues", {"id": "q2"}, 403),
        (SUPERVISOR, "PATCH", "/agents/ayse", {"name": "A"}, 403),
        (SUPERVISOR, "DELETE", "/accounts/demo-whatsapp", None, 403),
        (SUPERVISOR, "POST", "/agents/ayse/tokens", None, 403),
        (SUPERVISOR, "PUT", "/users/admin/password", {"password": "long enough"}, 403),
        (ADMIN, "POST", "/queues", {"id": "q2"}, 201),
        (None, "GET", "/openapi.json", None, 200),
    ],
)
async def test_roles(
    api: Api, token: str | None, method: str, path: str, body: Any, status: int
) -> None:
    answer = await api.call(token, method, path, body)
    assert answer.status_code == status, answer.text
    if status >= 400:
        assert answer.json()["error"]["code"] in ("unauthorized", "forbidden")


# -- CRUD and its live effects ------------------------------------------------------------------


_webhook = text_webhook


async def post_webhook(api: Api, account: str, secret: str, body: dict[str, Any]) -> int:
    raw = json.dumps(body).encode()
    answer = await api.http.post(
        f"/webhooks/whatsapp/{account}",
        content=raw,
        headers={
            "X-Hub-Signature-256": sign(secret.encode(), raw),
            "Content-Type": "application/json",
        },
    )
    return answer.status_code


async def _open(url: str, *, task_status: trio.TaskStatus[WebSocketConnection]) -> None:
    async with open_websocket_url(url) as ws:
        task_status.started(ws)
        await trio.sleep_forever()


async def expect(ws: WebSocketConnection, kind: str) -> dict[str, Any]:
    with trio.fail_after(5):
        while True:
            frame: dict[str, Any] = json.loads(await ws.get_message())
            if frame["type"] == kind:
                return frame


async def online(api: Api, token: str, nursery: trio.Nursery) -> WebSocketConnection:
    ws: WebSocketConnection = await nursery.start(
        _open, f"{api.url.replace('http://', 'ws://')}/ws/agent?token={token}"
    )
    await expect(ws, "hello")
    await ws.send_message(json.dumps({"type": "status.set", "status": "online", "ref": 1}))
    await expect(ws, "ack")
    return ws


async def test_created_queue_account_and_agent_route_a_chat_at_once(api: Api) -> None:
    queue = await api.ok(ADMIN, "POST", "/queues", {"id": "vip", "strategy": "least_busy"})
    assert queue["strategy"] == "least_busy"
    assert queue["offer_timeout"] == 5.0  # defaults filled in
    created = await api.ok(
        ADMIN,
        "POST",
        "/agents",
        {
            "id": "deniz",
            "name": "Deniz",
            "queues": ["vip"],
            "skills": {"tr": 5},
            "capacity": {"total": 2, "per_channel": {"whatsapp": 1}},
        },
    )
    token = created.pop("token")
    assert created == {
        "id": "deniz",
        "name": "Deniz",
        "queues": ["vip"],
        "skills": {"tr": 5},
        "capacity": {"total": 2, "per_channel": {"whatsapp": 1}},
    }
    assert await api.ok(ADMIN, "GET", "/agents/deniz") == created
    assert (await api.ok(token, "GET", "/me"))["role"] == "agent"
    account = await api.ok(
        ADMIN,
        "POST",
        "/accounts",
        {
            "id": "vip-whatsapp",
            "channel": "whatsapp",
            "queue_id": "vip",
            "name": "VIP line",
            "settings": {"app_secret": "vip-secret", "phone_number_id": "1001"},
        },
    )
    assert account["settings"] == {"phone_number_id": "1001"}
    assert account["secrets"] == ["app_secret"]

    async with trio.open_nursery() as nursery:
        ws = await online(api, token, nursery)
        assert await post_webhook(api, "vip-whatsapp", "vip-secret", _webhook("VIP", "w1")) == 200
        assigned = await expect(ws, "conversation.assigned")
        assert assigned["conversation"]["queue_id"] == "vip"
        nursery.cancel_scope.cancel()

    live = await api.ok(SUPERVISOR, "GET", "/live")
    deniz = next(a for a in live["agents"] if a["agent_id"] == "deniz")
    assert deniz["queues"] == ["vip"]
    assert len(deniz["active"]) == 1


async def test_changes_reach_the_live_agent_and_queue(api: Api) -> None:
    patched = await api.ok(
        ADMIN, "PATCH", "/agents/zeynep", {"capacity": {"total": 7}, "queues": ["demo-sales"]}
    )
    assert patched["capacity"] == {"total": 7, "per_channel": {}}
    assert patched["name"] == "Zeynep"  # untouched by the patch
    live = await api.ok(SUPERVISOR, "GET", "/live")
    zeynep = next(a for a in live["agents"] if a["agent_id"] == "zeynep")
    assert (zeynep["capacity"], zeynep["queues"]) == (7, ["demo-sales"])

    await api.ok(ADMIN, "PATCH", "/queues/demo-sales", {"default_handle_time": 60})
    queue = await api.ok(SUPERVISOR, "GET", "/queues/demo-sales")
    assert queue["default_handle_time"] == 60.0


async def test_a_changed_queue_applies_to_its_conversations_at_once(api: Api) -> None:
    norms = {"queued": {"bad": 0.05, "unsatisfactory": 0.1}}
    queue = await api.ok(ADMIN, "PATCH", "/queues/demo-support", {"sla": norms})
    assert queue["sla"] == norms
    # nobody is online: the chat waits, and the new norms raise both alert levels
    assert await post_webhook(api, "demo-whatsapp", "demo-app-secret", _webhook("?", "ws1")) == 200
    with trio.fail_after(5):
        while True:
            page = await api.ok(SUPERVISOR, "GET", "/conversations")
            if page["total"]:
                cid = page["conversations"][0]["conversation_id"]
                log = await api.ok(SUPERVISOR, "GET", f"/conversations/{cid}/messages")
                levels = [e["level"] for e in log["entries"] if e["type"] == "sla"]
                if levels == ["bad", "unsatisfactory"]:
                    break
            await trio.sleep(0.02)


async def test_a_queue_shows_every_routing_setting(api: Api) -> None:
    queue = await api.ok(SUPERVISOR, "GET", "/queues/demo-sales")
    settings = {f.name for f in dataclasses.fields(QueueConfig)} - {"queue_id", "workspace"}
    assert set(queue) == settings | {"id"}


async def test_put_replaces_and_patch_keeps_what_it_does_not_name(api: Api) -> None:
    await api.ok(
        ADMIN, "PATCH", "/queues/demo-sales", {"strategy": "round_robin", "affinity_wait": 5}
    )
    kept = await api.ok(ADMIN, "PATCH", "/queues/demo-sales", {"offer_timeout": 9})
    assert (kept["strategy"], kept["affinity_wait"], kept["offer_timeout"]) == (
        "round_robin",
        5.0,
        9.0,
    )
    reset = await api.ok(ADMIN, "PUT", "/queues/demo-sales", {"offer_timeout": 3})
    assert (reset["strategy"], reset["affinity_wait"], reset["offer_timeout"]) == (
        "longest_idle",
        30.0,
        3.0,
    )
    moved = await api.call(ADMIN, "PUT", "/queues/demo-sales", {"id": "other"})
    assert _error(moved)[:2] == (400, "invalid_field")
    missing = await api.call(ADMIN, "PATCH", "/queues/nope", {"offer_timeout": 3})
    assert _error(missing)[:2] == (404, "not_found")


async def test_account_secrets_are_write_only_and_patch_merges_them(api: Api) -> None:
    shown = await api.ok(SUPERVISOR, "GET", "/accounts/demo-whatsapp")
    assert "demo-app-secret" not in json.dumps(shown)
    assert shown["secrets"] == ["access_token", "app_secret", "verify_token"]
    assert set(shown["settings"]) == {"api_base_url", "phone_number_id"}
    renamed = await api.ok(
        ADMIN,
        "PATCH",
        "/accounts/demo-whatsapp",
        {"name": "Support line", "settings": {"verify_token": None}},
    )
    assert renamed["secrets"] == ["access_token", "app_secret"]
    # the secret not named in the patch still signs webhooks
    ok = await post_webhook(api, "demo-whatsapp", "demo-app-secret", _webhook("hi", "wx1"))
    assert ok == 200
    await api.ok(ADMIN, "PATCH", "/accounts/demo-whatsapp", {"settings": {"app_secret": "rotated"}})
    old = await post_webhook(api, "demo-whatsapp", "demo-app-secret", _webhook("hi", "wx2"))
    new = await post_webhook(api, "demo-whatsapp", "rotated", _webhook("hi", "wx3"))
    assert (old, new) == (401, 200)
    await api.ok(ADMIN, "DELETE", "/accounts/demo-whatsapp")
    gone = await post_webhook(api, "demo-whatsapp", "rotated", _webhook("hi", "wx4"))
    assert gone == 404


async def test_topics_and_canned_replies(api: Api) -> None:
    billing = await api.ok(SUPERVISOR, "POST", "/topics", {"name": "Billing"})
    assert billing["id"].startswith("topic_") and billing["active"] is True
    twin = await api.call(SUPERVISOR, "POST", "/topics", {"name": "billing"})
    assert _error(twin)[:2] == (409, "name_taken")
    await api.ok(SUPERVISOR, "POST", "/topics", {"id": "old", "name": "Old", "active": False})
    active = await api.ok(AYSE, "GET", "/topics?active=true")
    assert [t["name"] for t in active["topics"]] == ["Billing"]

    hello = {"kind": "text", "body": "Merhaba!"}
    for reply in (
        {"id": "hi", "title": "Hi", "content": hello, "shortcut": "/hi"},
        {"id": "sales", "title": "Prices", "content": hello, "queue_id": "demo-sales"},
        {"id": "support", "title": "Ticket", "content": hello, "queue_id": "demo-support"},
    ):
        await api.ok(SUPERVISOR, "POST", "/canned-replies", reply)
    sales = await api.ok(AYSE, "GET", "/canned-replies?queue_id=demo-sales")
    assert [r["id"] for r in sales["canned_replies"]] == ["hi", "sales"]
    assert sales["canned_replies"][0]["content"] == {
        "kind": "text",
        "body": "Merhaba!",
        "preview_url": False,
    }
    every = await api.ok(AYSE, "GET", "/canned-replies")
    assert len(every["canned_replies"]) == 3
    unknown = await api.call(AYSE, "GET", "/canned-replies?queue_id=nope")
    assert unknown.status_code == 404
    clash = await api.call(
        SUPERVISOR, "POST", "/canned-replies", {"title": "Hey", "content": hello, "shortcut": "/hi"}
    )
    assert _error(clash)[:2] == (409, "shortcut_taken")
    await api.ok(SUPERVISOR, "DELETE", "/canned-replies/hi")
    assert (await api.call(AYSE, "GET", "/canned-replies/hi")).status_code == 404


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/queues", {"id": "demo-sales"}),
        ("/agents", {"id": "ayse"}),
        ("/agents", {"id": "admin"}),  # a user's id: an agent's user would share it
        ("/users", {"id": "mehmet", "role": "supervisor"}),
        ("/accounts", {"id": "demo-whatsapp", "channel": "whatsapp", "queue_id": "demo-sales"}),
        ("/topics", {"id": "t1", "name": "Second"}),
    ],
)
async def test_creating_an_id_that_exists_is_a_conflict(
    api: Api, path: str, body: dict[str, Any]
) -> None:
    await api.ok(ADMIN, "POST", "/topics", {"id": "t1", "name": "First"})
    answer = await api.call(ADMIN, "POST", path, body)
    assert _error(answer)[:2] == (409, "id_taken")


async def test_what_is_in_use_cannot_be_deleted(api: Api) -> None:
    status, code, message = _error(await api.call(ADMIN, "DELETE", "/queues/demo-support"))
    assert (status, code) == (409, "in_use")
    assert message == (
        "queue demo-support is still used by agents ayse, mehmet, zeynep; accounts demo-whatsapp"
    )

    async with trio.open_nursery() as nursery:
        ws = await online(api, AYSE, nursery)
        await post_webhook(api, "demo-whatsapp", "demo-app-secret", _webhook("selam", "wd1"))
        cid = (await expect(ws, "conversation.assigned"))["conversation_id"]
        status, code, message = _error(await api.call(ADMIN, "DELETE", "/agents/ayse"))
        assert (status, code) == (409, "in_use")
        assert cid in message
        nursery.cancel_scope.cancel()

    # an agent without chats goes, with its user and token
    await api.ok(ADMIN, "DELETE", "/agents/zeynep")
    assert (await api.call(ADMIN, "GET", "/agents/zeynep")).status_code == 404
    assert (await api.call(ADMIN, "GET", "/users/zeynep")).status_code == 404
    assert (await api.call("demo-zeynep", "GET", "/me")).status_code == 401
    live = await api.ok(SUPERVISOR, "GET", "/live")
    assert "zeynep" not in {a["agent_id"] for a in live["agents"]}
    # a queue nobody uses goes too, and its id is free again
    await api.ok(ADMIN, "POST", "/queues", {"id": "spare"})
    await api.ok(ADMIN, "DELETE", "/queues/spare")
    assert (await api.call(SUPERVISOR, "GET", "/queues/spare")).status_code == 404
    await api.ok(ADMIN, "POST", "/queues", {"id": "spare"})


async def test_users_passwords_login_and_logout(api: Api) -> None:
    user = await api.ok(
        ADMIN,
        "POST",
        "/users",
        {
            "id": "selin",
            "name": "Selin",
            "role": "supervisor",
            "email": "selin@example.com",
        },
    )
    assert user["has_password"] is False
    login = {"workspace": "demo", "user_id": "selin", "password": "correct horse"}
    refused = await api.call(None, "POST", "/login", login)  # no password yet
    assert _error(refused)[:2] == (401, "invalid_credentials")
    short = await api.call(ADMIN, "PUT", "/users/selin/password", {"password": "short"})
    assert _error(short) == (400, "invalid_field", "password: is too short (at least 8 characters)")
    await api.ok(ADMIN, "PUT", "/users/selin/password", {"password": "correct horse"})
    assert (await api.ok(SUPERVISOR, "GET", "/users/selin"))["has_password"] is True

    signed_in = await api.ok(None, "POST", "/login", login)
    assert signed_in["user"]["id"] == "selin"
    token = signed_in["token"]
    assert (await api.ok(token, "GET", "/me"))["email"] == "selin@example.com"
    by_email = {"workspace": "demo", "email": "SELIN@example.com", "password": "correct horse"}
    assert (await api.ok(None, "POST", "/login", by_email))["user"]["id"] == "selin"

    wrong = [
        {**login, "password": "wrong horse"},
        {**login, "user_id": "nobody"},
        {**login, "workspace": "elsewhere"},
        {"workspace": "demo", "email": "nobody@example.com", "password": "correct horse"},
    ]
    for attempt in wrong:  # one answer, whether the user exists or not
        answer = await api.call(None, "POST", "/login", attempt)
        assert _error(answer) == (401, "invalid_credentials", "wrong workspace, user or password")
    both = await api.call(None, "POST", "/login", {**login, "email": "selin@example.com"})
    assert _error(both)[:2] == (400, "invalid_field")

    # users change their own password only with the current one
    mine = {"password": "battery staple"}
    no_current = await api.call(token, "PUT", "/users/selin/password", mine)
    assert _error(no_current)[:2] == (400, "invalid_field")
    bad_current = await api.call(
        token, "PUT", "/users/selin/password", {**mine, "current_password": "nope nope"}
    )
    assert _error(bad_current)[:2] == (403, "wrong_password")
    await api.ok(
        token, "PUT", "/users/selin/password", {**mine, "current_password": "correct horse"}
    )
    assert (await api.call(None, "POST", "/login", login)).status_code == 401
    others = await api.call(token, "PUT", "/users/supervisor/password", mine)
    assert others.status_code == 403

    await api.ok(token, "POST", "/logout")
    assert (await api.call(token, "GET", "/me")).status_code == 401


async def test_agent_tokens_and_user_rules(api: Api) -> None:
    fresh = (await api.ok(ADMIN, "POST", "/agents/mehmet/tokens"))["token"]
    assert (await api.ok(fresh, "GET", "/me"))["id"] == "mehmet"
    assert (await api.call("demo-mehmet", "GET", "/me")).status_code == 200  # others kept
    newest = (await api.ok(ADMIN, "POST", "/agents/mehmet/tokens", {"revoke_existing": True}))[
        "token"
    ]
    assert (await api.call("demo-mehmet", "GET", "/me")).status_code == 401
    assert (await api.call(fresh, "GET", "/me")).status_code == 401
    assert (await api.call(newest, "GET", "/me")).status_code == 200

    users = await api.ok(SUPERVISOR, "GET", "/users")
    roles = {u["id"]: u["role"] for u in users["users"]}
    assert roles == {
        "admin": "admin",
        "supervisor": "supervisor",
        "ayse": "agent",
        "mehmet": "agent",
        "zeynep": "agent",
    }
    agent_user = await api.call(ADMIN, "DELETE", "/users/ayse")
    assert _error(agent_user)[:2] == (409, "agent_user")
    last_admin = await api.call(ADMIN, "DELETE", "/users/admin")
    assert _error(last_admin)[:2] == (409, "last_admin")
    demoted = await api.call(ADMIN, "PATCH", "/users/admin", {"role": "supervisor"})
    assert _error(demoted)[:2] == (409, "last_admin")
    await api.ok(ADMIN, "POST", "/users", {"id": "boss", "role": "admin", "email": "b@x.io"})
    clash = await api.call(
        ADMIN, "POST", "/users", {"id": "boss2", "role": "admin", "email": "B@x.io"}
    )
    assert _error(clash)[:2] == (409, "email_taken")
    await api.ok(ADMIN, "DELETE", "/users/admin")  # another admin is left
    assert (await api.call(ADMIN, "GET", "/me")).status_code == 401


# -- durability ----------------------------------------------------------------------------------


async def test_every_change_survives_a_restart(redis_url: str) -> None:
    async with running(redis_url) as api:
        await api.ok(ADMIN, "POST", "/queues", {"id": "vip", "park_timeout": 3600})
        token = (
            await api.ok(
                ADMIN, "POST", "/agents", {"id": "deniz", "name": "Deniz", "queues": ["vip"]}
            )
        )["token"]
        await api.ok(ADMIN, "PATCH", "/agents/ayse", {"capacity": {"total": 9}})
        await api.ok(
            ADMIN,
            "POST",
            "/accounts",
            {
                "id": "vip-whatsapp",
                "channel": "whatsapp",
                "queue_id": "vip",
                "settings": {"app_secret": "vip-secret"},
            },
        )
        await api.ok(SUPERVISOR, "POST", "/topics", {"id": "billing", "name": "Billing"})
        await api.ok(
            SUPERVISOR,
            "POST",
            "/canned-replies",
            {
                "id": "hi",
                "title": "Hi",
                "content": {"kind": "text", "body": "Merhaba"},
            },
        )
        await api.ok(ADMIN, "POST", "/users", {"id": "selin", "role": "supervisor"})
        await api.ok(ADMIN, "PUT", "/users/selin/password", {"password": "correct horse"})
        await api.ok(ADMIN, "DELETE", "/agents/zeynep")
        await api.ok("demo-mehmet", "POST", "/logout")
        before = {
            p: await api.ok(ADMIN, "GET", p)
            for p in ("/agents", "/queues", "/accounts", "/topics", "/canned-replies", "/users")
        }

    async with running(redis_url) as api:  # a new server on the same storage
        after = {p: await api.ok(ADMIN, "GET", p) for p in before}
        assert after == before
        assert (await api.ok(token, "GET", "/me"))["id"] == "deniz"
        assert (await api.call("demo-mehmet", "GET", "/me")).status_code == 401
        assert (await api.call("demo-zeynep", "GET", "/me")).status_code == 401
        login = {"workspace": "demo", "user_id": "selin", "password": "correct horse"}
        assert (await api.ok(None, "POST", "/login", login))["user"]["role"] == "supervisor"
        live = await api.ok(SUPERVISOR, "GET", "/live")
        agents = {a["agent_id"]: a for a in live["agents"]}
        assert "zeynep" not in agents
        assert agents["ayse"]["capacity"] == 9
        assert agents["deniz"]["queues"] == ["vip"]
        assert "vip" in {q["queue_id"] for q in live["queues"]}
        routed = await post_webhook(api, "vip-whatsapp", "vip-secret", _webhook("hi", "wr1"))
        assert routed == 200
