"""Simulated agents on ``/ws/agent``: online, take chats, reply, park, resolve, drop, return.

How this works: each :class:`SimAgent` keeps one connection at a time and a task per chat
it holds, under a nursery that outlives connections (a drop does not end the chats: the
server keeps them for the disconnect grace period).  What reaches the socket goes to the
:class:`~switchboard.loadtest.ledger.Ledger` the moment it is read — chats added and
taken away, customer messages by provider id — so the invariants are checked against
exactly what the agent saw.

A chat's life (normal mode): after a think time (exponential) the agent answers the
customer's latest messages with one reply; after its first reply it parks the chat with
probability ``park_share`` and the customer is asked to come back (they write again
later, which unparks it); after an exponential handle time from the moment it got the
chat, it resolves it under a topic.  Now and then an agent steps away (``away``, then
``online`` again) or loses its connection; on reconnecting, the ``hello`` replaces its
view of what it holds, and it reads each chat's transcript (``conversation.get``) for
customer messages that came while it was gone — and those of chats it was resolving when
the connection dropped (the resolve may have been carried out without its answer, and
with the messages pushed ahead of it still on the way).  A chat taken over from a
colleague (requeued, unparked to the queue, transferred) has its history read too, as an
agent's desktop shows it: what reached the colleague's closed socket is there.

Erlang mode: capacity 1, no replies, no park, no think time, no drops; a chat is resolved
exactly its customer's pre-drawn handle time after ``conversation.assigned`` reached the
agent, so the run can be compared with an ideal center serving the same sample.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, open_websocket_url

if TYPE_CHECKING:
    from switchboard.loadtest.scenario import Simulation

__all__ = ["Chat", "SimAgent"]

logger = logging.getLogger(__name__)

TOPICS = ("billing", "delivery", "returns", "account", "technical", "other")
_CLOSING = ("conversation.resolved", "conversation.transferred", "conversation.requeued",
            "conversation.removed")  # fmt: skip
#: seconds a command may wait for its answer before the agent gives up on it
_ASK_TIMEOUT_S = 20.0


@dataclass(slots=True)
class Chat:
    """One chat as the agent holding it knows it."""

    conversation_id: str
    since: float  # when it became this agent's (assigned, or found in a hello)
    news: trio.Event = field(default_factory=trio.Event)
    pids: list[str] = field(default_factory=list)  # customer messages seen, in order
    answered: int = 0  # how many of ``pids`` a reply went out for
    parked: bool = False
    park_decided: bool = False
    scope: trio.CancelScope | None = None
    resolve_sent: float = math.nan

    def poke(self) -> None:
        self.news.set()
        self.news = trio.Event()


class SimAgent:
    """One agent: a connection at a time, a task per chat, behaviour from ``sim.scenario``."""

    def __init__(self, sim: Simulation, agent_id: str, token: str, capacity: int) -> None:
        self.sim = sim
        self.agent_id = agent_id
        self.token = token
        self.capacity = capacity
        self.rng = random.Random(f"{sim.scenario.seed}:agent:{agent_id}")
        self.chats: dict[str, Chat] = {}
        self.ws: WebSocketConnection | None = None
        self.connected = trio.Event()
        self.status = "offline"
        self.ready = trio.Event()  # online for the first time
        self.drops = 0
        self.errors: dict[str, int] = {}
        self.replies = 0
        self.parks = 0
        self.resolves = 0
        self._refs = itertools.count(1)
        self._asks: dict[str, tuple[trio.Event, list[dict[str, Any]]]] = {}
        self._nursery: trio.Nursery | None = None
        self._drop_now = trio.Event()
        self.ledger = sim.ledger
        self.ledger.agent(agent_id, capacity)

    # -- connection ------------------------------------------------------------------------

    async def run(self) -> None:
        """Until the simulation is over: connect, work, and reconnect after each drop."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if not self.sim.scenario.erlang:
                nursery.start_soon(self._moods)
            while not self.sim.ended.is_set():
                try:
                    await self._session()
                except (ConnectionClosed, HandshakeError, OSError, trio.BrokenResourceError) as e:
                    self._count(f"connection: {type(e).__name__}")
                if self.sim.ended.is_set():
                    break
                await trio.sleep(self.rng.uniform(0.2, 2.0))  # back after a moment
            nursery.cancel_scope.cancel()

    async def _session(self) -> None:
        url = f"{self.sim.target.ws_url}/ws/agent?token={self.token}"
        async with open_websocket_url(url, max_message_size=64 * 2**20) as ws:
            hello = json.loads(await ws.get_message())
            self._note("connected", detail=json.dumps(hello.get("agent", {}).get("active", [])))
            self.ws = ws
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._read, ws, nursery.cancel_scope)
                    await self._hello(hello)
                    if self.status != "away":
                        await self.ask("status.set", status="online")
                        self.status = "online"
                    self.connected.set()
                    self.ready.set()
                    await self._until_drop()
                    nursery.cancel_scope.cancel()
            finally:
                self._note("disconnected")
                self.ws = None
                # waiters of this event wake, see no socket and wait for the next one
                gone, self.connected = self.connected, trio.Event()
                gone.set()

    async def _until_drop(self) -> None:
        scenario = self.sim.scenario
        every = scenario.drop_every_s
        with trio.move_on_after(self.rng.expovariate(1 / every) if every > 0 else math.inf):
            await self._drop_now.wait()
            self._drop_now = trio.Event()
        if not self.sim.ended.is_set():
            self.drops += 1  # leaving the block closes the socket: the server sees a drop

    async def stop(self) -> None:
        """The simulation is over: leave the connection (chats must be resolved by now)."""
        self._drop_now.set()

    async def _hello(self, hello: dict[str, Any]) -> None:
        profile = hello.get("agent", {})
        active = [str(c) for c in profile.get("active", ())]
        parked = [str(c) for c in profile.get("parked", ())]
        now = trio.current_time()
        self.ledger.hello(self.agent_id, active, parked, now)
        held = set(active) | set(parked)
        # a resolve sent on the lost connection may have been carried out while what the
        # conversation pushed before it was still on its way: read those transcripts too
        unsure = [
            cid for cid, chat in self.chats.items()
            if cid not in held and not math.isnan(chat.resolve_sent)
        ]  # fmt: skip
        for conversation_id in list(self.chats):
            if conversation_id not in held:
                self._forget(conversation_id)
        first = not self.ready.is_set()
        for conversation_id in held:
            chat = self.chats.get(conversation_id)
            if chat is None:
                chat = self._take(conversation_id, now)
            chat.parked = conversation_id in parked
        if not first:
            assert self._nursery is not None
            for conversation_id in sorted(held) + sorted(unsure):  # at once: chats move on
                self._nursery.start_soon(self._catch_up, conversation_id)

    async def _catch_up(self, conversation_id: str) -> None:
        """Customer messages this agent may not have seen live: from the transcript."""
        answer = await self.ask("conversation.get", conversation_id=conversation_id)
        transcript = (answer or {}).get("result", {}).get("transcript", [])
        chat = self.chats.get(conversation_id)
        for entry in transcript:
            pid = entry.get("provider_message_id") if isinstance(entry, dict) else None
            if entry.get("direction") == "in" and isinstance(pid, str):
                self.ledger.recovered(pid)
                if chat is not None and pid not in chat.pids:
                    chat.pids.append(pid)
                    chat.poke()

    # -- what the server says --------------------------------------------------------------

    async def _read(self, ws: WebSocketConnection, scope: trio.CancelScope) -> None:
        try:
            while True:
                self._frame(json.loads(await ws.get_message()))
        except ConnectionClosed:
            scope.cancel()

    def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        now = trio.current_time()
        conversation_id = str(frame.get("conversation_id", ""))
        if kind == "conversation.message":
            message = frame.get("message") or {}
            pid = message.get("provider_message_id")
            if message.get("direction") == "in" and isinstance(pid, str):
                self.ledger.delivered(self.agent_id, conversation_id, pid, now)
                chat = self.chats.get(conversation_id)
                if chat is not None and pid not in chat.pids:
                    chat.pids.append(pid)
                    chat.poke()
        elif kind in ("conversation.assigned", "conversation.unparked"):
            self._note(kind, conversation_id)
            if kind == "conversation.assigned" and self.ledger.activations.get(conversation_id):
                # taken over from a colleague (requeued, unparked to the queue, transferred):
                # like an agent's desktop, read the history the colleague had
                assert self._nursery is not None
                self._nursery.start_soon(self._catch_up, conversation_id)
            self.ledger.activated(self.agent_id, conversation_id, now)
            chat = self.chats.get(conversation_id)
            if chat is None:
                self._take(conversation_id, now)
            else:
                chat.parked = False
                chat.poke()
        elif kind == "conversation.parked":
            self._note(kind, conversation_id)
            self.ledger.holdings[self.agent_id].parked_chat(conversation_id)
        elif kind in _CLOSING:
            self._note(kind, conversation_id)
            self.ledger.holdings[self.agent_id].closed(conversation_id)
            self._forget(conversation_id)
        elif kind in ("ack", "error"):
            self._answer(frame)

    def _answer(self, frame: dict[str, Any]) -> None:
        ref = frame.get("ref")
        if frame["type"] == "error":
            self._count(str(frame.get("code")))
        waiting = self._asks.pop(str(ref), None) if ref is not None else None
        if waiting is not None:
            event, box = waiting
            box.append(frame)
            event.set()

    def _note(self, what: str, conversation_id: str = "", detail: str = "") -> None:
        """The agent's journal (``--raw``): what happened to it, when, for investigations."""
        self.sim.journal.append((trio.current_time(), self.agent_id, what, conversation_id, detail))

    def _count(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    # -- commands --------------------------------------------------------------------------

    async def send(self, kind: str, **fields: Any) -> str | None:
        """Send a command (with a ref, so an error is counted); None if not connected."""
        ws = self.ws
        if ws is None:
            return None
        ref = f"{self.agent_id}:{next(self._refs)}"
        try:
            await ws.send_message(json.dumps({"type": kind, "ref": ref, **fields}))
        except ConnectionClosed:
            return None
        return ref

    async def ask(self, kind: str, **fields: Any) -> dict[str, Any] | None:
        """Send a command and wait for its ``ack`` or ``error`` (None: no answer)."""
        event = trio.Event()
        box: list[dict[str, Any]] = []
        ws = self.ws
        if ws is None:
            return None
        ref = f"{self.agent_id}:{next(self._refs)}"
        self._asks[ref] = (event, box)
        asked = trio.current_time()
        try:
            await ws.send_message(json.dumps({"type": kind, "ref": ref, **fields}))
            with trio.move_on_after(_ASK_TIMEOUT_S):
                await event.wait()
        except ConnectionClosed:
            pass
        finally:
            self._asks.pop(ref, None)
        if box:
            self.sim.command_times.setdefault(kind, []).append(trio.current_time() - asked)
        return box[0] if box else None

    async def _connected(self) -> None:
        while self.ws is None:
            await self.connected.wait()

    # -- chats -----------------------------------------------------------------------------

    def _take(self, conversation_id: str, now: float) -> Chat:
        chat = Chat(conversation_id, now)
        self.chats[conversation_id] = chat
        assert self._nursery is not None
        work: Callable[[Chat], Any] = self._erlang_chat if self.sim.scenario.erlang else self._chat
        self._nursery.start_soon(work, chat)
        return chat

    def _forget(self, conversation_id: str) -> None:
        chat = self.chats.pop(conversation_id, None)
        # a chat being resolved ends by itself (its task counts the answer)
        if chat is not None and chat.scope is not None and math.isnan(chat.resolve_sent):
            chat.scope.cancel()

    async def _chat(self, chat: Chat) -> None:
        scenario = self.sim.scenario
        rng = self.rng
        deadline = chat.since + rng.expovariate(1 / scenario.handle_time_s)
        with trio.CancelScope() as chat.scope:
            while not self.sim.closed.is_set():
                if chat.answered < len(chat.pids) and not chat.parked:
                    think = (
                        rng.expovariate(1 / scenario.think_time_s) if scenario.think_time_s else 0
                    )
                    with trio.move_on_at(min(deadline, trio.current_time() + think)):
                        await self.sim.closed.wait()
                    if self.sim.closed.is_set() or trio.current_time() >= deadline:
                        break
                    await self._reply(chat)
                    continue
                if trio.current_time() >= deadline:
                    break
                with trio.move_on_at(deadline):
                    await chat.news.wait()
            await self._resolve(chat)

    async def _reply(self, chat: Chat) -> None:
        await self._connected()
        count = len(chat.pids)
        body = f"Reply to message {count}: we are looking into it."
        ref = await self.send("message.send", conversation_id=chat.conversation_id,
                              content={"kind": "text", "body": body})  # fmt: skip
        if ref is None:
            return
        chat.answered = count
        self.replies += 1
        if not chat.park_decided:
            chat.park_decided = True
            if self.rng.random() < self.sim.scenario.park_share:
                chat.parked = True
                self.parks += 1
                self._note("park", chat.conversation_id)
                await self.send("conversation.park", conversation_id=chat.conversation_id)
                if chat.pids:
                    self.sim.customer_told_to_come_back(chat.pids[0])

    async def _resolve(self, chat: Chat) -> None:
        cid = chat.conversation_id
        while self.chats.get(cid) is chat:
            await self._connected()
            chat.resolve_sent = trio.current_time()
            self._note("resolve", cid)
            answer = await self.ask("conversation.resolve", conversation_id=cid,
                                    topic=self.rng.choice(TOPICS))  # fmt: skip
            if answer is not None:
                # acknowledged: no longer ours; refused: it was not (any more) — moved on
                # while we were busy, or resolved by an earlier try whose answer was lost
                self.resolves += answer.get("type") == "ack"
                self._note(f"resolve {answer.get('type')}", cid, str(answer.get("code", "")))
                self.ledger.holdings[self.agent_id].closed(cid)
                if self.chats.get(cid) is chat:
                    del self.chats[cid]
                return

    async def _erlang_chat(self, chat: Chat) -> None:
        with trio.CancelScope() as chat.scope:
            while not chat.pids:
                await chat.news.wait()
            handle = self.sim.handle_time_of(chat.pids[0])
            await trio.sleep_until(chat.since + handle)
            self.sim.erlang_departure(chat.pids[0], chat.since, trio.current_time())
            await self._resolve(chat)

    async def resolve_all(self) -> None:
        """End of the run: resolve every chat still held (active or parked)."""
        for chat in list(self.chats.values()):
            chat.poke()

    # -- moods -----------------------------------------------------------------------------

    async def _moods(self) -> None:
        """Now and then step away for a while, then come back online."""
        scenario = self.sim.scenario
        if scenario.away_every_s <= 0:
            return
        await self.ready.wait()
        while not self.sim.closed.is_set():
            await trio.sleep(self.rng.expovariate(1 / scenario.away_every_s))
            if self.sim.closed.is_set():
                return
            await self._connected()
            self.status = "away"
            await self.ask("status.set", status="away")
            await trio.sleep(self.rng.expovariate(1 / scenario.away_for_s))
            await self._connected()
            await self.ask("status.set", status="online")
            self.status = "online"
