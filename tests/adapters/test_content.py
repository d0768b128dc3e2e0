"""adapters.content: every kind survives the wire (JSON and msgpack), bad input is named."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.content import (
    Audio,
    Button,
    ButtonReply,
    Catalog,
    ContactAddress,
    ContactCard,
    ContactEmail,
    ContactPhone,
    Contacts,
    ContactUrl,
    Content,
    ContentError,
    Context,
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
    ProductRef,
    ProductSection,
    Reaction,
    Referral,
    ReplyButtons,
    Sticker,
    Template,
    TemplateComponent,
    Text,
    Unsupported,
    Video,
    content_from_wire,
    context_from_wire,
    referral_from_wire,
)

text = st.text(max_size=30)
opt = st.none() | text
ident = st.text(min_size=1, max_size=20)
media_ref = st.one_of(
    st.builds(lambda i, u: (i, u), ident, opt),
    st.builds(lambda u: (None, u), ident),
)


def media(kind: type[Any], **extra: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return media_ref.flatmap(
        lambda ref: st.builds(
            kind, media_id=st.just(ref[0]), url=st.just(ref[1]), mime_type=opt, sha256=opt, **extra
        )
    )


images = media(Image, caption=opt)
videos = media(Video, caption=opt)
documents = media(Document, caption=opt, filename=opt)
few = {"max_size": 3}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # what msgpack carries (bigger ones are refused)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
parameters = st.dictionaries(text, json_values, max_size=3).map(lambda d: {**d, "type": "text"})

cards = st.builds(
    ContactCard,
    formatted_name=text,
    first_name=opt,
    last_name=opt,
    middle_name=opt,
    prefix=opt,
    suffix=opt,
    phones=st.lists(st.builds(ContactPhone, phone=text, type=opt, wa_id=opt), **few).map(tuple),
    emails=st.lists(st.builds(ContactEmail, email=text, type=opt), **few).map(tuple),
    urls=st.lists(st.builds(ContactUrl, url=text, type=opt), **few).map(tuple),
    addresses=st.lists(
        st.builds(
            ContactAddress,
            street=opt,
            city=opt,
            state=opt,
            zip=opt,
            country=opt,
            country_code=opt,
            type=opt,
        ),
        **few,
    ).map(tuple),
    company=opt,
    department=opt,
    job_title=opt,
    birthday=opt,
)

contents: st.SearchStrategy[Content] = st.one_of(
    st.builds(Text, text, preview_url=st.booleans()),
    images,
    videos,
    documents,
    media(Audio, voice=st.booleans()),
    media(Sticker, animated=st.booleans()),
    st.builds(
        Location,
        latitude=st.floats(-90, 90),
        longitude=st.floats(-180, 180),
        name=opt,
        address=opt,
        url=opt,
    ),
    st.builds(Contacts, st.lists(cards, min_size=1, max_size=2).map(tuple)),
    st.builds(
        ReplyButtons,
        body=text,
        buttons=st.lists(st.builds(Button, text, text), min_size=1, **few).map(tuple),
        header=st.none() | text | images | videos | documents,
        footer=opt,
    ),
    st.builds(
        ListMessage,
        body=text,
        button=text,
        sections=st.lists(
            st.builds(
                ListSection,
                title=opt,
                rows=st.lists(st.builds(ListRow, id=text, title=text, description=opt), **few).map(
                    tuple
                ),
            ),
            min_size=1,
            **few,
        ).map(tuple),
        header=opt,
        footer=opt,
    ),
    st.builds(ButtonReply, id=text, title=text, from_template=st.booleans()),
    st.builds(ListReply, id=text, title=text, description=opt),
    st.builds(LocationRequest, body=text),
    st.builds(
        Template,
        name=text,
        language=text,
        components=st.lists(
            st.builds(
                TemplateComponent,
                type=text,
                parameters=st.lists(parameters, **few).map(tuple),
                sub_type=opt,
                index=st.none() | st.integers(0, 9),
            ),
            **few,
        ).map(tuple),
    ),
    st.builds(Product, catalog_id=text, product_retailer_id=text, body=opt, footer=opt),
    st.builds(
        ProductList,
        catalog_id=text,
        header=text,
        body=text,
        footer=opt,
        sections=st.lists(
            st.builds(
                ProductSection,
                title=text,
                product_retailer_ids=st.lists(text, **few).map(tuple),
            ),
            min_size=1,
            **few,
        ).map(tuple),
    ),
    st.builds(Catalog, body=text, footer=opt, thumbnail_product_retailer_id=opt),
    st.builds(
        Order,
        catalog_id=text,
        text=opt,
        items=st.lists(
            st.builds(
                OrderItem,
                product_retailer_id=text,
                quantity=st.integers(1, 1000),
                item_price=st.integers(0, 10**6) | st.floats(0, 1e6),
                currency=text,
            ),
            **few,
        ).map(tuple),
    ),
    st.builds(Reaction, message_id=ident, emoji=text),
    st.builds(Unsupported, provider_type=opt, reason=opt),
)


@given(contents)
def test_every_kind_survives_json_and_msgpack(content: Content) -> None:
    wire = content.to_wire()
    assert wire["kind"] == content.kind
    assert content_from_wire(json.loads(json.dumps(wire))) == content
    assert content_from_wire(msgpack.unpackb(msgpack.packb(wire))) == content


@given(
    st.builds(
        Context,
        reply_to=opt,
        forwarded=st.booleans(),
        frequently_forwarded=st.booleans(),
        referred_product=st.none()
        | st.builds(ProductRef, catalog_id=text, product_retailer_id=text),
    ),
    st.builds(Referral, **{name: opt for name in Referral.__dataclass_fields__}),
)
def test_context_and_referral_survive_the_wire(context: Context, referral: Referral) -> None:
    assert context_from_wire(json.loads(json.dumps(context.to_wire()))) == context
    assert referral_from_wire(json.loads(json.dumps(referral.to_wire()))) == referral


def test_the_wire_form_is_flat_and_leaves_out_what_is_not_set() -> None:
    assert Image(media_id="65463453", caption="fatura").to_wire() == {
        "kind": "image",
        "media_id": "65463453",
        "caption": "fatura",
    }
    assert ReplyButtons(body="Devam?", buttons=(Button("y", "Evet"),)).to_wire() == {
        "kind": "interactive",
        "type": "buttons",
        "body": "Devam?",
        "buttons": [{"id": "y", "title": "Evet"}],
    }


BAD: list[tuple[str, Any, str]] = [
    ("not-an-object", "hello", "content: expected an object"),
    ("no-kind", {"body": "x"}, "kind: missing"),
    ("kind-not-string", {"kind": 3}, "kind: expected a string"),
    ("unknown-kind", {"kind": "fax"}, "kind: unknown kind 'fax' (expected one of audio, "),
    ("no-body", {"kind": "text"}, "body: missing"),
    ("body-number", {"kind": "text", "body": 1}, "body: expected a string"),
    (
        "preview-string",
        {"kind": "text", "body": "x", "preview_url": "yes"},
        "preview_url: expected true or false",
    ),
    (
        "image-no-ref",
        {"kind": "image", "caption": "x"},
        "media_id: an image needs a media_id or a url",
    ),
    (
        "latitude-nan",
        {"kind": "location", "latitude": float("nan"), "longitude": 0},
        "latitude: expected a finite number",
    ),
    (
        "latitude-bool",
        {"kind": "location", "latitude": True, "longitude": 0},
        "latitude: expected a number",
    ),
    (
        "longitude-range",
        {"kind": "location", "latitude": 0, "longitude": 181},
        "longitude: must be a number from -180 to 180",
    ),
    (
        "no-contacts",
        {"kind": "contacts", "contacts": []},
        "contacts: at least one contact card is needed",
    ),
    (
        "contact-phone",
        {"kind": "contacts", "contacts": [{"formatted_name": "A", "phones": [{"phone": 5}]}]},
        "contacts[0].phones[0].phone: expected a string",
    ),
    ("no-interactive-type", {"kind": "interactive", "body": "x"}, "type: missing"),
    (
        "unknown-interactive-type",
        {"kind": "interactive", "type": "carousel"},
        "type: unknown interactive type 'carousel' "
        "(expected one of button_reply, buttons, list, list_reply)",
    ),
    (
        "button-title",
        {
            "kind": "interactive",
            "type": "buttons",
            "body": "x",
            "buttons": [{"id": "a", "title": "A"}, {"id": "b"}],
        },
        "buttons[1].title: missing",
    ),
    (
        "header-audio",
        {
            "kind": "interactive",
            "type": "buttons",
            "body": "x",
            "buttons": [{"id": "a", "title": "A"}],
            "header": {"kind": "audio", "media_id": "1"},
        },
        "header.kind: expected text or one of image, video, document",
    ),
    (
        "header-image-no-ref",
        {
            "kind": "interactive",
            "type": "buttons",
            "body": "x",
            "buttons": [{"id": "a", "title": "A"}],
            "header": {"kind": "image"},
        },
        "header.media_id: an image needs a media_id or a url",
    ),
    (
        "list-rows",
        {
            "kind": "interactive",
            "type": "list",
            "body": "x",
            "button": "Menü",
            "sections": [{"rows": "a"}],
        },
        "sections[0].rows: expected a list",
    ),
    (
        "template-parameter-type",
        {
            "kind": "template",
            "name": "n",
            "language": "tr",
            "components": [{"type": "body", "parameters": [{"text": "x"}]}],
        },
        "components[0].parameters[0].type: missing",
    ),
    (
        "template-parameter-value",
        {
            "kind": "template",
            "name": "n",
            "language": "tr",
            "components": [{"type": "body", "parameters": [{"type": "x", "v": float("inf")}]}],
        },
        "components[0].parameters[0].v: numbers must be finite",
    ),
    (
        "template-index",
        {
            "kind": "template",
            "name": "n",
            "language": "tr",
            "components": [{"type": "button", "index": "0"}],
        },
        "components[0].index: expected an integer",
    ),
    (
        "order-quantity",
        {
            "kind": "order",
            "catalog_id": "c",
            "items": [
                {"product_retailer_id": "p", "quantity": 1.5, "item_price": 1, "currency": "TRY"}
            ],
        },
        "items[0].quantity: expected an integer",
    ),
    (
        "reaction-no-message",
        {"kind": "reaction", "message_id": "", "emoji": "👍"},
        "message_id: a reaction needs the message it reacts to",
    ),
    (
        "product-list-sections",
        {
            "kind": "product",
            "type": "product_list",
            "catalog_id": "c",
            "header": "h",
            "body": "b",
            "sections": [],
        },
        "sections: at least one section is needed",
    ),
]


@pytest.mark.parametrize(
    ("data", "message"), [(d, m) for _, d, m in BAD], ids=[n for n, _, _ in BAD]
)
def test_bad_wire_content_names_the_field(data: Any, message: str) -> None:
    with pytest.raises(ContentError) as caught:
        content_from_wire(data)
    assert str(caught.value).startswith(message)
    assert caught.value.field == message.split(":", maxsplit=1)[0]


def test_content_errors_are_value_errors_that_map_to_400() -> None:
    assert issubclass(ContentError, ValueError)
    assert ContentError.status == 400


def test_a_reaction_with_an_empty_emoji_is_a_removal() -> None:
    assert Reaction(message_id="wamid.1").removed
    assert not Reaction(message_id="wamid.1", emoji="👍").removed


def test_context_from_wire_names_its_fields() -> None:
    with pytest.raises(ContentError, match=r"^context\.forwarded: expected true or false$"):
        context_from_wire({"forwarded": "yes"})
    with pytest.raises(
        ContentError, match=r"^context\.referred_product\.product_retailer_id: missing$"
    ):
        context_from_wire({"referred_product": {"catalog_id": "c"}})


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**30])
def test_integers_that_storage_cannot_carry_are_refused_with_their_place(number: int) -> None:
    parameter = {"type": "text", "n": number}
    wire = {"kind": "template", "name": "hello", "language": "tr",
            "components": [{"type": "body", "parameters": [parameter]}]}  # fmt: skip
    with pytest.raises(ContentError, match="64 bits"):
        content_from_wire(wire)
