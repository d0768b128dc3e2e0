"""Storage on a real Redis-compatible server: records, the writer, the inbox, the archive."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import msgspec
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from actors.messages import Inbound
from actors.routing.model import (
    AgentState,
    AgentStatus,
    Capacity,
    Channel,
    ConversationState,
    ConversationStatus,
)
from storage import codec
from storage.codec import CodecError, decode, encode
from storage.store import AcceptResult, Storage
from storage.writer import MISSING, Writer
from tests.support.writer import Holding


@pytest.fixture
def storage(redis_url: str) -> Iterator[Storage]:
    store = Storage(redis_url)
    yield store
    store.close()


class _Done:
    """A completion the writer tells, waited on from the test's thread."""

    def __init__(self) -> None:
        self.future: Future[Any] = Future()

    def set(self, value: Any = None) -> None:
        self.future.set_result(value)

    def set_exception(self, exc_info: Any = None) -> None:
        self.future.set_exception(exc_info[1])

    def get(self) -> Any:
        return self.future.result(timeout=10)


# -- records -------------------------------------------------------------------------

conversation_states = st.builds(
    ConversationState,
    conversation_id=st.text(min_size=1, max_size=12),
    customer_id=st.text(min_size=1, max_size=12),
    channel=st.sampled_from(Channel),
    account=st.text(max_size=8),
    queue_id=st.text(min_size=1, max_size=8),
    status=st.sampled_from(ConversationStatus),
    priority=st.integers(-5, 5),
    agent_id=st.none() | st.text(min_size=1, max_size=8),
    invited=st.frozensets(st.text(min_size=1, max_size=5), max_size=3),
    topic=st.none() | st.text(max_size=10),
    created_at=st.floats(0, 2e9),
    queued_at=st.none() | st.floats(0, 2e9),
    queue_seq=st.integers(0, 2**40),
)


@given(conversation_states)
def test_a_conversation_reads_back_as_it_was_written(state: ConversationState) -> None:
    assert decode(encode(state), ConversationState) == state


def test_an_agent_reads_back_with_its_per_channel_capacity_and_chats() -> None:
    agent = AgentState(
        "ayse",
        queues=frozenset({"sales", "support"}),
        skills={"turkish": 5},
        capacity=Capacity(4, {Channel.WHATSAPP: 2}),
        status=AgentStatus.ONLINE,
        status_since=1.7e9,
        active={"c1": Channel.WHATSAPP},
        parked={"c2": Channel.EMAIL},
    )
    assert decode(encode(agent), AgentState) == agent


def test_a_record_of_an_older_version_still_reads() -> None:
    # version 0 had no queue_seq and called the topic "subject"
    old = msgspec.msgpack.encode(
        (0, {"conversation_id": "c1", "customer_id": "u", "channel": "telegram",
             "account": "a", "queue_id": "q", "subject": "billing"})
    )  # fmt: skip

    @codec.upgrade("ConversationState", 0)
    def _rename(payload: dict[str, Any]) -> dict[str, Any]:
        payload["topic"] = payload.pop("subject")
        return payload

    state = decode(old, ConversationState)
    assert (state.topic, state.queue_seq, state.channel) == ("billing", 0, Channel.TELEGRAM)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (msgspec.msgpack.encode((99, {})), "newer than this server"),
        (msgspec.msgpack.encode((1, {"conversation_id": 5})), "cannot read"),
        (b"\xc1garbage", "cannot read"),
    ],
)
def test_unreadable_records_are_errors_that_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        decode(data, ConversationState)


# -- the writer ----------------------------------------------------------------------------


def test_writes_arrive_in_order_and_each_step_whole(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    writer = Writer(client)
    try:
        for i in range(2000):
            writer.commit([("RPUSH", "order", i), ("INCR", "steps")], {"last": str(i).encode()})
        assert writer.flush()
        assert [int(x) for x in client.lrange("order", 0, -1)] == list(range(2000))
        assert client.get("last") == b"1999"
        assert int(client.get("steps")) == 2000
        stats = writer.stats()
        assert stats.steps == 2000
        assert stats.rounds < 2000  # steps share round trips
    finally:
        writer.close()
        client.close()


def test_a_reader_sees_the_newest_snapshot_before_it_is_written(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    gate = threading.Event()
    writer = Writer(client)
    try:
        # hold the writer thread inside a round so the next snapshot stays pending
        writer.commit([], {"k": b"old"}, done=Holding(gate))
        writer.commit([], {"k": b"new"})
        assert writer.pending("k") in (b"new", MISSING)
        gate.set()
        writer.flush()
        assert writer.pending("k") is MISSING
        assert client.get("k") == b"new"
    finally:
        gate.set()
        writer.close()
        client.close()


def test_a_failed_command_fails_only_its_own_step(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("text", "x")
    writer = Writer(client)
    good, bad = _Done(), _Done()
    try:
        writer.commit([("INCR", "text")], done=bad)  # WRONGTYPE-like: not an integer
        writer.commit([("INCR", "n")], done=good)
        assert good.get() == [1]
        with pytest.raises(redis.ResponseError):
            bad.get()
    finally:
        writer.close()
        client.close()


def test_a_command_redis_refuses_fails_its_step_and_the_round_is_written_without_it(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)
    gate = threading.Event()
    writer = Writer(client)
    good, bad = _Done(), _Done()
    try:
        # hold the writer in a round so that the next steps share one transaction
        writer.commit([("SET", "first", 1)], done=Holding(gate))
        writer.commit([("RPUSH", "kept", "a")], {"snap": b"s"}, done=good)
        writer.commit([("SET", "wrong-arity")], done=bad)  # refused when queued: aborts EXEC
        writer.commit([("RPUSH", "kept", "b")])
        gate.set()
        assert writer.flush()
        assert good.get() == [1]
        with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
            bad.get()
        assert client.lrange("kept", 0, -1) == [b"a", b"b"]
        assert client.get("snap") == b"s"
        assert writer.stats().healthy
        writer.commit([("SET", "after", 1)])  # the writer lives on
        assert writer.flush()
        assert client.get("after") == b"1"
    finally:
        gate.set()
        writer.close()
        client.close()


def test_a_stalled_server_shows_as_unhealthy_and_the_round_lands_once(
    redis_factory: Any, tmp_path: Any
) -> None:
    server = redis_factory(tmp_path / "data")
    storage = Storage(server.url)  # the writer's connection waits without a time-out
    writer = Writer(storage._write_client, stall_s=0.2)
    try:
        assert server.pid is not None
        os.kill(server.pid, signal.SIGSTOP)
        try:
            writer.commit([("RPUSH", "once", "x")])
            assert not writer.flush(timeout=0.5)
            assert not writer.healthy  # the round waits on a server that does not answer
        finally:
            os.kill(server.pid, signal.SIGCONT)
        assert writer.flush()
        assert writer.healthy
        assert storage.client.lrange("once", 0, -1) == [b"x"]  # not cut off and sent again
    finally:
        writer.close()
        storage.close()


def test_the_writer_keeps_steps_while_the_server_is_down(redis_factory: Any, tmp_path: Any) -> None:
    server = redis_factory(tmp_path / "data")
    client = redis.Redis.from_url(server.url)
    writer = Writer(client, retry_initial_s=0.02, retry_max_s=0.1)
    try:
        writer.commit([("SET", "before", 1)])
        assert writer.flush()
        server.kill()
        done = _Done()
        writer.commit([("SET", "during", 2)], done=done)
        assert not writer.flush(timeout=0.3)  # nothing dropped, just waiting
        assert not writer.healthy
        server.start()
        assert done.get() == [True]
        assert writer.healthy
        assert client.get("before") == b"1"
        assert client.get("during") == b"2"
    finally:
        writer.close()
        client.close()


# -- the inbox -----------------------------------------------------------------------------


def _inbound(provider_id: str, text: str = "merhaba", sender: str = "905321112233") -> Inbound:
    return Inbound(
        Channel.WHATSAPP, "acc", sender, provider_id, 1.7e9, {"kind": "text", "text": text}
    )


def test_an_accepted_message_waits_in_the_inbox_until_acknowledged(storage: Storage) -> None:
    done = _Done()
    storage.accept([_inbound("wamid.1"), _inbound("wamid.2", "ikinci")], done)
    results: list[AcceptResult] = done.get()
    assert [r.duplicate for r in results] == [False, False]
    inbox = storage.inbox()
    assert [m.provider_message_id for m in inbox] == ["wamid.1", "wamid.2"]
    assert inbox[0].inbox_id == results[0].inbox_id
    storage.writer.commit([storage.inbox_ack(results[0].inbox_id or "")])
    storage.writer.flush()
    assert [m.provider_message_id for m in storage.inbox()] == ["wamid.2"]


def test_a_retried_provider_message_is_a_duplicate_even_after_it_was_recorded(
    storage: Storage,
) -> None:
    first = _Done()
    storage.accept([_inbound("wamid.1")], first)
    [accepted] = first.get()
    storage.writer.commit([storage.inbox_ack(accepted.inbox_id)])
    again = _Done()
    storage.accept([_inbound("wamid.1"), _inbound("wamid.3")], again)
    assert [r.duplicate for r in again.get()] == [True, False]
    assert [m.provider_message_id for m in storage.inbox()] == ["wamid.3"]
    ttl = storage.client.ttl(storage.keys.dedupe("whatsapp", "acc", "wamid.1"))
    assert ttl > 6 * 24 * 3600  # providers retry for up to 7 days


def test_ids_never_repeat_across_storage_instances(redis_url: str) -> None:
    first = Storage(redis_url)
    a = [first.next_id("conversation") for _ in range(5)]
    first.close()
    second = Storage(redis_url)  # a restart: the rest of the first block is skipped
    b = [second.next_id("conversation") for _ in range(5)]
    second.close()
    assert len(set(a + b)) == 10
    assert min(b) > max(a)


# -- archive -------------------------------------------------------------------------------


def _archived(storage: Storage, n: int) -> list[ConversationState]:
    states = []
    for i in range(n):
        state = ConversationState(
            f"c{i}",
            f"cus_{i % 3}",
            [Channel.WHATSAPP, Channel.TELEGRAM, Channel.EMAIL][i % 3],
            "acc",
            ["sales", "support"][i % 2],
            status=ConversationStatus.RESOLVED if i % 4 == 0 else ConversationStatus.QUEUED,
            agent_id=f"agent{i % 2}",
            topic="billing" if i % 5 == 0 else None,
            created_at=1000.0 + i,
        )
        journal = storage.conversation_journal()
        journal.save(state.conversation_id, None, state, [("log", {"type": "message", "n": i})])
        states.append(state)
    storage.writer.flush()
    return states


def test_archive_filters_combine_and_page_newest_first(storage: Storage) -> None:
    states = _archived(storage, 40)
    page = storage.archive("default", filters={"queue": "sales"}, limit=5)
    expected = sorted((s for s in states if s.queue_id == "sales"), key=lambda s: -s.created_at)
    assert page.total == 20
    assert page.conversations == expected[:5]
    page2 = storage.archive("default", filters={"queue": "sales"}, offset=5, limit=5)
    assert page2.conversations == expected[5:10]
    both = storage.archive("default", filters={"queue": "sales", "status": "resolved"}, limit=100)
    assert {s.conversation_id for s in both.conversations} == {
        s.conversation_id
        for s in states
        if s.queue_id == "sales" and s.status is ConversationStatus.RESOLVED
    }
    dated = storage.archive("default", since=1010, until=1014.5)
    assert [s.conversation_id for s in dated.conversations] == ["c14", "c13", "c12", "c11", "c10"]
    with pytest.raises(ValueError, match="unknown filter"):
        storage.archive("default", filters={"colour": "red"})


def test_a_customer_history_spans_channels(storage: Storage) -> None:
    _archived(storage, 9)
    history = storage.history("default", "cus_0")
    assert [s.conversation_id for s in history] == ["c6", "c3", "c0"]
    assert storage.transcript("c3") == [{"type": "message", "n": 3}]


def test_retention_deletes_only_old_resolved_transcripts(storage: Storage) -> None:
    states = _archived(storage, 20)
    removed = storage.purge_before("default", cutoff=1010.0)
    old_resolved = [s for s in states if s.created_at < 1010 and s.status.value == "resolved"]
    assert removed == len(old_resolved)
    for state in states:
        gone = state in old_resolved
        assert (storage.conversation(state.conversation_id) is None) is gone
        assert (storage.transcript(state.conversation_id) == []) is gone
    page = storage.archive("default", limit=100)
    assert page.total == 20 - removed


def test_configuration_objects_are_kept_per_workspace(storage: Storage) -> None:
    storage.put_config("acme", "topics", "billing", {"name": "Billing"})
    storage.put_config("globex", "topics", "billing", {"name": "Faturalar"})
    assert storage.get_config("acme", "topics", "billing", dict) == {"name": "Billing"}
    assert storage.list_config("globex", "topics", dict) == {"billing": {"name": "Faturalar"}}
    assert storage.delete_config("acme", "topics", "billing")
    assert storage.get_config("acme", "topics", "billing", dict) is None
    assert storage.workspaces() == ["acme", "globex"]
