"""ViberAdapter end to end: signed callbacks in, send_message requests out.

Sending goes to a real HTTP server on 127.0.0.1 that speaks Viber's API; each test
asserts the exact requests that went over the wire, and that retries never send twice.
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

from adapters.base import ChannelAdapter, OutboundItem
from adapters.content import (
    Button,
    ButtonReply,
    ContactCard,
    ContactPhone,
    Contacts,
    Content,
    ContentError,
    LocationRequest,
    Reaction,
    ReplyButtons,
    Text,
)
from adapters.errors import ProviderError, SignatureError, WebhookError
from adapters.viber import SIGNATURE_HEADER, RetryPolicy, ViberAdapter, sign
from tests.adapters.viber.fake_viber import (
    FIRST_TOKEN,
    Answer,
    FakeViber,
    running_viber,
    viber_status,
)

AUTH = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"
USER = "01234567890A="
NOW = 1_718_270_999.0
FIXTURE = Path(__file__).parent.parent / "fixtures" / "viber" / "message_unicode.json"
EVENTS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "payloads" / "events.json").read_text(encoding="utf-8")
)


class Headers(dict[str, str]):
    """Request headers, looked up case-insensitively."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return next((v for k, v in self.items() if k.lower() == key.lower()), default)


def signed(raw: bytes, token: str = AUTH) -> Headers:
    return Headers({SIGNATURE_HEADER.lower(): sign(token, raw)})


def test_the_adapter_is_a_channel_adapter() -> None:
    adapter: ChannelAdapter = ViberAdapter()
    assert adapter.channel == "viber"


# -- webhooks in --------------------------------------------------------------------------------


def test_the_fixture_signed_with_the_token_is_verified_and_parsed() -> None:
    raw = FIXTURE.read_bytes()
    adapter = ViberAdapter()
    settings = {"auth_token": AUTH}
    adapter.verify(raw, signed(raw), settings)
    (message,) = adapter.parse(raw, signed(raw), settings).messages
    assert (message.provider_message_id, message.sender) == ("4912661846655238145", USER)


def test_an_upper_case_signature_is_the_same_signature() -> None:
    raw = FIXTURE.read_bytes()
    headers = Headers({SIGNATURE_HEADER: sign(AUTH, raw).upper()})
    ViberAdapter().verify(raw, headers, {"auth_token": AUTH})


@pytest.mark.parametrize(
    "headers",
    [
        Headers(),
        Headers({SIGNATURE_HEADER: ""}),
        Headers({SIGNATURE_HEADER: "0" * 64}),
        Headers({SIGNATURE_HEADER: "z" * 64}),
        Headers({SIGNATURE_HEADER: "sha256=" + "0" * 64}),
        Headers({"X-Hub-Signature-256": "sha256=" + "0" * 64}),
    ],
)
def test_missing_malformed_or_wrong_signatures_are_refused(headers: Headers) -> None:
    with pytest.raises(SignatureError, match=SIGNATURE_HEADER):
        ViberAdapter().verify(FIXTURE.read_bytes(), headers, {"auth_token": AUTH})


def test_the_signature_covers_the_exact_bytes_and_the_token() -> None:
    adapter = ViberAdapter()
    raw = FIXTURE.read_bytes()
    header = signed(raw)
    with pytest.raises(SignatureError):  # re-serialised JSON is other bytes
        adapter.verify(json.dumps(json.loads(raw)).encode(), header, {"auth_token": AUTH})
    with pytest.raises(SignatureError):
        adapter.verify(raw, header, {"auth_token": "another bot"})
    with pytest.raises(SignatureError):  # no token configured: nothing passes
        adapter.verify(raw, signed(raw, ""), {})


@given(st.binary(max_size=512), st.text(min_size=1, max_size=60))
def test_what_viber_signs_verifies(raw: bytes, token: str) -> None:
    ViberAdapter().verify(raw, signed(raw, token), {"auth_token": token})


def test_a_conversation_start_is_answered_with_the_account_s_welcome() -> None:
    raw = json.dumps(EVENTS["conversation_started"]).encode()
    settings = {"auth_token": AUTH, "sender_name": "Destek", "welcome_message": "Hoş geldiniz!"}
    result = ViberAdapter().parse(raw, signed(raw), settings)
    assert result.answer == {"sender": {"name": "Destek"}, "type": "text", "text": "Hoş geldiniz!"}
    without = ViberAdapter().parse(raw, signed(raw), {"auth_token": AUTH, "sender_name": "Destek"})
    assert without.answer is None
    no_sender = ViberAdapter().parse(raw, signed(raw), {"welcome_message": "Hoş geldiniz!"})
    assert no_sender.answer is None


def test_a_malformed_event_is_a_webhook_error() -> None:
    raw = b'{"event": "message", "timestamp": 1718270400000, "message_token": 1}'
    with pytest.raises(WebhookError, match=r"^body: missing 'sender'$"):
        ViberAdapter().parse(raw, signed(raw), {"auth_token": AUTH})


# -- check ------------------------------------------------------------------------------------


def item(content: Content, *, message_id: str = "msg-1", to: str = USER) -> OutboundItem:
    return OutboundItem(message_id=message_id, to=to, content=content)


def test_check_refuses_what_viber_would_and_knows_no_window() -> None:
    adapter = ViberAdapter()
    adapter.check(item(Text("Merhaba")), NOW)
    with pytest.raises(ContentError, match=r"^body: is 7001 characters long"):
        adapter.check(item(Text("x" * 7001)), NOW)
    with pytest.raises(ContentError, match="Viber does not let a bot react"):
        adapter.check(item(Reaction(message_id="1", emoji="👍")), NOW)


# -- sending --------------------------------------------------------------------------------------


@pytest.fixture
async def viber(nursery: trio.Nursery) -> AsyncIterator[FakeViber]:
    async with running_viber(nursery) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
        yield client


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def adapter(waits: list[float]) -> ViberAdapter:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await trio.lowlevel.checkpoint()

    retry = RetryPolicy(attempts=3, base_delay=0.5, max_delay=8.0, jitter=0.0)
    return ViberAdapter(retry=retry, sleep=sleep, random=lambda: 0.5)


def settings(viber: FakeViber, **more: str) -> dict[str, str]:
    return {"auth_token": AUTH, "sender_name": "Destek", "api_base_url": viber.url, **more}


async def test_a_reply_is_sent_and_its_token_is_the_id(
    adapter: ViberAdapter, viber: FakeViber, http: httpx.AsyncClient
) -> None:
    more = {"sender_avatar": "https://x.test/logo.png"}
    token = await adapter.send(item(Text("Kargonuz yola çıktı.")), settings(viber, **more), http)
    assert token == str(FIRST_TOKEN)
    (request,) = viber.received
    assert (request.path, request.auth_token) == ("/pa/send_message", AUTH)
    assert request.body == {
        "receiver": USER,
        "sender": {"name": "Destek", "avatar": "https://x.test/logo.png"},
        "type": "text",
        "text": "Kargonuz yola çıktı.",
    }


async def test_the_token_of_a_sent_message_is_what_its_receipts_name(
    adapter: ViberAdapter, viber: FakeViber, http: httpx.AsyncClient
) -> None:
    token = await adapter.send(item(Text("Merhaba")), settings(viber), http)
    receipt = dict(EVENTS["delivered"], message_token=int(token))
    raw = json.dumps(receipt).encode()
    (parsed,) = ViberAdapter().parse(raw, signed(raw), {"auth_token": AUTH}).receipts
    assert (parsed.provider_message_id, parsed.status) == (token, "delivered")


async def test_a_retried_reply_is_sent_once(
    adapter: ViberAdapter, viber: FakeViber, http: httpx.AsyncClient, waits: list[float]
) -> None:
    viber.script = [Answer(200, viber_status(12, "tooManyRequests"))]
    first = await adapter.send(item(Text("Merhaba")), settings(viber), http)
    again = await adapter.send(item(Text("Merhaba")), settings(viber), http)  # outbox retry
    assert first == again == str(FIRST_TOKEN + 1)
    assert len(viber.received) == 2  # the refused one and the one message
    assert waits == [0.5]


async def test_a_tap_on_the_sent_keyboard_comes_back_with_the_button_id(
    adapter: ViberAdapter, viber: FakeViber, http: httpx.AsyncClient
) -> None:
    buttons = ReplyButtons(body="Onaylıyor musunuz?", buttons=(Button("yes", "Evet"),))
    await adapter.send(item(buttons), settings(viber), http)
    sent = viber.received[0].body
    message = {"type": "text", "text": "Evet", "tracking_data": sent["tracking_data"]}
    tap = dict(EVENTS["text"], message=message)
    raw = json.dumps(tap, ensure_ascii=False).encode()
    (parsed,) = ViberAdapter().parse(raw, signed(raw), {"auth_token": AUTH}).messages
    assert parsed.content == ButtonReply(id="yes", title="Evet")


async def test_several_cards_go_in_order_and_a_retry_sends_only_the_rest(
    adapter: ViberAdapter, viber: FakeViber, http: httpx.AsyncClient
) -> None:
    cards = Contacts(
        (
            ContactCard(formatted_name="Kargo", phones=(ContactPhone(phone="+905320000000"),)),
            ContactCard(formatted_name="Depo", phones=(ContactPhone(phone="+905321111111"),)),
        )
    )
    viber.script = [Answer(), Answer(200, viber_status(3, "badData"))]
    with pytest.raises(ProviderError, match=r"badData.*\(after 1 of 2 parts were sent\)"):
        await adapter.send(item(cards), settings(viber), http)
    assert await adapter.send(item(cards), settings(viber), http) == str(FIRST_TOKEN)
    assert [r.body["contact"]["name"] for r in viber.received] == ["Kargo", "Depo", "Depo"]


async def test_the_location_button_text_comes_from_the_settings(
    adapter: ViberAdapter, viber: FakeViber, http: httpx.AsyncClient
) -> None:
    more = {"location_button_text": "📍 Konumumu gönder"}
    await adapter.send(item(LocationRequest(body="Konumunuz?")), settings(viber, **more), http)
    (button,) = viber.received[0].body["keyboard"]["Buttons"]
    assert (button["ActionType"], button["Text"]) == ("location-picker", "📍 Konumumu gönder")


async def test_a_customer_who_is_not_subscribed_is_a_permanent_failure(
    adapter: ViberAdapter, viber: FakeViber, http: httpx.AsyncClient
) -> None:
    viber.script = [Answer(200, viber_status(6, "notSubscribed"))]
    with pytest.raises(ProviderError) as caught:
        await adapter.send(item(Text("Merhaba")), settings(viber), http)
    assert (caught.value.code, caught.value.permanent) == (6, True)


@pytest.mark.parametrize(
    ("outbound", "more", "error", "permanent"),
    [
        (item(Text("Merhaba"), to=""), {}, "no Viber user to reply to", True),
        (item(Text("x" * 7001)), {}, "body: is 7001 characters long", True),
        (
            item(Text("Merhaba")),
            {"sender_name": ""},
            "account setting sender_name: must not",
            False,
        ),
        (item(Text("Merhaba")), {"sender_name": "S" * 29}, "sender_name: is 29 characters", False),
    ],
)
async def test_what_cannot_be_sent_is_refused_before_anything_goes_out(
    adapter: ViberAdapter,
    viber: FakeViber,
    http: httpx.AsyncClient,
    outbound: OutboundItem,
    more: dict[str, str],
    error: str,
    permanent: bool,
) -> None:
    with pytest.raises(ProviderError, match=error) as caught:
        await adapter.send(outbound, settings(viber, **more), http)
    assert caught.value.permanent is permanent
    assert not caught.value.retryable
    assert viber.received == []
