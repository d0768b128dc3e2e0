"""Durable storage of the routing core on Redis (see docs/storage.md).

How it works: :class:`Storage` owns one synchronous redis-py client for reads
and a :class:`~storage.writer.Writer` for every write.  Actors persist through
*journals* (one per kind of actor), which the supervisors call after each step
an actor takes; recovery reads back what the journals wrote.

* **Conversations** — a snapshot per conversation, its event log (a list of
  entries: messages both ways, status changes, assignments, transfers, topic),
  membership of the ``open`` set, and archive indexes (sorted sets by creation
  time per queue, agent, topic, channel, status and customer).
* **Agents** — a snapshot each (status and since when, capacity, skills, chats).
* **Customers** — identities and their links across channels, the last agent.
* **Inbox** — every accepted customer message is appended to a stream together
  with its provider-id dedupe key (one Lua step, so a retried webhook is seen as
  a repeat) *before* the webhook is answered; the conversation that records the
  message deletes the stream entry in the same transaction.  After a crash,
  what is left in the stream is delivered again: nothing accepted is lost and
  nothing is recorded twice.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from actors.messages import Inbound
from actors.routing.model import AgentState, ConversationState, ConversationStatus
from storage.codec import decode, decode_plain, encode
from storage.keys import Keys
from storage.writer import MISSING, Completion, Op, Writer

__all__ = [
    "AcceptResult",
    "AgentJournal",
    "ArchivePage",
    "ConversationJournal",
    "CustomerRecord",
    "DirectoryJournal",
    "Storage",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: provider retry windows: WhatsApp retries failed webhooks for up to 7 days
DEDUPE_TTL_S = 7 * 24 * 3600

_ACCEPT = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[2], '*', 'm', ARGV[2])
end
return false
"""

#: archive dimensions, each a sorted set of conversation ids by creation time
DIMENSIONS = ("queue", "agent", "topic", "channel", "status", "customer")

_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """What the directory keeps of one customer."""

    customer_id: str
    identities: list[tuple[str, str]]
    merged_into: str | None = None
    last_agent: str | None = None
    last_resolved_at: float | None = None
    #: "channel|account" -> the last closed conversation there (to link a new one)
    last_closed: dict[str, str] | None = None
    profile: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AcceptResult:
    """One message offered to the inbox: its stream id, or None if it was a repeat."""

    inbox_id: str | None

    @property
    def duplicate(self) -> bool:
        return self.inbox_id is None


@dataclass(frozen=True, slots=True)
class ArchivePage:
    conversations: list[ConversationState]
    total: int
    offset: int
    limit: int


class Storage:
    """Redis-backed storage for one server (one prefix)."""

    def __init__(self, url: str, *, prefix: str = "sb", client: redis.Redis | None = None) -> None:
        self.url = url
        self.keys = Keys(prefix)
        self.client = client if client is not None else redis.Redis.from_url(url)
        # the writer's own connection: its round trips never queue behind reads; it
        # blocks without a time-out (a round is never cut off and sent again half-applied;
        # a stalled round shows as ``healthy`` false), and each call is one system call
        tcp = {"socket_keepalive": True} if url.startswith(("redis:", "rediss:")) else {}
        self._write_client = (
            redis.Redis.from_url(url, socket_timeout=None, **tcp) if client is None else client
        )
        self.writer = Writer(self._write_client)
        self._id_lock = threading.Lock()
        self._id_blocks: dict[str, tuple[int, int]] = {}  # counter -> (next, end)

    def close(self) -> None:
        """Write everything pending, then close the connections."""
        self.writer.close()
        self.client.close()
        self._write_client.close()

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    # -- ids -----------------------------------------------------------------------------

    def next_id(self, counter: str, block: int = 1000) -> int:
        """A number never handed out before under ``counter``, even across restarts.

        Ids are reserved from Redis ``block`` at a time, so this is a round trip
        once per block; a crash wastes at most the rest of a block.
        """
        with self._id_lock:
            nxt, end = self._id_blocks.get(counter, (0, 0))
            if nxt >= end:
                end = int(self.client.hincrby(self.keys.counters, counter, block)) + 1
                nxt = end - block
            self._id_blocks[counter] = (nxt + 1, end)
            return nxt

    # -- inbox -----------------------------------------------------------------------------

    def accept(
        self,
        inbound: Sequence[Inbound],
        done: Completion,
        *,
        ttl_s: int = DEDUPE_TTL_S,
    ) -> None:
        """Append customer messages to the inbox, skipping provider ids seen before.

        ``done`` gets one stream id per message (``None`` for a repeat) once the
        step is on disk.
        """
        keys = self.keys
        ops: list[Op] = []
        for message in inbound:
            channel, account = message.channel.value, message.account
            dedupe = keys.dedupe(channel, account, message.provider_message_id)
            # EVAL, not EVALSHA: a restarted server has an empty script cache
            ops.append(("EVAL", _ACCEPT, 2, dedupe, keys.inbox, ttl_s, encode(message)))
        self.writer.commit(ops, done=_Decoded(done))

    def inbox(self) -> list[Inbound]:
        """Accepted messages not yet recorded by a conversation, oldest first."""
        out: list[Inbound] = []
        last = "-"
        while True:
            entries = self.client.xrange(self.keys.inbox, min=last, count=_CHUNK)
            if last != "-" and entries:
                entries = entries[1:]
            if not entries:
                return out
            for entry_id, fields in entries:
                message = decode(fields[b"m"], Inbound)
                out.append(_with_inbox_id(message, entry_id.decode()))
            last = entries[-1][0].decode()

    def inbox_ack(self, inbox_id: str) -> Op:
        return ("XDEL", self.keys.inbox, inbox_id)

    # -- outbox --------------------------------------------------------------------------------

    def outbox(self, after: str = "0", *, count: int = 100, block_ms: int | None = None,
               client: redis.Redis | None = None) -> list[tuple[str, dict[str, Any]]]:  # fmt: skip
        """Outbound messages after stream id ``after``, oldest first (``block_ms``: wait)."""
        reader = client if client is not None else self.client
        answer = reader.xread({self.keys.outbox: after}, count=count, block=block_ms)
        out: list[tuple[str, dict[str, Any]]] = []
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                out.append((entry_id.decode(), decode_plain(fields[b"m"])))
        return out

    def outbox_done(self, entry_id: str) -> Op:
        return ("XDEL", self.keys.outbox, entry_id)

    def sent_ops(
        self, channel: str, account: str, provider_id: str, conversation_id: str, message_id: str
    ) -> list[Op]:
        """Remember which conversation message a provider id is, for its receipts (30 days)."""
        key = self.keys.provider_message(channel, account, provider_id)
        return [("SET", key, f"{conversation_id}|{message_id}", "EX", 30 * 24 * 3600)]

    def message_of(self, channel: str, account: str, provider_id: str) -> tuple[str, str] | None:
        """(conversation id, message id) of a provider message id we sent, if known."""
        raw = self.client.get(self.keys.provider_message(channel, account, provider_id))
        if raw is None:
            return None
        conversation_id, _, message_id = raw.decode().partition("|")
        return conversation_id, message_id

    # -- conversations ---------------------------------------------------------------------

    def conversation(self, conversation_id: str) -> ConversationState | None:
        key = self.keys.conversation(conversation_id)
        pending = self.writer.pending(key)
        data = self.client.get(key) if pending is MISSING else pending
        return None if data is None else decode(data, ConversationState)

    def conversations(self, ids: Iterable[str]) -> list[ConversationState]:
        """Snapshots of ``ids`` (missing ones skipped), read in chunks."""
        return list(self._read_many([self.keys.conversation(i) for i in ids], ConversationState))

    def open_conversations(self) -> list[ConversationState]:
        ids = sorted(m.decode() for m in self.client.smembers(self.keys.open))
        return self.conversations(ids)

    def transcript(self, conversation_id: str, start: int = 0, stop: int = -1) -> list[Any]:
        """The conversation's log entries (plain maps), oldest first."""
        raw = self.client.lrange(self.keys.log(conversation_id), start, stop)
        return [decode_plain(item) for item in raw]

    def log_entry(self, conversation_id: str, entry: Mapping[str, Any]) -> Op:
        return ("RPUSH", self.keys.log(conversation_id), encode(dict(entry)))

    def conversation_ops(
        self, old: ConversationState | None, new: ConversationState, created: float
    ) -> list[Op]:
        """Index and open-set updates for a conversation that changed from ``old``."""
        keys = self.keys
        ws = new.workspace
        cid = new.conversation_id
        ops: list[Op] = []
        if old is None:
            ops.append(("ZADD", keys.index_all(ws), created, cid))
            ops.append(("ZADD", keys.index(ws, "channel", new.channel.value), created, cid))
            ops.append(("ZADD", keys.index(ws, "customer", new.customer_id), created, cid))
        closed = new.status is ConversationStatus.RESOLVED
        if old is None or (old.status is ConversationStatus.RESOLVED) != closed:
            ops.append(("SREM" if closed else "SADD", keys.open, cid))
        for dimension, before, after in (
            ("status", old and old.status.value, new.status.value),
            ("queue", old and old.queue_id, new.queue_id),
            ("topic", old and old.topic, new.topic),
        ):
            if before != after:
                if before:
                    ops.append(("ZREM", keys.index(ws, dimension, before), cid))
                if after:
                    ops.append(("ZADD", keys.index(ws, dimension, after), created, cid))
        agent = new.agent_id
        if agent is not None and (old is None or old.agent_id != agent):
            ops.append(("ZADD", keys.index(ws, "agent", agent), created, cid))
        return ops

    def archive(
        self,
        workspace: str,
        *,
        filters: Mapping[str, str] | None = None,
        since: float | None = None,
        until: float | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> ArchivePage:
        """Conversations matching every filter (dimension -> value), newest first."""
        keys = self.keys
        sets = [keys.index(workspace, d, v) for d, v in sorted((filters or {}).items())]
        for dimension in filters or {}:
            if dimension not in DIMENSIONS:
                msg = f"unknown filter {dimension!r}; use one of {', '.join(DIMENSIONS)}"
                raise ValueError(msg)
        low = "-inf" if since is None else since
        high = "+inf" if until is None else until
        if not sets:
            source = keys.index_all(workspace)
        elif len(sets) == 1:
            source = sets[0]
        else:
            source = keys.scratch(secrets.token_hex(8))
            pipe = self.client.pipeline(transaction=False)
            pipe.zinterstore(source, sets, aggregate="MAX")
            pipe.expire(source, 30)
            pipe.execute()
        pipe = self.client.pipeline(transaction=False)
        pipe.zcount(source, low, high)
        pipe.zrevrangebyscore(source, high, low, start=offset, num=limit)
        total, ids = pipe.execute()
        if source.startswith(keys.scratch("")):
            self.client.delete(source)
        states = self.conversations(i.decode() for i in ids)
        return ArchivePage(states, int(total), offset, limit)

    def history(self, workspace: str, customer_id: str, limit: int = 50) -> list[ConversationState]:
        """A customer's conversations on every channel, newest first."""
        return self.archive(workspace, filters={"customer": customer_id}, limit=limit).conversations

    def purge_before(
        self,
        workspace: str,
        cutoff: float,
        batch: int = 500,
        *,
        before_delete: Callable[[list[str]], None] | None = None,
    ) -> int:
        """Delete transcripts and snapshots of resolved conversations created before ``cutoff``.

        ``before_delete`` is called with each batch's ids just before they are deleted,
        while their transcripts can still be read (retention removes their files).
        """
        keys = self.keys
        removed = 0
        start = 0
        while True:
            ids = [
                i.decode()
                for i in self.client.zrangebyscore(
                    keys.index_all(workspace), "-inf", f"({cutoff}", start=start, num=batch
                )
            ]
            if not ids:
                return removed
            states = {s.conversation_id: s for s in self.conversations(ids)}
            pipe = self.client.pipeline(transaction=True)
            kept = 0
            doomed: list[str] = []
            for cid in ids:
                state = states.get(cid)
                if state is not None and state.status is not ConversationStatus.RESOLVED:
                    kept += 1
                    continue
                pipe.delete(keys.conversation(cid), keys.log(cid))
                pipe.zrem(keys.index_all(workspace), cid)
                if state is not None:
                    for dimension, value in _dimension_values(state):
                        pipe.zrem(keys.index(workspace, dimension, value), cid)
                removed += 1
                doomed.append(cid)
            if before_delete is not None and doomed:
                before_delete(doomed)
            pipe.execute()
            start += kept

    # -- agents ---------------------------------------------------------------------------

    def agent(self, agent_id: str) -> AgentState | None:
        key = self.keys.agent(agent_id)
        pending = self.writer.pending(key)
        data = self.client.get(key) if pending is MISSING else pending
        return None if data is None else decode(data, AgentState)

    def agents(self) -> list[AgentState]:
        ids = sorted(m.decode() for m in self.client.smembers(self.keys.agents))
        return list(self._read_many([self.keys.agent(i) for i in ids], AgentState))

    # -- customers and calls ----------------------------------------------------------------

    def customer_op(self, record: CustomerRecord) -> Op:
        return ("HSET", self.keys.customers, record.customer_id, encode(record))

    def customers(self) -> Iterator[CustomerRecord]:
        for _field, value in self.client.hscan_iter(self.keys.customers, count=_CHUNK):
            yield decode(value, CustomerRecord)

    def customer(self, customer_id: str) -> CustomerRecord | None:
        data = self.client.hget(self.keys.customers, customer_id)
        return None if data is None else decode(data, CustomerRecord)

    def profile(self, customer_id: str) -> dict[str, Any]:
        """The customer's profile as agents edited it (each field JSON-encoded)."""
        raw = self.client.hgetall(self.keys.profile(customer_id))
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    def update_profile(self, customer_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Set (or, with None, clear) profile fields; the profile after the change."""
        key = self.keys.profile(customer_id)
        pipe = self.client.pipeline(transaction=True)
        for name, value in changes.items():
            if value is None:
                pipe.hdel(key, name)
            else:
                pipe.hset(key, name, json.dumps(value))
        pipe.execute()
        return self.profile(customer_id)

    def call_op(self, call_id: str, record: Mapping[str, Any] | None) -> Op:
        if record is None:
            return ("HDEL", self.keys.calls, call_id)
        return ("HSET", self.keys.calls, call_id, encode(dict(record)))

    def calls(self) -> dict[str, dict[str, Any]]:
        return {
            k.decode(): decode_plain(v) for k, v in self.client.hgetall(self.keys.calls).items()
        }

    # -- configuration objects --------------------------------------------------------------

    def put_config(self, workspace: str, kind: str, object_id: str, record: Any) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.keys.config(workspace, kind), object_id, encode(record))
        pipe.sadd(self.keys.workspaces, workspace)
        pipe.execute()

    def get_config(self, workspace: str, kind: str, object_id: str, as_type: type[T]) -> T | None:
        data = self.client.hget(self.keys.config(workspace, kind), object_id)
        return None if data is None else decode(data, as_type)

    def list_config(self, workspace: str, kind: str, as_type: type[T]) -> dict[str, T]:
        raw = self.client.hgetall(self.keys.config(workspace, kind))
        return {k.decode(): decode(v, as_type) for k, v in sorted(raw.items())}

    def delete_config(self, workspace: str, kind: str, object_id: str) -> bool:
        return bool(self.client.hdel(self.keys.config(workspace, kind), object_id))

    def workspaces(self) -> list[str]:
        return sorted(m.decode() for m in self.client.smembers(self.keys.workspaces))

    # -- journals ---------------------------------------------------------------------------

    def conversation_journal(self) -> ConversationJournal:
        return ConversationJournal(self)

    def agent_journal(self) -> AgentJournal:
        return AgentJournal(self)

    def journals(self) -> dict[str, Any]:
        """One journal per durable kind of actor, as ``Routing(journals=...)`` takes them."""
        return {
            "conversation": ConversationJournal(self),
            "agent": AgentJournal(self),
            "directory": DirectoryJournal(self),
        }

    def last_closed(self) -> dict[tuple[str, str, str], str]:
        out: dict[tuple[str, str, str], str] = {}
        for field, value in self.client.hgetall(self.keys.last_closed).items():
            customer, channel, account = field.decode().split("|", 2)
            out[(customer, channel, account)] = value.decode()
        return out

    # -- helpers ----------------------------------------------------------------------------

    def _read_many(self, keys: list[str], kind: type[T]) -> Iterator[T]:
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            values = self.client.mget(chunk)
            for key, value in zip(chunk, values, strict=True):
                pending = self.writer.pending(key)
                data = value if pending is MISSING else pending
                if data is not None:
                    yield decode(data, kind)


class ConversationJournal:
    """Persists each step of a conversation actor: snapshot, log entries, indexes."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def save(self, key: str, old: Any, new: Any, records: Sequence[Any]) -> None:
        storage = self.storage
        state: ConversationState = new
        ops: list[Op] = []
        for record in records:
            match record:
                case ("log", entry):
                    ops.append(storage.log_entry(key, entry))
                case ("ack", inbox_id):
                    ops.append(storage.inbox_ack(inbox_id))
                case ("outbox", item):
                    ops.append(("XADD", storage.keys.outbox, "*", "m", encode(item)))
                case _:
                    logger.error("conversation record not understood: %r", record)
        if old is not new:
            ops.extend(storage.conversation_ops(old, state, state.created_at))
            storage.writer.commit(ops, {storage.keys.conversation(key): encode(state)})
        else:
            storage.writer.commit(ops)

    def load(self, key: str) -> ConversationState | None:
        return self.storage.conversation(key)


class AgentJournal:
    """Persists agent snapshots (and the set of agents)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def save(self, key: str, old: Any, new: Any, records: Sequence[Any]) -> None:
        del records  # agents record nothing beyond their state
        storage = self.storage
        ops: list[Op] = [] if old is not None else [("SADD", storage.keys.agents, key)]
        storage.writer.commit(ops, {storage.keys.agent(key): encode(new)})

    def load(self, key: str) -> AgentState | None:
        return self.storage.agent(key)


class DirectoryJournal:
    """Persists what the directory records: customers, calls, last closed conversations."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def save(self, key: str, old: Any, new: Any, records: Sequence[Any]) -> None:
        del key, old, new  # the directory's state is rebuilt from its records
        if not records:
            return
        storage = self.storage
        keys = storage.keys
        ops: list[Op] = []
        for record in records:
            match record:
                case ("customer", customer_id, identities, merged_into, last_agent, resolved_at):
                    customer = CustomerRecord(
                        customer_id,
                        [tuple(k) for k in identities],
                        merged_into,
                        last_agent,
                        resolved_at,
                    )
                    ops.append(storage.customer_op(customer))
                case ("call", call_id, call):
                    ops.append(storage.call_op(call_id, call))
                case ("last_closed", (customer, channel, account), conversation_id):
                    where = f"{customer}|{channel}|{account}"
                    ops.append(("HSET", keys.last_closed, where, conversation_id))
                case _:
                    logger.error("directory record not understood: %r", record)
        storage.writer.commit(ops)

    def load(self, key: str) -> None:
        del key
        # never passivated


class _Decoded:
    """Turns the accept step's raw results (stream ids or nil) into ``AcceptResult``s."""

    def __init__(self, done: Completion) -> None:
        self.done = done

    def set(self, value: Any = None) -> None:
        results = [
            AcceptResult(None if r is None else (r.decode() if isinstance(r, bytes) else str(r)))
            for r in value or []
        ]
        self.done.set(results)

    def set_exception(self, exc_info: Any = None) -> None:
        self.done.set_exception(exc_info)


def _with_inbox_id(message: Inbound, inbox_id: str) -> Inbound:
    from dataclasses import replace  # noqa: PLC0415 -- only on recovery

    return replace(message, inbox_id=inbox_id)


def _dimension_values(state: ConversationState) -> Iterator[tuple[str, str]]:
    yield "channel", state.channel.value
    yield "customer", state.customer_id
    yield "status", state.status.value
    yield "queue", state.queue_id
    if state.topic:
        yield "topic", state.topic
    if state.agent_id:
        yield "agent", state.agent_id
