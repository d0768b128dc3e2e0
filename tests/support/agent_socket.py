"""An agent's ``/ws/agent`` connection in end-to-end tests, and reading its frames."""

from __future__ import annotations

import json
from typing import Any

import trio
from trio_websocket import WebSocketConnection, open_websocket_url

__all__ = ["agent_socket", "next_frame"]


async def agent_socket(
    url: str, token: str = "demo-zeynep", *, task_status: trio.TaskStatus[WebSocketConnection]
) -> None:
    """Hold an agent's connection to the server at ``url`` open (start it in a nursery)."""
    async with open_websocket_url(
        url.replace("http://", "ws://") + f"/ws/agent?token={token}"
    ) as ws:
        task_status.started(ws)
        await trio.sleep_forever()


async def next_frame(ws: WebSocketConnection, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next frame of type ``kind`` (others are skipped)."""
    with trio.fail_after(timeout):
        while True:
            frame: dict[str, Any] = json.loads(await ws.get_message())
            if frame["type"] == kind:
                return frame
