"""adapters.telegram.inbound: Bot API updates to normalized messages.

``payloads/updates.json`` holds one update per case, written from the Bot API's
documented ``Update`` object; each case is checked against what an agent would see.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.base import InboundItem, WebhookResult
from adapters.content import (
    Audio,
    ButtonReply,
    ContactCard,
    ContactPhone,
    Contacts,
    Content,
    Context,
    Document,
    Image,
    Location,
    Reaction,
    Sticker,
    Text,
    Unsupported,
    Video,
)
from adapters.errors import WebhookError
from adapters.telegram.inbound import parse_update, parse_update_bytes, phone_identity

UPDATES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "payloads" / "updates.json").read_text(encoding="utf-8")
)
CHAT = "5127345611"
NAME = "Ayşe Yılmaz"
DATE = 1718270400.0
NOW = 1718270999.5


def parse(case: str) -> WebhookResult:
    return parse_update(UPDATES[case], received_at=NOW)


def one(case: str) -> InboundItem:
    result = parse(case)
    assert result.ignored == ()
    (item,) = result.messages
    return item


CONTENTS: dict[str, tuple[int, Content]] = {
    "text": (42, Text("Merhaba, siparişim nerede?")),
    "photo": (45, Image(media_id="AgACAgIAAxkBAAIBLWZq-large", caption="Faturam")),
    "document": (
        46,
        Document(
            media_id="BQACAgIAAxkBAAIBLmZq",
            mime_type="application/pdf",
            filename="fatura.pdf",
            caption="Ekte",
        ),
    ),
    "voice": (47, Audio(media_id="AwACAgIAAxkBAAIBL2Zq", mime_type="audio/ogg", voice=True)),
    "video": (
        49,
        Video(media_id="BAACAgIAAxkBAAIBMWZq", mime_type="video/mp4", caption="Kutu hasarlı geldi"),
    ),
    "video_note": (50, Video(media_id="DQACAgIAAxkBAAIBMmZq", mime_type="video/mp4")),
    "animation": (51, Video(media_id="CgACAgQAAxkBAAIBM2Zq", mime_type="video/mp4")),
    "sticker": (52, Sticker(media_id="CAACAgIAAxkBAAIBNGZq", mime_type="image/webp")),
    "sticker_animated": (
        53,
        Sticker(
            media_id="CAACAgIAAxkBAAIBNWZq", mime_type="application/x-tgsticker", animated=True
        ),
    ),
    "sticker_video": (
        54,
        Sticker(media_id="CAACAgIAAxkBAAIBNmZq", mime_type="video/webm", animated=True),
    ),
    "location": (55, Location(latitude=41.008238, longitude=28.978359)),
    "venue": (
        56,
        Location(
            latitude=41.0339, longitude=28.9770, name="Mağaza", address="İstiklal Cd. 1, Beyoğlu"
        ),
    ),
    "contact_other": (
        58,
        Contacts(
            (
                ContactCard(
                    formatted_name="Mehmet",
                    first_name="Mehmet",
                    phones=(ContactPhone(phone="+905327654321"),),
                ),
            )
        ),
    ),
    "contact_not_on_telegram": (
        59,
        Contacts(
            (
                ContactCard(
                    formatted_name="Kargo Firması",
                    first_name="Kargo",
                    last_name="Firması",
                    phones=(ContactPhone(phone="+905327654321"),),
                ),
            )
        ),
    ),
    "poll": (60, Unsupported(provider_type="poll", reason="poll messages are not supported")),
    "future_message_kind": (
        62,
        Unsupported(provider_type=None, reason="a message kind not known here"),
    ),
}


@pytest.mark.parametrize("case", sorted(CONTENTS))
def test_each_message_kind_maps_to_its_content(case: str) -> None:
    message_id, content = CONTENTS[case]
    assert one(case) == InboundItem(
        provider_message_id=f"{CHAT}:{message_id}",
        sender=CHAT,
        timestamp=DATE,
        content=content,
        profile_name=NAME,
    )


def test_a_reply_names_the_quoted_message_of_the_chat() -> None:
    item = one("text_reply")
    assert item.content == Text("Bu sipariş")
    assert item.extra == {"context": Context(reply_to=f"{CHAT}:40").to_wire()}


def test_a_forwarded_message_says_so() -> None:
    item = one("forwarded")
    assert item.extra == {"context": Context(forwarded=True).to_wire()}


def test_a_caption_an_audio_cannot_hold_follows_as_text() -> None:
    result = parse("audio_with_caption")
    assert [(m.provider_message_id, m.content) for m in result.messages] == [
        (
            f"{CHAT}:48",
            Audio(media_id="CQACAgIAAxkBAAIBMGZq", mime_type="audio/mpeg"),
        ),
        (f"{CHAT}:48#1", Text("Görüşme kaydı")),
    ]


def test_the_customer_s_own_contact_gives_their_phone_identity() -> None:
    item = one("contact_own")
    assert item.identities == (("phone", "+905321234567"),)
    assert isinstance(item.content, Contacts)
    assert item.content.contacts[0].phones == (ContactPhone(phone="+905321234567"),)


@pytest.mark.parametrize("case", ["contact_other", "contact_not_on_telegram"])
def test_someone_else_s_contact_is_not_the_customer_s_identity(case: str) -> None:
    assert one(case).identities == ()


def test_an_edit_is_a_new_message_naming_the_original() -> None:
    item = one("edited")
    assert item.provider_message_id == f"{CHAT}:42:e1718270460"
    assert item.timestamp == 1718270460.0
    assert item.content == Text("Merhaba, 42 numaralı siparişim nerede?")
    assert item.extra == {"edit": {"of": f"{CHAT}:42"}}


def test_a_keyboard_tap_is_a_button_reply_answered_in_the_webhook() -> None:
    result = parse("callback_query")
    assert result.messages == (
        InboundItem(
            provider_message_id="cb:4382bfdwdsb323b2d9",
            sender=CHAT,
            timestamp=NOW,
            content=ButtonReply(id="order_status", title="Siparişim nerede?"),
            profile_name=NAME,
            extra={"context": Context(reply_to=f"{CHAT}:70").to_wire()},
        ),
    )
    assert result.answer == {
        "method": "answerCallbackQuery",
        "callback_query_id": "4382bfdwdsb323b2d9",
    }


def test_a_tap_under_a_message_telegram_no_longer_shows_keeps_its_data_as_title() -> None:
    (item,) = parse("callback_query_inaccessible").messages
    assert item.content == ButtonReply(id="yes", title="yes")


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("callback_query_inline", "inline mode"),
        ("callback_query_game", "without callback data"),
    ],
)
def test_taps_that_are_no_customer_message_are_still_answered(case: str, reason: str) -> None:
    result = parse(case)
    assert result.messages == ()
    assert reason in result.ignored[0]
    assert result.answer is not None
    assert result.answer["method"] == "answerCallbackQuery"


def test_reactions_name_the_reacted_message() -> None:
    (added,) = parse("reaction").messages
    assert added.provider_message_id == "reaction:912345029"
    assert added.content == Reaction(message_id=f"{CHAT}:70", emoji="👍")
    assert added.timestamp == 1718270700.0
    (removed,) = parse("reaction_removed").messages
    assert removed.content == Reaction(message_id=f"{CHAT}:70", emoji="")


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("group_message", "message: a supergroup chat, not a customer's private chat"),
        ("channel_post", "update 912345027: channel_post"),
        ("blocked", "my_chat_member: the customer blocked the bot"),
        ("pinned", "message: service message (pinned_message), nobody wrote"),
        ("reaction_custom", "message_reaction: a custom or paid reaction, which has no emoji"),
        ("inline_query", "update 912345032: inline_query"),
        ("future_update", "update 912345033: an update kind this adapter does not know"),
    ],
)
def test_what_is_not_a_customer_writing_is_ignored_with_the_reason(case: str, reason: str) -> None:
    assert parse(case) == WebhookResult(ignored=(reason,))


def test_a_name_falls_back_to_the_username() -> None:
    assert one("username_only").profile_name == "@anon_user"


def test_every_case_gives_the_same_ids_on_a_retry() -> None:
    for case, update in UPDATES.items():
        raw = json.dumps(update, ensure_ascii=False).encode()
        first = parse_update_bytes(raw, received_at=NOW)
        again = parse_update_bytes(raw, received_at=NOW + 30)
        ids = [m.provider_message_id for m in first.messages]
        assert ids == [m.provider_message_id for m in again.messages], case
        assert len(set(ids)) == len(ids), case


def broken(case: str, *path: str | int, value: Any = None, drop: bool = False) -> dict[str, Any]:
    update = copy.deepcopy(UPDATES[case])
    target: Any = update
    for key in path[:-1]:
        target = target[key]
    if drop:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return update


@pytest.mark.parametrize(
    ("update", "error"),
    [
        (broken("text", "update_id", drop=True), "body: missing 'update_id'"),
        (broken("text", "message", "chat", drop=True), "message: missing 'chat'"),
        (
            broken("text", "message", "chat", "id", value="x"),
            "message.chat.id: expected an integer",
        ),
        (broken("text", "message", "text", value=7), "message.text: expected a string"),
        (broken("text", "message", "date", value=-5), "message.date: expected epoch seconds"),
        (broken("photo", "message", "photo", value=[]), "message.photo: expected a non-empty list"),
        (
            broken("photo", "message", "photo", 1, "file_id", drop=True),
            "message.photo[1]: missing 'file_id'",
        ),
        (
            broken("location", "message", "location", "latitude", value=200),
            "message.location.latitude: must be a number from -90 to 90",
        ),
        (
            broken("venue", "message", "venue", "location", "longitude", value=-181),
            "message.venue.location.longitude: must be a number from -180 to 180",
        ),
        (broken("edited", "edited_message", "edit_date", drop=True), "edited_message: missing"),
        (broken("callback_query", "callback_query", "id", drop=True), "callback_query: missing"),
        (
            broken("reaction", "message_reaction", "new_reaction", value={}),
            "message_reaction.new_reaction: expected a list",
        ),
    ],
)
def test_a_malformed_update_names_the_place(update: dict[str, Any], error: str) -> None:
    with pytest.raises(WebhookError, match="^" + error.replace("[", r"\[").replace("]", r"\]")):
        parse_update(update, received_at=NOW)


@pytest.mark.parametrize("raw", [b"", b"not json", b"\xff\xfe", b"[1, 2]", b"null"])
def test_a_body_that_is_no_update_is_refused(raw: bytes) -> None:
    with pytest.raises(WebhookError):
        parse_update_bytes(raw, received_at=NOW)


@pytest.mark.parametrize(
    ("phone", "identity"),
    [
        ("905321234567", ("phone", "+905321234567")),
        ("+90 (532) 123-45-67", ("phone", "+905321234567")),
        ("00905321234567", ("phone", "+905321234567")),
        ("12", None),
        ("call me", None),
    ],
)
def test_phone_identities_are_written_with_the_plus(
    phone: str, identity: tuple[str, str] | None
) -> None:
    assert phone_identity(phone) == identity
