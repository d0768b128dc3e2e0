"""adapters.viber.client against a real HTTP server on 127.0.0.1 that speaks Viber's API.

The fake records every request and answers from a script (HTTP 429 / 5xx, Viber's
non-zero statuses, slow answers), so each test asserts what went over the wire.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import trio

from adapters.content import Text
from adapters.errors import OutcomeUnknown, ProviderError
from adapters.viber.client import RetryPolicy, SendResult, ViberClient, status_error
from adapters.viber.outbound import Sender, build_messages
from tests.adapters.viber.fake_viber import (
    FIRST_TOKEN,
    Answer,
    FakeViber,
    Received,
    running_viber,
    viber_status,
)

TOKEN = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"
(BODY,) = build_messages("01234567890A=", Text("Kargonuz yola çıktı."), sender=Sender("Destek"))


@dataclass(slots=True)
class Sleeps:
    """The injected sleep: records each wait, takes no time."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await trio.lowlevel.checkpoint()


@pytest.fixture
async def viber(nursery: trio.Nursery) -> AsyncIterator[FakeViber]:
    async with running_viber(nursery) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
        yield client


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(viber: FakeViber, http: httpx.AsyncClient, sleeps: Sleeps) -> ViberClient:
    return make_client(viber.url, http, sleeps)


def make_client(base_url: str, http: httpx.AsyncClient, sleeps: Sleeps) -> ViberClient:
    return ViberClient(
        base_url,
        TOKEN,
        http=http,
        retry=RetryPolicy(attempts=4, base_delay=0.5, max_delay=8.0, jitter=0.5),
        sleep=sleeps,
        random=lambda: 0.5,
    )


async def test_a_message_is_posted_with_the_auth_token(
    client: ViberClient, viber: FakeViber, sleeps: Sleeps
) -> None:
    assert await client.send(BODY) == SendResult(str(FIRST_TOKEN))
    assert viber.received == [Received("/pa/send_message", TOKEN, BODY)]
    assert BODY == {
        "receiver": "01234567890A=",
        "sender": {"name": "Destek"},
        "type": "text",
        "text": "Kargonuz yola çıktı.",
    }
    assert sleeps.waits == []


@pytest.mark.parametrize(
    "answer",
    [
        Answer(500, "Internal Server Error"),
        Answer(503, {"status": 500, "status_message": "unavailable"}),
        Answer(200, viber_status(12, "tooManyRequests")),
    ],
)
async def test_what_viber_provably_did_not_send_is_retried_and_sent_once(
    client: ViberClient, viber: FakeViber, sleeps: Sleeps, answer: Answer
) -> None:
    viber.script = [answer]
    assert await client.send(BODY) == SendResult(str(FIRST_TOKEN + 1), attempts=2)
    assert [r.body for r in viber.received] == [BODY, BODY]
    assert sleeps.waits == [0.375]


async def test_a_429_waits_at_least_retry_after(
    client: ViberClient, viber: FakeViber, sleeps: Sleeps
) -> None:
    viber.script = [Answer(429, "", headers={"Retry-After": "3"})]
    assert (await client.send(BODY)).attempts == 2
    assert sleeps.waits == [3.0]


async def test_persistent_throttling_gives_up_retryable(
    client: ViberClient, viber: FakeViber, sleeps: Sleeps
) -> None:
    viber.script = [Answer(200, viber_status(12, "tooManyRequests"))] * 4
    with pytest.raises(ProviderError) as caught:
        await client.send(BODY)
    error = caught.value
    assert (error.code, error.retryable, error.permanent) == (12, True, False)
    assert str(error) == "Viber error 12: tooManyRequests, too many requests"
    assert len(viber.received) == 4
    assert sleeps.waits == [0.375, 0.75, 1.5]


@pytest.mark.parametrize(
    ("status", "name", "retryable", "permanent"),
    [
        (6, "notSubscribed", False, True),  # the customer never subscribed, or left
        (5, "receiverNotRegistered", False, True),
        (3, "badData", False, True),
        (11, "receiverNoSuitableDevice", False, True),
        (99, "generalError", False, True),
        (2, "invalidAuthToken", False, False),  # an operator must fix the token
        (7, "publicAccountBlocked", False, False),
        (10, "webhookNotSet", False, False),
        (24, "noBalance", False, False),
        (12, "tooManyRequests", True, False),
    ],
)
def test_viber_s_statuses_say_what_to_do_next(
    status: int, name: str, retryable: bool, permanent: bool
) -> None:
    error = status_error(status, name)
    assert (error.code, error.retryable, error.permanent) == (status, retryable, permanent)
    assert str(error).startswith(f"Viber error {status}: {name}")


def test_an_answer_without_a_status_is_a_final_error() -> None:
    error = status_error(None, None)
    assert str(error) == "Viber error: Viber answered without a status"
    assert error.permanent


async def test_a_refusal_is_final_and_says_why_in_words(
    client: ViberClient, viber: FakeViber, sleeps: Sleeps
) -> None:
    viber.script = [Answer(200, viber_status(6, "notSubscribed"))]
    with pytest.raises(ProviderError) as caught:
        await client.send(BODY)
    assert len(viber.received) == 1
    assert sleeps.waits == []
    assert caught.value.permanent
    assert str(caught.value) == (
        "Viber error 6: notSubscribed, the customer has not subscribed to the bot, or unsubscribed"
    )


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (401, False), (403, False)])
async def test_other_http_errors_are_final(
    client: ViberClient, viber: FakeViber, status: int, permanent: bool
) -> None:
    viber.script = [Answer(status, "")]
    with pytest.raises(ProviderError) as caught:
        await client.send(BODY)
    assert (caught.value.http_status, caught.value.permanent) == (status, permanent)
    assert not caught.value.retryable
    assert len(viber.received) == 1


async def test_no_answer_after_sending_is_not_retried(viber: FakeViber, sleeps: Sleeps) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.05)) as impatient:
        client = make_client(viber.url, impatient, sleeps)
        viber.script = [Answer(hold=True)]
        with pytest.raises(OutcomeUnknown, match="Viber error: no answer from Viber"):
            await client.send(BODY, idempotency_key="reply-1")
        with pytest.raises(OutcomeUnknown, match="'reply-1' may have been delivered"):
            await client.send(BODY, idempotency_key="reply-1")
        assert len(viber.received) == 1
        assert sleeps.waits == []


async def test_an_accepted_message_without_its_token_is_an_unknown_outcome(
    client: ViberClient, viber: FakeViber
) -> None:
    viber.script = [Answer(200, {"status": 0, "status_message": "ok"})]
    with pytest.raises(OutcomeUnknown, match="without giving its token"):
        await client.send(BODY)
    assert len(viber.received) == 1


async def test_an_unreachable_viber_is_retried_then_reported(
    http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}", http, sleeps)
    with pytest.raises(ProviderError) as caught:
        await client.send(BODY)
    assert caught.value.retryable
    assert str(caught.value) == "Viber error: could not reach Viber (ConnectError)"
    assert sleeps.waits == [0.375, 0.75, 1.5]


async def test_the_same_idempotency_key_sends_once(client: ViberClient, viber: FakeViber) -> None:
    first = await client.send(BODY, idempotency_key="msg-42")
    assert await client.send(BODY, idempotency_key="msg-42") == first
    assert len(viber.received) == 1


async def test_a_key_whose_send_definitely_failed_may_try_again(
    client: ViberClient, viber: FakeViber
) -> None:
    viber.script = [Answer(200, viber_status(6, "notSubscribed"))]
    with pytest.raises(ProviderError):
        await client.send(BODY, idempotency_key="msg-44")
    assert await client.send(BODY, idempotency_key="msg-44") == SendResult(str(FIRST_TOKEN + 1))
