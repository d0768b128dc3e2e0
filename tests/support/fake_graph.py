"""A local HTTP server that speaks the WhatsApp Cloud API (Graph) for tests.

It records every request it receives and answers from a script (429, 500, Graph error
bodies, slow answers), so tests assert what actually went over the wire.
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

TO = "905321234567"
IMAGE = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 64


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    body: Any


@dataclass(slots=True)
class Answer:
    status: int = 200
    body: Any = None  # None: Graph's success answer for the request
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False  # wait until the test releases it (a slow Graph)


def graph_error(code: int, message: str, *, subcode: int | None = None, details: str = "") -> Any:
    """An error body exactly as Graph writes it."""
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "AbCdEf123",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


class FakeGraph:
    """Graph's messages and media endpoints, scripted answer by answer."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[Answer] = []
        self.release = trio.Event()
        self.url = ""
        self.app = QuartTrio("fake-graph")
        self.app.add_url_rule("/<path:path>", "any", self.handle, methods=["GET", "POST"])

    async def handle(self, path: str) -> Response:
        raw = await request.get_data()
        self.received.append(
            Received(
                method=request.method,
                path="/" + path,
                query=dict(request.args),
                authorization=request.headers.get("Authorization"),
                body=json.loads(raw) if raw else None,
            )
        )
        answer = self.script.pop(0) if self.script else Answer()
        if answer.hold:
            await self.release.wait()
        if path.startswith("files/"):
            return Response(IMAGE, status=answer.status, content_type="image/jpeg")
        body = answer.body if answer.body is not None else self.success(path)
        return Response(
            json.dumps(body),
            status=answer.status,
            headers=answer.headers,
            content_type="application/json",
        )

    def success(self, path: str) -> Any:
        if path.endswith("/messages"):
            n = sum(1 for r in self.received if r.path.endswith("/messages"))
            return {
                "messaging_product": "whatsapp",
                "contacts": [{"input": TO, "wa_id": TO}],
                "messages": [{"id": f"wamid.HBgM{n}", "message_status": "accepted"}],
            }
        media_id = path.rsplit("/", 1)[-1]
        return {
            "messaging_product": "whatsapp",
            "url": f"{self.url}/files/{media_id}?ext=1",
            "mime_type": "image/jpeg",
            "sha256": "a" * 64,
            "file_size": str(len(IMAGE)),
            "id": media_id,
        }

    def messages(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/messages")]


@asynccontextmanager
async def running_graph(nursery: trio.Nursery) -> AsyncIterator[FakeGraph]:
    """A FakeGraph listening on 127.0.0.1 (its ``url``) for the block's duration."""
    fake = FakeGraph()
    async with serving(nursery, fake.app) as fake.url:
        try:
            yield fake
        finally:
            fake.release.set()
