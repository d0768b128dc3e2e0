"""adapters.viber.inbound: Viber callbacks to normalized messages and receipts.

``tests/adapters/fixtures/viber/`` was written outside this project (viber-bot-python)
and is tested as it is; ``payloads/events.json`` holds our own cases, written from
Viber's documented callback format.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.base import InboundItem, ReceiptItem, WebhookResult
from adapters.content import (
    ButtonReply,
    ContactCard,
    ContactPhone,
    Contacts,
    Content,
    Document,
    Image,
    ListReply,
    Location,
    Sticker,
    Text,
    Unsupported,
    Video,
)
from adapters.errors import WebhookError
from adapters.links import link_media_id
from adapters.viber.inbound import parse_event, parse_event_bytes

FIXTURES = Path(__file__).parent.parent / "fixtures" / "viber"
EVENTS: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "payloads" / "events.json").read_text(encoding="utf-8")
)
USER = "01234567890A="
NAME = "Ayşe Yılmaz"


def test_the_fixture_s_unicode_message_is_read_exactly() -> None:
    raw = (FIXTURES / "message_unicode.json").read_bytes()
    body = json.loads(raw)
    (item,) = parse_event_bytes(raw).messages
    assert item == InboundItem(
        provider_message_id="4912661846655238145",
        sender="01234567890A=",
        timestamp=1457764197.627,
        content=Text(body["message"]["text"]),  # someone else's tracking_data: plain text
        profile_name="ふで都急ぼちラり面関ごル期販ずラ否裁ぞるめ数努むや正記味てょ",
    )
    assert item.content == Text(
        "批封廟根縄華勢田郎報株聞。変宝長独部鉱内出殺反提似惑金参勧車査真測。見名基現画府日室事集"
        "百藤米。発目本当党考万名東拓学早職表治月佐。町要静子呉遊推写間確長無読死覧件一盛治融。"
    )


def test_a_64_bit_token_keeps_every_digit() -> None:
    raw = (FIXTURES / "message_unicode.json").read_bytes()
    assert b"4912661846655238145" in raw  # more digits than a double holds exactly
    assert parse_event_bytes(raw).messages[0].provider_message_id == "4912661846655238145"


def linked(content: Any) -> Any:
    """Media as the adapter gives it: the CDN URL and the media id the server resolves."""
    return dataclasses.replace(content, media_id=link_media_id(content.url))


MESSAGES: dict[str, Content] = {
    "text": Text("Merhaba, siparişim nerede?"),
    "picture": linked(
        Image(
            url="https://dl-media.viber.com/5/media/2/short/any/sig/image/0x0/a1b2/c3d4.jpg",
            caption="Faturam",
        )
    ),
    "picture_without_text": linked(
        Image(url="https://dl-media.viber.com/5/media/2/short/any/sig/image/0x0/e5f6/g7h8.jpg")
    ),
    "video": linked(
        Video(url="https://dl-media.viber.com/5/media/2/short/any/sig/video/0x0/i9j0/k1l2.mp4")
    ),
    "file": linked(
        Document(
            url="https://dl-media.viber.com/5/share/2/long/vibes/icon/file/m3n4/fatura.pdf",
            filename="fatura.pdf",
        )
    ),
    "sticker": Sticker(media_id="46105", url="https://viber.github.io/docs/img/stickers/46105.png"),
    "location": Location(latitude=41.008238, longitude=28.978359),
    "url": Text("https://www.example.com/siparis/42"),
    "rich_media": Unsupported(provider_type="rich_media", reason="Viber message type 'rich_media'"),
    "button_tap": ButtonReply(id="yes", title="Evet"),
    "list_tap": ListReply(id="order_cancel", title="İptal", description="Siparişi iptal et"),
    "typed_after_keyboard": Text("Bir temsilci lütfen"),
}


@pytest.mark.parametrize("case", sorted(MESSAGES))
def test_each_message_type_maps_to_its_content(case: str) -> None:
    event = EVENTS[case]
    assert parse_event(event) == WebhookResult(
        messages=(
            InboundItem(
                provider_message_id=str(event["message_token"]),
                sender=USER,
                timestamp=event["timestamp"] / 1000,
                content=MESSAGES[case],
                profile_name=NAME,
            ),
        )
    )


def test_a_shared_contact_also_gives_the_phone_identity() -> None:
    (item,) = parse_event(EVENTS["contact"]).messages
    assert item.content == Contacts(
        (ContactCard(formatted_name=NAME, phones=(ContactPhone(phone="905321234567"),)),)
    )
    assert item.identities == (("phone", "+905321234567"),)


def test_receipts_name_our_message_by_its_token() -> None:
    assert parse_event(EVENTS["delivered"]).receipts == (
        ReceiptItem("4912661846655238145", "delivered", 1718270500.0),
    )
    assert parse_event(EVENTS["seen"]).receipts == (
        ReceiptItem("4912661846655238145", "read", 1718270560.0),
    )
    assert parse_event(EVENTS["failed"]).receipts == (
        ReceiptItem(
            "4912661846655238146", "failed", 1718270600.0, {"message": "failure description"}
        ),
    )


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("subscribed", "event 'subscribed': the customer subscribed"),
        ("unsubscribed", "event 'unsubscribed': the customer unsubscribed"),
        ("webhook", "event 'webhook': Viber checking the webhook URL"),
        ("future_event", "event 'hologram_call': an event this adapter does not know"),
        ("conversation_started", "conversation_started by '01234567890A=': opened the chat"),
    ],
)
def test_events_that_are_no_message_are_ignored_with_the_reason(case: str, reason: str) -> None:
    result = parse_event(EVENTS[case])
    assert (result.messages, result.receipts, result.answer) == ((), (), None)
    (ignored,) = result.ignored
    assert ignored.startswith(reason)


def test_a_conversation_start_is_answered_with_the_welcome_message() -> None:
    welcome = {"sender": {"name": "Destek"}, "type": "text", "text": "Hoş geldiniz!"}
    result = parse_event(EVENTS["conversation_started"], welcome=welcome)
    assert result.answer == welcome
    assert result.messages == ()
    assert parse_event(EVENTS["text"], welcome=welcome).answer is None


def test_a_token_written_as_a_string_is_the_same_id() -> None:
    event = copy.deepcopy(EVENTS["text"])
    event["message_token"] = "5741311803571721087"
    assert parse_event(event).messages[0].provider_message_id == "5741311803571721087"


def broken(case: str, *path: str, value: Any = None, drop: bool = False) -> dict[str, Any]:
    event = copy.deepcopy(EVENTS[case])
    target: Any = event
    for key in path[:-1]:
        target = target[key]
    if drop:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return event


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (broken("text", "event", drop=True), "body: missing 'event'"),
        (broken("text", "sender", drop=True), "body: missing 'sender'"),
        (broken("text", "sender", "id", drop=True), "sender: missing 'id'"),
        (broken("text", "message_token", drop=True), "body: missing 'message_token'"),
        (broken("text", "message_token", value=1.5), "message_token: expected an integer"),
        (broken("text", "timestamp", value="soon"), "timestamp: expected a number"),
        (broken("text", "message", "type", drop=True), "message: missing 'type'"),
        (broken("text", "message", "text", value=None), "message: missing 'text'"),
        (broken("picture", "message", "media", drop=True), "message: missing 'media'"),
        (broken("sticker", "message", "sticker_id", value="x"), "message.sticker_id: expected"),
        (
            broken("location", "message", "location", "lat", value=91),
            "message.location.lat: must be a number from -90 to 90",
        ),
        (broken("contact", "message", "contact", value=[]), "message.contact: expected an object"),
        (broken("delivered", "message_token", drop=True), "body: missing 'message_token'"),
        (broken("conversation_started", "user", drop=True), "body: missing 'user'"),
    ],
)
def test_a_malformed_event_names_the_place(event: dict[str, Any], error: str) -> None:
    with pytest.raises(WebhookError, match="^" + error):
        parse_event(event)


@pytest.mark.parametrize("raw", [b"", b"not json", b"\xff\xfe", b"[]", b"null"])
def test_a_body_that_is_no_event_is_refused(raw: bytes) -> None:
    with pytest.raises(WebhookError):
        parse_event_bytes(raw)
