"""adapters.messenger.inbound on Messenger webhooks, written from Meta's documented format.

``payloads/messenger.json`` holds one full webhook body per case, shaped as the Messenger
Platform's webhook reference shows them (``messages``, ``messaging_postbacks``,
``message_reactions``, ``message_deliveries``, ``message_reads``, ``message_echoes``,
``standby``, ``messaging_referrals``, ``messaging_optins``); each is checked here against
exactly what the server would record.
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
    Audio,
    ButtonReply,
    Context,
    Document,
    Image,
    Location,
    Reaction,
    Referral,
    Sticker,
    Text,
    Unsupported,
    Video,
)
from adapters.errors import WebhookError
from adapters.links import link_media_id
from adapters.messenger.inbound import parse_webhook, parse_webhook_bytes
from adapters.messenger.platform import INSTAGRAM, MESSENGER

BODIES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "payloads" / "messenger.json").read_text(encoding="utf-8")
)
PAGE = "107515118815297"
PSID = "6944374522302871"
T = 1718270400.123  # the payloads' epoch milliseconds 1718270400123, in seconds
MID = "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"
CDN = (
    "https://scontent.xx.fbcdn.net/v/t1.15752-9/448020185_1234_n.jpg"
    "?_nc_cat=1&ccb=1-7&oh=00_AYB&oe=66A1B2C3"
)


def linked(content: Any) -> Any:
    """Media as the adapter gives it: the CDN URL and the media id the server resolves."""
    return dataclasses.replace(content, media_id=link_media_id(content.url))


def msg(mid: str, content: Any, *, ts: float = T, sender: str = PSID, **extra: Any) -> InboundItem:
    return InboundItem(mid, sender, ts, content, extra=extra)


# case -> the messages it gives, in order
MESSAGES: dict[str, list[InboundItem]] = {
    "text": [msg(MID, Text("Merhaba, siparişim nerede?"))],
    "text_reply": [
        msg(
            "m_reply1",
            Text("Bu mesajı kastediyorum"),
            context=Context(reply_to="m_sent1").to_wire(),
        )
    ],
    "quick_reply": [msg("m_qr1", ButtonReply(id="confirm_yes", title="Evet"))],
    "image": [msg("m_img1", linked(Image(url=CDN)))],
    "two_images_with_text": [
        msg("m_multi", Text("Faturalar")),
        msg("m_multi#1", linked(Image(url="https://scontent.xx.fbcdn.net/v/1.jpg"))),
        msg("m_multi#2", linked(Image(url="https://scontent.xx.fbcdn.net/v/2.jpg"))),
    ],
    "video": [msg("m_vid1", linked(Video(url="https://video.xx.fbcdn.net/v/t42.3356-2/clip.mp4")))],
    "audio": [
        msg(
            "m_aud1",
            linked(
                Audio(url="https://cdn.fbsbx.com/v/t59.3654-21/audioclip-1718270400000-2403.mp4")
            ),
        )
    ],
    "file": [
        msg(
            "m_file1",
            linked(Document(url="https://cdn.fbsbx.com/v/t59.2708-21/sozlesme.pdf/sozlesme.pdf")),
        )
    ],
    "sticker": [
        msg(
            "m_stk1",
            Sticker(
                media_id="369239263222822",
                url="https://scontent.xx.fbcdn.net/v/t39.1997-6/851557_369239266556155_759568595_n.png",
            ),
        )
    ],
    "location": [
        msg(
            "m_loc1",
            Location(
                latitude=41.0082,
                longitude=28.9784,
                name="Pinned Location",
                url="https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.bing.com%2Fmaps%2Fdefault"
                ".aspx%3Fv%3D2%26pc%3DFACEBK%26mid%3D8100%26where1%3D41.0082%252C%2B28.9784",
            ),
        )
    ],
    # the link preview adds nothing to the text that holds the link
    "shared_link": [msg("m_link1", Text("https://example.com/urun/42"))],
    "fallback_alone": [msg("m_fb1", Text("Kampanya\nhttps://example.com/kampanya"))],
    "shared_template": [
        msg("m_tpl1", Unsupported(provider_type="template", reason="a shared card (template)"))
    ],
    "new_attachment_type": [
        msg("m_new1", Unsupported(provider_type="hologram", reason="attachment type 'hologram'"))
    ],
    "postback": [msg("m_pb1", ButtonReply(id="order_status", title="Siparişim nerede?"))],
    "get_started_from_link": [
        msg(
            f"postback:{PSID}:1718270400130",
            ButtonReply(id="GET_STARTED", title="Get Started"),
            ts=1718270400.130,
            referral={"source_type": "SHORTLINK", "source_id": "kampanya42"},
        )
    ],
    "product_question": [
        msg(
            "m_prod1",
            Text("Bu ürün stokta var mı?"),
            referral={"source_type": "product", "source_id": "8346276532030442"},
        )
    ],
    "reaction": [
        msg(
            f"reaction:{PSID}:m_sent1:1718270400132:react",
            Reaction(message_id="m_sent1", emoji="\u2764\ufe0f"),
            ts=1718270400.132,
        )
    ],
    "reaction_without_emoji": [
        msg(
            f"reaction:{PSID}:m_sent1:1718270400133:react",
            Reaction(message_id="m_sent1", emoji="\U0001f44d"),
            ts=1718270400.133,
        )
    ],
    "unreaction": [
        msg(
            f"reaction:{PSID}:m_sent1:1718270400134:unreact",
            Reaction(message_id="m_sent1", emoji=""),
            ts=1718270400.134,
        )
    ],
    "batched": [
        msg("m_b1", Text("Birinci"), ts=1718270400.223),
        msg("m_b2", Text("İkinci"), ts=1718270400.323, sender="7034412345678901"),
    ],
}

RECEIPTS: dict[str, list[ReceiptItem]] = {
    "delivery": [
        ReceiptItem("m_sent1", "delivered", 1718270400.143),
        ReceiptItem("m_sent2", "delivered", 1718270400.143),
    ],
    "batched": [ReceiptItem("m_sent3", "delivered", 1718270400.224)],
}

# case -> what the log line of each ignored thing says
IGNORED: dict[str, list[str]] = {
    "delivery_watermark_only": [
        "entry[0].messaging[0].delivery: delivered up to a watermark, no message named"
    ],
    "read": ["entry[0].messaging[0].read: read up to a watermark, no message named"],
    "echo": ["entry[0].messaging[0].message: echo of message 'm_echo1' sent by the page"],
    "standby": ["entry[0].standby[0]: standby, the thread is owned by another app"],
    "ad_referral": [
        "entry[0].messaging[0]: referral from ADS without a message "
        "(the customer opened the thread but has not written)"
    ],
    "optin": ["entry[0].messaging[0]: optin event is not handled"],
}


def test_every_case_is_checked() -> None:
    assert set(BODIES) == set(MESSAGES) | set(RECEIPTS) | set(IGNORED)


@pytest.mark.parametrize("case", sorted(BODIES))
def test_each_documented_body_gives_exactly_what_the_server_records(case: str) -> None:
    raw = json.dumps(BODIES[case], ensure_ascii=False).encode()
    result = parse_webhook_bytes(raw, MESSENGER)
    assert result == WebhookResult(
        messages=tuple(MESSAGES.get(case, ())),
        receipts=tuple(RECEIPTS.get(case, ())),
        ignored=tuple(IGNORED.get(case, ())),
    )


def test_the_extra_maps_read_back_as_context_and_referral() -> None:
    (item,) = parse_webhook(BODIES["text_reply"], MESSENGER).messages
    assert item.extra["context"] == Context(reply_to="m_sent1").to_wire()
    (item,) = parse_webhook(BODIES["get_started_from_link"], MESSENGER).messages
    assert (
        item.extra["referral"]
        == Referral(source_type="SHORTLINK", source_id="kampanya42").to_wire()
    )


def test_a_retried_delivery_gives_the_same_ids() -> None:
    """Meta retries the same body: the dedupe keys must not change, derived ones included."""
    for case in ("two_images_with_text", "get_started_from_link", "reaction"):
        first = parse_webhook(BODIES[case], MESSENGER)
        again = parse_webhook(copy.deepcopy(BODIES[case]), MESSENGER)
        assert [m.provider_message_id for m in first.messages] == [
            m.provider_message_id for m in again.messages
        ]


def test_ids_within_one_body_are_unique() -> None:
    ids = [
        m.provider_message_id
        for body in BODIES.values()
        for m in parse_webhook(body, MESSENGER).messages
    ]
    assert len(ids) == len(set(ids))


def test_entries_of_another_page_are_skipped_when_the_page_is_configured() -> None:
    body = BODIES["text"]
    assert parse_webhook(body, MESSENGER, account_id=PAGE).messages
    result = parse_webhook(body, MESSENGER, account_id="999")
    assert result.messages == ()
    assert result.ignored == (f"entry[0]: for account {PAGE}, not 999",)


def test_an_instagram_body_is_not_a_messenger_body() -> None:
    with pytest.raises(WebhookError, match="object: expected 'page', got 'instagram'"):
        parse_webhook({"object": "instagram", "entry": []}, MESSENGER)
    with pytest.raises(WebhookError, match="object: expected 'instagram', got 'page'"):
        parse_webhook(BODIES["text"], INSTAGRAM)


def _broken(case: str, path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A copy of ``BODIES[case]`` with the value at ``path`` replaced (``...`` deletes it)."""
    body = copy.deepcopy(BODIES[case])
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return body


EVENT = ("entry", 0, "messaging", 0)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"entry": []}, "body: missing 'object'"),
        ({"object": "page"}, "body: missing 'entry'"),
        ({"object": "page", "entry": {}}, "entry: expected a list"),
        ({"object": "page", "entry": ["x"]}, "entry[0]: expected an object"),
        (_broken("text", ("entry", 0, "messaging"), "x"), "entry[0].messaging: expected a list"),
        (_broken("text", (*EVENT, "sender"), ...), "entry[0].messaging[0]: missing 'sender'"),
        (
            _broken("text", (*EVENT, "sender", "id"), ...),
            "entry[0].messaging[0].sender: missing 'id'",
        ),
        (_broken("text", (*EVENT, "timestamp"), ...), "entry[0].messaging[0]: missing 'timestamp'"),
        (
            _broken("text", (*EVENT, "timestamp"), "1718270400123"),
            "entry[0].messaging[0].timestamp: expected epoch milliseconds",
        ),
        (
            _broken("text", (*EVENT, "message", "mid"), ...),
            "entry[0].messaging[0].message: missing 'mid'",
        ),
        (
            _broken("text", (*EVENT, "message", "text"), 42),
            "entry[0].messaging[0].message.text: expected a string",
        ),
        (
            _broken("image", (*EVENT, "message", "attachments", 0, "type"), ...),
            "entry[0].messaging[0].message.attachments[0]: missing 'type'",
        ),
        (
            _broken(
                "location",
                (*EVENT, "message", "attachments", 0, "payload", "coordinates", "lat"),
                123.0,
            ),
            "entry[0].messaging[0].message.attachments[0].payload.coordinates.lat: "
            "must be a number from -90 to 90",
        ),
        (
            _broken("postback", (*EVENT, "postback", "payload"), ...),
            "entry[0].messaging[0].postback: missing 'payload'",
        ),
        (
            _broken("reaction", (*EVENT, "reaction", "mid"), ...),
            "entry[0].messaging[0].reaction: missing 'mid'",
        ),
        (
            _broken("delivery", (*EVENT, "delivery", "mids"), [1, 2]),
            "entry[0].messaging[0].delivery.mids: expected a list of message ids",
        ),
    ],
)
def test_malformed_bodies_name_the_place(body: dict[str, Any], error: str) -> None:
    with pytest.raises(WebhookError) as caught:
        parse_webhook(body, MESSENGER)
    assert str(caught.value).startswith(error)


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"[]"])
def test_bodies_that_are_not_json_objects_are_refused(raw: bytes) -> None:
    with pytest.raises(WebhookError, match=r"^body: "):
        parse_webhook_bytes(raw, MESSENGER)


def test_an_image_meta_gives_no_url_for_is_shown_as_unsupported_not_refused() -> None:
    body = _broken("image", (*EVENT, "message", "attachments", 0, "payload"), {})
    (item,) = parse_webhook(body, MESSENGER).messages
    assert item.content == Unsupported(
        provider_type="image", reason="image attachment without a URL"
    )
