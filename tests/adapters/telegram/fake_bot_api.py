"""A local HTTP server that speaks the Telegram Bot API for tests.

It records every request it receives and answers from a script (429 with
``parameters.retry_after``, 500, ``{"ok": false}`` errors, slow answers), so tests assert
what actually went over the wire.  Unscripted calls succeed as Telegram answers them:
``send*`` with the new ``Message``, ``setMessageReaction`` with ``true``, ``getFile`` with
a ``File``; ``GET /file/bot<token>/<path>`` serves the file's bytes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio
from quart import Response, request
from quart_trio import QuartTrio

from tests.support.local_http import serving

__all__ = ["FILE", "Answer", "FakeBotApi", "Received", "bot_api_error", "running_bot_api"]

FILE = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 64
BOT = {"id": 7012345678, "is_bot": True, "first_name": "Destek"}


@dataclass(frozen=True, slots=True)
class Received:
    http_method: str
    path: str
    body: Any


@dataclass(slots=True)
class Answer:
    status: int = 200
    body: Any = None  # None: Telegram's success answer for the call
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False  # wait until the test releases it (a slow Telegram)


def bot_api_error(code: int, description: str, *, retry_after: int | None = None) -> Any:
    """An error answer exactly as the Bot API writes it."""
    error: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        error["parameters"] = {"retry_after": retry_after}
    return error


class FakeBotApi:
    """The Bot API of one test bot, scripted answer by answer."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[Answer] = []
        self.release = trio.Event()
        self.url = ""
        self.app = QuartTrio("fake-bot-api")
        self.app.add_url_rule("/<path:path>", "any", self.handle, methods=["GET", "POST"])

    async def handle(self, path: str) -> Response:
        raw = await request.get_data()
        self.received.append(Received(request.method, "/" + path, json.loads(raw) if raw else None))
        answer = self.script.pop(0) if self.script else Answer()
        if answer.hold:
            await self.release.wait()
        if path.startswith("file/"):
            return Response(FILE, status=answer.status, content_type="image/jpeg")
        body = answer.body if answer.body is not None else self.success(path)
        return Response(
            json.dumps(body),
            status=answer.status,
            headers=answer.headers,
            content_type="application/json",
        )

    def success(self, path: str) -> Any:
        method = path.rsplit("/", 1)[-1]
        body = self.received[-1].body or {}
        if method == "getFile":
            file_id = body["file_id"]
            path = f"photos/{file_id}.jpg"
            file = {"file_id": file_id, "file_size": len(FILE), "file_path": path}
            return {"ok": True, "result": file}
        if method == "setMessageReaction":
            return {"ok": True, "result": True}
        chat = {"id": body.get("chat_id"), "type": "private", "first_name": "Ayşe"}
        number = 100 + len(self.calls())
        message = {"message_id": number, "from": BOT, "chat": chat, "date": 1718270400}
        return {"ok": True, "result": message}

    def calls(self, method: str | None = None) -> list[Received]:
        """The Bot API calls received (downloads left out), of one method if named."""
        return [
            r
            for r in self.received
            if "/bot" in r.path
            and not r.path.startswith("/file/")
            and (method is None or r.path.endswith("/" + method))
        ]


@asynccontextmanager
async def running_bot_api(nursery: trio.Nursery) -> AsyncIterator[FakeBotApi]:
    """A FakeBotApi listening on 127.0.0.1 (its ``url``) for the block's duration."""
    fake = FakeBotApi()
    async with serving(nursery, fake.app) as fake.url:
        try:
            yield fake
        finally:
            fake.release.set()
