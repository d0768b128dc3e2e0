"""adapters.whatsapp.outbound: Graph /messages bodies, WhatsApp's limits, the 24-hour window."""

from __future__ import annotations

import dataclasses
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
    ListReply,
    ListRow,
    ListSection,
    Location,
    LocationRequest,
    Order,
    OrderItem,
    Product,
    ProductList,
    ProductSection,
    Reaction,
    ReplyButtons,
    Sticker,
    Template,
    TemplateComponent,
    Text,
    Unsupported,
    Video,
)
from adapters.whatsapp.errors import ProviderError, WindowClosed
from adapters.whatsapp.outbound import (
    SERVICE_WINDOW_S,
    build_message,
    check_window,
    window_open,
)

TO = "905321234567"
ENVELOPE = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": TO}

MENU = ListMessage(
    header="Destek",
    body="Size nasıl yardımcı olabiliriz?",
    footer="7/24 açığız",
    button="Seçenekler",
    sections=(
        ListSection(
            title="Siparişler",
            rows=(
                ListRow(id="order_status", title="Siparişim nerede?"),
                ListRow(id="order_cancel", title="İptal", description="Siparişi iptal et"),
            ),
        ),
        ListSection(title="Diğer", rows=(ListRow(id="agent", title="Temsilciye bağlan"),)),
    ),
)

YES_NO = ReplyButtons(
    body="Siparişinizi onaylıyor musunuz?",
    buttons=(Button("yes", "Evet"), Button("no", "Hayır")),
    header=Image(media_id="1479537139650973"),
    footer="Switchboard",
)

BODIES: list[tuple[str, Content, dict[str, Any]]] = [
    (
        "text",
        Text("Merhaba! https://example.com/kargo", preview_url=True),
        {
            "type": "text",
            "text": {"body": "Merhaba! https://example.com/kargo", "preview_url": True},
        },
    ),
    (
        "image-by-id",
        Image(media_id="1479537139650973", caption="Faturanız", mime_type="image/jpeg"),
        {"type": "image", "image": {"id": "1479537139650973", "caption": "Faturanız"}},
    ),
    (
        "video-by-link",
        Video(url="https://example.com/kurulum.mp4"),
        {"type": "video", "video": {"link": "https://example.com/kurulum.mp4"}},
    ),
    (
        "document",
        Document(media_id="42", caption="Sözleşme", filename="sozlesme.pdf"),
        {
            "type": "document",
            "document": {"id": "42", "caption": "Sözleşme", "filename": "sozlesme.pdf"},
        },
    ),
    ("audio", Audio(media_id="43", voice=True), {"type": "audio", "audio": {"id": "43"}}),
    ("sticker", Sticker(media_id="44"), {"type": "sticker", "sticker": {"id": "44"}}),
    (
        "location",
        Location(latitude=41.0082, longitude=28.9784, name="Mağaza", address="İstiklal Cd. 1"),
        {
            "type": "location",
            "location": {
                "latitude": 41.0082,
                "longitude": 28.9784,
                "name": "Mağaza",
                "address": "İstiklal Cd. 1",
            },
        },
    ),
    (
        "contacts",
        Contacts(
            (
                ContactCard(
                    formatted_name="Destek Hattı",
                    phones=(ContactPhone(phone="+90 850 000 00 00", type="WORK"),),
                    emails=(ContactEmail(email="destek@example.com"),),
                    company="Example A.Ş.",
                ),
            )
        ),
        {
            "type": "contacts",
            "contacts": [
                {
                    "name": {"formatted_name": "Destek Hattı", "first_name": "Destek Hattı"},
                    "phones": [{"phone": "+90 850 000 00 00", "type": "WORK"}],
                    "emails": [{"email": "destek@example.com"}],
                    "org": {"company": "Example A.Ş."},
                }
            ],
        },
    ),
    (
        "reply-buttons",
        YES_NO,
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "header": {"type": "image", "image": {"id": "1479537139650973"}},
                "body": {"text": "Siparişinizi onaylıyor musunuz?"},
                "footer": {"text": "Switchboard"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "yes", "title": "Evet"}},
                        {"type": "reply", "reply": {"id": "no", "title": "Hayır"}},
                    ]
                },
            },
        },
    ),
    (
        "list",
        MENU,
        {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "header": {"type": "text", "text": "Destek"},
                "body": {"text": "Size nasıl yardımcı olabiliriz?"},
                "footer": {"text": "7/24 açığız"},
                "action": {
                    "button": "Seçenekler",
                    "sections": [
                        {
                            "title": "Siparişler",
                            "rows": [
                                {"id": "order_status", "title": "Siparişim nerede?"},
                                {
                                    "id": "order_cancel",
                                    "title": "İptal",
                                    "description": "Siparişi iptal et",
                                },
                            ],
                        },
                        {"title": "Diğer", "rows": [{"id": "agent", "title": "Temsilciye bağlan"}]},
                    ],
                },
            },
        },
    ),
    (
        "location-request",
        LocationRequest(body="Size en yakın mağazayı bulmak için konumunuzu paylaşın."),
        {
            "type": "interactive",
            "interactive": {
                "type": "location_request_message",
                "body": {"text": "Size en yakın mağazayı bulmak için konumunuzu paylaşın."},
                "action": {"name": "send_location"},
            },
        },
    ),
    (
        "template",
        Template(
            name="order_shipped",
            language="tr",
            components=(
                TemplateComponent(
                    type="header",
                    parameters=({"type": "image", "image": {"link": "https://e.com/k.png"}},),
                ),
                TemplateComponent(
                    type="body",
                    parameters=({"type": "text", "text": "Ayşe"}, {"type": "text", "text": "#42"}),
                ),
                TemplateComponent(
                    type="button",
                    sub_type="quick_reply",
                    index=0,
                    parameters=({"type": "payload", "payload": "track-42"},),
                ),
            ),
        ),
        {
            "type": "template",
            "template": {
                "name": "order_shipped",
                "language": {"code": "tr"},
                "components": [
                    {
                        "type": "header",
                        "parameters": [{"type": "image", "image": {"link": "https://e.com/k.png"}}],
                    },
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "Ayşe"},
                            {"type": "text", "text": "#42"},
                        ],
                    },
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": "0",
                        "parameters": [{"type": "payload", "payload": "track-42"}],
                    },
                ],
            },
        },
    ),
    (
        "template-without-parameters",
        Template(name="hello_world", language="en_US"),
        {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}},
    ),
    (
        "product",
        Product(catalog_id="354160437058781", product_retailer_id="HAMBURGER", body="Menü"),
        {
            "type": "interactive",
            "interactive": {
                "type": "product",
                "body": {"text": "Menü"},
                "action": {"catalog_id": "354160437058781", "product_retailer_id": "HAMBURGER"},
            },
        },
    ),
    (
        "product-list",
        ProductList(
            catalog_id="354160437058781",
            header="Menü",
            body="Bugünün önerileri",
            sections=(
                ProductSection(title="Yemek", product_retailer_ids=("HAMBURGER", "FRENCH_FRIES")),
                ProductSection(title="İçecek", product_retailer_ids=("SODA",)),
            ),
        ),
        {
            "type": "interactive",
            "interactive": {
                "type": "product_list",
                "header": {"type": "text", "text": "Menü"},
                "body": {"text": "Bugünün önerileri"},
                "action": {
                    "catalog_id": "354160437058781",
                    "sections": [
                        {
                            "title": "Yemek",
                            "product_items": [
                                {"product_retailer_id": "HAMBURGER"},
                                {"product_retailer_id": "FRENCH_FRIES"},
                            ],
                        },
                        {"title": "İçecek", "product_items": [{"product_retailer_id": "SODA"}]},
                    ],
                },
            },
        },
    ),
    (
        "catalog",
        Catalog(body="Kataloğumuza göz atın", thumbnail_product_retailer_id="HAMBURGER"),
        {
            "type": "interactive",
            "interactive": {
                "type": "catalog_message",
                "body": {"text": "Kataloğumuza göz atın"},
                "action": {
                    "name": "catalog_message",
                    "parameters": {"thumbnail_product_retailer_id": "HAMBURGER"},
                },
            },
        },
    ),
    (
        "reaction",
        Reaction(message_id="wamid.HBgLOTA1", emoji="👍"),
        {"type": "reaction", "reaction": {"message_id": "wamid.HBgLOTA1", "emoji": "👍"}},
    ),
    (
        "reaction-removed",
        Reaction(message_id="wamid.HBgLOTA1"),
        {"type": "reaction", "reaction": {"message_id": "wamid.HBgLOTA1", "emoji": ""}},
    ),
]


@pytest.mark.parametrize(
    ("content", "expected"), [(c, e) for _, c, e in BODIES], ids=[n for n, _, _ in BODIES]
)
def test_graph_body_for_each_kind(content: Content, expected: dict[str, Any]) -> None:
    assert build_message(TO, content) == {**ENVELOPE, **expected}


def test_a_reply_quotes_the_customer_message_and_callback_data_rides_along() -> None:
    body = build_message(TO, Text("Tabii"), reply_to="wamid.abc", callback_data="msg-17")
    assert body["context"] == {"message_id": "wamid.abc"}
    assert body["biz_opaque_callback_data"] == "msg-17"


@pytest.mark.parametrize(
    "content",
    [
        ButtonReply(id="yes", title="Evet"),
        ListReply(id="agent", title="Temsilci"),
        Order(
            catalog_id="1",
            items=(OrderItem(product_retailer_id="p", quantity=1, item_price=1, currency="TRY"),),
        ),
        Unsupported(provider_type="poll"),
    ],
    ids=["button_reply", "list_reply", "order", "unsupported"],
)
def test_what_only_customers_send_cannot_be_sent(content: Content) -> None:
    with pytest.raises(ContentError, match=r"^kind: '\w+' is what customers send"):
        build_message(TO, content)


def section(n: int, title: str | None = "Bölüm", ids: str = "") -> ListSection:
    """A list section of ``n`` rows; row ids are ``ids`` + a number, or the title's."""
    prefix = ids or (title or "")
    rows = tuple(ListRow(id=f"{prefix}{i}", title=f"Satır {i}") for i in range(n))
    return ListSection(title=title, rows=rows)


def products(n: int) -> tuple[str, ...]:
    return tuple(f"SKU{i}" for i in range(n))


LONG = "ç" * 5000

# (name, content, reply_to, the ContentError message); the first line of each pair of
# cases is just inside the limit, so the limit is exactly the one WhatsApp publishes.
LIMITS: list[tuple[str, Content, str | None]] = [
    ("text-4096", Text("a" * 4096), None),
    ("text-4097", Text("a" * 4097), "body: is 4097 characters long; WhatsApp allows at most 4096"),
    ("text-empty", Text(""), "body: must not be empty"),
    ("caption-1024", Image(media_id="1", caption="a" * 1024), None),
    (
        "caption-1025",
        Video(media_id="1", caption="a" * 1025),
        "caption: is 1025 characters long; WhatsApp allows at most 1024",
    ),
    (
        "3-buttons",
        dataclasses.replace(YES_NO, buttons=(Button("a", "A"), Button("b", "B"), Button("c", "C"))),
        None,
    ),
    (
        "4-buttons",
        dataclasses.replace(YES_NO, buttons=tuple(Button(c, c) for c in "abcd")),
        "buttons: WhatsApp allows at most 3 reply buttons, got 4",
    ),
    ("button-title-20", dataclasses.replace(YES_NO, buttons=(Button("a", "t" * 20),)), None),
    (
        "button-title-21",
        dataclasses.replace(YES_NO, buttons=(Button("a", "A"), Button("b", "t" * 21))),
        "buttons[1].title: is 21 characters long; WhatsApp allows at most 20",
    ),
    (
        "button-title-empty",
        dataclasses.replace(YES_NO, buttons=(Button("a", ""),)),
        "buttons[0].title: must not be empty",
    ),
    (
        "button-ids-unique",
        dataclasses.replace(YES_NO, buttons=(Button("a", "A"), Button("a", "B"))),
        "buttons[1].id: 'a' is also the id of buttons[0]; ids must differ",
    ),
    ("button-id-256", dataclasses.replace(YES_NO, buttons=(Button("i" * 256, "A"),)), None),
    (
        "button-id-257",
        dataclasses.replace(YES_NO, buttons=(Button("i" * 257, "A"),)),
        "buttons[0].id: is 257 characters long; WhatsApp allows at most 256",
    ),
    ("header-60", dataclasses.replace(YES_NO, header="h" * 60), None),
    (
        "header-61",
        dataclasses.replace(YES_NO, header="h" * 61),
        "header: is 61 characters long; WhatsApp allows at most 60",
    ),
    (
        "header-image-caption",
        dataclasses.replace(YES_NO, header=Image(media_id="1", caption="x")),
        "header.caption: a header image, video or document has no caption",
    ),
    ("footer-60", dataclasses.replace(YES_NO, footer="f" * 60), None),
    (
        "footer-61",
        dataclasses.replace(MENU, footer="f" * 61),
        "footer: is 61 characters long; WhatsApp allows at most 60",
    ),
    ("body-1024", dataclasses.replace(YES_NO, body="b" * 1024), None),
    (
        "body-1025",
        dataclasses.replace(MENU, body="b" * 1025),
        "body: is 1025 characters long; WhatsApp allows at most 1024",
    ),
    ("list-button-20", dataclasses.replace(MENU, button="b" * 20), None),
    (
        "list-button-21",
        dataclasses.replace(MENU, button="b" * 21),
        "button: is 21 characters long; WhatsApp allows at most 20",
    ),
    ("list-10-rows", dataclasses.replace(MENU, sections=(section(5, "A"), section(5, "B"))), None),
    (
        "list-11-rows",
        dataclasses.replace(MENU, sections=(section(5, "A"), section(6, "B"))),
        "sections: WhatsApp allows at most 10 rows in all sections, got 11",
    ),
    (
        "list-11-sections",
        dataclasses.replace(MENU, sections=tuple(section(1, f"S{i}") for i in range(11))),
        "sections: WhatsApp allows at most 10 sections, got 11",
    ),
    (
        "list-empty-section",
        dataclasses.replace(MENU, sections=(section(2, "A"), section(0, "B"))),
        "sections[1].rows: at least one row is needed",
    ),
    ("list-one-untitled-section", dataclasses.replace(MENU, sections=(section(3, None),)), None),
    (
        "list-two-sections-one-untitled",
        dataclasses.replace(MENU, sections=(section(3, "A"), section(3, None, ids="B"))),
        "sections[1].title: must not be empty",
    ),
    ("section-title-24", dataclasses.replace(MENU, sections=(section(1, "s" * 24),)), None),
    (
        "section-title-25",
        dataclasses.replace(MENU, sections=(section(1, "s" * 25),)),
        "sections[0].title: is 25 characters long; WhatsApp allows at most 24",
    ),
    (
        "row-title-25",
        dataclasses.replace(MENU, sections=(ListSection(rows=(ListRow(id="a", title="t" * 25),)),)),
        "sections[0].rows[0].title: is 25 characters long; WhatsApp allows at most 24",
    ),
    (
        "row-description-72",
        dataclasses.replace(
            MENU, sections=(ListSection(rows=(ListRow(id="a", title="t", description="d" * 72),)),)
        ),
        None,
    ),
    (
        "row-description-73",
        dataclasses.replace(
            MENU, sections=(ListSection(rows=(ListRow(id="a", title="t", description="d" * 73),)),)
        ),
        "sections[0].rows[0].description: is 73 characters long; WhatsApp allows at most 72",
    ),
    (
        "row-ids-unique-across-sections",
        dataclasses.replace(MENU, sections=(section(2, "A", ids="r"), section(2, "B", ids="r"))),
        "sections[1].rows[0].id: 'r0' is also the id of sections[0].rows[0]; ids must differ",
    ),
    (
        "30-products",
        ProductList(
            catalog_id="c",
            header="h",
            body="b",
            sections=tuple(
                ProductSection(title=f"S{i}", product_retailer_ids=products(3)) for i in range(10)
            ),
        ),
        None,
    ),
    (
        "31-products",
        ProductList(
            catalog_id="c",
            header="h",
            body="b",
            sections=(
                ProductSection(title="S", product_retailer_ids=products(16)),
                ProductSection(title="T", product_retailer_ids=products(15)),
            ),
        ),
        "sections: WhatsApp allows at most 30 products in all sections, got 31",
    ),
    (
        "11-product-sections",
        ProductList(
            catalog_id="c",
            header="h",
            body="b",
            sections=tuple(
                ProductSection(title=f"S{i}", product_retailer_ids=products(1)) for i in range(11)
            ),
        ),
        "sections: WhatsApp allows at most 10 sections, got 11",
    ),
    (
        "product-list-needs-a-header",
        ProductList(
            catalog_id="c",
            header="",
            body="b",
            sections=(ProductSection(title="S", product_retailer_ids=products(1)),),
        ),
        "header: must not be empty",
    ),
    (
        "template-button-needs-index",
        Template(
            name="t", language="tr", components=(TemplateComponent(type="button", sub_type="url"),)
        ),
        "components[0].index: a button component needs an index 0-9",
    ),
    ("template-needs-name", Template(name="", language="tr"), "name: must not be empty"),
]


@pytest.mark.parametrize(
    ("content", "error"), [(c, e) for _, c, e in LIMITS], ids=[n for n, _, _ in LIMITS]
)
def test_whatsapp_limits_are_checked_before_sending(content: Content, error: str | None) -> None:
    if error is None:
        assert build_message(TO, content)["to"] == TO
    else:
        with pytest.raises(ContentError) as caught:
            build_message(TO, content)
        assert str(caught.value) == error
        assert caught.value.field == error.split(":", maxsplit=1)[0]


def test_envelope_errors() -> None:
    with pytest.raises(ContentError, match=r"^to: a recipient is needed$"):
        build_message("", Text("x"))
    with pytest.raises(ContentError, match=r"^reply_to: a reaction already names its message$"):
        build_message(TO, Reaction(message_id="wamid.1", emoji="👍"), reply_to="wamid.2")
    with pytest.raises(ContentError, match=r"^callback_data: is 513 characters long"):
        build_message(TO, Text("x"), callback_data="c" * 513)


NOW = 1_731_412_345.0
HOUR = 3600.0


@pytest.mark.parametrize(
    ("last", "is_open"),
    [
        (None, False),
        (NOW, True),
        (NOW - 23 * HOUR, True),
        (NOW - SERVICE_WINDOW_S + 1, True),
        (NOW - SERVICE_WINDOW_S, False),
        (NOW - 30 * HOUR, False),
        (NOW + 60, True),  # the customer's clock is a little ahead
    ],
)
def test_the_24_hour_window(last: float | None, is_open: bool) -> None:
    assert window_open(last, NOW) is is_open


def test_free_form_content_outside_the_window_is_refused_but_templates_pass() -> None:
    check_window(Text("Merhaba"), last_customer_message_at=NOW - HOUR, now=NOW)
    check_window(
        Template(name="hello_world", language="tr"), last_customer_message_at=None, now=NOW
    )
    check_window(
        Template(name="hello_world", language="tr"),
        last_customer_message_at=NOW - 30 * HOUR,
        now=NOW,
    )
    with pytest.raises(WindowClosed) as caught:
        check_window(Text("Merhaba"), last_customer_message_at=NOW - 30 * HOUR, now=NOW)
    assert "the customer last wrote 30 hours ago" in str(caught.value)
    assert caught.value.code == 131047
    assert caught.value.permanent and not caught.value.retryable
    assert isinstance(caught.value, ProviderError)
    with pytest.raises(WindowClosed, match="the customer has not written yet"):
        check_window(
            Reaction(message_id="wamid.1", emoji="👍"), last_customer_message_at=None, now=NOW
        )
