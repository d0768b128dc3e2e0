"""Workspaces are isolated: a token of one sees nothing of another (404, never 403).

Two workspaces on one server: the demo one, and "acme", seeded through the Catalog
before the server starts (as an operator's provisioning would).  Every endpoint is
asked, with each workspace's admin, about the other workspace's objects.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import httpx
import pytest
import trio

from actors.routing.model import AgentState, Capacity, Channel, QueueConfig
from adapters.meta import sign
from server import catalog as catalog_module
from server.app import serve
from server.catalog import Account, CannedReply, Catalog, Role, Topic, User
from storage.store import Storage
from switchboard.config import load_config
from tests.support.whatsapp import text_webhook

DEMO_ADMIN, ACME_ADMIN = "demo-admin", "acme-admin-token"

#: one object of each kind per workspace, by collection
DEMO = {
    "agents": "ayse",
    "queues": "demo-sales",
    "accounts": "demo-whatsapp",
    "topics": "returns",
    "canned-replies": "hello",
    "users": "supervisor",
}
ACME = {
    "agents": "acme-agent",
    "queues": "acme-queue",
    "accounts": "acme-whatsapp",
    "topics": "acme-topic",
    "canned-replies": "acme-hello",
    "users": "acme-supervisor",
}


def _seed(redis_url: str) -> None:
    """The demo workspace (with a topic and a canned reply) and the acme workspace."""
    storage = Storage(redis_url)
    try:
        catalog = Catalog(storage)
        catalog_module.seed(catalog, catalog_module.demo_objects())
        hello = {"kind": "text", "body": "Merhaba"}
        catalog.put_topic(Topic("billing", "demo", "Billing"))
        catalog.put_topic(Topic("returns", "demo", "Returns"))
        catalog.put_canned_reply(CannedReply("hello", "demo", "Hello", hello))
        ws = "acme"
        catalog.put_queue(QueueConfig("acme-queue", workspace=ws))
        catalog.put_account(
            Account(
                "acme-whatsapp",
                ws,
                Channel.WHATSAPP,
                "acme-queue",
                settings={"app_secret": "acme-secret"},
            )
        )
        catalog.put_agent(
            AgentState(
                "acme-agent", workspace=ws, queues=frozenset({"acme-queue"}), capacity=Capacity(2)
            )
        )
        catalog.put_user(User("acme-agent", ws, Role.AGENT, "Acme Agent"))
        catalog.put_user(User("acme-supervisor", ws, Role.SUPERVISOR, "Acme Supervisor"))
        admin = User("acme-admin", ws, Role.ADMIN, "Acme Admin")
        catalog.put_user(admin)
        catalog.add_token(admin, ACME_ADMIN)
        # the same topic and canned reply ids as the demo's: those are per workspace
        catalog.put_topic(Topic("acme-topic", ws, "Billing"))
        catalog.put_topic(Topic("billing", ws, "Acme billing"))
        catalog.put_canned_reply(CannedReply("acme-hello", ws, "Hello", hello))
    finally:
        storage.close()


class Api:
    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self.url = url
        self.http = http

    async def call(self, token: str, method: str, path: str, body: Any = None) -> httpx.Response:
        content = None if body is None else json.dumps(body).encode()
        return await self.http.request(
            method,
            f"/api/v1{path}",
            content=content,
            headers={"Authorization": f"Bearer {token}"},
        )


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    _seed(redis_url)
    config = load_config(env={}, overrides={"server.port": 0, "server.redis_url": redis_url})
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        [url] = await nursery.start(partial(serve, config, shutdown_trigger=stop.wait))
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            yield Api(url, http)
        stop.set()


#: a body each write would accept, were the object the caller's
BODIES = {
    "agents": {"capacity": {"total": 1}},
    "queues": {"offer_timeout": 2},
    "accounts": {"name": "mine now"},
    "topics": {"name": "Mine now"},
    "canned-replies": {"title": "Mine now"},
    "users": {"name": "Mine now"},
}


def _requests(objects: dict[str, str]) -> list[tuple[str, str, Any]]:
    out: list[tuple[str, str, Any]] = []
    for collection, object_id in objects.items():
        path = f"/{collection}/{object_id}"
        body = BODIES[collection]
        out += [
            ("GET", path, None),
            ("PUT", path, body),
            ("PATCH", path, body),
            ("DELETE", path, None),
        ]
    out.append(("POST", f"/agents/{objects['agents']}/tokens", None))
    out.append(("PUT", f"/users/{objects['users']}/password", {"password": "long enough"}))
    return out


@pytest.mark.parametrize(
    ("token", "their_token", "theirs", "mine"),
    [(ACME_ADMIN, DEMO_ADMIN, DEMO, ACME), (DEMO_ADMIN, ACME_ADMIN, ACME, DEMO)],
)
async def test_the_other_workspace_s_objects_do_not_exist(
    api: Api, token: str, their_token: str, theirs: dict[str, str], mine: dict[str, str]
) -> None:
    async def their_view() -> list[Any]:
        return [(await api.call(their_token, "GET", f"/{c}/{i}")).json() for c, i in theirs.items()]

    before = await their_view()
    for method, path, body in _requests(theirs):
        answer = await api.call(token, method, path, body)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "not_found"
    for collection, object_id in theirs.items():  # nor are they listed; one's own are
        listed = (await api.call(token, "GET", f"/{collection}")).json()
        ids = {o["id"] for o in next(iter(listed.values()))}
        assert (object_id in ids, mine[collection] in ids) == (False, True), collection
    assert await their_view() == before  # nothing of theirs changed meanwhile


async def test_the_same_topic_id_lives_in_each_workspace(api: Api) -> None:
    demo = (await api.call(DEMO_ADMIN, "GET", "/topics/billing")).json()
    acme = (await api.call(ACME_ADMIN, "GET", "/topics/billing")).json()
    assert (demo["name"], acme["name"]) == ("Billing", "Acme billing")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/queues", {"id": "demo-sales"}),
        ("/agents", {"id": "ayse"}),
        ("/users", {"id": "supervisor", "role": "supervisor"}),
        ("/accounts", {"id": "demo-whatsapp", "channel": "whatsapp", "queue_id": "acme-queue"}),
    ],
)
async def test_a_routing_id_of_another_workspace_is_taken_without_saying_where(
    api: Api, path: str, body: dict[str, Any]
) -> None:
    answer = await api.call(ACME_ADMIN, "POST", path, body)
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "id_taken"
    assert error["message"].endswith(f"id {body['id']!r} is already taken")
    assert "demo" not in error["message"].replace(body["id"], "")


async def test_login_is_per_workspace(api: Api) -> None:
    await api.call(DEMO_ADMIN, "PUT", "/users/supervisor/password", {"password": "long enough"})
    login = {"workspace": "acme", "user_id": "supervisor", "password": "long enough"}
    elsewhere = await api.http.post("/api/v1/login", json=login)
    assert elsewhere.status_code == 401
    home = await api.http.post("/api/v1/login", json={**login, "workspace": "demo"})
    assert home.status_code == 200


def _webhook(text: str, wamid: str) -> dict[str, Any]:
    return text_webhook(text, wamid, wa_id="972987654321")


async def test_conversations_of_another_workspace_do_not_exist(api: Api) -> None:
    raw = json.dumps(_webhook("Merhaba", "wamid.iso1")).encode()
    answer = await api.http.post(
        "/webhooks/whatsapp/demo-whatsapp",
        content=raw,
        headers={
            "X-Hub-Signature-256": sign(b"demo-app-secret", raw),
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 200
    with trio.fail_after(5):  # routing records the conversation just after the webhook
        while not (page := (await api.call(DEMO_ADMIN, "GET", "/conversations")).json())["total"]:
            await trio.sleep(0.02)
    conversation = page["conversations"][0]
    cid, customer = conversation["conversation_id"], conversation["customer_id"]
    paths = [
        f"/conversations/{cid}",
        f"/conversations/{cid}/messages",
        f"/customers/{customer}/conversations",
    ]
    for path in paths:
        assert (await api.call(DEMO_ADMIN, "GET", path)).status_code == 200, path
        answer = await api.call(ACME_ADMIN, "GET", path)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found"
    for query in ("", "?queue=demo-support", f"?customer={customer}", "?channel=whatsapp"):
        listed = (await api.call(ACME_ADMIN, "GET", f"/conversations{query}")).json()
        assert (listed["total"], listed["conversations"]) == (0, []), query
    live = (await api.call(ACME_ADMIN, "GET", "/live")).json()
    assert [q["queue_id"] for q in live["queues"]] == ["acme-queue"]
    assert [a["agent_id"] for a in live["agents"]] == ["acme-agent"]
    assert live["conversations"]["waiting"] == 0
