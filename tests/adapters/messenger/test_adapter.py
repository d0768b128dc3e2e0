"""MessengerAdapter end to end: signed webhooks in, Send API requests out.

Sending goes to a real HTTP server on 127.0.0.1 that speaks the Send API; each test
asserts the exact requests that went over the wire, and that retries never send twice.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from adapters import meta
from adapters.base import OutboundItem
from adapters.content import Button, Content, ContentError, Image, ReplyButtons, Text
from adapters.errors import (
    OutcomeUnknown,
    ProviderError,
    SignatureError,
    WebhookError,
    WindowClosed,
)
from adapters.messenger import MessengerAdapter, RetryPolicy
from tests.adapters.messenger.fake_send_api import (
    Answer,
    FakeSendApi,
    Received,
    Sleeps,
    running_send_api,
    send_api_error,
)

SECRET = "0f3c5b1e8d7a4c2b9e6f1a3d5c7b9e2f"
PAGE = "107515118815297"
PSID = "6944374522302871"
TOKEN = "EAAJpage-token"
NOW = 1_718_270_400.0
BODIES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "payloads" / "messenger.json").read_text(encoding="utf-8")
)


class Headers(dict[str, str]):
    """Request headers, looked up case-insensitively."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return next((v for k, v in self.items() if k.lower() == key.lower()), default)


def signed(raw: bytes, secret: str = SECRET) -> Headers:
    return Headers({"X-Hub-Signature-256": meta.sign(secret.encode(), raw)})


# -- webhooks in --------------------------------------------------------------------------------


def test_a_signed_body_is_verified_and_parsed() -> None:
    adapter = MessengerAdapter()
    raw = json.dumps(BODIES["text"], ensure_ascii=False).encode()
    settings = {"app_secret": SECRET, "page_id": PAGE}
    adapter.verify(raw, signed(raw), settings)
    (message,) = adapter.parse(raw, signed(raw), settings).messages
    assert (message.sender, message.content) == (PSID, Text("Merhaba, siparişim nerede?"))


@pytest.mark.parametrize(
    "headers",
    [
        Headers(),
        Headers({"X-Hub-Signature-256": ""}),
        Headers({"X-Hub-Signature-256": "sha1=abc"}),
        Headers({"X-Hub-Signature-256": "sha256=" + "0" * 64}),
        Headers({"X-Hub-Signature-256": "sha256=nothex"}),
    ],
)
def test_missing_malformed_or_wrong_signatures_are_refused(headers: Headers) -> None:
    raw = json.dumps(BODIES["text"]).encode()
    with pytest.raises(SignatureError):
        MessengerAdapter().verify(raw, headers, {"app_secret": SECRET})


def test_the_signature_covers_the_exact_bytes_and_the_app_secret() -> None:
    adapter = MessengerAdapter()
    raw = json.dumps(BODIES["text"], indent=1).encode()
    header = signed(raw)
    with pytest.raises(SignatureError):  # re-serialised JSON is other bytes
        adapter.verify(json.dumps(json.loads(raw)).encode(), header, {"app_secret": SECRET})
    with pytest.raises(SignatureError):
        adapter.verify(raw, header, {"app_secret": "another app"})
    with pytest.raises(SignatureError):  # no secret configured: nothing passes
        adapter.verify(raw, signed(raw, ""), {})


@given(st.binary(max_size=512), st.text(min_size=1, max_size=40))
def test_what_meta_signs_verifies(raw: bytes, secret: str) -> None:
    MessengerAdapter().verify(raw, signed(raw, secret), {"app_secret": secret})


def test_a_malformed_body_is_a_webhook_error() -> None:
    raw = b'{"object": "page", "entry": [{"messaging": [{"message": {"mid": "m"}}]}]}'
    with pytest.raises(WebhookError, match=r"^entry\[0\]\.messaging\[0\]: missing 'sender'$"):
        MessengerAdapter().parse(raw, signed(raw), {"app_secret": SECRET})


# -- check ------------------------------------------------------------------------------------


def item(content: Content, *, ago: float | None = 60.0, message_id: str = "msg-1") -> OutboundItem:
    return OutboundItem(
        message_id=message_id,
        to=PSID,
        content=content,
        last_customer_message_at=None if ago is None else NOW - ago,
    )


def test_check_refuses_what_messenger_would() -> None:
    adapter = MessengerAdapter()
    adapter.check(item(Text("Merhaba")), NOW)
    adapter.check(item(Text("Merhaba"), ago=6 * 24 * 3600), NOW)  # HUMAN_AGENT
    with pytest.raises(ContentError, match="body: is 2001 characters"):
        adapter.check(item(Text("x" * 2001)), NOW)
    with pytest.raises(WindowClosed, match="Messenger error 10: the customer last wrote 168 hours"):
        adapter.check(item(Text("Merhaba"), ago=7 * 24 * 3600), NOW)
    with pytest.raises(WindowClosed):
        adapter.check(item(Text("Merhaba"), ago=None), NOW)


# -- sending --------------------------------------------------------------------------------------


@pytest.fixture
async def api(nursery: trio.Nursery) -> AsyncIterator[FakeSendApi]:
    async with running_send_api(nursery) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
        yield client


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def adapter(sleeps: Sleeps) -> MessengerAdapter:
    return make_adapter(sleeps)


def make_adapter(sleeps: Sleeps) -> MessengerAdapter:
    return MessengerAdapter(
        clock=lambda: NOW,
        retry=RetryPolicy(attempts=4, base_delay=0.5, max_delay=8.0, jitter=0.5),
        sleep=sleeps,
        random=lambda: 0.5,
    )


def settings(api: FakeSendApi, **more: str) -> dict[str, str]:
    return {
        "app_secret": SECRET,
        "access_token": TOKEN,
        "page_id": PAGE,
        "api_base_url": f"{api.url}/v21.0",
        **more,
    }


def request(message: Any, **envelope: Any) -> Received:
    return Received(
        method="POST",
        path=f"/v21.0/{PAGE}/messages",
        query={},
        authorization=f"Bearer {TOKEN}",
        body={
            "recipient": {"id": PSID},
            **(envelope or {"messaging_type": "RESPONSE"}),
            "message": message,
        },
    )


async def test_a_reply_is_posted_to_the_page_with_the_token(
    adapter: MessengerAdapter, api: FakeSendApi, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    mid = await adapter.send(item(Text("Kargonuz yola çıktı.")), settings(api), http)
    assert mid == "m_sent1"
    assert api.received == [request({"text": "Kargonuz yola çıktı."})]
    assert sleeps.waits == []


async def test_without_a_page_id_the_reply_goes_to_me(
    adapter: MessengerAdapter, api: FakeSendApi, http: httpx.AsyncClient
) -> None:
    config = settings(api)
    del config["page_id"]
    await adapter.send(item(Text("Merhaba")), config, http)
    assert [r.path for r in api.received] == ["/v21.0/me/messages"]


async def test_a_late_reply_carries_the_human_agent_tag(
    adapter: MessengerAdapter, api: FakeSendApi, http: httpx.AsyncClient
) -> None:
    await adapter.send(item(Text("Geç kaldık"), ago=3 * 24 * 3600), settings(api), http)
    assert api.received == [
        request({"text": "Geç kaldık"}, messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
    ]


async def test_without_the_human_agent_permission_a_late_reply_is_not_sent(
    adapter: MessengerAdapter, api: FakeSendApi, http: httpx.AsyncClient
) -> None:
    with pytest.raises(WindowClosed, match="HUMAN_AGENT tag is not enabled"):
        await adapter.send(
            item(Text("Geç kaldık"), ago=3 * 24 * 3600), settings(api, human_agent="false"), http
        )
    with pytest.raises(WindowClosed):
        await adapter.send(item(Text("Çok geç"), ago=8 * 24 * 3600), settings(api), http)
    assert api.received == []


async def test_a_captioned_photo_is_two_messages_the_first_one_reported(
    adapter: MessengerAdapter, api: FakeSendApi, http: httpx.AsyncClient
) -> None:
    photo = Image(url="https://example.com/fatura.jpg", caption="Faturanız")
    assert await adapter.send(item(photo), settings(api), http) == "m_sent1"
    assert api.received == [
        request(
            {"attachment": {"type": "image", "payload": {"url": "https://example.com/fatura.jpg"}}}
        ),
        request({"text": "Faturanız"}),
    ]


async def test_retrying_a_half_sent_message_sends_only_the_rest(
    adapter: MessengerAdapter, api: FakeSendApi, http: httpx.AsyncClient
) -> None:
    photo = Image(url="https://example.com/fatura.jpg", caption="Faturanız")
    api.script = [
        Answer(),
        Answer(400, send_api_error(613, "Calls to this api have exceeded the rate limit.")),
    ]
    with pytest.raises(ProviderError) as caught:
        await adapter.send(item(photo), settings(api), http)
    assert caught.value.retryable
    assert str(caught.value) == (
        "Messenger error 613: Calls to this api have exceeded the rate limit. "
        "(after 1 of 2 parts were sent)"
    )
    # the outbox retries the same message: the photo is not sent again
    assert await adapter.send(item(photo), settings(api), http) == "m_sent1"
    assert [r.body["message"] for r in api.received] == [
        {"attachment": {"type": "image", "payload": {"url": "https://example.com/fatura.jpg"}}},
        {"text": "Faturanız"},
        {"text": "Faturanız"},
    ]


async def test_reply_buttons_go_out_as_a_button_template(
    adapter: MessengerAdapter, api: FakeSendApi, http: httpx.AsyncClient
) -> None:
    buttons = ReplyButtons(body="Onay?", buttons=(Button("yes", "Evet"), Button("no", "Hayır")))
    await adapter.send(item(buttons), settings(api), http)
    (received,) = api.received
    assert received.body["message"]["attachment"]["payload"]["buttons"] == [
        {"type": "postback", "title": "Evet", "payload": "yes"},
        {"type": "postback", "title": "Hayır", "payload": "no"},
    ]


async def test_a_500_is_retried_and_the_message_is_sent_once(
    adapter: MessengerAdapter, api: FakeSendApi, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    api.script = [Answer(500, send_api_error(2, "Service temporarily unavailable"))]
    assert await adapter.send(item(Text("Merhaba")), settings(api), http) == "m_sent2"
    assert api.received == [request({"text": "Merhaba"})] * 2
    assert sleeps.waits == [0.375]  # 0.5 s, half of it jittered (draw 0.5)


async def test_a_429_waits_at_least_retry_after(
    adapter: MessengerAdapter, api: FakeSendApi, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    api.script = [
        Answer(429, send_api_error(613, "Rate limited"), headers={"Retry-After": "3"}),
        Answer(503, send_api_error(1, "An unknown error occurred")),
    ]
    assert await adapter.send(item(Text("Merhaba")), settings(api), http) == "m_sent3"
    assert len(api.messages()) == 3
    assert sleeps.waits == [3.0, 0.75]


async def test_persistent_5xx_gives_up_after_the_last_attempt(
    adapter: MessengerAdapter, api: FakeSendApi, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    api.script = [Answer(503, send_api_error(1200, "Temporary send message failure"))] * 5
    with pytest.raises(ProviderError) as caught:
        await adapter.send(item(Text("Merhaba")), settings(api), http)
    assert (caught.value.code, caught.value.retryable, caught.value.http_status) == (
        1200,
        True,
        503,
    )
    assert len(api.messages()) == 4
    assert sleeps.waits == [0.375, 0.75, 1.5]


@pytest.mark.parametrize(
    ("status", "code", "subcode", "kind", "retryable", "permanent"),
    [
        (400, 613, None, ProviderError, True, False),  # rate limit: later, not now
        (400, 4, None, ProviderError, True, False),
        (400, 32, None, ProviderError, True, False),
        (400, 10, 2018278, WindowClosed, False, True),  # outside the window
        (400, 100, 2018001, ProviderError, False, True),  # no matching user
        (400, 551, 1545041, ProviderError, False, True),  # this person isn't available
        (401, 190, 460, ProviderError, False, False),  # expired token: an operator must act
        (403, 200, 1545041, ProviderError, False, False),  # permission missing
        (400, 10, None, ProviderError, False, False),
    ],
)
async def test_send_api_errors_say_what_to_do_next(
    adapter: MessengerAdapter,
    api: FakeSendApi,
    http: httpx.AsyncClient,
    sleeps: Sleeps,
    status: int,
    code: int,
    subcode: int | None,
    kind: type[ProviderError],
    retryable: bool,
    permanent: bool,
) -> None:
    api.script = [Answer(status, send_api_error(code, f"(#{code}) refused", subcode=subcode))]
    with pytest.raises(ProviderError) as caught:
        await adapter.send(item(Text("Merhaba")), settings(api), http)
    error = caught.value
    assert type(error) is kind
    assert (error.code, error.subcode, error.http_status) == (code, subcode, status)
    assert (error.retryable, error.permanent) == (retryable, permanent)
    assert error.trace_id == "A1b2C3d4E5f"
    assert str(error) == f"Messenger error {code}: (#{code}) refused"
    assert len(api.messages()) == 1
    assert sleeps.waits == []


async def test_no_answer_after_sending_is_not_retried(api: FakeSendApi, sleeps: Sleeps) -> None:
    adapter = make_adapter(sleeps)
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.1)) as impatient:
        api.script = [Answer(hold=True)]
        with pytest.raises(OutcomeUnknown, match="may have been delivered"):
            await adapter.send(item(Text("Merhaba")), settings(api), impatient)
        # the outbox trying the same message again must not risk a second copy
        with pytest.raises(OutcomeUnknown, match="'msg-1' may have been delivered"):
            await adapter.send(item(Text("Merhaba")), settings(api), impatient)
        assert len(api.messages()) == 1
        assert sleeps.waits == []


async def test_an_accepted_message_without_an_id_is_an_unknown_outcome(
    adapter: MessengerAdapter, api: FakeSendApi, http: httpx.AsyncClient
) -> None:
    api.script = [Answer(200, {"recipient_id": PSID})]
    with pytest.raises(OutcomeUnknown, match="without giving its id"):
        await adapter.send(item(Text("Merhaba")), settings(api), http)


async def test_an_unreachable_graph_is_retried_then_reported(
    adapter: MessengerAdapter, http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = {"access_token": TOKEN, "api_base_url": f"http://127.0.0.1:{port}/v21.0"}
    with pytest.raises(ProviderError) as caught:
        await adapter.send(item(Text("Merhaba")), config, http)
    assert (caught.value.retryable, caught.value.permanent) == (True, False)
    assert str(caught.value) == "Messenger error: could not reach Graph (ConnectError)"
    assert sleeps.waits == [0.375, 0.75, 1.5]


async def test_the_same_message_is_sent_once(
    adapter: MessengerAdapter, api: FakeSendApi, http: httpx.AsyncClient
) -> None:
    first = await adapter.send(item(Text("Merhaba")), settings(api), http)
    again = await adapter.send(item(Text("Merhaba")), settings(api), http)
    assert first == again == "m_sent1"
    assert len(api.messages()) == 1


async def test_content_refused_at_send_time_is_a_permanent_failure(
    adapter: MessengerAdapter, api: FakeSendApi, http: httpx.AsyncClient
) -> None:
    with pytest.raises(ProviderError) as caught:
        await adapter.send(item(Text("")), settings(api), http)
    assert caught.value.permanent
    assert str(caught.value) == "Messenger error: body: must not be empty"
    with pytest.raises(ProviderError, match="no Messenger user to reply to"):
        await adapter.send(
            OutboundItem(message_id="m", to="", content=Text("x"), last_customer_message_at=NOW),
            settings(api),
            http,
        )
    assert api.received == []
