"""The examples and docs/protocol.md against a real server: what the docs show must work."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from adapters.meta import sign
from server.app import serve
from server.catalog import DEMO_ACCOUNT, DEMO_APP_SECRET, Catalog, demo_objects, seed
from storage.store import Storage
from switchboard.config import load_config
from tests.support.fake_graph import FakeGraph, running_graph
from tests.support.whatsapp import text_webhook

ROOT = Path(__file__).parents[1]
AGENT_CLIENT = ROOT / "examples" / "agent_client.py"
PROTOCOL = ROOT / "docs" / "protocol.md"
SUPERVISOR = {"Authorization": "Bearer demo-supervisor"}


_text_webhook = text_webhook


async def _post_webhook(http: httpx.AsyncClient, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    answer = await http.post(
        f"/webhooks/whatsapp/{DEMO_ACCOUNT}",
        content=raw,
        headers={
            "X-Hub-Signature-256": sign(DEMO_APP_SECRET.encode(), raw),
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 200, answer.text


@pytest.fixture
async def server(redis_url: str) -> AsyncIterator[tuple[str, httpx.AsyncClient, FakeGraph]]:
    config = load_config(env={}, overrides={"server.port": 0, "server.redis_url": redis_url})
    stop = trio.Event()
    async with trio.open_nursery() as nursery, running_graph(nursery) as graph:
        # the demo workspace, its WhatsApp account sending to the local Graph
        storage = Storage(redis_url)
        seed(Catalog(storage), demo_objects(f"{graph.url}/v21.0"))
        storage.close()
        [url] = await nursery.start(partial(serve, config, demo=True, shutdown_trigger=stop.wait))
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            yield url, http, graph
        stop.set()


async def _until(check: Any, what: str, timeout: float = 10.0) -> Any:
    """Poll ``await check()`` until it returns something truthy."""
    with trio.move_on_after(timeout):
        while not (found := await check()):
            await trio.sleep(0.05)
        return found
    pytest.fail(f"timed out waiting for {what}")


async def test_the_agent_client_example_greets_and_resolves(
    server: tuple[str, httpx.AsyncClient, FakeGraph], tmp_path: Path
) -> None:
    url, http, graph = server
    ws_url = url.replace("http://", "ws://") + "/ws/agent"
    command = [sys.executable, str(AGENT_CLIENT), "--url", ws_url, "--token", "demo-ayse"]

    async def ayse_online() -> bool:
        live = (await http.get("/api/v1/live", headers=SUPERVISOR)).json()
        [ayse] = [a for a in live["agents"] if a["agent_id"] == "ayse"]
        return bool(ayse["connected"] and ayse["status"] == "online")

    async def greeting_sent() -> bool:
        return bool(graph.messages())

    async def the_conversation() -> Any:
        found = (await http.get("/api/v1/conversations", headers=SUPERVISOR)).json()
        return found["conversations"][0] if found["conversations"] else None

    output = tmp_path / "agent_client.out"
    with output.open("wb") as out:
        async with trio.open_nursery() as nursery:
            process = await nursery.start(
                partial(
                    trio.run_process,
                    [*command, "--once", "--topic", "order-status"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    check=False,
                    cwd=ROOT,
                )
            )
            await _until(ayse_online, "the example to go online")
            await _post_webhook(http, _text_webhook("Merhaba, siparişim nerede?", "wamid.E1"))
            await _until(greeting_sent, "the greeting to reach Graph")
            await _post_webhook(http, _text_webhook("Sipariş no 1234", "wamid.E2"))
            with trio.fail_after(15):
                await process.wait()
    shown = output.read_text()
    assert process.returncode == 0, shown

    [greeting] = graph.messages()
    assert greeting.body["to"] == "905321112233"
    assert greeting.body["text"]["body"] == "Hello, this is Ayse. How can I help?"
    conversation = await _until(the_conversation, "the conversation")
    cid = conversation["conversation_id"]
    answer = await http.get(f"/api/v1/conversations/{cid}", headers=SUPERVISOR)
    assert (answer.json()["status"], answer.json()["topic"]) == ("resolved", "order-status")
    assert answer.json()["agent_id"] == "ayse"
    assert "hello ayse" in shown
    assert f"{cid}: resolved as 'order-status'" in shown


async def test_the_agent_client_example_reports_a_wrong_token(
    server: tuple[str, httpx.AsyncClient, FakeGraph],
) -> None:
    url, _http, _graph = server
    ws_url = url.replace("http://", "ws://") + "/ws/agent"
    command = [sys.executable, str(AGENT_CLIENT), "--url", ws_url, "--token", "wrong", "--once"]
    with trio.fail_after(15):
        done = await trio.run_process(command, capture_stdout=True, check=False, cwd=ROOT)
    assert done.returncode == 1
    assert b"HTTP 401" in done.stdout


def test_every_json_example_of_the_protocol_doc_parses() -> None:
    text = PROTOCOL.read_text()
    blocks = re.findall(r"^```json\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) > 20
    for block in blocks:
        try:
            value = json.loads(block)
        except json.JSONDecodeError as error:
            pytest.fail(f"docs/protocol.md: malformed JSON example ({error}):\n{block}")
        assert isinstance(value, dict), block
        assert isinstance(value.get("type"), str), block
