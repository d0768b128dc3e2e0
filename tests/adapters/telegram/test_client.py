"""adapters.telegram.client against a real HTTP server on 127.0.0.1 that speaks the Bot API.

The fake Bot API records every request and answers from a script, so each test asserts
what went over the wire: how many times a message was sent, to which method, with which
body.  Time is virtual: the retry waits and the rate limiter share one clock that only
the injected sleep moves, so ``time.waits`` is every wait the client made.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import trio

from adapters.content import Reaction, Text
from adapters.errors import OutcomeUnknown, ProviderError
from adapters.telegram.client import (
    BotApiClient,
    FileInfo,
    RetryPolicy,
    SendResult,
    answer_error,
)
from adapters.telegram.limiter import RateLimiter
from adapters.telegram.outbound import build_requests
from tests.adapters.telegram.fake_bot_api import (
    FILE,
    Answer,
    FakeBotApi,
    Received,
    bot_api_error,
    running_bot_api,
)

TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
CHAT = "5127345611"
(REQUEST,) = build_requests(CHAT, Text("Kargonuz yola çıktı."))


@dataclass(slots=True)
class VirtualTime:
    """One clock for the limiter and the retry waits; only ``sleep`` moves it."""

    now: float = 0.0
    waits: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 6))
        self.now += seconds
        await trio.lowlevel.checkpoint()


@pytest.fixture
async def api(nursery: trio.Nursery) -> AsyncIterator[FakeBotApi]:
    async with running_bot_api(nursery) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
        yield client


@pytest.fixture
def time() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def client(api: FakeBotApi, http: httpx.AsyncClient, time: VirtualTime) -> BotApiClient:
    return make_client(api.url, http, time)


def make_client(base_url: str, http: httpx.AsyncClient, time: VirtualTime) -> BotApiClient:
    return BotApiClient(
        base_url,
        TOKEN,
        http=http,
        retry=RetryPolicy(attempts=4, base_delay=0.5, max_delay=8.0, jitter=0.5),
        limiter=RateLimiter(clock=time.clock, sleep=time.sleep),
        sleep=time.sleep,
        random=lambda: 0.5,
    )


def sent(body: object = REQUEST.body, method: str = "sendMessage") -> Received:
    return Received("POST", f"/bot{TOKEN}/{method}", body)


async def test_a_message_is_posted_to_the_bot_s_method(
    client: BotApiClient, api: FakeBotApi, time: VirtualTime
) -> None:
    assert await client.send(REQUEST) == SendResult(f"{CHAT}:101")
    assert api.received == [sent()]
    assert api.received[0].body == {
        "chat_id": 5127345611,
        "text": "Kargonuz yola çıktı.",
        "link_preview_options": {"is_disabled": True},
    }
    assert time.waits == []


async def test_a_reaction_has_no_message_id(client: BotApiClient, api: FakeBotApi) -> None:
    (request,) = build_requests(CHAT, Reaction(message_id=f"{CHAT}:42", emoji="👍"))
    assert await client.send(request) == SendResult("")
    assert api.received[0].path == f"/bot{TOKEN}/setMessageReaction"


async def test_a_500_is_retried_after_the_backoff_and_the_chat_s_slot(
    client: BotApiClient, api: FakeBotApi, time: VirtualTime
) -> None:
    api.script = [Answer(500, bot_api_error(500, "Internal Server Error"))]
    assert await client.send(REQUEST) == SendResult(f"{CHAT}:102", attempts=2)
    assert api.received == [sent(), sent()]
    # 0.375 s of backoff (0.5 s, half jittered), then the rest of the chat's one second
    assert time.waits == [0.375, 0.625]


async def test_a_429_waits_retry_after_and_holds_the_chat(
    client: BotApiClient, api: FakeBotApi, time: VirtualTime
) -> None:
    api.script = [
        Answer(429, bot_api_error(429, "Too Many Requests: retry after 3", retry_after=3))
    ]
    assert (await client.send(REQUEST)).attempts == 2
    assert len(api.calls()) == 2
    assert time.waits == [3.0]
    assert client.limiter.reserve(CHAT) == 1.0  # the next one a second after the retry


async def test_a_retry_after_longer_than_the_policy_allows_gives_up_at_once(
    client: BotApiClient, api: FakeBotApi, time: VirtualTime
) -> None:
    refusal = bot_api_error(429, "Too Many Requests: retry after 35", retry_after=35)
    api.script = [Answer(429, refusal)]
    with pytest.raises(ProviderError) as caught:
        await client.send(REQUEST)
    error = caught.value
    assert (error.code, error.retryable, error.permanent) == (429, True, False)
    assert str(error) == "Telegram error 429: Too Many Requests: retry after 35"
    assert len(api.calls()) == 1
    assert time.waits == []
    assert client.limiter.reserve(CHAT) == 35.0  # the chat stays held for Telegram's time


async def test_persistent_5xx_gives_up_after_the_last_attempt(
    client: BotApiClient, api: FakeBotApi
) -> None:
    api.script = [Answer(502, "Bad Gateway")] * 4
    with pytest.raises(ProviderError) as caught:
        await client.send(REQUEST)
    assert caught.value.retryable
    assert caught.value.http_status == 502
    assert str(caught.value) == "Telegram error: HTTP 502 from Telegram"
    assert len(api.calls()) == 4


@pytest.mark.parametrize(
    ("status", "description", "retryable", "permanent"),
    [
        (403, "Forbidden: bot was blocked by the user", False, True),
        (403, "Forbidden: bot can't initiate conversation with a user", False, True),
        (400, "Bad Request: chat not found", False, True),
        (400, "Bad Request: message is too long", False, True),
        (401, "Unauthorized", False, False),  # a wrong or revoked token: an operator acts
        (404, "Not Found", False, False),
        (429, "Too Many Requests: retry after 5", True, False),
        (502, "Bad Gateway", True, False),
    ],
)
def test_telegram_s_errors_say_what_to_do_next(
    status: int, description: str, retryable: bool, permanent: bool
) -> None:
    error = answer_error(status, bot_api_error(status, description))
    assert (error.code, error.message, error.http_status) == (status, description, status)
    assert (error.retryable, error.permanent) == (retryable, permanent)
    assert str(error) == f"Telegram error {status}: {description}"


async def test_a_final_error_is_not_retried(
    client: BotApiClient, api: FakeBotApi, time: VirtualTime
) -> None:
    api.script = [Answer(400, bot_api_error(400, "Bad Request: chat not found"))]
    with pytest.raises(ProviderError, match="chat not found") as caught:
        await client.send(REQUEST)
    assert caught.value.permanent
    assert len(api.calls()) == 1
    assert time.waits == []


async def test_no_answer_after_sending_is_not_retried(api: FakeBotApi, time: VirtualTime) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.05)) as impatient:
        client = make_client(api.url, impatient, time)
        api.script = [Answer(hold=True)]
        with pytest.raises(OutcomeUnknown, match="may have been delivered"):
            await client.send(REQUEST, idempotency_key="reply-1")
        assert len(api.calls()) == 1
        # The same key again must not risk a second copy on the customer's phone.
        with pytest.raises(OutcomeUnknown, match="'reply-1' may have been delivered"):
            await client.send(REQUEST, idempotency_key="reply-1")
        assert len(api.calls()) == 1
        assert time.waits == []


async def test_an_accepted_message_without_its_id_is_an_unknown_outcome(
    client: BotApiClient, api: FakeBotApi
) -> None:
    api.script = [Answer(200, {"ok": True, "result": {"date": 1718270400}})]
    with pytest.raises(OutcomeUnknown, match="without giving its id"):
        await client.send(REQUEST)
    assert len(api.calls()) == 1


async def test_an_unreachable_telegram_is_retried_then_reported(
    http: httpx.AsyncClient, time: VirtualTime
) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}", http, time)
    with pytest.raises(ProviderError) as caught:
        await client.send(REQUEST)
    assert caught.value.retryable
    assert str(caught.value) == "Telegram error: could not reach Telegram (ConnectError)"
    assert TOKEN not in str(caught.value)


async def test_a_bad_base_url_never_shows_the_token(http: httpx.AsyncClient) -> None:
    client = make_client("ftp://api.telegram.org", http, VirtualTime())
    with pytest.raises(ProviderError) as caught:
        await client.send(REQUEST)
    assert "UnsupportedProtocol" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert not caught.value.retryable


async def test_the_same_idempotency_key_sends_once(client: BotApiClient, api: FakeBotApi) -> None:
    first = await client.send(REQUEST, idempotency_key="msg-42")
    assert await client.send(REQUEST, idempotency_key="msg-42") == first
    assert len(api.calls()) == 1


async def test_concurrent_sends_with_one_key_share_one_request(
    client: BotApiClient, api: FakeBotApi
) -> None:
    api.script = [Answer(hold=True)]
    results: list[SendResult] = []

    async def send() -> None:
        results.append(await client.send(REQUEST, idempotency_key="msg-43"))

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(send)
        while not api.received:
            await trio.sleep(0.005)
        api.release.set()
    assert len(api.calls()) == 1
    assert results == [SendResult(f"{CHAT}:101")] * 3


async def test_a_key_whose_send_definitely_failed_may_try_again(
    client: BotApiClient, api: FakeBotApi
) -> None:
    api.script = [Answer(400, bot_api_error(400, "Bad Request: chat not found"))]
    with pytest.raises(ProviderError):
        await client.send(REQUEST, idempotency_key="msg-44")
    assert await client.send(REQUEST, idempotency_key="msg-44") == SendResult(f"{CHAT}:102")


async def test_sends_to_one_chat_are_spaced_and_others_pass_between(
    client: BotApiClient, api: FakeBotApi, time: VirtualTime
) -> None:
    (other,) = build_requests("6000000001", Text("Merhaba"))
    await client.send(REQUEST)
    await client.send(other)
    await client.send(REQUEST)
    assert time.waits == [round(1 / 30, 6), round(1 - 1 / 30, 6)]
    assert [r.body["chat_id"] for r in api.calls()] == [5127345611, 6000000001, 5127345611]


async def test_a_customer_s_file_is_found_then_streamed(
    client: BotApiClient, api: FakeBotApi
) -> None:
    chunks = []
    async with client.download("AgACAgIAAxkBAAIBLWZq") as file:
        assert file.info == FileInfo(
            file_id="AgACAgIAAxkBAAIBLWZq",
            file_path="photos/AgACAgIAAxkBAAIBLWZq.jpg",
            file_size=len(FILE),
        )
        assert (file.mime_type, file.size) == ("image/jpeg", len(FILE))
        async for chunk in file.chunks:
            chunks.append(chunk)
    assert b"".join(chunks) == FILE
    assert [(r.http_method, r.path) for r in api.received] == [
        ("POST", f"/bot{TOKEN}/getFile"),
        ("GET", f"/file/bot{TOKEN}/photos/AgACAgIAAxkBAAIBLWZq.jpg"),
    ]


async def test_get_file_retries_a_5xx_and_reports_an_unknown_file(
    client: BotApiClient, api: FakeBotApi, time: VirtualTime
) -> None:
    api.script = [Answer(500, bot_api_error(500, "Internal Server Error"))]
    assert (await client.get_file("A")).file_path == "photos/A.jpg"
    assert time.waits == [0.375]
    api.script = [Answer(400, bot_api_error(400, "Bad Request: invalid file_id"))]
    with pytest.raises(ProviderError, match="invalid file_id") as caught:
        await client.get_file("nope")
    assert caught.value.permanent
