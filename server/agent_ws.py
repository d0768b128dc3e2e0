"""``/ws/agent``: an agent's live connection (docs/protocol.md).

How it works: the handshake is authenticated with the agent's bearer token
(``Authorization`` header or ``?token=``); a wrong one is refused with HTTP 401
before the socket opens.  The connection registers an :class:`EventSink` with
the agent actor (``AgentConnect``) and then runs two tasks: one sends what the
actors push (in batches, never blocking an actor), the other reads commands and
carries each out by asking the actor that owns the fact — the conversation for
park / resolve / transfer / invite / messages, the agent for its status, the
queue for a manual pick.  Every command may carry a ``ref``; its answer is an
``ack`` (with the result) or an ``error`` with a code and a message.  Answers go
through the same sink as the events, behind them: an actor pushes the events a
command causes before it replies, so a client never reads a command's ``ack``
before an event that happened ahead of it (a message held for the agent, the
``conversation.resolved`` of its own resolve).

Frames are JSON text, or msgpack binary; the server answers in the form the
client last spoke.  A client that cannot keep up (``limits.ws_send_buffer``
events pending) is disconnected with close code 1008 and the reason; its chats
stay with the agent for the disconnect grace period like any other drop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import msgpack
import prometheus_client
import trio
from quart import Blueprint, abort, websocket

from actors.errors import BadRequest, NotFound, SwitchboardError
from actors.events import Event
from actors.messages import (
    AgentConnect,
    AgentDisconnect,
    AgentMessage,
    Describe,
    Invite,
    Park,
    Pick,
    Remove,
    Resolve,
    SetStatus,
    SetWorkStatus,
    Transfer,
)
from actors.routing.model import AgentStatus, ConversationStatus
from adapters.content import ContentError, content_from_wire
from server.bridge import Bridge, EventSink, SlowConsumer
from server.catalog import Role, User
from server.services import Services

__all__ = ["CONNECTIONS", "Frames", "agent_ws_blueprint", "bearer_token"]

logger = logging.getLogger(__name__)

CONNECTIONS = prometheus_client.Gauge(
    "switchboard_websocket_connections", "Open websocket connections", ["kind"]
)
COMMANDS = prometheus_client.Counter(
    "switchboard_agent_commands_total", "Agent commands by type and outcome", ["type", "outcome"]
)

#: seconds a command may wait for its actor before the client hears "timeout"
_ASK_TIMEOUT_S = 10.0


def bearer_token() -> str | None:
    """The token of the current websocket handshake (header first, then ``?token=``)."""
    header = websocket.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return websocket.args.get("token") or None


#: compact UTF-8 JSON; one encoder for every frame (``json.dumps`` with options builds one
#: per call)
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class Frames:
    """Decodes client frames and encodes replies in the form the client last used."""

    def __init__(self) -> None:
        self.binary = False

    def decode(self, data: str | bytes) -> dict[str, Any]:
        self.binary = isinstance(data, bytes)
        try:
            value = msgpack.unpackb(data, raw=False) if self.binary else json.loads(data)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as error:
            msg = f"frame is not valid {self._form()}: {error}"
            raise BadRequest(msg, code="bad_frame") from None
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise BadRequest("a frame must be an object with a string 'type'", code="bad_frame")
        return value

    def encode(self, value: dict[str, Any]) -> str | bytes:
        if self.binary:
            packed: bytes = msgpack.packb(value, use_bin_type=True)
            return packed
        return _JSON.encode(value)

    def _form(self) -> str:
        return "msgpack" if self.binary else "JSON"


class Answer:
    """A command's ``ack`` or ``error``, queued in the connection's sink like an event."""

    __slots__ = ("frame",)

    def __init__(self, frame: dict[str, Any]) -> None:
        self.frame = frame


class AgentSession:
    """One open ``/ws/agent`` connection of one agent."""

    def __init__(self, services: Services, user: User, bridge: Bridge) -> None:
        self.services = services
        self.routing = services.routing
        self.user = user
        self.agent_id = user.user_id
        self.bridge = bridge
        self.frames = Frames()
        self.sink: EventSink = bridge.sink(limit=services.config.limits.ws_send_buffer)
        self._commands: dict[str, Callable[[dict[str, Any]], Any]] = {
            "ping": self._ping,
            "status.set": self._status_set,
            "message.send": self._message_send,
            "conversation.park": self._park,
            "conversation.resolve": self._resolve,
            "conversation.transfer": self._transfer,
            "conversation.invite": self._invite,
            "conversation.remove": self._remove,
            "conversation.status": self._work_status,
            "queue.pick": self._pick,
            "conversation.get": self._get,
        }

    async def run(self) -> None:
        agent = self.routing.agent(self.agent_id)
        profile = await self.bridge.ask(agent, AgentConnect(self.sink), timeout=_ASK_TIMEOUT_S)
        try:
            await self._send({"type": "hello", **(await self._hello(profile))})
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pump_events, nursery.cancel_scope)
                await self._read_commands()
                nursery.cancel_scope.cancel()
        finally:
            self.sink.close()
            try:
                agent.tell(AgentDisconnect(self.sink))
            except Exception:
                logger.exception("agent %s: disconnect not delivered", self.agent_id)

    async def _hello(self, profile: dict[str, Any]) -> dict[str, Any]:
        ids = [*profile.get("active", ()), *profile.get("parked", ())]
        conversations = []
        for conversation_id in ids:
            address = self.routing.conversations.get(conversation_id)
            if address is None:
                continue
            described = await self.bridge.ask(address, Describe(), timeout=_ASK_TIMEOUT_S)
            conversations.append(described)
        return {"agent": profile, "conversations": conversations}

    async def _pump_events(self, scope: trio.CancelScope) -> None:
        try:
            async for batch in self.sink:
                for event in batch:
                    if isinstance(event, Answer):
                        wire = event.frame
                    elif isinstance(event, Event):
                        wire = event.to_wire()
                    else:
                        wire = {"type": "event"}
                    await self._send(wire)
        except SlowConsumer as slow:
            logger.warning("agent %s: %s; disconnecting", self.agent_id, slow.reason)
            await websocket.close(1008, slow.reason[:120])
            scope.cancel()

    async def _read_commands(self) -> None:
        while True:
            data = await websocket.receive()
            ref = None
            kind = "?"
            try:
                frame = self.frames.decode(data)
                ref = frame.get("ref")
                kind = frame["type"]
                handler = self._commands.get(kind)
                if handler is None:
                    raise BadRequest(f"unknown command type {kind!r}", code="unknown_type")
                result = await handler(frame)
                COMMANDS.labels(kind, "ok").inc()
                self._answer({"type": "ack", "ref": ref, **({"result": result} if result
                              is not None else {})})  # fmt: skip
            except SwitchboardError as error:
                COMMANDS.labels(kind if kind in self._commands else "unknown", error.code).inc()
                self._answer({"type": "error", "ref": ref, **error.to_dict()})
            except trio.TooSlowError:
                self._answer(
                    {"type": "error", "ref": ref, "code": "timeout", "message": "no answer"}
                )

    def _answer(self, frame: dict[str, Any]) -> None:
        """Queue a command's answer behind the events already pushed (see the module doc)."""
        self.sink.push(Answer(frame))

    async def _send(self, value: dict[str, Any]) -> None:
        # one sender at a time: ``hello`` before the pump starts, then only the pump
        await websocket.send(self.frames.encode(value))

    # -- commands --------------------------------------------------------------------------

    async def _ask_conversation(self, frame: dict[str, Any], message: object) -> Any:
        conversation_id = _text(frame, "conversation_id")
        address = self.routing.conversations.get(conversation_id)
        if address is None:
            raise NotFound(f"no conversation {conversation_id}")
        return await self.bridge.ask(address, message, timeout=_ASK_TIMEOUT_S)

    async def _ping(self, frame: dict[str, Any]) -> Any:
        del frame
        return {"pong": True}

    async def _status_set(self, frame: dict[str, Any]) -> Any:
        try:
            status = AgentStatus(_text(frame, "status"))
        except ValueError:
            choices = ", ".join(s.value for s in AgentStatus)
            raise BadRequest(f"status must be one of {choices}", code="invalid_status") from None
        agent = self.routing.agent(self.agent_id)
        return await self.bridge.ask(agent, SetStatus(status), timeout=_ASK_TIMEOUT_S)

    async def _message_send(self, frame: dict[str, Any]) -> Any:
        raw = frame.get("content")
        if not isinstance(raw, dict):
            raise BadRequest("content must be an object with a 'kind'", code="invalid_content")
        try:
            content = content_from_wire(raw).to_wire()
        except ContentError as error:
            raise BadRequest(str(error), code="invalid_content") from None
        return await self._ask_conversation(frame, AgentMessage(self.agent_id, content))

    async def _park(self, frame: dict[str, Any]) -> Any:
        return await self._ask_conversation(frame, Park(self.agent_id))

    async def _resolve(self, frame: dict[str, Any]) -> Any:
        topic = frame.get("topic")
        if topic is not None and not isinstance(topic, str):
            raise BadRequest("topic must be a string", code="invalid_topic")
        return await self._ask_conversation(frame, Resolve(self.agent_id, topic))

    async def _transfer(self, frame: dict[str, Any]) -> Any:
        to_agent, to_queue = frame.get("to_agent"), frame.get("to_queue")
        for name, value in (("to_agent", to_agent), ("to_queue", to_queue)):
            if value is not None and not isinstance(value, str):
                raise BadRequest(f"{name} must be a string", code="invalid_transfer")
        return await self._ask_conversation(frame, Transfer(self.agent_id, to_agent, to_queue))

    async def _invite(self, frame: dict[str, Any]) -> Any:
        colleague = _text(frame, "agent_id")
        return await self._ask_conversation(frame, Invite(self.agent_id, colleague))

    async def _remove(self, frame: dict[str, Any]) -> Any:
        colleague = _text(frame, "agent_id")
        return await self._ask_conversation(frame, Remove(self.agent_id, colleague))

    async def _work_status(self, frame: dict[str, Any]) -> Any:
        try:
            status = ConversationStatus(_text(frame, "status"))
        except ValueError:
            raise BadRequest("unknown conversation status", code="invalid_status") from None
        return await self._ask_conversation(frame, SetWorkStatus(self.agent_id, status))

    async def _pick(self, frame: dict[str, Any]) -> Any:
        described = await self._ask_conversation(frame, Describe())
        queue = self.routing.queue(described["queue_id"])
        pick = Pick(self.agent_id, described["conversation_id"])
        return await self.bridge.ask(queue, pick, timeout=_ASK_TIMEOUT_S)

    async def _get(self, frame: dict[str, Any]) -> Any:
        described: dict[str, Any] = await self._ask_conversation(frame, Describe())
        mine = {described.get("agent_id"), described.get("parked_by"), *described["invited"]}
        if self.agent_id not in mine:
            raise NotFound(f"no conversation {described['conversation_id']}")
        storage = self.services.storage
        cid = described["conversation_id"]
        described["transcript"] = await trio.to_thread.run_sync(storage.transcript, cid)
        return described


def _text(frame: dict[str, Any], name: str) -> str:
    value = frame.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name} must be a non-empty string", code="missing_field")
    return value


def agent_ws_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("agent_ws", __name__)

    @bp.websocket("/ws/agent")
    async def agent_socket() -> None:
        token = bearer_token()
        user = services.catalog.user_for_token(token) if token else None
        if user is None or user.role is not Role.AGENT:
            abort(401)
        if user.user_id not in services.routing.agents:
            abort(404)
        await websocket.accept()
        CONNECTIONS.labels("agent").inc()
        try:
            await AgentSession(services, user, Bridge.current()).run()
        finally:
            CONNECTIONS.labels("agent").dec()

    return bp
