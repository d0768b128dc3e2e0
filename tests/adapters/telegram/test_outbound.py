"""adapters.telegram.outbound: content to Bot API calls, and the limits checked first."""

from __future__ import annotations

import pytest

from adapters.content import (
    Audio,
    Button,
    ButtonReply,
    Catalog,
    ContactCard,
    ContactEmail,
    ContactPhone,
    Contacts,
    Content,
    ContentError,
    Document,
    Image,
    ListMessage,
    ListRow,
    ListSection,
    Location,
    LocationRequest,
    Reaction,
    ReplyButtons,
    Sticker,
    Template,
    Text,
    Video,
)
from adapters.telegram.outbound import BotRequest, build_requests, message_ref

CHAT = "5127345611"
ID = 5127345611


def calls(content: Content, **options: str) -> list[tuple[str, dict[str, object]]]:
    return [(r.method, r.body) for r in build_requests(CHAT, content, **options)]


YES_NO = (Button("yes", "Evet"), Button("no", "Hayır"))
KEYBOARD = {
    "inline_keyboard": [
        [{"text": "Evet", "callback_data": "yes"}],
        [{"text": "Hayır", "callback_data": "no"}],
    ]
}

CASES: dict[str, tuple[Content, list[tuple[str, dict[str, object]]]]] = {
    "text": (
        Text("Kargonuz yola çıktı."),
        [
            (
                "sendMessage",
                {
                    "chat_id": ID,
                    "text": "Kargonuz yola çıktı.",
                    "link_preview_options": {"is_disabled": True},
                },
            )
        ],
    ),
    "text with preview": (
        Text("https://example.com/takip", preview_url=True),
        [("sendMessage", {"chat_id": ID, "text": "https://example.com/takip"})],
    ),
    "photo by file id": (
        Image(media_id="AgACAgIAAxkBAAIBLWZq", url="https://x.test/a.jpg", caption="Fatura"),
        [("sendPhoto", {"chat_id": ID, "photo": "AgACAgIAAxkBAAIBLWZq", "caption": "Fatura"})],
    ),
    "photo by url": (
        Image(url="https://x.test/a.jpg"),
        [("sendPhoto", {"chat_id": ID, "photo": "https://x.test/a.jpg"})],
    ),
    "video": (
        Video(url="https://x.test/v.mp4", caption="Kurulum"),
        [("sendVideo", {"chat_id": ID, "video": "https://x.test/v.mp4", "caption": "Kurulum"})],
    ),
    "document": (
        Document(url="https://x.test/s.pdf", filename="sozlesme.pdf"),
        [("sendDocument", {"chat_id": ID, "document": "https://x.test/s.pdf"})],
    ),
    "voice note": (
        Audio(media_id="AwACAgIAAxkBAAIBL2Zq", voice=True),
        [("sendVoice", {"chat_id": ID, "voice": "AwACAgIAAxkBAAIBL2Zq"})],
    ),
    "audio file": (
        Audio(url="https://x.test/a.mp3"),
        [("sendAudio", {"chat_id": ID, "audio": "https://x.test/a.mp3"})],
    ),
    "sticker": (
        Sticker(media_id="CAACAgIAAxkBAAIBNGZq"),
        [("sendSticker", {"chat_id": ID, "sticker": "CAACAgIAAxkBAAIBNGZq"})],
    ),
    "location": (
        Location(latitude=41.0082, longitude=28.9784, name="Mağaza"),
        [("sendLocation", {"chat_id": ID, "latitude": 41.0082, "longitude": 28.9784})],
    ),
    "venue": (
        Location(latitude=41.0082, longitude=28.9784, name="Mağaza", address="İstiklal Cd. 1"),
        [
            (
                "sendVenue",
                {
                    "chat_id": ID,
                    "latitude": 41.0082,
                    "longitude": 28.9784,
                    "title": "Mağaza",
                    "address": "İstiklal Cd. 1",
                },
            )
        ],
    ),
    "reply buttons": (
        ReplyButtons(body="Onaylıyor musunuz?", buttons=YES_NO, header="Sipariş", footer="Destek"),
        [
            (
                "sendMessage",
                {
                    "chat_id": ID,
                    "text": "Sipariş\n\nOnaylıyor musunuz?\n\nDestek",
                    "reply_markup": KEYBOARD,
                },
            )
        ],
    ),
    "reply buttons under a photo": (
        ReplyButtons(
            body="Bu ürün mü?", buttons=YES_NO, header=Image(media_id="AgAC"), footer="Destek"
        ),
        [
            (
                "sendPhoto",
                {
                    "chat_id": ID,
                    "photo": "AgAC",
                    "caption": "Bu ürün mü?\n\nDestek",
                    "reply_markup": KEYBOARD,
                },
            )
        ],
    ),
    "list": (
        ListMessage(
            body="Size nasıl yardımcı olabiliriz?",
            button="Seçenekler",
            sections=(
                ListSection(
                    title="Siparişler",
                    rows=(
                        ListRow(id="order_status", title="Siparişim nerede?"),
                        ListRow(id="order_cancel", title="İptal", description="Siparişi iptal et"),
                    ),
                ),
                ListSection(title="Diğer", rows=(ListRow(id="agent", title="Temsilci"),)),
            ),
        ),
        [
            (
                "sendMessage",
                {
                    "chat_id": ID,
                    "text": "Size nasıl yardımcı olabiliriz?\n\nSiparişler\n"
                    "1. Siparişim nerede?\n2. İptal — Siparişi iptal et\nDiğer\n3. Temsilci",
                    "reply_markup": {
                        "inline_keyboard": [
                            [{"text": "Siparişim nerede?", "callback_data": "order_status"}],
                            [{"text": "İptal", "callback_data": "order_cancel"}],
                            [{"text": "Temsilci", "callback_data": "agent"}],
                        ]
                    },
                },
            )
        ],
    ),
    "location request": (
        LocationRequest(body="Konumunuzu paylaşır mısınız?"),
        [
            (
                "sendMessage",
                {
                    "chat_id": ID,
                    "text": "Konumunuzu paylaşır mısınız?",
                    "reply_markup": {
                        "keyboard": [[{"text": "📍 Send my location", "request_location": True}]],
                        "resize_keyboard": True,
                        "one_time_keyboard": True,
                    },
                },
            )
        ],
    ),
    "reaction": (
        Reaction(message_id=f"{CHAT}:42", emoji="👍"),
        [
            (
                "setMessageReaction",
                {"chat_id": ID, "message_id": 42, "reaction": [{"type": "emoji", "emoji": "👍"}]},
            )
        ],
    ),
    "reaction removed from an edited message": (
        Reaction(message_id=f"{CHAT}:42:e1718270460", emoji=""),
        [("setMessageReaction", {"chat_id": ID, "message_id": 42, "reaction": []})],
    ),
    "contacts: one call per card, a vCard for the rest": (
        Contacts(
            (
                ContactCard(formatted_name="Kargo", phones=(ContactPhone(phone="+905320000000"),)),
                ContactCard(
                    formatted_name="Rachel Green",
                    first_name="Rachel",
                    last_name="Green",
                    phones=(
                        ContactPhone(phone="+17777777777", type="WORK"),
                        ContactPhone(phone="+18888888888"),
                    ),
                    emails=(ContactEmail(email="rachel@example.com"),),
                    company="Ralph Lauren",
                ),
                ContactCard(formatted_name="Web", emails=(ContactEmail(email="a@b.c"),)),
            )
        ),
        [
            (
                "sendContact",
                {"chat_id": ID, "phone_number": "+905320000000", "first_name": "Kargo"},
            ),
            (
                "sendContact",
                {
                    "chat_id": ID,
                    "phone_number": "+17777777777",
                    "first_name": "Rachel",
                    "last_name": "Green",
                    "vcard": "BEGIN:VCARD\nVERSION:3.0\nFN:Rachel Green\nN:Green;Rachel;;;\n"
                    "ORG:Ralph Lauren\nTEL;TYPE=WORK:+17777777777\nTEL:+18888888888\n"
                    "EMAIL:rachel@example.com\nEND:VCARD",
                },
            ),
            ("sendMessage", {"chat_id": ID, "text": "Web\na@b.c"}),
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_kind_becomes_its_bot_api_call(case: str) -> None:
    content, expected = CASES[case]
    assert calls(content) == expected


def test_the_location_button_speaks_the_account_s_language() -> None:
    ((_, body),) = calls(LocationRequest(body="Konum?"), location_button="📍 Konumumu gönder")
    assert body["reply_markup"] == {
        "keyboard": [[{"text": "📍 Konumumu gönder", "request_location": True}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }


def test_a_chat_that_is_no_number_is_passed_as_written() -> None:
    (request,) = build_requests("@switchboard_news", Text("Duyuru"))
    assert request == BotRequest(
        "sendMessage",
        {
            "chat_id": "@switchboard_news",
            "text": "Duyuru",
            "link_preview_options": {"is_disabled": True},
        },
    )


def many_buttons(n: int) -> ReplyButtons:
    return ReplyButtons(body="?", buttons=tuple(Button(f"b{i}", f"B{i}") for i in range(n)))


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (Text(""), "body: must not be empty"),
        (Text("x" * 4097), "body: is 4097 characters long; Telegram allows at most 4096"),
        (
            Image(media_id="A", caption="c" * 1025),
            "caption: is 1025 characters long; Telegram allows at most 1024",
        ),
        (
            ReplyButtons(body="?", buttons=(Button("ş" * 33, "Uzun"),)),
            "buttons[0].id: is 66 bytes long in UTF-8; Telegram's callback_data allows at most 64",
        ),
        (
            ReplyButtons(body="?", buttons=(Button("a", "A"), Button("a", "B"))),
            "buttons[1].id: 'a' is also the id of buttons[0]; ids must differ",
        ),
        (
            ReplyButtons(body="?", buttons=(Button("a", ""),)),
            "buttons[0].title: must not be empty",
        ),
        (many_buttons(101), "buttons: Telegram allows at most 100 keyboard buttons, got 101"),
        (
            ReplyButtons(
                body="x" * 1020, buttons=YES_NO, header=Image(media_id="A"), footer="Destek"
            ),
            "body: is 1028 characters long; Telegram allows at most 1024",
        ),
        (
            ReplyButtons(body="?", buttons=YES_NO, header=Image(media_id="A", caption="c")),
            "header.caption: a header image, video or document has no caption",
        ),
        (
            ListMessage(body="?", button="B", sections=(ListSection(rows=()),)),
            "sections: at least one row is needed",
        ),
        (
            ListMessage(
                body="?",
                button="B",
                sections=(ListSection(rows=(ListRow(id="x" * 65, title="X"),)),),
            ),
            "sections[0].rows[0].id: is 65 bytes long",
        ),
        (
            Reaction(message_id="wamid.HBgLOTA1MzIx", emoji="👍"),
            "message_id: 'wamid.HBgLOTA1MzIx' is not a Telegram message of this chat",
        ),
        (
            Reaction(message_id="999:42", emoji="👍"),
            "message_id: '999:42' is not a Telegram message of this chat",
        ),
        (
            Contacts(
                (
                    ContactCard(
                        formatted_name="X" * 2100,
                        phones=(ContactPhone(phone="1"),),
                        emails=(ContactEmail(email="a@b.c"),),
                    ),
                )
            ),
            "contacts[0]: is 2",
        ),
        (Template(name="order_shipped", language="tr"), "kind: 'template' cannot be sent"),
        (Catalog(body="Katalog"), "kind: 'catalog' cannot be sent on Telegram"),
        (ButtonReply(id="yes", title="Evet"), "kind: 'button_reply' is what customers send"),
    ],
)
def test_limits_are_checked_before_sending_and_name_the_field(content: Content, error: str) -> None:
    with pytest.raises(ContentError) as caught:
        build_requests(CHAT, content)
    assert str(caught.value).startswith(error)


def test_a_recipient_is_needed() -> None:
    with pytest.raises(ContentError, match=r"^to: a recipient is needed$"):
        build_requests("", Text("Merhaba"))


def test_callback_data_counts_bytes_not_characters() -> None:
    build_requests(CHAT, ReplyButtons(body="?", buttons=(Button("ş" * 32, "Tam"),)))  # 64 bytes


@pytest.mark.parametrize(
    ("provider_id", "ref"),
    [
        (f"{CHAT}:42", (CHAT, 42)),
        ("-1001234567890:7", ("-1001234567890", 7)),
        (f"{CHAT}:42:e1718270460", (CHAT, 42)),
        (f"{CHAT}:48#1", (CHAT, 48)),
        ("cb:4382bfdwdsb323b2d9", None),
        ("reaction:912345029", None),
    ],
)
def test_message_refs_read_our_provider_ids(provider_id: str, ref: tuple[str, int] | None) -> None:
    assert message_ref(provider_id) == ref
