"""The web chat widget in a real headless Chromium, against a real server and agent socket.

Skipped only where no browser is installed (``chromium`` on PATH; the ``playwright``
package of the test extras drives the system's Chromium: no browser download).
Playwright's sync API runs in one worker thread (its objects belong to the thread that
made them) while the server and the agent's websocket run on the test's trio loop; the
browser thread asks the trio side to play the agent with ``trio.from_thread.run``.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from playwright import sync_api

from adapters.content import Text
from tests.server.test_webchat import ACCOUNT, Client, Server, _agent, running_server

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium browser installed")

#: the flags CI runs Chromium with: no sandbox (containers), no network beyond the test
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: milliseconds any one browser step may take
STEP_MS = 15_000


@pytest.fixture
async def server(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Server]:
    async with running_server(redis_url, tmp_path, monkeypatch) as running:
        yield running


async def test_a_customer_in_chromium_chats_with_an_agent_and_reloads(server: Server) -> None:
    reply = "Merhaba, siparişinize bakıyorum"
    seen: dict[str, str] = {}

    async with trio.open_nursery() as nursery:
        ayse: Client = await _agent(server, "demo-ayse", nursery)

        async def agent_answers() -> None:
            cid = (await ayse.expect("conversation.assigned"))["conversation_id"]
            message = await ayse.expect("conversation.message")
            seen["customer"] = message["message"]["content"]["body"]
            content = Text(reply).to_wire()
            answer = await ayse.command("message.send", conversation_id=cid, content=content)
            assert answer["type"] == "ack", answer

        def in_browser() -> None:
            with sync_api.sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    page = browser.new_page()
                    page.set_default_timeout(STEP_MS)
                    errors: list[str] = []
                    page.on("pageerror", lambda error: errors.append(str(error)))
                    page.goto(f"{server.url}/webchat/{ACCOUNT}")
                    page.wait_for_selector(".sb-status:text('online')")
                    page.fill(".sb-input", "Kargom nerede?")
                    page.click(".sb-send")
                    page.wait_for_selector(".sb-message[data-direction=in][data-state=sent]")
                    trio.from_thread.run(agent_answers)
                    agent_said = f".sb-message[data-direction=out]:has-text('{reply}')"
                    shown = page.wait_for_selector(agent_said)
                    assert shown is not None
                    assert "Ayse" in shown.inner_text()
                    # a reload resumes the session: the transcript comes back
                    page.reload()
                    page.wait_for_selector(".sb-status:text('online')")
                    page.wait_for_selector(agent_said)
                    mine = page.locator(".sb-message[data-direction=in]")
                    assert mine.all_inner_texts() == ["Kargom nerede?"]
                    assert errors == []
                finally:
                    browser.close()

        await trio.to_thread.run_sync(in_browser)
        assert seen["customer"] == "Kargom nerede?"
        nursery.cancel_scope.cancel()
