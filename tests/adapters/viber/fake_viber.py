"""A local HTTP server that speaks Viber's REST API (``/pa/send_message``) for tests.

It records every request (with its ``X-Viber-Auth-Token``) and answers from a script
(HTTP 429 / 5xx, non-zero ``status`` answers, slow answers), so tests assert what
actually went over the wire.  Unscripted sends succeed as Viber answers them:
``{"status": 0, "status_message": "ok", "message_token": <64-bit integer>}``.
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

__all__ = ["FIRST_TOKEN", "Answer", "FakeViber", "Received", "running_viber", "viber_status"]

FIRST_TOKEN = 5741311803571721087  # tokens count up from here: 64-bit, beyond a double


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    auth_token: str | None
    body: Any


@dataclass(slots=True)
class Answer:
    status: int = 200
    body: Any = None  # None: Viber's success answer
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False  # wait until the test releases it (a slow Viber)


def viber_status(status: int, message: str) -> Any:
    """A refusal exactly as Viber writes it (HTTP 200 with a non-zero status)."""
    return {"status": status, "status_message": message, "chat_hostname": "SN-CHAT-05_"}


class FakeViber:
    """Viber's send_message, scripted answer by answer."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[Answer] = []
        self.release = trio.Event()
        self.url = ""
        self.app = QuartTrio("fake-viber")
        self.app.add_url_rule("/<path:path>", "any", self.handle, methods=["POST"])

    async def handle(self, path: str) -> Response:
        raw = await request.get_data()
        token = request.headers.get("X-Viber-Auth-Token")
        self.received.append(Received("/" + path, token, json.loads(raw) if raw else None))
        answer = self.script.pop(0) if self.script else Answer()
        if answer.hold:
            await self.release.wait()
        if answer.body is None:
            token_number = FIRST_TOKEN + len(self.received) - 1
            body: Any = {
                "status": 0,
                "status_message": "ok",
                "message_token": token_number,
                "chat_hostname": "SN-CHAT-05_",
            }
            text = json.dumps(body)
        else:
            text = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
        return Response(
            text, status=answer.status, headers=answer.headers, content_type="application/json"
        )


@asynccontextmanager
async def running_viber(nursery: trio.Nursery) -> AsyncIterator[FakeViber]:
    """A FakeViber listening on 127.0.0.1 (its ``url``) for the block's duration."""
    fake = FakeViber()
    async with serving(nursery, fake.app) as fake.url:
        try:
            yield fake
        finally:
            fake.release.set()
