"""``/ws/supervisor``: a workspace's live state, as a snapshot and then as a stream.

On connect (a supervisor's or admin's token, header or ``?token=``) the client gets
``{"type": "snapshot", ...}`` — the same document as ``GET /api/v1/live`` — and then
change events: ``agent.changed``, ``queue.changed``, ``conversation.changed`` (each
the object's latest state, coalesced per object every ``_FLUSH_S`` seconds) and
``sla.alert`` (each one).  Frames are JSON, or msgpack once the client has spoken
msgpack; the client may send ``{"type": "snapshot"}`` for a fresh snapshot or
``{"type": "ping"}``.  A client that falls behind is disconnected (1008) like an
agent's.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from quart import Blueprint, abort, websocket

from actors.errors import BadRequest, SwitchboardError
from actors.events import Event
from server.agent_ws import CONNECTIONS, Frames, bearer_token
from server.bridge import Bridge, EventSink, SlowConsumer
from server.catalog import Role
from server.live import coalesce_key, snapshot
from server.services import Services

__all__ = ["supervisor_ws_blueprint"]

logger = logging.getLogger(__name__)

_FLUSH_S = 0.25


class SupervisorSession:
    def __init__(self, services: Services, workspace: str, sink: EventSink) -> None:
        self.services = services
        self.workspace = workspace
        self.sink = sink
        self.frames = Frames()
        self._lock = trio.Lock()

    async def run(self) -> None:
        watchers = self.services.routing.watchers
        # registered before the snapshot is taken: no change can fall between the two
        watchers.setdefault(self.workspace, []).append(self.sink)
        try:
            await self._send({"type": "snapshot", **await snapshot(self.services, self.workspace)})
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pump, nursery.cancel_scope)
                await self._read()
                nursery.cancel_scope.cancel()
        finally:
            self.sink.close()
            sinks = watchers.get(self.workspace, [])
            if self.sink in sinks:
                sinks.remove(self.sink)
            if not sinks:
                watchers.pop(self.workspace, None)

    async def _pump(self, scope: trio.CancelScope) -> None:
        try:
            async for batch in self.sink:
                latest: dict[tuple[str, str], Event] = {}
                for event in batch:
                    if not isinstance(event, Event):
                        continue
                    key = coalesce_key(event)
                    if key is None:
                        await self._send(event.to_wire())
                    else:
                        latest.pop(key, None)  # keep the order of the newest
                        latest[key] = event
                for event in latest.values():
                    await self._send(event.to_wire())
                await trio.sleep(_FLUSH_S)  # let changes pile up, then coalesce them
        except SlowConsumer as slow:
            await websocket.close(1008, slow.reason[:120])
            scope.cancel()

    async def _read(self) -> None:
        while True:
            data = await websocket.receive()
            ref = None
            try:
                frame = self.frames.decode(data)
                ref = frame.get("ref")
                if frame["type"] == "snapshot":
                    live = await snapshot(self.services, self.workspace)
                    await self._send({"type": "snapshot", "ref": ref, **live})
                elif frame["type"] == "ping":
                    await self._send({"type": "ack", "ref": ref, "result": {"pong": True}})
                else:
                    raise BadRequest(f"unknown command type {frame['type']!r}",
                                     code="unknown_type")  # fmt: skip
            except SwitchboardError as error:
                await self._send({"type": "error", "ref": ref, **error.to_dict()})

    async def _send(self, value: dict[str, Any]) -> None:
        async with self._lock:
            await websocket.send(self.frames.encode(value))


def supervisor_ws_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("supervisor_ws", __name__)

    @bp.websocket("/ws/supervisor")
    async def supervisor_socket() -> None:
        token = bearer_token()
        user = services.catalog.user_for_token(token) if token else None
        if user is None or user.role not in (Role.SUPERVISOR, Role.ADMIN):
            abort(401)
        await websocket.accept()
        sink = Bridge.current().sink(limit=services.config.limits.ws_send_buffer * 10)
        CONNECTIONS.labels("supervisor").inc()
        try:
            await SupervisorSession(services, user.workspace, sink).run()
        finally:
            CONNECTIONS.labels("supervisor").dec()

    return bp
