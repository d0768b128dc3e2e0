"""A small Switchboard agent: greets every customer, resolves after their second message.

It speaks the agent websocket protocol of docs/protocol.md in JSON:

1. connects to ``/ws/agent`` with the agent's bearer token and prints the ``hello``;
2. goes online (``status.set``);
3. for every ``conversation.assigned`` replies with a greeting (``message.send``) and reads
   the conversation (``conversation.get``: customer messages that arrived before the
   assignment are in its transcript);
4. once the customer has written twice, resolves the conversation with a topic
   (``conversation.resolve``).

After a reconnect the ``hello`` lists the agent's open conversations; the client picks
them up the same way (greeting only those it has not written to yet).

Against the demo server (``switchboard serve``, see docs/configuration.md)::

    python examples/agent_client.py --token demo-ayse
    python examples/agent_client.py --url ws://127.0.0.1:8080/ws/agent --token demo-ayse --once
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

Frame = dict[str, Any]
OnAck = Callable[[Frame], Awaitable[None]]


@dataclass
class Chat:
    """What the client knows about one of its conversations."""

    conversation_id: str
    customer_messages: set[str] = field(default_factory=set)  # provider message ids
    resolving: bool = False


class AgentClient:
    def __init__(self, ws: WebSocketConnection, *, topic: str, once: bool) -> None:
        self.ws = ws
        self.topic = topic
        self.once = once
        self.agent_id = "?"
        self.chats: dict[str, Chat] = {}
        self.pending: dict[int, tuple[str, OnAck | None]] = {}  # ref -> (command, on ack)
        self.next_ref = 0
        self.done = False
        self.failed = False

    # -- sending ---------------------------------------------------------------------------

    async def command(self, kind: str, on_ack: OnAck | None = None, **fields: Any) -> None:
        """Send a command with a fresh ``ref``; its ack or error is handled in ``on_frame``."""
        self.next_ref += 1
        self.pending[self.next_ref] = (kind, on_ack)
        await self.ws.send_message(json.dumps({"type": kind, "ref": self.next_ref, **fields}))

    # -- receiving -------------------------------------------------------------------------

    async def run(self) -> None:
        while not self.done:
            frame: Frame = json.loads(await self.ws.get_message())
            await self.on_frame(frame)

    async def on_frame(self, frame: Frame) -> None:
        kind = frame["type"]
        cid = frame.get("conversation_id", "")
        if kind in ("ack", "error"):
            command, on_ack = self.pending.pop(frame.get("ref") or 0, ("?", None))
            if kind == "error":
                say(f"{command} refused: {frame['code']}: {frame['message']}")
                if command == "conversation.resolve" and self.once:
                    self.failed = self.done = True
            elif on_ack is not None:
                await on_ack(frame.get("result") or {})
        elif kind == "hello":
            agent = frame["agent"]
            self.agent_id = agent["agent_id"]
            opened = len(frame["conversations"])
            say(f"hello {self.agent_id}: {agent['status']}, {opened} open conversation(s)")
            for conversation in frame["conversations"]:  # resynchronise after a reconnect
                await self.take(conversation["conversation_id"], greet=False)
            await self.command("status.set", status="online")
        elif kind == "status.changed":
            say(f"status: {frame['status']}")
        elif kind == "conversation.assigned":
            say(f"{cid}: assigned ({frame['conversation']['channel']})")
            await self.take(cid, greet=True)
        elif kind == "conversation.message":
            await self.on_message(cid, frame["message"])
        elif kind == "conversation.resolved":
            say(f"{cid}: resolved as {frame['topic']!r}")
            ours = self.chats.pop(cid, None) is not None  # not one we were only invited to
            self.done = self.once and ours
        elif kind in ("conversation.transferred", "conversation.requeued", "conversation.removed"):
            if kind != "conversation.transferred" or frame["to_agent"] or frame["to_queue"]:
                self.chats.pop(cid, None)  # a transfer with neither target failed: still ours
            say(f"{cid}: {kind.removeprefix('conversation.')}")
        else:  # parked, unparked, invited, sla.alert...
            say(f"{kind}: {cid}")

    async def take(self, cid: str, *, greet: bool) -> None:
        """A conversation is ours: greet the customer and read what they wrote so far."""
        self.chats[cid] = Chat(cid)
        if greet:
            await self.greet(cid)

        async def transcript_read(result: Frame) -> None:
            chat = self.chats.get(cid)
            if chat is None:
                return
            entries = [e for e in result["transcript"] if e["type"] == "message"]
            chat.customer_messages.update(
                e["provider_message_id"] for e in entries if e["direction"] == "in"
            )
            if not greet and not any(e.get("agent_id") == self.agent_id for e in entries):
                await self.greet(cid)
            await self.maybe_resolve(chat)

        await self.command("conversation.get", transcript_read, conversation_id=cid)

    async def greet(self, cid: str) -> None:
        text = f"Hello, this is {self.agent_id.title()}. How can I help?"
        await self.command(
            "message.send", conversation_id=cid, content={"kind": "text", "body": text}
        )

    async def on_message(self, cid: str, message: Frame) -> None:
        if message.get("delivery"):  # a status change of a message sent on this chat
            say(f"{cid}: message {message['message_id']} {message['status']}")
            return
        if message["direction"] == "out":  # a colleague wrote in a chat we were invited to
            say(f"{cid}: {message['agent_id']} wrote {shown(message['content'])}")
            return
        say(f"{cid}: customer wrote {shown(message['content'])}")
        chat = self.chats.get(cid)
        if chat is not None:
            chat.customer_messages.add(message["provider_message_id"])
            await self.maybe_resolve(chat)

    async def maybe_resolve(self, chat: Chat) -> None:
        if len(chat.customer_messages) >= 2 and not chat.resolving:
            chat.resolving = True
            await self.command(
                "conversation.resolve", conversation_id=chat.conversation_id, topic=self.topic
            )


def shown(content: Frame) -> str:
    """A message's content in one line (docs/content.md lists the kinds)."""
    return repr(content["body"]) if content["kind"] == "text" else f"[{content['kind']}]"


def say(text: str) -> None:
    print(text, flush=True)


async def main(url: str, token: str, *, topic: str, once: bool) -> int:
    headers = [(b"Authorization", f"Bearer {token}".encode())]
    try:
        async with open_websocket_url(url, extra_headers=headers) as ws:
            client = AgentClient(ws, topic=topic, once=once)
            await client.run()
            return 1 if client.failed else 0
    except ConnectionRejected as refused:  # a wrong token: 401 before the socket opens
        say(f"{url} refused the connection: HTTP {refused.status_code}")
    except HandshakeError as error:
        say(f"cannot connect to {url}: {error.__cause__ or error!r}")
    except ConnectionClosed as closed:  # e.g. 1008 when the client falls too far behind
        say(f"connection closed: {closed.reason}")
    return 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8080/ws/agent", help="agent websocket")
    parser.add_argument("--token", default="demo-ayse", help="the agent's bearer token")
    parser.add_argument("--topic", default="greeting", help="topic to resolve conversations with")
    parser.add_argument(
        "--once", action="store_true", help="exit after handling (resolving) one conversation"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    sys.exit(trio.run(partial(main, args.url, args.token, topic=args.topic, once=args.once)))
