"""InstagramAdapter: Messenger's code with Instagram's platform — and where they differ.

``payloads/instagram.json`` holds full webhook bodies shaped as Meta's Instagram
Messaging webhook reference shows them (``messages`` with story mentions, story replies,
reels, shares, ads referrals, unsupported and deleted messages; ``messaging_reactions``,
``messaging_seen``, ``messaging_postbacks``, ``message_edit``).  Sending goes to a real
local server speaking the Send API.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from adapters import meta
from adapters.base import InboundItem, OutboundItem, ReceiptItem, WebhookResult
from adapters.content import (
    Button,
    ButtonReply,
    Content,
    ContentError,
    Image,
    Reaction,
    Referral,
    ReplyButtons,
    Text,
    Unsupported,
    Video,
)
from adapters.errors import SignatureError, WebhookError, WindowClosed
from adapters.links import link_media_id
from adapters.messenger import InstagramAdapter, MessengerAdapter, RetryPolicy
from tests.adapters.messenger.fake_send_api import (
    Answer,
    FakeSendApi,
    Received,
    Sleeps,
    running_send_api,
    send_api_error,
)

BODIES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "payloads" / "instagram.json").read_text(encoding="utf-8")
)
IG = "17841405822304914"
IGSID = "1055882132513460"
T = 1718270400.123
IMID = (
    "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0"
    "NDI1OTY0NDU4MDIxNTQ5NzA0MzozMTk4NTc0MjIyMjk4NzI0NjE2NDI5NDU0MDE0MTY3OTA0AZDZD"
)
STORY = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17954200919843111&signature=Abc123"
SECRET = "7c1e9a3b5d2f4e6a8b0c1d3e5f7a9b2c"
TOKEN = "EAAJig-page-token"
NOW = 1_718_270_400.0


def linked(content: Any) -> Any:
    """Media as the adapter gives it: the CDN URL and the media id the server resolves."""
    return dataclasses.replace(content, media_id=link_media_id(content.url))


def msg(mid: str, content: Content, *, ts: float = T, **extra: Any) -> InboundItem:
    return InboundItem(mid, IGSID, ts, content, extra=extra)


MESSAGES: dict[str, list[InboundItem]] = {
    "text": [msg(IMID, Text("Merhaba! Bu çanta hâlâ satışta mı?"))],
    "image": [
        msg(
            "ig_img1",
            linked(
                Image(url="https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1&signature=x")
            ),
        )
    ],
    "story_mention": [
        msg(
            "ig_sm1",
            Text(STORY),
            referral=Referral(source_type="story_mention", source_url=STORY).to_wire(),
        )
    ],
    "story_reply": [
        msg(
            "ig_sr1",
            Text("Bunun fiyatı ne?"),
            referral=Referral(
                source_type="story", source_id="3398765432101234567", source_url=STORY
            ).to_wire(),
        )
    ],
    "reel": [
        msg(
            "ig_reel1",
            linked(
                Video(
                    url="https://lookaside.fbsbx.com/ig_messaging_cdn/"
                    "?asset_id=18011111111111111&signature=r",
                    caption="Yeni sezon #moda",
                )
            ),
        )
    ],
    "share": [
        msg("ig_sh1", Text("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=2&signature=s"))
    ],
    "expired_story_mention": [
        msg(
            "ig_sm2",
            Unsupported(
                provider_type="story_mention", reason="story_mention attachment without a URL"
            ),
        )
    ],
    "ad_reply": [
        msg(
            "ig_ad1",
            Text("İndirim hâlâ geçerli mi?"),
            referral=Referral(
                source_type="ADS",
                source_id="120208000000000",
                headline="Yaz indirimi",
                image_url="https://scontent.cdninstagram.com/ad.jpg",
            ).to_wire(),
        )
    ],
    "unsupported": [
        msg(
            "ig_uns1",
            Unsupported(
                provider_type="unsupported",
                reason="Meta delivered a message type it does not expose to apps",
            ),
        )
    ],
    "reaction": [
        msg(
            f"reaction:{IGSID}:ig_sent1:1718270400128:react",
            Reaction(message_id="ig_sent1", emoji="\u2764\ufe0f"),
            ts=1718270400.128,
        )
    ],
    "unreaction": [
        msg(
            f"reaction:{IGSID}:ig_sent1:1718270400129:unreact",
            Reaction(message_id="ig_sent1", emoji=""),
            ts=1718270400.129,
        )
    ],
    "postback": [msg("ig_pb1", ButtonReply(id="track_order", title="Kargo takibi"))],
    "quick_reply": [msg("ig_qr1", ButtonReply(id="confirm_no", title="Hayır"))],
    # an event stamped in seconds, as one of Meta's documented examples is
    "seconds_timestamp": [msg("ig_pb2", ButtonReply(id="start", title="Başla"), ts=1527459824.0)],
}
RECEIPTS = {"read": [ReceiptItem("ig_sent1", "read", 1718270400.153)]}
IGNORED = {
    "deleted": [f"entry[0].messaging[0].message: the customer unsent message {IMID!r:.80}"],
    "echo": ["entry[0].messaging[0].message: echo of message 'ig_echo1' sent by the page"],
    "message_edit": ["entry[0].messaging[0]: message_edit event is not handled"],
}


def test_every_case_is_checked() -> None:
    assert set(BODIES) == set(MESSAGES) | set(RECEIPTS) | set(IGNORED)


def signed(raw: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": meta.sign(secret.encode(), raw)}


class Headers(dict[str, str]):
    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return next((v for k, v in self.items() if k.lower() == key.lower()), default)


@pytest.mark.parametrize("case", sorted(BODIES))
def test_each_documented_body_gives_exactly_what_the_server_records(case: str) -> None:
    adapter = InstagramAdapter()
    raw = json.dumps(BODIES[case], ensure_ascii=False).encode()
    config = {"app_secret": SECRET, "instagram_account_id": IG}
    headers = Headers(signed(raw))
    adapter.verify(raw, headers, config)
    assert adapter.parse(raw, headers, config) == WebhookResult(
        messages=tuple(MESSAGES.get(case, ())),
        receipts=tuple(RECEIPTS.get(case, ())),
        ignored=tuple(IGNORED.get(case, ())),
    )


def test_a_wrong_signature_is_refused() -> None:
    raw = json.dumps(BODIES["text"]).encode()
    with pytest.raises(SignatureError):
        InstagramAdapter().verify(raw, Headers(signed(raw, "other")), {"app_secret": SECRET})
    with pytest.raises(SignatureError):
        InstagramAdapter().verify(raw, Headers(), {"app_secret": SECRET})


def test_entries_of_another_instagram_account_are_skipped() -> None:
    raw = json.dumps(BODIES["text"]).encode()
    result = InstagramAdapter().parse(raw, Headers(), {"instagram_account_id": "1784"})
    assert result.messages == ()
    assert result.ignored == (f"entry[0]: for account {IG}, not 1784",)


def test_a_messenger_body_is_not_an_instagram_body() -> None:
    raw = json.dumps({**BODIES["text"], "object": "page"}).encode()
    with pytest.raises(WebhookError, match="object: expected 'instagram'"):
        InstagramAdapter().parse(raw, Headers(), {})
    assert MessengerAdapter().parse(raw, Headers(), {}).messages  # the same events, on a page


# -- out ------------------------------------------------------------------------------------------


def item(content: Content, *, ago: float = 60.0) -> OutboundItem:
    return OutboundItem(
        message_id="msg-1", to=IGSID, content=content, last_customer_message_at=NOW - ago
    )


def test_check_knows_instagram_s_limits() -> None:
    adapter = InstagramAdapter()
    adapter.check(item(Text("a" * 1000)), NOW)
    with pytest.raises(ContentError, match="body: is 1001 bytes long in UTF-8; Instagram allows"):
        adapter.check(item(Text("a" * 1001)), NOW)
    with pytest.raises(ContentError, match="emoji: Instagram reacts only with"):
        adapter.check(item(Reaction(message_id="m", emoji="\U0001f44d")), NOW)
    with pytest.raises(WindowClosed) as caught:
        adapter.check(item(Text("x"), ago=8 * 24 * 3600), NOW)
    assert (caught.value.code, caught.value.subcode) == (10, 2534022)
    assert str(caught.value).startswith("Instagram error 10: the customer last wrote 192 hours")


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
def adapter(sleeps: Sleeps) -> InstagramAdapter:
    return InstagramAdapter(
        clock=lambda: NOW, retry=RetryPolicy(), sleep=sleeps, random=lambda: 0.5
    )


def settings(api: FakeSendApi) -> dict[str, str]:
    return {"access_token": TOKEN, "api_base_url": f"{api.url}/v21.0"}


def posted(body: Any) -> Received:
    return Received(
        method="POST",
        path="/v21.0/me/messages",
        query={},
        authorization=f"Bearer {TOKEN}",
        body=body,
    )


async def test_reply_buttons_are_quick_replies_on_instagram(
    adapter: InstagramAdapter, api: FakeSendApi, http: httpx.AsyncClient
) -> None:
    buttons = ReplyButtons(body="Onay?", buttons=(Button("yes", "Evet"), Button("no", "Hayır")))
    assert await adapter.send(item(buttons), settings(api), http) == "m_sent1"
    assert api.received == [
        posted(
            {
                "recipient": {"id": IGSID},
                "messaging_type": "RESPONSE",
                "message": {
                    "text": "Onay?",
                    "quick_replies": [
                        {"content_type": "text", "title": "Evet", "payload": "yes"},
                        {"content_type": "text", "title": "Hayır", "payload": "no"},
                    ],
                },
            }
        )
    ]


async def test_a_late_reply_is_tagged_human_agent(
    adapter: InstagramAdapter, api: FakeSendApi, http: httpx.AsyncClient
) -> None:
    await adapter.send(item(Text("Geç kaldık"), ago=2 * 24 * 3600), settings(api), http)
    assert api.received == [
        posted(
            {
                "recipient": {"id": IGSID},
                "messaging_type": "MESSAGE_TAG",
                "tag": "HUMAN_AGENT",
                "message": {"text": "Geç kaldık"},
            }
        )
    ]


async def test_a_heart_is_a_sender_action(
    adapter: InstagramAdapter, api: FakeSendApi, http: httpx.AsyncClient
) -> None:
    love = Reaction(message_id=IMID, emoji="\u2764\ufe0f")
    assert await adapter.send(item(love), settings(api), http) == "sender_action:msg-1"
    removed = OutboundItem(
        message_id="msg-2",
        to=IGSID,
        content=Reaction(message_id=IMID),
        last_customer_message_at=NOW,
    )
    assert await adapter.send(removed, settings(api), http) == "sender_action:msg-2"
    assert api.received == [
        posted(
            {
                "recipient": {"id": IGSID},
                "sender_action": "react",
                "payload": {"message_id": IMID, "reaction": "love"},
            }
        ),
        posted(
            {
                "recipient": {"id": IGSID},
                "sender_action": "unreact",
                "payload": {"message_id": IMID},
            }
        ),
    ]


async def test_instagram_s_window_error_is_window_closed(
    adapter: InstagramAdapter, api: FakeSendApi, http: httpx.AsyncClient
) -> None:
    message = "This message is sent outside of allowed window."
    api.script = [Answer(400, send_api_error(10, message, subcode=2534022))]
    with pytest.raises(WindowClosed) as caught:
        await adapter.send(item(Text("Merhaba")), settings(api), http)
    assert (caught.value.code, caught.value.subcode, caught.value.permanent) == (10, 2534022, True)
    assert str(caught.value) == f"Instagram error 10: {message}"
    assert len(api.messages()) == 1
