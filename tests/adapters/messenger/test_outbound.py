"""adapters.messenger.outbound: content to Send API bodies, limits, the messaging window."""

from __future__ import annotations

from typing import Any

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
    Product,
    Reaction,
    ReplyButtons,
    Sticker,
    Template,
    Text,
    Unsupported,
    Video,
)
from adapters.errors import WindowClosed
from adapters.links import link_media_id
from adapters.messenger.outbound import (
    HUMAN_AGENT_WINDOW_S,
    STANDARD_WINDOW_S,
    Window,
    build_requests,
    window,
)
from adapters.messenger.platform import INSTAGRAM, MESSENGER

CDN_LINK = "https://scontent.xx.fbcdn.net/v/t1.15752-9/448020185_n.jpg?oe=66A1B2C3"

PSID = "6944374522302871"
NOW = 1_718_270_400.0
RESPONSE = {"recipient": {"id": PSID}, "messaging_type": "RESPONSE"}


def sent(content: Content, when: Window = Window.RESPONSE) -> list[Any]:
    """The ``message`` objects of the requests (their envelope is checked separately)."""
    return [body["message"] for body in build_requests(PSID, content, MESSENGER, when)]


YES_NO = (Button("yes", "Evet"), Button("no", "Hayır"))


@pytest.mark.parametrize(
    ("content", "messages"),
    [
        (Text("Kargonuz yola çıktı."), [{"text": "Kargonuz yola çıktı."}]),
        (
            Image(url="https://example.com/fatura.jpg"),
            [
                {
                    "attachment": {
                        "type": "image",
                        "payload": {"url": "https://example.com/fatura.jpg"},
                    }
                }
            ],
        ),
        (
            Image(media_id="1857777774821032", url="https://example.com/fatura.jpg"),
            [{"attachment": {"type": "image", "payload": {"attachment_id": "1857777774821032"}}}],
        ),
        (  # a customer's attachment passed on: its lnk_ id is ours, its CDN link is Meta's
            Image(media_id=link_media_id(CDN_LINK), url=CDN_LINK),
            [{"attachment": {"type": "image", "payload": {"url": CDN_LINK}}}],
        ),
        (
            Video(url="https://example.com/kurulum.mp4"),
            [
                {
                    "attachment": {
                        "type": "video",
                        "payload": {"url": "https://example.com/kurulum.mp4"},
                    }
                }
            ],
        ),
        (
            Audio(media_id="99", voice=True),
            [{"attachment": {"type": "audio", "payload": {"attachment_id": "99"}}}],
        ),
        (  # a sticker's id cannot be sent back: its picture is
            Sticker(media_id="369239263222822", url="https://scontent.xx.fbcdn.net/s.png"),
            [
                {
                    "attachment": {
                        "type": "image",
                        "payload": {"url": "https://scontent.xx.fbcdn.net/s.png"},
                    }
                }
            ],
        ),
        (  # no caption under an attachment: it follows as a text
            Document(
                url="https://example.com/sozlesme.pdf", filename="s.pdf", caption="Sözleşmeniz"
            ),
            [
                {
                    "attachment": {
                        "type": "file",
                        "payload": {"url": "https://example.com/sozlesme.pdf"},
                    }
                },
                {"text": "Sözleşmeniz"},
            ],
        ),
        (
            ReplyButtons(
                body="Onaylıyor musunuz?",
                buttons=YES_NO,
                header="Sipariş #42",
                footer="Switchboard",
            ),
            [
                {
                    "attachment": {
                        "type": "template",
                        "payload": {
                            "template_type": "button",
                            "text": "Sipariş #42\n\nOnaylıyor musunuz?\n\nSwitchboard",
                            "buttons": [
                                {"type": "postback", "title": "Evet", "payload": "yes"},
                                {"type": "postback", "title": "Hayır", "payload": "no"},
                            ],
                        },
                    }
                }
            ],
        ),
        (
            ReplyButtons(
                body="Hangi gün?",
                buttons=tuple(Button(f"d{i}", f"Gün {i}") for i in range(4)),
            ),
            [
                {
                    "text": "Hangi gün?",
                    "quick_replies": [
                        {"content_type": "text", "title": f"Gün {i}", "payload": f"d{i}"}
                        for i in range(4)
                    ],
                }
            ],
        ),
        (
            ReplyButtons(
                body="Bu mu?", buttons=YES_NO, header=Image(url="https://example.com/urun.jpg")
            ),
            [
                {
                    "attachment": {
                        "type": "image",
                        "payload": {"url": "https://example.com/urun.jpg"},
                    }
                },
                {
                    "attachment": {
                        "type": "template",
                        "payload": {
                            "template_type": "button",
                            "text": "Bu mu?",
                            "buttons": [
                                {"type": "postback", "title": "Evet", "payload": "yes"},
                                {"type": "postback", "title": "Hayır", "payload": "no"},
                            ],
                        },
                    }
                },
            ],
        ),
        (
            ListMessage(
                body="Size nasıl yardımcı olabiliriz?",
                button="Seçenekler",
                sections=(
                    ListSection(
                        title="Siparişler",
                        rows=(
                            ListRow(id="order_status", title="Siparişim nerede?"),
                            ListRow(
                                id="order_cancel", title="İptal", description="Siparişi iptal et"
                            ),
                        ),
                    ),
                    ListSection(title="Diğer", rows=(ListRow(id="agent", title="Temsilci"),)),
                ),
            ),
            [
                {
                    "text": "Size nasıl yardımcı olabiliriz?\n\nSiparişler\n1. Siparişim nerede?\n"
                    "2. İptal — Siparişi iptal et\nDiğer\n3. Temsilci",
                    "quick_replies": [
                        {
                            "content_type": "text",
                            "title": "Siparişim nerede?",
                            "payload": "order_status",
                        },
                        {"content_type": "text", "title": "İptal", "payload": "order_cancel"},
                        {"content_type": "text", "title": "Temsilci", "payload": "agent"},
                    ],
                }
            ],
        ),
        (
            Location(latitude=41.0082, longitude=28.9784, name="Mağaza", address="İstiklal Cd. 1"),
            [
                {
                    "text": "Mağaza\nİstiklal Cd. 1\n"
                    "https://www.google.com/maps/search/?api=1&query=41.0082%2C28.9784"
                }
            ],
        ),
        (
            LocationRequest(body="Konumunuzu yazar mısınız?"),
            [{"text": "Konumunuzu yazar mısınız?"}],
        ),
        (
            Contacts(
                (
                    ContactCard(
                        formatted_name="Ayşe Yılmaz",
                        company="Örnek A.Ş.",
                        job_title="Destek",
                        phones=(ContactPhone(phone="+90 532 111 22 33"),),
                        emails=(ContactEmail(email="ayse@example.com"),),
                    ),
                    ContactCard(formatted_name="Mehmet"),
                )
            ),
            [
                {
                    "text": "Ayşe Yılmaz\nDestek, Örnek A.Ş.\n+90 532 111 22 33\n"
                    "ayse@example.com\n\nMehmet"
                }
            ],
        ),
    ],
)
def test_content_renders_as_the_send_api_shows_it(content: Content, messages: list[Any]) -> None:
    assert sent(content) == messages
    for body in build_requests(PSID, content, MESSENGER):
        assert {k: v for k, v in body.items() if k != "message"} == RESPONSE


def test_a_long_list_is_numbered_text_without_quick_replies() -> None:
    rows = tuple(ListRow(id=f"r{i}", title=f"Seçenek {i}") for i in range(14))
    (message,) = sent(ListMessage(body="Seçin", button="Liste", sections=(ListSection(rows=rows),)))
    assert message == {"text": "Seçin\n\n" + "\n".join(f"{i + 1}. Seçenek {i}" for i in range(14))}


def test_between_24_hours_and_7_days_a_reply_is_tagged_human_agent() -> None:
    (body,) = build_requests(
        PSID, Text("Geç cevap için özür dileriz."), MESSENGER, Window.HUMAN_AGENT
    )
    assert body == {
        "recipient": {"id": PSID},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": {"text": "Geç cevap için özür dileriz."},
    }


@pytest.mark.parametrize(
    ("age", "human_agent", "expected"),
    [
        (0.0, True, Window.RESPONSE),
        (-5.0, True, Window.RESPONSE),  # the customer's clock ahead of ours
        (STANDARD_WINDOW_S - 1, True, Window.RESPONSE),
        (STANDARD_WINDOW_S, True, Window.HUMAN_AGENT),
        (HUMAN_AGENT_WINDOW_S - 1, True, Window.HUMAN_AGENT),
        (HUMAN_AGENT_WINDOW_S, True, None),
        (STANDARD_WINDOW_S - 1, False, Window.RESPONSE),
        (STANDARD_WINDOW_S, False, None),
    ],
)
def test_the_messaging_window(age: float, human_agent: bool, expected: Window | None) -> None:
    if expected is None:
        with pytest.raises(WindowClosed) as caught:
            window(MESSENGER, NOW - age, NOW, human_agent=human_agent)
        assert (caught.value.code, caught.value.subcode) == (10, 2018278)
        assert str(caught.value).startswith("Messenger error 10: the customer last wrote")
    else:
        assert window(MESSENGER, NOW - age, NOW, human_agent=human_agent) is expected


def test_a_customer_who_never_wrote_cannot_be_messaged() -> None:
    with pytest.raises(WindowClosed, match="has not written yet"):
        window(MESSENGER, None, NOW)


def _buttons(n: int, title: str = "Tamam") -> tuple[Button, ...]:
    return tuple(Button(f"b{i}", f"{title[:18]}{i}") for i in range(n))


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (Text(""), "body: must not be empty"),
        (Text("a" * 2001), "body: is 2001 characters long; Messenger allows at most 2000"),
        (
            ReplyButtons(body="x", buttons=(Button("a", "b" * 21),)),
            "buttons[0].title: is 21 characters long; Messenger allows at most 20",
        ),
        (
            ReplyButtons(body="x", buttons=(Button("a", "A"), Button("a", "B"))),
            "buttons[1].id: 'a' is also the id of buttons[0]; ids must differ",
        ),
        (
            ReplyButtons(body="x", buttons=(Button("p" * 1001, "A"),)),
            "buttons[0].id: is 1001 characters long; Messenger allows at most 1000",
        ),
        (
            ReplyButtons(body="x" * 641, buttons=YES_NO),
            "body: is 641 characters long; Messenger allows at most 640",
        ),
        (
            ReplyButtons(body="x", buttons=_buttons(14)),
            "buttons: Messenger allows at most 13 quick replies, got 14",
        ),
        (
            ReplyButtons(
                body="x", buttons=YES_NO, header=Image(url="https://e.com/i", caption="c")
            ),
            "header.caption: a header image, video or document has no caption",
        ),
        (
            ListMessage(body="x", button="b", sections=(ListSection(rows=()),)),
            "sections: at least one row is needed",
        ),
        (
            ListMessage(
                body="x", button="b", sections=(ListSection(rows=(ListRow(id="r", title=""),)),)
            ),
            "sections[0].rows[0].title: must not be empty",
        ),
        (
            Template(name="order_shipped", language="tr"),
            "kind: 'template' cannot be sent on Messenger",
        ),
        (
            Product(catalog_id="1", product_retailer_id="2"),
            "kind: 'product' cannot be sent on Messenger",
        ),
        (Catalog(body="Katalog"), "kind: 'catalog' cannot be sent on Messenger"),
        (ButtonReply(id="a", title="b"), "kind: 'button_reply' is what customers send"),
        (Unsupported(), "kind: 'unsupported' is what customers send"),
        (Reaction(message_id="m_1", emoji="👍"), "kind: Messenger does not let a business react"),
        (Image(url="https://e.com/i", caption="c" * 2001), "caption: is 2001 characters long"),
    ],
)
def test_limits_are_checked_before_sending(content: Content, error: str) -> None:
    with pytest.raises(ContentError) as caught:
        build_requests(PSID, content, MESSENGER)
    assert str(caught.value).startswith(error)


def test_a_recipient_is_needed() -> None:
    with pytest.raises(ContentError, match=r"^to: a recipient is needed"):
        build_requests("", Text("x"), MESSENGER)


def test_instagram_has_no_button_template_and_counts_text_in_bytes() -> None:
    (body,) = build_requests(PSID, ReplyButtons(body="Onay?", buttons=YES_NO), INSTAGRAM)
    assert body["message"] == {
        "text": "Onay?",
        "quick_replies": [
            {"content_type": "text", "title": "Evet", "payload": "yes"},
            {"content_type": "text", "title": "Hayır", "payload": "no"},
        ],
    }
    build_requests(PSID, Text("ş" * 500), INSTAGRAM)  # 1000 bytes
    with pytest.raises(ContentError, match=r"^body: is 1002 bytes long in UTF-8; Instagram allows"):
        build_requests(PSID, Text("ş" * 501), INSTAGRAM)
