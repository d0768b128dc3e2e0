"""adapters.whatsapp.client against a real HTTP server on 127.0.0.1 that speaks Graph.

The fake Graph records every request it receives and answers from a script (429, 500,
Graph error bodies, slow answers), so each test asserts what actually went over the wire:
how many times a message was sent, to which path, with which token and body.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import trio

from adapters.content import Text
from adapters.whatsapp.client import GraphClient, MediaInfo, RetryPolicy, SendResult
from adapters.whatsapp.errors import OutcomeUnknown, ProviderError, WindowClosed
from adapters.whatsapp.outbound import build_message
from tests.support.fake_graph import (
    IMAGE,
    TO,
    Answer,
    FakeGraph,
    Received,
    graph_error,
    running_graph,
)

PHONE_NUMBER_ID = "1122334455667"
TOKEN = "EAAG-test-token"
BODY = build_message(TO, Text("Kargonuz yola çıktı."))


@pytest.fixture
async def graph(nursery: trio.Nursery) -> AsyncIterator[FakeGraph]:
    async with running_graph(nursery) as fake:
        yield fake


@dataclass(slots=True)
class Sleeps:
    """The injected sleep: records each wait, takes no time."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await trio.lowlevel.checkpoint()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
        yield client


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(graph: FakeGraph, http: httpx.AsyncClient, sleeps: Sleeps) -> GraphClient:
    return make_client(f"{graph.url}/v21.0", http, sleeps)


def make_client(base_url: str, http: httpx.AsyncClient, sleeps: Sleeps) -> GraphClient:
    return GraphClient(
        base_url,
        PHONE_NUMBER_ID,
        TOKEN,
        http=http,
        retry=RetryPolicy(attempts=4, base_delay=0.5, max_delay=8.0, jitter=0.5),
        sleep=sleeps,
        random=lambda: 0.5,
    )


async def test_a_message_is_posted_to_the_number_with_the_token(
    client: GraphClient, graph: FakeGraph, sleeps: Sleeps
) -> None:
    result = await client.send(BODY)
    assert result == SendResult("wamid.HBgM1", attempts=1)
    assert graph.received == [
        Received(
            method="POST",
            path=f"/v21.0/{PHONE_NUMBER_ID}/messages",
            query={},
            authorization=f"Bearer {TOKEN}",
            body=BODY,
        )
    ]
    assert sleeps.waits == []


async def test_a_500_is_retried_and_the_message_is_sent_once(
    client: GraphClient, graph: FakeGraph, sleeps: Sleeps
) -> None:
    graph.script = [Answer(500, graph_error(2, "Service temporarily unavailable"))]
    result = await client.send(BODY)
    assert result == SendResult("wamid.HBgM2", attempts=2)
    assert [r.body for r in graph.messages()] == [BODY, BODY]
    assert sleeps.waits == [0.375]  # 0.5 s, half of it jittered (draw 0.5)


async def test_a_429_waits_at_least_retry_after(
    client: GraphClient, graph: FakeGraph, sleeps: Sleeps
) -> None:
    graph.script = [
        Answer(429, graph_error(130429, "Rate limit hit"), headers={"Retry-After": "3"}),
        Answer(503, graph_error(1, "An unknown error occurred")),
    ]
    result = await client.send(BODY)
    assert result.attempts == 3
    assert len(graph.messages()) == 3
    assert sleeps.waits == [3.0, 0.75]


async def test_a_retry_after_longer_than_the_policy_allows_gives_up_at_once(
    client: GraphClient, graph: FakeGraph, sleeps: Sleeps
) -> None:
    graph.script = [Answer(429, graph_error(80007, "Rate limit"), headers={"Retry-After": "60"})]
    with pytest.raises(ProviderError) as caught:
        await client.send(BODY)
    assert (caught.value.code, caught.value.retryable, caught.value.permanent) == (
        80007,
        True,
        False,
    )
    assert len(graph.messages()) == 1
    assert sleeps.waits == []


async def test_persistent_5xx_gives_up_after_the_last_attempt_with_growing_waits(
    client: GraphClient, graph: FakeGraph, sleeps: Sleeps
) -> None:
    graph.script = [Answer(500, graph_error(131000, "Something went wrong"))] * 5
    with pytest.raises(ProviderError) as caught:
        await client.send(BODY)
    assert caught.value.code == 131000
    assert caught.value.retryable
    assert not caught.value.permanent
    assert caught.value.http_status == 500
    assert len(graph.messages()) == 4
    assert sleeps.waits == [0.375, 0.75, 1.5]


async def test_a_400_is_final_and_carries_graph_s_error(
    client: GraphClient, graph: FakeGraph, sleeps: Sleeps
) -> None:
    graph.script = [
        Answer(
            400,
            graph_error(
                100, "(#100) Invalid parameter", subcode=2494010, details="Parameter 'to' is bad"
            ),
        )
    ]
    with pytest.raises(ProviderError) as caught:
        await client.send(BODY)
    error = caught.value
    assert type(error) is ProviderError
    assert (error.code, error.subcode, error.http_status) == (100, 2494010, 400)
    assert error.message == "(#100) Invalid parameter"
    assert error.details == "Parameter 'to' is bad"
    assert error.trace_id == "AbCdEf123"
    assert error.permanent
    assert not error.retryable
    assert len(graph.messages()) == 1
    assert sleeps.waits == []


async def test_131047_means_the_window_is_closed(
    client: GraphClient, graph: FakeGraph, sleeps: Sleeps
) -> None:
    details = (
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number."
    )
    graph.script = [Answer(400, graph_error(131047, "Re-engagement message", details=details))]
    with pytest.raises(WindowClosed) as caught:
        await client.send(BODY)
    assert caught.value.code == 131047
    assert caught.value.message == details
    assert caught.value.permanent
    assert len(graph.messages()) == 1


@pytest.mark.parametrize(
    ("status", "code", "retryable", "permanent"),
    [
        (401, 190, False, False),  # expired token: an operator must act
        (403, 10, False, False),  # permission missing
        (400, 131056, True, False),  # pair rate limit: later, but not now
        (400, 131026, False, True),  # undeliverable
    ],
)
async def test_graph_errors_say_what_to_do_next(
    client: GraphClient,
    graph: FakeGraph,
    status: int,
    code: int,
    retryable: bool,
    permanent: bool,
) -> None:
    graph.script = [Answer(status, graph_error(code, "refused"))]
    with pytest.raises(ProviderError) as caught:
        await client.send(BODY)
    assert (caught.value.code, caught.value.retryable, caught.value.permanent) == (
        code,
        retryable,
        permanent,
    )
    assert len(graph.messages()) == 1


async def test_no_answer_after_sending_is_not_retried(graph: FakeGraph, sleeps: Sleeps) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.1)) as impatient:
        client = make_client(f"{graph.url}/v21.0", impatient, sleeps)
        graph.script = [Answer(hold=True)]
        with pytest.raises(OutcomeUnknown, match="may have been delivered"):
            await client.send(BODY, idempotency_key="reply-1")
        assert len(graph.messages()) == 1
        assert sleeps.waits == []
        # The same key again must not risk a second copy on the customer's phone.
        with pytest.raises(OutcomeUnknown, match="'reply-1' may have been delivered"):
            await client.send(BODY, idempotency_key="reply-1")
        assert len(graph.messages()) == 1
        # A deliberate new key does send.
        assert (await client.send(BODY, idempotency_key="reply-1-again")).wamid == "wamid.HBgM2"


async def test_an_unreachable_graph_is_retried_then_reported(
    http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}/v21.0", http, sleeps)
    with pytest.raises(ProviderError) as caught:
        await client.send(BODY)
    assert caught.value.retryable
    assert not caught.value.permanent
    assert "could not reach Graph (ConnectError)" in str(caught.value)
    assert sleeps.waits == [0.375, 0.75, 1.5]


async def test_the_same_idempotency_key_sends_once(client: GraphClient, graph: FakeGraph) -> None:
    first = await client.send(BODY, idempotency_key="msg-42")
    again = await client.send(BODY, idempotency_key="msg-42")
    assert first == again
    assert len(graph.messages()) == 1


async def test_concurrent_sends_with_one_key_share_one_request(
    client: GraphClient, graph: FakeGraph
) -> None:
    graph.script = [Answer(hold=True)]
    results: list[SendResult] = []

    async def send() -> None:
        results.append(await client.send(BODY, idempotency_key="msg-43"))

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(send)
        while not graph.received:  # all three are waiting on the one request Graph holds
            await trio.sleep(0.005)
        graph.release.set()
    assert len(graph.messages()) == 1
    assert results == [SendResult("wamid.HBgM1")] * 3


async def test_a_key_whose_send_definitely_failed_may_try_again(
    client: GraphClient, graph: FakeGraph
) -> None:
    graph.script = [Answer(400, graph_error(131026, "Message undeliverable"))]
    with pytest.raises(ProviderError):
        await client.send(BODY, idempotency_key="msg-44")
    assert (await client.send(BODY, idempotency_key="msg-44")).wamid == "wamid.HBgM2"
    assert len(graph.messages()) == 2


async def test_fetch_media_asks_for_the_media_of_this_number(
    client: GraphClient, graph: FakeGraph
) -> None:
    info = await client.fetch_media("1479537139650973")
    assert info == MediaInfo(
        media_id="1479537139650973",
        url=f"{graph.url}/files/1479537139650973?ext=1",
        mime_type="image/jpeg",
        sha256="a" * 64,
        file_size=len(IMAGE),
    )
    assert graph.received == [
        Received(
            method="GET",
            path="/v21.0/1479537139650973",
            query={"phone_number_id": PHONE_NUMBER_ID},
            authorization=f"Bearer {TOKEN}",
            body=None,
        )
    ]


async def test_fetch_media_retries_a_503_and_reports_an_unknown_id(
    client: GraphClient, graph: FakeGraph, sleeps: Sleeps
) -> None:
    graph.script = [Answer(503, graph_error(2, "Temporarily unavailable"))]
    assert (await client.fetch_media("7")).media_id == "7"
    assert sleeps.waits == [0.375]
    graph.script = [Answer(400, graph_error(100, "Invalid media id"))]
    with pytest.raises(ProviderError, match="Invalid media id"):
        await client.fetch_media("nope")


async def test_download_media_streams_the_file_with_the_token(
    client: GraphClient, graph: FakeGraph
) -> None:
    chunks = []
    async with client.download_media("1479537139650973") as media:
        assert media.mime_type == "image/jpeg"
        assert media.size == len(IMAGE)
        async for chunk in media.chunks:
            chunks.append(chunk)
    assert b"".join(chunks) == IMAGE
    download = graph.received[-1]
    assert (download.method, download.path) == ("GET", "/files/1479537139650973")
    assert download.query == {"ext": "1"}
    assert download.authorization == f"Bearer {TOKEN}"


async def test_a_failed_download_is_a_provider_error(client: GraphClient, graph: FakeGraph) -> None:
    graph.script = [Answer(), Answer(404)]
    with pytest.raises(ProviderError) as caught:
        async with client.download_media("1479537139650973"):
            pass  # pragma: no cover
    assert caught.value.http_status == 404


def test_backoff_doubles_up_to_the_ceiling_with_bounded_jitter() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=0.5)
    assert [policy.delay(n, 0.0) for n in range(5)] == [0.5, 1.0, 2.0, 2.5, 2.5]
    assert [policy.delay(n, 0.999) for n in range(4)] == pytest.approx([1.0, 2.0, 4.0, 5.0], 1e-2)
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
