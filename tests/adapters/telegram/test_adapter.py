"""TelegramAdapter end to end: secret-checked updates in, Bot API calls out.

Sending goes to a real HTTP server on 127.0.0.1 that speaks the Bot API; each test
asserts the exact calls that went over the wire, and that retries never send twice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from adapters.base import ChannelAdapter, MediaSource, OutboundItem
from adapters.content import (
    ButtonReply,
    ContactCard,
    ContactPhone,
    Contacts,
    Content,
    ContentError,
    LocationRequest,
    Reaction,
    Template,
    Text,
)
from adapters.errors import ProviderError, SignatureError, WebhookError
from adapters.telegram import SECRET_HEADER, RateLimiter, RetryPolicy, TelegramAdapter
from tests.adapters.telegram.fake_bot_api import (
    FILE,
    Answer,
    FakeBotApi,
    bot_api_error,
    running_bot_api,
)

SECRET = "s3cr3t-T0ken_for-the_webhook"
TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
CHAT = "5127345611"
NOW = 1_718_270_999.0
UPDATES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "payloads" / "updates.json").read_text(encoding="utf-8")
)


class Headers(dict[str, str]):
    """Request headers, looked up case-insensitively."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return next((v for k, v in self.items() if k.lower() == key.lower()), default)


def with_secret(secret: str = SECRET) -> Headers:
    return Headers({SECRET_HEADER.lower(): secret})


def test_the_adapter_is_a_channel_adapter_and_keeps_media() -> None:
    adapter: ChannelAdapter = TelegramAdapter()
    assert adapter.channel == "telegram"
    assert isinstance(adapter, MediaSource)


# -- webhooks in --------------------------------------------------------------------------------


def test_an_update_with_the_secret_is_verified_and_parsed() -> None:
    adapter = TelegramAdapter(clock=lambda: NOW)
    raw = json.dumps(UPDATES["callback_query"], ensure_ascii=False).encode()
    settings = {"secret_token": SECRET}
    adapter.verify(raw, with_secret(), settings)
    result = adapter.parse(raw, with_secret(), settings)
    (message,) = result.messages
    assert (message.sender, message.timestamp) == (CHAT, NOW)
    assert message.content == ButtonReply(id="order_status", title="Siparişim nerede?")
    assert result.answer == {
        "method": "answerCallbackQuery",
        "callback_query_id": "4382bfdwdsb323b2d9",
    }


@pytest.mark.parametrize(
    "headers",
    [
        Headers(),
        with_secret(""),
        with_secret(SECRET + "x"),
        with_secret(SECRET[:-1]),
        with_secret(SECRET.upper()),
        with_secret("şifre\udcff"),
        Headers({"X-Hub-Signature-256": SECRET}),
    ],
)
def test_a_missing_or_wrong_secret_is_refused(headers: Headers) -> None:
    with pytest.raises(SignatureError, match="X-Telegram-Bot-Api-Secret-Token"):
        TelegramAdapter().verify(b"{}", headers, {"secret_token": SECRET})


def test_without_a_configured_secret_nothing_passes() -> None:
    with pytest.raises(SignatureError):
        TelegramAdapter().verify(b"{}", with_secret(""), {})
    with pytest.raises(SignatureError):
        TelegramAdapter().verify(b"{}", with_secret(""), {"secret_token": ""})


@given(
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=256),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=256),
)
def test_only_the_configured_secret_verifies(secret: str, other: str) -> None:
    adapter = TelegramAdapter()
    settings = {"secret_token": secret}
    adapter.verify(b"any body", with_secret(secret), settings)
    if other != secret:
        with pytest.raises(SignatureError):
            adapter.verify(b"any body", with_secret(other), settings)


def test_a_malformed_update_is_a_webhook_error() -> None:
    raw = b'{"update_id": 1, "message": {"message_id": 5, "date": 1718270400}}'
    with pytest.raises(WebhookError, match=r"^message: missing 'chat'$"):
        TelegramAdapter().parse(raw, with_secret(), {"secret_token": SECRET})


# -- check ------------------------------------------------------------------------------------


def item(content: Content, *, message_id: str = "msg-1", to: str = CHAT) -> OutboundItem:
    return OutboundItem(message_id=message_id, to=to, content=content)


def test_check_refuses_what_telegram_would_and_knows_no_window() -> None:
    adapter = TelegramAdapter()
    adapter.check(item(Text("Merhaba")), NOW)  # no last customer message: still fine
    with pytest.raises(ContentError, match=r"^body: is 4097 characters long"):
        adapter.check(item(Text("x" * 4097)), NOW)
    with pytest.raises(ContentError, match="'template' cannot be sent on Telegram"):
        adapter.check(item(Template(name="t", language="tr")), NOW)


# -- sending --------------------------------------------------------------------------------------


@pytest.fixture
async def api(nursery: trio.Nursery) -> AsyncIterator[FakeBotApi]:
    async with running_bot_api(nursery) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
        yield client


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def adapter(waits: list[float]) -> TelegramAdapter:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await trio.lowlevel.checkpoint()

    return TelegramAdapter(
        clock=lambda: NOW,
        retry=RetryPolicy(attempts=3, base_delay=0.5, max_delay=8.0, jitter=0.0),
        limiter=lambda: RateLimiter(per_chat=0.0, overall=1e9, sleep=sleep),
        sleep=sleep,
        random=lambda: 0.5,
    )


def settings(api: FakeBotApi, **more: str) -> dict[str, str]:
    return {"secret_token": SECRET, "bot_token": TOKEN, "api_base_url": api.url, **more}


async def test_a_reply_goes_to_the_chat_and_its_id_is_chat_and_message(
    adapter: TelegramAdapter, api: FakeBotApi, http: httpx.AsyncClient
) -> None:
    assert await adapter.send(item(Text("Kargonuz yola çıktı.")), settings(api), http) == (
        f"{CHAT}:101"
    )
    (call,) = api.calls()
    assert call.path == f"/bot{TOKEN}/sendMessage"
    assert call.body["text"] == "Kargonuz yola çıktı."


async def test_a_retried_reply_is_sent_once(
    adapter: TelegramAdapter, api: FakeBotApi, http: httpx.AsyncClient, waits: list[float]
) -> None:
    api.script = [Answer(502, "Bad Gateway")]
    first = await adapter.send(item(Text("Merhaba")), settings(api), http)
    again = await adapter.send(item(Text("Merhaba")), settings(api), http)  # the outbox retried
    assert first == again == f"{CHAT}:102"
    assert len(api.calls()) == 2  # the 502 and the one message
    assert waits == [0.5]


async def test_several_cards_go_in_order_and_a_retry_sends_only_the_rest(
    adapter: TelegramAdapter, api: FakeBotApi, http: httpx.AsyncClient
) -> None:
    cards = Contacts(
        (
            ContactCard(formatted_name="Kargo", phones=(ContactPhone(phone="+905320000000"),)),
            ContactCard(formatted_name="Depo", phones=(ContactPhone(phone="+905321111111"),)),
        )
    )
    api.script = [Answer(), Answer(400, bot_api_error(400, "Bad Request: PHONE_NUMBER_INVALID"))]
    with pytest.raises(ProviderError, match=r"PHONE_NUMBER_INVALID \(after 1 of 2 parts"):
        await adapter.send(item(cards), settings(api), http)
    assert await adapter.send(item(cards), settings(api), http) == f"{CHAT}:101"
    assert [c.body["first_name"] for c in api.calls()] == ["Kargo", "Depo", "Depo"]


async def test_a_reaction_gets_an_id_of_ours(
    adapter: TelegramAdapter, api: FakeBotApi, http: httpx.AsyncClient
) -> None:
    reaction = Reaction(message_id=f"{CHAT}:42", emoji="👍")
    assert await adapter.send(item(reaction, message_id="m-9"), settings(api), http) == (
        "reaction:m-9"
    )
    assert api.calls("setMessageReaction")[0].body == {
        "chat_id": 5127345611,
        "message_id": 42,
        "reaction": [{"type": "emoji", "emoji": "👍"}],
    }


async def test_the_location_button_text_comes_from_the_settings(
    adapter: TelegramAdapter, api: FakeBotApi, http: httpx.AsyncClient
) -> None:
    content = LocationRequest(body="Size en yakın mağaza için konumunuz?")
    more = {"location_button_text": "📍 Konumumu gönder"}
    await adapter.send(item(content), settings(api, **more), http)
    keyboard = api.calls()[0].body["reply_markup"]["keyboard"]
    assert keyboard == [[{"text": "📍 Konumumu gönder", "request_location": True}]]


async def test_a_blocked_bot_is_a_permanent_failure(
    adapter: TelegramAdapter, api: FakeBotApi, http: httpx.AsyncClient
) -> None:
    api.script = [Answer(403, bot_api_error(403, "Forbidden: bot was blocked by the user"))]
    with pytest.raises(ProviderError) as caught:
        await adapter.send(item(Text("Merhaba")), settings(api), http)
    assert caught.value.permanent
    assert str(caught.value) == "Telegram error 403: Forbidden: bot was blocked by the user"


@pytest.mark.parametrize(
    ("outbound", "error"),
    [
        (item(Text("Merhaba"), to=""), "no Telegram chat to reply to"),
        (item(Text("x" * 5000)), "body: is 5000 characters long"),
        (item(ButtonReply(id="a", title="A")), "'button_reply' is what customers send"),
    ],
)
async def test_what_cannot_be_sent_is_a_permanent_failure_sent_nowhere(
    adapter: TelegramAdapter,
    api: FakeBotApi,
    http: httpx.AsyncClient,
    outbound: OutboundItem,
    error: str,
) -> None:
    with pytest.raises(ProviderError, match=error) as caught:
        await adapter.send(outbound, settings(api), http)
    assert caught.value.permanent
    assert not caught.value.retryable
    assert api.received == []


async def test_media_streams_a_customer_s_file(
    adapter: TelegramAdapter, api: FakeBotApi, http: httpx.AsyncClient
) -> None:
    async with adapter.media("AgACAgIAAxkBAAIBLWZq", settings(api), http) as media:
        assert media.mime_type == "image/jpeg"
        assert b"".join([chunk async for chunk in media.chunks]) == FILE


async def test_an_unknown_file_is_a_provider_error(
    adapter: TelegramAdapter, api: FakeBotApi, http: httpx.AsyncClient
) -> None:
    api.script = [Answer(400, bot_api_error(400, "Bad Request: invalid file_id"))]
    with pytest.raises(ProviderError, match="invalid file_id"):
        async with adapter.media("nope", settings(api), http):
            pass  # pragma: no cover
