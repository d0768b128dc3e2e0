"""A local HTTP server that speaks Meta's Send API (Messenger and Instagram) for tests.

``tests.support.fake_graph`` records requests and answers from a script; this variant
answers a ``/messages`` POST as the Send API does: ``{"recipient_id", "message_id"}``
(only ``recipient_id`` for a sender action such as a reaction).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from tests.support.fake_graph import Answer, FakeGraph, Received
from tests.support.local_http import serving

__all__ = ["Answer", "FakeSendApi", "Received", "Sleeps", "running_send_api", "send_api_error"]


def send_api_error(code: int, message: str, *, subcode: int | None = None) -> Any:
    """An error body exactly as the Send API writes it."""
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "A1b2C3d4E5f",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


class FakeSendApi(FakeGraph):
    """The Send API's ``/{id}/messages``, scripted answer by answer."""

    def success(self, path: str) -> Any:
        body = self.received[-1].body or {}
        recipient = (body.get("recipient") or {}).get("id")
        if "sender_action" in body:
            return {"recipient_id": recipient}
        return {"recipient_id": recipient, "message_id": f"m_sent{len(self.messages())}"}


@asynccontextmanager
async def running_send_api(nursery: trio.Nursery) -> AsyncIterator[FakeSendApi]:
    """A FakeSendApi listening on 127.0.0.1 (its ``url``) for the block's duration."""
    fake = FakeSendApi()
    async with serving(nursery, fake.app) as fake.url:
        try:
            yield fake
        finally:
            fake.release.set()


@dataclass(slots=True)
class Sleeps:
    """The injected sleep: records each wait, takes no time."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await trio.lowlevel.checkpoint()
