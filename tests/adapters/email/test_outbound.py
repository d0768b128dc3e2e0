"""adapters.email.outbound: replies as mails in the customer's thread, and text fallbacks."""

from __future__ import annotations

from email import policy

import pytest

from adapters.base import OutboundItem
from adapters.content import (
    Button,
    ButtonReply,
    Catalog,
    ContactAddress,
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
    Reaction,
    ReplyButtons,
    Template,
    Text,
    Unsupported,
    Video,
)
from adapters.email.adapter import EmailAdapter
from adapters.email.outbound import (
    MAX_BODY_BYTES,
    MAX_SUBJECT,
    Sender,
    build_email,
    message_id_for,
    render_text,
    reply_subject,
    thread_of,
)

SENDER = Sender.of("destek@acme.com.tr", "Acme Destek")
NOW = 1_714_564_800.0
THREAD = {
    "message_id": "CAGv4Tq9Xk=8s6bH+Mz2dQ@mail.gmail.com",
    "references": ["sb-40@acme.com.tr", "sb-41@acme.com.tr"],
    "subject": "Re: Siparişim nerede?",
    "in_reply_to": "sb-41@acme.com.tr",
}


def reply(content: Content, **changes: object) -> OutboundItem:
    fields: dict[str, object] = {
        "message_id": "01HX9Z6Q7M3J8K2V",
        "to": "ayse.yilmaz@example.com",
        "content": content,
        "reply_to": THREAD["message_id"],
        "extra": THREAD,
    }
    return OutboundItem(**(fields | changes))  # type: ignore[arg-type]


def wire(item: OutboundItem) -> str:
    return build_email(item, SENDER, now=NOW, default_subject="Acme").as_bytes(
        policy=policy.SMTP
    ).decode()  # fmt: skip


def test_a_reply_threads_under_the_customer_s_mail() -> None:
    assert wire(reply(Text("Merhaba Ayşe Hanım,\nkargonuz yarın elinizde."))) == (
        "From: Acme Destek <destek@acme.com.tr>\r\n"
        "To: ayse.yilmaz@example.com\r\n"
        "Subject: Re: =?utf-8?q?Sipari=C5=9Fim?= nerede?\r\n"
        "Date: Wed, 01 May 2024 12:00:00 +0000\r\n"
        "Message-ID: <01HX9Z6Q7M3J8K2V.11d7c917c35d@acme.com.tr>\r\n"
        "In-Reply-To: <CAGv4Tq9Xk=8s6bH+Mz2dQ@mail.gmail.com>\r\n"
        "References: <sb-40@acme.com.tr> <sb-41@acme.com.tr>\r\n"
        " <CAGv4Tq9Xk=8s6bH+Mz2dQ@mail.gmail.com>\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "MIME-Version: 1.0\r\n"
        "\r\n"
        "Merhaba Ay=C5=9Fe Han=C4=B1m,\r\n"
        "kargonuz yar=C4=B1n elinizde.\r\n"
    )


def test_a_mail_outside_any_thread_has_the_default_subject_and_no_threading() -> None:
    text = wire(reply(Text("Hello"), reply_to=None, extra={}))
    assert text == (
        "From: Acme Destek <destek@acme.com.tr>\r\n"
        "To: ayse.yilmaz@example.com\r\n"
        "Subject: Acme\r\n"
        "Date: Wed, 01 May 2024 12:00:00 +0000\r\n"
        "Message-ID: <01HX9Z6Q7M3J8K2V.9f41f4d96975@acme.com.tr>\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: 7bit\r\n"
        "MIME-Version: 1.0\r\n"
        "\r\n"
        "Hello\r\n"
    )


def test_the_thread_s_message_id_is_the_parent_when_reply_to_is_missing() -> None:
    mail = build_email(reply(Text("x"), reply_to=None), SENDER, now=NOW, default_subject="")
    assert mail["In-Reply-To"] == f"<{THREAD['message_id']}>"


def test_a_thread_nested_under_its_key_is_read_too() -> None:
    assert thread_of({"thread": THREAD}) == thread_of(THREAD)
    assert thread_of({"references": "not a list", "subject": 3}).references == ()
    bad = thread_of({"references": ["ok@x", "has space@x", "<br@x>"], "message_id": "<m@x>"})
    assert bad.references == ("ok@x", "br@x")
    assert bad.message_id == "m@x"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Siparişim nerede?", "Re: Siparişim nerede?"),
        ("Re: Siparişim nerede?", "Re: Siparişim nerede?"),
        ("RE:kargo", "RE:kargo"),
        ("re : kargo", "re : kargo"),
        ("Kargo\r\n\tgecikti", "Re: Kargo gecikti"),  # never a header break
        ("", "Acme"),
        (None, "Acme"),
        ("x" * 400, "Re: " + "x" * (MAX_SUBJECT - 5) + "…"),
    ],
)
def test_reply_subjects(subject: str | None, expected: str) -> None:
    assert reply_subject(subject, "Acme") == expected


def test_message_ids_are_the_same_for_the_same_message() -> None:
    assert message_id_for("01HX9Z6Q7M3J8K2V", "acme.com.tr") == "01HX9Z6Q7M3J8K2V@acme.com.tr"
    odd = message_id_for("conv 7/msg <3>", "acme.com.tr")
    assert odd == message_id_for("conv 7/msg <3>", "acme.com.tr")
    assert odd.startswith("sb.") and odd.endswith("@acme.com.tr") and " " not in odd
    assert message_id_for("m1", "örnek.com.tr") == "m1@xn--rnek-4qa.com.tr"
    assert Sender.of("a@b.example", domain="mail.b.example").domain == "mail.b.example"


def message_id(item: OutboundItem) -> str:
    return str(build_email(item, SENDER, now=NOW, default_subject="")["Message-ID"])


def test_a_resend_has_the_same_message_id_and_a_reused_counter_does_not() -> None:
    first = reply(Text("Kargonuz yolda"), message_id="msg_1")
    assert message_id(first) == message_id(first)  # a resend after a crash
    assert message_id(first).startswith("<msg_1.")
    # msg_1 again after a data reset (or from another installation): another mail, another id
    others = [
        reply(Text("Faturanız ekte"), message_id="msg_1"),
        reply(Text("Kargonuz yolda"), message_id="msg_1", to="mehmet@example.com"),
        reply(Text("Kargonuz yolda"), message_id="msg_1", reply_to="other@mail.example"),
    ]
    assert len({message_id(first), *map(message_id, others)}) == 4


MEDIA_URL = "https://cdn.acme.com.tr/kargo-etiketi.pdf"

FALLBACKS: list[tuple[Content, str]] = [
    (Text("Merhaba"), "Merhaba"),
    (LocationRequest(body="Konumunuzu yazar mısınız?"), "Konumunuzu yazar mısınız?"),
    (
        Location(latitude=41.0082, longitude=28.9784, name="Mağaza", address="İstiklal Cd. 1"),
        "Mağaza\nİstiklal Cd. 1\nhttps://www.google.com/maps/search/?api=1&query=41.0082,28.9784",
    ),
    (Location(latitude=-33.5, longitude=151.0),
     "https://www.google.com/maps/search/?api=1&query=-33.5,151.0"),
    (
        Document(url=MEDIA_URL, filename="etiket.pdf", caption="Kargo etiketiniz"),
        f"Kargo etiketiniz\netiket.pdf\n{MEDIA_URL}",
    ),
    (Image(url="https://cdn.acme.com.tr/a.jpg"), "https://cdn.acme.com.tr/a.jpg"),
    (
        ReplyButtons(body="Siparişinizi onaylıyor musunuz?",
                     buttons=(Button("yes", "Evet"), Button("no", "Hayır")),
                     header="Sipariş #42", footer="Acme"),
        "Sipariş #42\n\nSiparişinizi onaylıyor musunuz?\n\n1. Evet\n2. Hayır\n\nAcme",
    ),
    (
        ReplyButtons(body="Bu mu?", buttons=(Button("y", "Evet"),),
                     header=Image(url="https://cdn.acme.com.tr/urun.jpg", caption="Ürün")),
        "Ürün\nhttps://cdn.acme.com.tr/urun.jpg\n\nBu mu?\n\n1. Evet",
    ),
    (
        ListMessage(body="Size nasıl yardımcı olabiliriz?", button="Seçenekler", sections=(
            ListSection(title="Siparişler", rows=(
                ListRow(id="s", title="Siparişim nerede?"),
                ListRow(id="i", title="İptal", description="Siparişi iptal et"))),
            ListSection(title="Diğer", rows=(ListRow(id="t", title="Temsilci"),)),
        )),
        "Size nasıl yardımcı olabiliriz?\n\nSiparişler:\n1. Siparişim nerede?\n"
        "2. İptal — Siparişi iptal et\n\nDiğer:\n3. Temsilci",
    ),
    (
        ListMessage(body="Seçin", button="Menü", header="Menü", footer="Acme", sections=(
            ListSection(title="Tek", rows=(ListRow(id="a", title="A"),)),)),
        "Menü\n\nSeçin\n\n1. A\n\nAcme",
    ),
    (
        Contacts((
            ContactCard(formatted_name="Mehmet Kaya", company="Acme", job_title="Kargo sorumlusu",
                        phones=(ContactPhone(phone="+90 532 111 22 33", type="WORK"),),
                        emails=(ContactEmail(email="mehmet@acme.com.tr"),),
                        addresses=(ContactAddress(street="İstiklal Cd. 1", city="İstanbul"),),
                        birthday="1990-04-23"),
            ContactCard(formatted_name="Depo"),
        )),
        "Mehmet Kaya\nKargo sorumlusu, Acme\n+90 532 111 22 33 (work)\nmehmet@acme.com.tr\n"
        "İstiklal Cd. 1, İstanbul\n1990-04-23\n\nDepo",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("content", "text"), FALLBACKS)
def test_what_email_cannot_show_natively_becomes_text(content: Content, text: str) -> None:
    assert render_text(content) == text


REFUSED: list[tuple[Content, str]] = [
    (Template(name="order_shipped", language="tr"), "kind: template messages are WhatsApp's"),
    (Product(catalog_id="c", product_retailer_id="p"), "kind: product messages are WhatsApp's"),
    (Catalog(body="Katalog"), "kind: product messages are WhatsApp's"),
    (ButtonReply(id="y", title="Evet"), "kind: interactive is sent by customers"),
    (ListReply(id="y", title="Evet"), "kind: interactive is sent by customers"),
    (Order(catalog_id="c", items=(OrderItem(product_retailer_id="p", quantity=1,
                                            item_price=1.0, currency="TRY"),)),
     "kind: order is sent by customers"),
    (Reaction(message_id="m", emoji="👍"), "kind: reaction is sent by customers"),
    (Unsupported(provider_type="poll"), "kind: unsupported is sent by customers"),
    (Video(media_id="1479537139650973"), "url: e-mail sends files as links"),
    (ReplyButtons(body="b", buttons=(Button("y", "Y"),), header=Image(media_id="1")),
     "header.url: e-mail sends files as links"),
    (Text("   \n"), "body: an e-mail needs some text"),
    (Text("ş" * (MAX_BODY_BYTES // 2 + 1)), f"body: is {MAX_BODY_BYTES + 2} bytes long"),
]  # fmt: skip


@pytest.mark.parametrize(("content", "reason"), REFUSED)
def test_what_email_cannot_carry_is_refused_naming_the_field(content: Content, reason: str) -> None:
    with pytest.raises(ContentError, match=reason):
        render_text(content)
    with pytest.raises(ContentError, match=reason):
        EmailAdapter().check(reply(content), NOW)


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        ("ayse.yilmaz", "not an e-mail address"),
        ("ayse@", "not an e-mail address"),
        ("ayse yilmaz@example.com", "contains spaces"),
        ("ayse@example.com\r\nBcc: all@example.com", "contains spaces or control characters"),
        ("ayse@localhost", "is not a mail domain"),
        ("ayse@example..com", "is not a mail domain"),
        ("a" * 65 + "@example.com", "longer than 64 bytes"),
        ("a@" + "b" * 250 + ".com", "at most 254"),
        ("<ayse@example.com>", "is not a mail domain"),
        ("ay<se@example.com", "special characters need quotes"),
    ],
)
def test_the_recipient_must_be_an_address(to: str, reason: str) -> None:
    with pytest.raises(ContentError, match=f"^to: .*{reason}"):
        EmailAdapter().check(reply(Text("x"), to=to), NOW)


def test_check_passes_what_can_be_sent_with_or_without_an_address_yet() -> None:
    adapter = EmailAdapter()
    adapter.check(reply(Text("x")), NOW)
    adapter.check(reply(Text("x"), to="", reply_to=None, extra={}), NOW)
    adapter.check(reply(Text("x"), to="ünal@örnek.com.tr"), NOW)
    # no window: a reply a year later is fine
    adapter.check(reply(Text("x"), last_customer_message_at=NOW - 365 * 86400), NOW)
