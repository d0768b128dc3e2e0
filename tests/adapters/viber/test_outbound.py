"""adapters.viber.outbound: content to send_message bodies, and the limits checked first."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.content import (
    Audio,
    Button,
    ButtonReply,
    ContactCard,
    ContactEmail,
    ContactPhone,
    Contacts,
    Content,
    ContentError,
    Document,
    Image,
    ListMessage,
    ListReply,
    ListRow,
    ListSection,
    Location,
    LocationRequest,
    Product,
    Reaction,
    ReplyButtons,
    Sticker,
    Text,
    Video,
)
from adapters.viber.outbound import (
    Sender,
    build_messages,
    choice_from_tracking,
    welcome_message,
)

USER = "01234567890A="
SENDER = Sender("Switchboard Destek")
HEAD = {"receiver": USER, "sender": {"name": "Switchboard Destek"}}
YES_NO = (Button("yes", "Evet"), Button("no", "Hayır"))


def reply(title: str) -> dict[str, Any]:
    return {"Columns": 6, "Rows": 1, "ActionType": "reply", "ActionBody": title, "Text": title}


def keyboard(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "keyboard", "DefaultHeight": False, "Buttons": list(buttons)}


CASES: dict[str, tuple[Content, list[dict[str, Any]]]] = {
    "text": (Text("Kargonuz yola çıktı."), [{"type": "text", "text": "Kargonuz yola çıktı."}]),
    "picture": (
        Image(url="https://x.test/fatura.jpg", caption="Faturanız"),
        [{"type": "picture", "text": "Faturanız", "media": "https://x.test/fatura.jpg"}],
    ),
    "picture without caption": (
        Image(url="https://x.test/fatura.jpg"),
        [{"type": "picture", "text": "", "media": "https://x.test/fatura.jpg"}],
    ),
    "video as a link": (
        Video(url="https://x.test/kurulum.mp4"),
        [{"type": "url", "media": "https://x.test/kurulum.mp4"}],
    ),
    "captioned video as text and link": (
        Video(url="https://x.test/kurulum.mp4", caption="Kurulum videosu"),
        [{"type": "text", "text": "Kurulum videosu\nhttps://x.test/kurulum.mp4"}],
    ),
    "document named by its file name": (
        Document(url="https://x.test/s.pdf", filename="sozlesme.pdf"),
        [{"type": "text", "text": "sozlesme.pdf\nhttps://x.test/s.pdf"}],
    ),
    "audio as a link": (
        Audio(url="https://x.test/kayit.mp3", voice=True),
        [{"type": "url", "media": "https://x.test/kayit.mp3"}],
    ),
    "sticker": (Sticker(media_id="46105"), [{"type": "sticker", "sticker_id": 46105}]),
    "location": (
        Location(latitude=41.0082, longitude=28.9784, name="Mağaza"),
        [{"type": "location", "location": {"lat": 41.0082, "lon": 28.9784}}],
    ),
    "contacts: one message per card": (
        Contacts(
            (
                ContactCard(formatted_name="Kargo", phones=(ContactPhone(phone="+905320000000"),)),
                ContactCard(formatted_name="Web", emails=(ContactEmail(email="a@b.c"),)),
            )
        ),
        [
            {"type": "contact", "contact": {"name": "Kargo", "phone_number": "+905320000000"}},
            {"type": "text", "text": "Web\na@b.c"},
        ],
    ),
    "reply buttons": (
        ReplyButtons(body="Onaylıyor musunuz?", buttons=YES_NO, header="Sipariş", footer="Destek"),
        [
            {
                "type": "text",
                "text": "Sipariş\n\nOnaylıyor musunuz?\n\nDestek",
                "keyboard": keyboard(reply("Evet"), reply("Hayır")),
                "tracking_data": 'switchboard:{"type":"buttons","choices":'
                '[["Evet","yes"],["Hayır","no"]]}',
            }
        ],
    ),
    "reply buttons under a picture": (
        ReplyButtons(body="Bu ürün mü?", buttons=YES_NO, header=Image(url="https://x.test/u.jpg")),
        [
            {
                "type": "picture",
                "text": "Bu ürün mü?",
                "media": "https://x.test/u.jpg",
                "keyboard": keyboard(reply("Evet"), reply("Hayır")),
                "tracking_data": 'switchboard:{"type":"buttons","choices":'
                '[["Evet","yes"],["Hayır","no"]]}',
            }
        ],
    ),
    "reply buttons under a video link": (
        ReplyButtons(body="İzlediniz mi?", buttons=YES_NO, header=Video(url="https://x.test/v")),
        [
            {
                "type": "text",
                "text": "https://x.test/v\n\nİzlediniz mi?",
                "keyboard": keyboard(reply("Evet"), reply("Hayır")),
                "tracking_data": 'switchboard:{"type":"buttons","choices":'
                '[["Evet","yes"],["Hayır","no"]]}',
            }
        ],
    ),
    "list": (
        ListMessage(
            body="Size nasıl yardımcı olabiliriz?",
            button="Seçenekler",
            header="Destek",
            sections=(
                ListSection(
                    rows=(
                        ListRow(id="order_status", title="Siparişim nerede?"),
                        ListRow(id="order_cancel", title="İptal", description="Siparişi iptal et"),
                    ),
                ),
            ),
        ),
        [
            {
                "type": "text",
                "text": "Destek\n\nSize nasıl yardımcı olabiliriz?\n\n1. Siparişim nerede?\n"
                "2. İptal — Siparişi iptal et",
                "keyboard": keyboard(reply("Siparişim nerede?"), reply("İptal")),
                "tracking_data": 'switchboard:{"type":"list","choices":[["Siparişim nerede?",'
                '"order_status"],["İptal","order_cancel","Siparişi iptal et"]]}',
            }
        ],
    ),
    "location request": (
        LocationRequest(body="Konumunuzu paylaşır mısınız?"),
        [
            {
                "type": "text",
                "text": "Konumunuzu paylaşır mısınız?",
                "keyboard": keyboard(
                    {
                        "Columns": 6,
                        "Rows": 1,
                        "ActionType": "location-picker",
                        "ActionBody": "location",
                        "Text": "📍 Send my location",
                    }
                ),
                "min_api_version": 3,
            }
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_kind_becomes_its_send_message_body(case: str) -> None:
    content, expected = CASES[case]
    assert list(build_messages(USER, content, sender=SENDER)) == [
        {**HEAD, **message} for message in expected
    ]


def test_the_sender_s_avatar_goes_along() -> None:
    (body,) = build_messages(USER, Text("Merhaba"), sender=Sender("Destek", "https://x.test/a.png"))
    assert body["sender"] == {"name": "Destek", "avatar": "https://x.test/a.png"}


@pytest.mark.parametrize(
    "content",
    [
        CASES["reply buttons"][0],
        CASES["list"][0],
    ],
)
def test_a_tap_on_a_keyboard_we_sent_comes_back_as_the_choice(content: Content) -> None:
    (body,) = build_messages(USER, content, sender=SENDER)
    tracking = body["tracking_data"]
    titles = [button["ActionBody"] for button in body["keyboard"]["Buttons"]]
    taps = {title: choice_from_tracking(tracking, title) for title in titles}
    if isinstance(content, ReplyButtons):
        assert taps == {b.title: ButtonReply(id=b.id, title=b.title) for b in content.buttons}
    else:
        assert taps == {
            "Siparişim nerede?": ListReply(id="order_status", title="Siparişim nerede?"),
            "İptal": ListReply(id="order_cancel", title="İptal", description="Siparişi iptal et"),
        }
    assert choice_from_tracking(tracking, "something typed") is None


@pytest.mark.parametrize(
    "tracking",
    [
        None,
        "",
        "someone else's",
        "switchboard:{not json",
        "switchboard:[]",
        'switchboard:{"choices": 5}',
        'switchboard:{"choices": [["Evet"], [1, 2], "x"]}',
    ],
)
def test_tracking_data_that_is_not_ours_or_unreadable_names_no_choice(tracking: str | None) -> None:
    assert choice_from_tracking(tracking, "Evet") is None


def test_choices_that_do_not_fit_the_tracking_data_are_sent_without_it() -> None:
    buttons = tuple(Button("i" * 200 + str(n), "t" * 200 + str(n)) for n in range(12))
    (body,) = build_messages(USER, ReplyButtons(body="?", buttons=buttons), sender=SENDER)
    assert "tracking_data" not in body
    assert len(body["keyboard"]["Buttons"]) == 12


def test_the_welcome_message_is_a_text_from_the_bot() -> None:
    assert welcome_message("Hoş geldiniz!", SENDER) == {
        "sender": {"name": "Switchboard Destek"},
        "type": "text",
        "text": "Hoş geldiniz!",
    }


def many_buttons(n: int) -> ReplyButtons:
    return ReplyButtons(body="?", buttons=tuple(Button(f"b{i}", f"B{i}") for i in range(n)))


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (Text(""), "body: must not be empty"),
        (Text("x" * 7001), "body: is 7001 characters long; Viber allows at most 7000"),
        (
            Image(url="https://x.test/a.jpg", caption="c" * 769),
            "caption: is 769 characters long; a Viber picture's text allows at most 768",
        ),
        (Image(media_id="1479537139650973"), "url: Viber sends media by URL only"),
        (Video(media_id="1479537139650973"), "url: Viber sends media by URL only"),
        (Image(url="https://x.test/" + "a" * 2000), "url: is 2015 characters long"),
        (Sticker(url="https://x.test/s.webp"), "media_id: Viber sends stickers by their numeric"),
        (Sticker(media_id="CAACAgIAAxkBAAIBNGZq"), "media_id: Viber sends stickers by their"),
        (
            Contacts((ContactCard(formatted_name="N" * 29, phones=(ContactPhone(phone="+1"),)),)),
            "contacts[0].formatted_name: is 29 characters long; Viber allows at most 28",
        ),
        (
            Contacts((ContactCard(formatted_name="N", phones=(ContactPhone(phone="+1" * 10),)),)),
            "contacts[0].phones[0].phone: is 20 characters long; Viber allows at most 18",
        ),
        (many_buttons(25), "buttons: a Viber keyboard takes at most 24 buttons, got 25"),
        (
            ReplyButtons(body="?", buttons=(Button("a", "Aynı"), Button("b", "Aynı"))),
            "buttons[1].title: 'Aynı' is also the title of buttons[0]",
        ),
        (
            ReplyButtons(body="?", buttons=(Button("a", "A"), Button("a", "B"))),
            "buttons[1].id: 'a' is also the id of buttons[0]",
        ),
        (
            ReplyButtons(body="?", buttons=(Button("a", "x" * 251),)),
            "buttons[0].title: is 251 characters long",
        ),
        (
            ReplyButtons(body="?", buttons=YES_NO, header=Image(url="https://x", caption="c")),
            "header.caption: a header image, video or document has no caption",
        ),
        (
            ReplyButtons(body="?", buttons=YES_NO, header=Document(media_id="7")),
            "header.url: Viber sends media by URL only",
        ),
        (
            ListMessage(body="?", button="B", sections=(ListSection(rows=()),)),
            "sections[0].rows: at least one row is needed",
        ),
        (Reaction(message_id="5741311803571721087", emoji="👍"), "kind: Viber does not let"),
        (
            Product(catalog_id="1", product_retailer_id="HAMBURGER"),
            "kind: 'product' cannot be sent on Viber",
        ),
        (ListReply(id="a", title="A"), "kind: 'list_reply' is what customers send"),
    ],
)
def test_limits_are_checked_before_sending_and_name_the_field(content: Content, error: str) -> None:
    with pytest.raises(ContentError) as caught:
        build_messages(USER, content, sender=SENDER)
    assert str(caught.value).startswith(error)


@pytest.mark.parametrize(
    ("sender", "error"),
    [
        (Sender(""), "sender_name: must not be empty"),
        (Sender("S" * 29), "sender_name: is 29 characters long; Viber allows at most 28"),
    ],
)
def test_the_sender_name_is_checked(sender: Sender, error: str) -> None:
    with pytest.raises(ContentError, match=r"^" + error):
        build_messages(USER, Text("Merhaba"), sender=sender)


def test_a_recipient_is_needed() -> None:
    with pytest.raises(ContentError, match=r"^to: a recipient is needed$"):
        build_messages("", Text("Merhaba"), sender=SENDER)
