"""Messenger and Instagram out: content to Send API request bodies, limits checked first.

One piece of content may take more than one request: Messenger shows no caption under a
photo, so a captioned image goes out as the photo and then its caption as a text; reply
buttons with a header image send the image first.  ``build_requests`` returns the bodies
in the order they must be sent; the first one is *the* message (its id is what the
adapter reports).

What a platform cannot show natively gets a fallback rather than an error:

- reply buttons → a button template (Messenger, ≤ 3 buttons, text ≤ 640) with postback
  buttons; with more buttons, or on Instagram, text with quick replies (≤ 13).  Both
  taps come back as ``button_reply`` with the button's ``id``.
- a list → its rows as numbered text lines, plus quick replies carrying the row ids when
  every row fits one (≤ 13 rows, titles ≤ 20 characters).
- location, location request, contacts → text (a map link, the request's body, the cards).
- header and footer texts → lines above and below the body.

Templates (WhatsApp's approved kind) and catalog messages do not exist here and are
refused, as are reactions on Messenger.

The messaging window: within 24 hours of the customer's last message a reply is
``messaging_type: RESPONSE``; from 24 hours to 7 days it must carry the ``HUMAN_AGENT``
tag (a human answering late, which Meta allows only for that); after 7 days nothing may
be sent (``WindowClosed``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import assert_never
from urllib.parse import quote

from adapters.content import (
    Audio,
    Button,
    ButtonReply,
    Catalog,
    Contacts,
    Content,
    ContentError,
    Document,
    Image,
    ListMessage,
    ListReply,
    Location,
    LocationRequest,
    Order,
    Product,
    ProductList,
    Reaction,
    ReplyButtons,
    Sticker,
    Template,
    Text,
    Unsupported,
    Video,
    Wire,
)
from adapters.limits import at_most, card_text, framed, limit, limit_bytes, unique_ids
from adapters.links import is_link_id
from adapters.messenger.errors import window_closed
from adapters.messenger.platform import Platform

__all__ = [
    "HUMAN_AGENT_WINDOW_S",
    "STANDARD_WINDOW_S",
    "Window",
    "build_requests",
    "window",
]

STANDARD_WINDOW_S = 24 * 60 * 60
HUMAN_AGENT_WINDOW_S = 7 * 24 * 60 * 60

QUICK_REPLIES = 13
BUTTON_TITLE = 20  # quick reply and button titles alike
PAYLOAD = 1000  # postback and quick reply payloads
BUTTON_TEMPLATE_TEXT = 640
TEMPLATE_BUTTONS = 3


class Window(enum.Enum):
    """How a message may be sent now: a plain response, or tagged as a human agent's."""

    RESPONSE = "RESPONSE"
    HUMAN_AGENT = "HUMAN_AGENT"


def window(
    platform: Platform,
    last_customer_message_at: float | None,
    now: float,
    *,
    human_agent: bool = True,
) -> Window:
    """The window open now, or ``WindowClosed``.

    Both times are epoch seconds; a customer who never wrote cannot be messaged.
    ``human_agent=False`` when the Meta app lacks the Human Agent permission: then only
    the 24-hour window exists.
    """
    if last_customer_message_at is None:
        raise window_closed(
            platform,
            f"the customer has not written yet; on {platform.label} a business may only "
            "answer customers who wrote to it",
        )
    age = now - last_customer_message_at
    if age < STANDARD_WINDOW_S:
        return Window.RESPONSE
    if human_agent and age < HUMAN_AGENT_WINDOW_S:
        return Window.HUMAN_AGENT
    limit = "7 days" if human_agent else "24 hours (the HUMAN_AGENT tag is not enabled)"
    raise window_closed(
        platform,
        f"the customer last wrote {age / 3600:.0f} hours ago; {platform.label} allows "
        f"messages only within {limit} of the customer's last message",
    )


def build_requests(
    to: str, content: Content, platform: Platform, when: Window = Window.RESPONSE
) -> tuple[Wire, ...]:
    """The Send API bodies that show ``content`` to ``to`` (a PSID or IGSID), in order."""
    if not to:
        raise ContentError.at("to", "a recipient is needed")
    recipient = {"id": to}
    if isinstance(content, Reaction):
        return (_reaction(recipient, content, platform),)
    stamp: Wire = {"messaging_type": "RESPONSE"}
    if when is Window.HUMAN_AGENT:
        stamp = {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    return tuple(
        {"recipient": recipient, **stamp, "message": message}
        for message in _render(content, platform)
    )


def _render(content: Content, platform: Platform) -> list[Wire]:
    match content:
        case Text():
            return [_text(platform, "body", content.body)]
        case Image() | Video() | Audio() | Document() | Sticker():
            return _media_with_caption(platform, content)
        case Location():
            return [_text(platform, "body", _location_text(content))]
        case LocationRequest():
            return [_text(platform, "body", content.body)]
        case Contacts():
            text = "\n\n".join(card_text(card, phones=True) for card in content.contacts)
            return [_text(platform, "contacts", text)]
        case ReplyButtons():
            return _reply_buttons(platform, content)
        case ListMessage():
            return [_list(platform, content)]
        case Template() | Product() | ProductList() | Catalog():
            name = content.type or content.kind
            raise ContentError.at("kind", f"{name!r} cannot be sent on {platform.label}")
        case ButtonReply() | ListReply() | Order() | Unsupported():
            name = content.type or content.kind
            raise ContentError.at("kind", f"{name!r} is what customers send; it cannot be sent")
        case Reaction():  # pragma: no cover - handled by build_requests
            raise AssertionError("reactions are sender actions")
        case _:
            assert_never(content)


# -- limits ------------------------------------------------------------------------------------


def _text(platform: Platform, field: str, body: str) -> Wire:
    """A text message, checked against the platform's text limit."""
    check = limit_bytes if platform.text_in_bytes else limit
    check(field, body, platform.text_limit, platform.label)
    return {"text": body}


def _ids(platform: Platform, buttons: Sequence[tuple[str, str]]) -> None:
    """Each ``(field, payload)`` non-empty, short enough, and used once."""
    unique_ids(buttons, lambda field, payload: limit(field, payload, PAYLOAD, platform.label))


# -- media ---------------------------------------------------------------------------------------

_ATTACHMENT_TYPE = {"image": "image", "video": "video", "audio": "audio", "document": "file"}


def _attachment(media: Image | Video | Audio | Document | Sticker) -> Wire:
    """By uploaded attachment id when we have one, else by URL.

    A sticker is sent as an image of its URL: the ``sticker_id`` a customer's sticker
    carries cannot be sent back, so its URL is preferred.  So is the URL of a customer's
    attachment passed on (its ``lnk_`` media id is ours, not Meta's).
    """
    kind = "image" if isinstance(media, Sticker) else _ATTACHMENT_TYPE[media.kind]
    ours = media.media_id is not None and is_link_id(media.media_id) and bool(media.url)
    if media.media_id and not ours and not (isinstance(media, Sticker) and media.url):
        payload: Wire = {"attachment_id": media.media_id}
    else:
        payload = {"url": media.url}
    return {"attachment": {"type": kind, "payload": payload}}


def _media_with_caption(
    platform: Platform, media: Image | Video | Audio | Document | Sticker
) -> list[Wire]:
    messages = [_attachment(media)]
    caption = media.caption if isinstance(media, Image | Video | Document) else None
    if caption:
        messages.append(_text(platform, "caption", caption))
    return messages


# -- interactive --------------------------------------------------------------------------------


def _reply_buttons(platform: Platform, content: ReplyButtons) -> list[Wire]:
    _ids(platform, [(f"buttons[{i}].id", b.id) for i, b in enumerate(content.buttons)])
    for i, button in enumerate(content.buttons):
        limit(f"buttons[{i}].title", button.title, BUTTON_TITLE, platform.label)
    messages: list[Wire] = []
    header = content.header
    if isinstance(header, Image | Video | Document):
        if header.caption:
            raise ContentError.at(
                "header.caption", "a header image, video or document has no caption"
            )
        messages.append(_attachment(header))
        header = None
    text = framed(header, content.body, content.footer)
    if platform.button_template and len(content.buttons) <= TEMPLATE_BUTTONS:
        limit("body", text, BUTTON_TEMPLATE_TEXT, platform.label)
        buttons = [{"type": "postback", "title": b.title, "payload": b.id} for b in content.buttons]
        template = {"template_type": "button", "text": text, "buttons": buttons}
        messages.append({"attachment": {"type": "template", "payload": template}})
    else:
        at_most("buttons", content.buttons, QUICK_REPLIES, "quick replies", platform.label)
        messages.append(_quick_replies(_text(platform, "body", text), content.buttons))
    return messages


def _quick_replies(message: Wire, buttons: Sequence[Button]) -> Wire:
    replies = [{"content_type": "text", "title": b.title, "payload": b.id} for b in buttons]
    return {**message, "quick_replies": replies}


def _list(platform: Platform, content: ListMessage) -> Wire:
    """Rows as numbered lines; quick replies with the row ids when all of them fit."""
    rows = [row for section in content.sections for row in section.rows]
    if not rows:
        raise ContentError.at("sections", "at least one row is needed")
    _ids(
        platform,
        [
            (f"sections[{s}].rows[{r}].id", row.id)
            for s, section in enumerate(content.sections)
            for r, row in enumerate(section.rows)
        ],
    )
    lines: list[str] = []
    number = 0
    for s, section in enumerate(content.sections):
        if not section.rows:
            raise ContentError.at(f"sections[{s}].rows", "at least one row is needed")
        if section.title and len(content.sections) > 1:
            lines.append(section.title)
        for r, row in enumerate(section.rows):
            if not row.title:
                raise ContentError.at(f"sections[{s}].rows[{r}].title", "must not be empty")
            number += 1
            detail = f" — {row.description}" if row.description else ""
            lines.append(f"{number}. {row.title}{detail}")
    text = framed(content.header, content.body + "\n\n" + "\n".join(lines), content.footer)
    message = _text(platform, "body", text)
    if len(rows) <= QUICK_REPLIES and all(len(row.title) <= BUTTON_TITLE for row in rows):
        message = _quick_replies(message, [Button(row.id, row.title) for row in rows])
    return message


# -- text fallbacks ------------------------------------------------------------------------------


def _location_text(location: Location) -> str:
    """Name, address and a map link anyone can open."""
    point = f"{location.latitude},{location.longitude}"
    link = f"https://www.google.com/maps/search/?api=1&query={quote(point)}"
    return "\n".join(part for part in (location.name, location.address, link) if part)


# -- reactions -------------------------------------------------------------------------------------

_LOVE = frozenset({"\u2764\ufe0f", "\u2764"})


def _reaction(recipient: Wire, content: Reaction, platform: Platform) -> Wire:
    """Instagram's ``react`` / ``unreact`` sender actions; its only reaction is ❤️."""
    if not platform.reactions_out:
        raise ContentError.at("kind", f"{platform.label} does not let a business react")
    if content.removed:
        return {
            "recipient": recipient,
            "sender_action": "unreact",
            "payload": {"message_id": content.message_id},
        }
    if content.emoji not in _LOVE:
        raise ContentError.at("emoji", f"{platform.label} reacts only with \u2764\ufe0f")
    return {
        "recipient": recipient,
        "sender_action": "react",
        "payload": {"message_id": content.message_id, "reaction": "love"},
    }
