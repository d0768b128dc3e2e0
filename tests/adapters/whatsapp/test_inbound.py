"""adapters.whatsapp.inbound: real Cloud API webhook bodies to normalized messages.

The bodies under ``tests/adapters/fixtures/whatsapp/`` were written outside this project
(pywa); every case in them is checked here against the exact content an agent would see.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

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
    ListReply,
    Location,
    Order,
    OrderItem,
    ProductRef,
    Reaction,
    Referral,
    Sticker,
    Text,
    Unsupported,
    Video,
)
from adapters.whatsapp.errors import WebhookError
from adapters.whatsapp.inbound import (
    DeliveryStatus,
    ErrorInfo,
    InboundMessage,
    StatusUpdate,
    WebhookBatch,
    parse_webhook,
    parse_webhook_bytes,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "whatsapp"


def load(name: str) -> dict[str, dict[str, Any]]:
    """One fixture file: ``{case_name: webhook_body}``; a missing file fails the test."""
    data: dict[str, dict[str, Any]] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def all_cases() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (file, case): body
        for file in ("message", "callback_button", "callback_selection", "message_status")
        for case, body in load(file).items()
    }


FORWARDED = Context(forwarded=True)

# (file, case) -> (content, context, referral) of the one message in the body.
MESSAGES: dict[tuple[str, str], tuple[Content, Context | None, Referral | None]] = {
    ("message", "text"): (Text("Body Text"), None, None),
    ("message", "image"): (
        Image(media_id="65463453", mime_type="image/jpeg", sha256="4654+8g="),
        None,
        None,
    ),
    ("message", "media_with_url"): (
        Image(
            media_id="65463453",
            url="https://lookaside.fbsbx.com/whatsapp_business/attachments/"
            "?mid=65463453&source=webhook&ext=487r9re&hash=heiwchueowbcew-dnedcw",
            mime_type="image/jpeg",
            sha256="4654+8g=",
        ),
        None,
        None,
    ),
    ("message", "video"): (
        Video(
            media_id="765756756",
            mime_type="video/mp4",
            sha256="Jh+2ij6PzUv/J2y+grrtegr/ZMzRxkEPwc24Oyib4s03w9Jc=",
            caption="caption",
        ),
        FORWARDED,
        None,
    ),
    ("message", "document"): (
        Document(
            media_id="1234567890987654321",
            mime_type="application/pdf",
            sha256="grwfwe/ZPx0wAbdfbdeFUNItPZ0RylL8gGUvdt3YFqc18SY=",
            caption="caption",
            filename="filename.pdf",
        ),
        FORWARDED,
        None,
    ),
    ("message", "audio"): (
        Audio(
            media_id="1234567890987654321",
            mime_type="audio/ogg; codecs=opus",
            sha256="E3dxS/PdYZE7ppA3pQ4mpCFaXBJ8pX4SRN/dsfvds/iPGA=",
            voice=False,
        ),
        FORWARDED,
        None,
    ),
    ("message", "voice"): (
        Audio(
            media_id="1234567890987654321",
            mime_type="audio/ogg; codecs=opus",
            sha256="m04pFf2ERdaopTyFkGPA0+bX3i+YY2dYgVFwOgDLSDI=",
            voice=True,
        ),
        None,
        None,
    ),
    ("message", "static_sticker"): (
        Sticker(
            media_id="1234567890987654321",
            mime_type="image/webp",
            sha256="OmT4nhjUhCMIPNmj7eeOZeCYjTXkLxoOv85OMCFwSuc=",
            animated=False,
        ),
        None,
        None,
    ),
    ("message", "animated_sticker"): (
        Sticker(
            media_id="1234567890987654321",
            mime_type="image/webp",
            sha256="HcwyCKrTKXHk0a00ms4HWIA76GY0Du6q4Z/iuwevw=",
            animated=True,
        ),
        None,
        None,
    ),
    ("message", "reaction"): (Reaction(message_id="wamid.yzxyzx=", emoji="😮"), None, None),
    ("message", "unreaction_empty"): (Reaction(message_id="wamid.yzxyzx=", emoji=""), None, None),
    ("message", "unreaction_no_emoji"): (
        Reaction(message_id="wamid.yzxyzx=", emoji=""),
        None,
        None,
    ),
    ("message", "current_location"): (
        Location(latitude=12.25089, longitude=43.90539),
        FORWARDED,
        None,
    ),
    ("message", "chosen_location"): (
        Location(
            latitude=37.4611978,
            longitude=-122.2164385,
            name="Facebook HQ",
            address="1 Hacker Way, Menlo Park, CA 94025",
            url="https://maps.google.com/?cid=2000000000000000000",
        ),
        FORWARDED,
        None,
    ),
    ("message", "contacts"): (
        Contacts(
            (
                ContactCard(
                    formatted_name="Chandler Bing",
                    first_name="Chandler",
                    last_name="Bing",
                    phones=(
                        ContactPhone(phone="+1 555-555-5555", type="CELL", wa_id="972987654321"),
                    ),
                ),
                ContactCard(
                    formatted_name="Monica",
                    first_name="Monica",
                    phones=(
                        ContactPhone(phone="+1 666-666-6666", type="HOME", wa_id="972987654321"),
                    ),
                ),
                ContactCard(
                    formatted_name="Rachel Green",
                    first_name="Rachel",
                    last_name="Green",
                    phones=(
                        ContactPhone(phone="+1 777-777-7777", type="WORK", wa_id="972987654321"),
                    ),
                ),
            )
        ),
        None,
        None,
    ),
    ("message", "order"): (
        Order(
            catalog_id="354160437058781",
            items=(
                OrderItem(
                    product_retailer_id="HAMBURGER", quantity=3, item_price=30, currency="ILS"
                ),
                OrderItem(
                    product_retailer_id="FRENCH_FRIES", quantity=2, item_price=35, currency="ILS"
                ),
                OrderItem(product_retailer_id="SODA", quantity=2, item_price=10, currency="ILS"),
            ),
            text=None,
        ),
        None,
        None,
    ),
    ("message", "unsupported"): (
        Unsupported(
            reason="Message type unknown (131051): Message type is currently not supported."
        ),
        None,
        None,
    ),
    ("message", "unsupported_with_type"): (
        Unsupported(
            provider_type="pool",
            reason="Message type unknown (131051): Message type is currently not supported.",
        ),
        None,
        None,
    ),
    ("message", "reply"): (Text("replied text"), Context(reply_to="wamid.xyzxyz=="), None),
    ("message", "forwarded"): (Text("forwarded text"), FORWARDED, None),
    ("message", "forwarded_many_times"): (
        Text("text forwarded many times"),
        Context(frequently_forwarded=True),
        None,
    ),
    ("message", "interactive_message_with_err"): (
        Unsupported(
            provider_type="interactive",
            reason="Something went wrong (131000): Unsupported webhook payload",
        ),
        Context(reply_to="wamid.gvwegfretge=="),
        None,
    ),
    ("message", "referral"): (
        Text("BODY"),
        None,
        Referral(
            source_url="AD_OR_POST_FB_URL",
            source_id="ADID",
            source_type="ad or post",
            headline="AD_TITLE",
            body="AD_DESCRIPTION",
            media_type="image or video",
            image_url="RAW_IMAGE_URL",
            video_url="RAW_VIDEO_URL",
            thumbnail_url="RAW_THUMBNAIL_URL",
            click_id="CTWA_CLID",
        ),
    ),
    ("callback_button", "button"): (
        ButtonReply(id="callback_data", title="title"),
        Context(reply_to="wamid.xyzxyz"),
        None,
    ),
    ("callback_button", "quick_reply"): (
        ButtonReply(id="callback_data", title="title", from_template=True),
        Context(reply_to="wamid.xyzxyz=="),
        None,
    ),
    ("callback_button", "quick_reply_without_context"): (
        ButtonReply(id="callback_data", title="title", from_template=True),
        None,
        None,
    ),
    ("callback_selection", "callback"): (
        ListReply(id="callback_data", title="title"),
        Context(reply_to="wamid.xyzxyz"),
        None,
    ),
    ("callback_selection", "description"): (
        ListReply(id="callback_data", title="title", description="description"),
        Context(reply_to="wamid.xyzxyz"),
        None,
    ),
}

_CONVERSATION = {"conversation_id": "7270432eae37498234f4444b35ffc5"}
_PRICING = {"billable": True, "pricing_model": "CBP", "pricing_category": "service"}

STATUSES: dict[str, StatusUpdate] = {
    "sent": StatusUpdate(
        wamid="wamid.xyzxyz",
        phone_number_id="1122334455667",
        status=DeliveryStatus.SENT,
        timestamp=1698266945,
        recipient="972987654321",
        conversation_origin="service",
        conversation_expires_at=1698339900,
        **_CONVERSATION,
        **_PRICING,
    ),
    "delivered": StatusUpdate(
        wamid="wamid.xyzxyz",
        phone_number_id="1122334455667",
        status=DeliveryStatus.DELIVERED,
        timestamp=1698266945,
        recipient="972987654321",
        conversation_origin="service",
        **_CONVERSATION,
        **_PRICING,
    ),
    "read": StatusUpdate(
        wamid="wamid.xyzxyz",
        phone_number_id="1122334455667",
        status=DeliveryStatus.READ,
        timestamp=1689380458,
        recipient="972987654321",
        conversation_origin="service",
        **_CONVERSATION,
        **_PRICING,
    ),
    "played": StatusUpdate(
        wamid="wamid.xyzxyz",
        phone_number_id="1122334455667",
        status=DeliveryStatus.PLAYED,
        timestamp=1689380458,
        recipient="972987654321",
        conversation_origin="service",
        **_CONVERSATION,
        **_PRICING,
    ),
    "failed": StatusUpdate(
        wamid="wamid.xyzxyz",
        phone_number_id="1122334455667",
        status=DeliveryStatus.FAILED,
        timestamp=1689380458,
        recipient="972987654321",
        errors=(
            ErrorInfo(
                code=130472,
                title="User's number is part of an experiment",
                message="User's number is part of an experiment",
                details="Failed to send message because this user's phone number is part of "
                "an experiment",
            ),
        ),
    ),
    "with_tracker": StatusUpdate(
        wamid="wamid.xyzxyz",
        phone_number_id="1122334455667",
        status=DeliveryStatus.SENT,
        timestamp=1698266945,
        recipient="972987654321",
        conversation_origin="service",
        conversation_expires_at=1698339900,
        callback_data="some data",
        **_CONVERSATION,
        **_PRICING,
    ),
    "group": StatusUpdate(
        wamid="<WHATSAPP_MESSAGE_ID>",
        phone_number_id="<BUSINESS_PHONE_NUMBER_ID>",
        status=DeliveryStatus.READ,
        timestamp=1698266945,
        recipient="fowefinoewcnw",
        recipient_type="group",
        participant="<GROUP_PARTICIPANT_USER_PHONE_NUMBER>",
    ),
}


def test_every_fixture_case_has_an_expectation() -> None:
    expected = set(MESSAGES) | {("message_status", case) for case in STATUSES}
    assert set(all_cases()) == expected


@pytest.mark.parametrize(
    ("where", "expected"), MESSAGES.items(), ids=[f"{file}-{case}" for file, case in MESSAGES]
)
def test_fixture_message_becomes_the_right_content(
    where: tuple[str, str], expected: tuple[Content, Context | None, Referral | None]
) -> None:
    content, context, referral = expected
    batch = parse_webhook(all_cases()[where])
    assert batch.statuses == ()
    assert batch.ignored == ()
    (message,) = batch.messages
    assert message.content == content
    assert message.context == context
    assert message.referral == referral
    # Every fixture is from the same customer to the same business number.
    assert message.phone_number_id == "1122334455667"
    assert message.customer == message.wa_id == "972987654321"
    assert message.user_id == "US.13491208655302741918"
    assert message.profile_name == "Test Name"
    assert message.wamid.startswith("wamid.")
    assert message.timestamp > 1_690_000_000


def test_fixture_text_message_in_full() -> None:
    batch = parse_webhook(load("message")["text"])
    assert batch == WebhookBatch(
        messages=(
            InboundMessage(
                wamid="wamid.xyzxyz",
                phone_number_id="1122334455667",
                customer="972987654321",
                timestamp=1697043223,
                content=Text("Body Text"),
                wa_id="972987654321",
                user_id="US.13491208655302741918",
                profile_name="Test Name",
            ),
        )
    )


@pytest.mark.parametrize(("case", "expected"), STATUSES.items(), ids=list(STATUSES))
def test_fixture_status_becomes_a_status_update(case: str, expected: StatusUpdate) -> None:
    batch = parse_webhook(load("message_status")[case])
    assert batch.messages == ()
    assert batch.statuses == (expected,)


def test_the_raw_bytes_parse_like_the_object() -> None:
    raw = (FIXTURES / "message.json").read_bytes()
    body = json.loads(raw)["chosen_location"]
    assert parse_webhook_bytes(json.dumps(body).encode()) == parse_webhook(body)


def test_one_post_carries_several_entries_changes_messages_and_statuses() -> None:
    messages, statuses = load("message"), load("message_status")
    text, image = messages["text"], messages["image"]
    two_messages = copy.deepcopy(text["entry"][0]["changes"][0])
    two_messages["value"]["messages"].append(
        image["entry"][0]["changes"][0]["value"]["messages"][0]
    )
    with_statuses = copy.deepcopy(statuses["sent"]["entry"][0]["changes"][0])
    with_statuses["value"]["statuses"].append(
        statuses["read"]["entry"][0]["changes"][0]["value"]["statuses"][0]
    )
    other_number = copy.deepcopy(messages["reaction"]["entry"][0])
    other_number["changes"][0]["value"]["metadata"]["phone_number_id"] = "99"
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "1", "changes": [two_messages, with_statuses]},
            other_number,
        ],
    }
    batch = parse_webhook(body)
    assert [type(m.content) for m in batch.messages] == [Text, Image, Reaction]
    assert [m.phone_number_id for m in batch.messages] == ["1122334455667"] * 2 + ["99"]
    assert [s.status for s in batch.statuses] == [DeliveryStatus.SENT, DeliveryStatus.READ]


def message_body(message: dict[str, Any], **value: Any) -> dict[str, Any]:
    """A one-message envelope around ``message`` (our own cases, in the real shape)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": "106540352242922",
                            },
                            "contacts": [
                                {"profile": {"name": "Ayşe Yılmaz"}, "wa_id": "905321234567"}
                            ],
                            "messages": [message],
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def text_message(**fields: Any) -> dict[str, Any]:
    return {
        "from": "905321234567",
        "id": "wamid.HBgLOTA1MzIxMjM0NTY3FQIAEhgg",
        "timestamp": "1731412345",
        "type": "text",
        "text": {"body": "Merhaba, siparişim nerede?"},
        **fields,
    }


def only_content(body: dict[str, Any]) -> Content:
    (message,) = parse_webhook(body).messages
    return message.content


def test_a_customer_without_a_phone_number_is_known_by_their_user_id() -> None:
    message = text_message(from_user_id="TR.1234567890")
    del message["from"]
    body = message_body(
        message,
        contacts=[{"profile": {"name": "ayse", "username": "@ayse"}, "user_id": "TR.1234567890"}],
    )
    (parsed,) = parse_webhook(body).messages
    assert parsed.customer == parsed.user_id == "TR.1234567890"
    assert parsed.wa_id is None
    assert (parsed.profile_name, parsed.username) == ("ayse", "@ayse")


def test_each_message_gets_the_profile_of_its_own_sender() -> None:
    other = text_message(**{"from": "447700900123", "id": "wamid.2"})
    body = message_body(
        text_message(),
        contacts=[
            {"profile": {"name": "Jane"}, "wa_id": "447700900123"},
            {"profile": {"name": "Ayşe Yılmaz"}, "wa_id": "905321234567"},
        ],
    )
    body["entry"][0]["changes"][0]["value"]["messages"].append(other)
    names = [(m.customer, m.profile_name) for m in parse_webhook(body).messages]
    assert names == [("905321234567", "Ayşe Yılmaz"), ("447700900123", "Jane")]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            {"type": "ephemeral"},
            Unsupported(provider_type="ephemeral"),
        ),
        (
            {
                "type": "system",
                "system": {
                    "body": "Ayşe changed their phone number to a new number 905321234568",
                    "type": "user_changed_number",
                    "new_wa_id": "905321234568",
                },
            },
            Unsupported(
                provider_type="system",
                reason="Ayşe changed their phone number to a new number 905321234568",
            ),
        ),
        (
            {"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {}}},
            Unsupported(provider_type="interactive.nfm_reply"),
        ),
        (
            {"type": "image", "image": {"link": "x", "id": "1", "future_field": {"a": 1}}},
            Image(media_id="1"),
        ),
        (
            {
                "type": "text",
                "text": {"body": "Bu ürün stokta var mı?"},
                "context": {
                    "from": "15550783881",
                    "id": "wamid.product",
                    "referred_product": {
                        "catalog_id": "354160437058781",
                        "product_retailer_id": "HAMBURGER",
                    },
                },
            },
            Text("Bu ürün stokta var mı?"),
        ),
    ],
    ids=["unknown-type", "system", "flow-reply", "unknown-fields", "product-question"],
)
def test_unknown_types_and_fields_never_fail(message: dict[str, Any], expected: Content) -> None:
    base = text_message()
    del base["text"]
    (parsed,) = parse_webhook(message_body({**base, **message})).messages
    assert parsed.content == expected
    if "referred_product" in message.get("context", {}):
        assert parsed.context == Context(
            reply_to="wamid.product",
            referred_product=ProductRef(
                catalog_id="354160437058781", product_retailer_id="HAMBURGER"
            ),
        )


def test_other_fields_and_unknown_statuses_are_skipped_and_reported() -> None:
    status = load("message_status")["sent"]
    status["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "deleted"
    status["entry"][0]["changes"].append(
        {"field": "message_template_status_update", "value": {"event": "APPROVED"}}
    )
    batch = parse_webhook(status)
    assert (batch.messages, batch.statuses) == ((), ())
    assert batch.ignored == (
        "entry[0].changes[0].value.statuses[0]: status 'deleted' is not handled",
        "entry[0].changes[1]: field 'message_template_status_update' is not handled",
    )


def without(message: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != key}


BASE = text_message()
_M = "entry[0].changes[0].value.messages[0]"

MALFORMED: list[tuple[str, Any, str]] = [
    ("not-an-object", [], "body: expected an object"),
    ("no-object", {"entry": []}, "body: missing 'object'"),
    (
        "messenger",
        {"object": "page", "entry": []},
        "object: expected 'whatsapp_business_account', got 'page'",
    ),
    ("no-entry", {"object": "whatsapp_business_account"}, "body: missing 'entry'"),
    (
        "entry-not-list",
        {"object": "whatsapp_business_account", "entry": {}},
        "entry: expected a list, got {}",
    ),
    (
        "no-changes",
        {"object": "whatsapp_business_account", "entry": [{"id": "1"}]},
        "entry[0]: missing 'changes'",
    ),
    (
        "no-metadata",
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"field": "messages", "value": {"messages": []}}]}],
        },
        "entry[0].changes[0].value: missing 'metadata'",
    ),
    ("no-from", message_body(without(BASE, "from")), f"{_M}: missing 'from'"),
    ("no-id", message_body(without(BASE, "id")), f"{_M}: missing 'id'"),
    ("no-type", message_body(without(BASE, "type")), f"{_M}: missing 'type'"),
    ("no-text", message_body(without(BASE, "text")), f"{_M}: missing 'text'"),
    (
        "bad-timestamp",
        message_body({**BASE, "timestamp": "yesterday"}),
        f"{_M}.timestamp: expected epoch seconds, got 'yesterday'",
    ),
    (
        "body-not-string",
        message_body({**BASE, "text": {"body": 42}}),
        f"{_M}.text.body: expected a string, got 42",
    ),
    (
        "image-without-id",
        message_body({**without(BASE, "text"), "type": "image", "image": {"mime_type": "x"}}),
        f"{_M}.image.id: an image needs a media_id or a url",
    ),
    (
        "latitude-out-of-range",
        message_body(
            {
                **without(BASE, "text"),
                "type": "location",
                "location": {"latitude": 91, "longitude": 0},
            }
        ),
        f"{_M}.location.latitude: must be a number from -90 to 90",
    ),
    (
        "status-without-recipient",
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "metadata": {"phone_number_id": "1"},
                                "statuses": [{"id": "wamid.1", "status": "sent", "timestamp": "1"}],
                            },
                        }
                    ]
                }
            ],
        },
        "entry[0].changes[0].value.statuses[0]: missing 'recipient_id'",
    ),
]


@pytest.mark.parametrize(
    ("body", "reason"), [(b, r) for _, b, r in MALFORMED], ids=[n for n, _, _ in MALFORMED]
)
def test_a_malformed_body_is_refused_with_the_exact_place(body: Any, reason: str) -> None:
    with pytest.raises(WebhookError) as caught:
        parse_webhook(body)
    assert str(caught.value) == reason


def test_the_second_change_is_named_when_it_is_the_broken_one() -> None:
    body = message_body(text_message())
    changes = body["entry"][0]["changes"]
    broken = copy.deepcopy(changes[0])
    del broken["value"]["messages"][0]["from"]
    changes.append(broken)
    with pytest.raises(
        WebhookError,
        match=r"^entry\[0\]\.changes\[1\]\.value\.messages\[0\]: "
        r"missing 'from'$",
    ):
        parse_webhook(body)


def test_bytes_that_are_not_json_are_malformed() -> None:
    with pytest.raises(WebhookError, match=r"^body: not JSON"):
        parse_webhook_bytes(b"{not json")
    assert issubclass(WebhookError, ValueError)
    assert WebhookError.status == 400
