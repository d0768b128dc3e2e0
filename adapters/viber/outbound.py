"""Viber out: content to ``/pa/send_message`` bodies, limits checked first.

Every piece of content is one request, except contact cards: a Viber contact message
holds one card, so several cards are several requests, in order (the first one's token
is *the* message's).

What Viber cannot show natively gets a fallback rather than an error:

- reply buttons and lists → the text (list rows as numbered lines, header and footer
  texts as lines around the body) with a **keyboard**: one full-width ``reply`` button
  per choice.  A tap makes the customer's app send the button's text, so the button's
  title is its ``ActionBody`` (the customer sees what they chose, not an id), and the
  message's ``tracking_data`` maps titles to ids — Viber hands it back with the
  customer's next message, and ``choice_from_tracking`` turns the tap into a
  ``button_reply`` / ``list_reply`` with the id.  Titles must therefore differ.  A header
  image makes the message a picture with the text as its description.
- video, documents and audio → a link: Viber's ``video`` and ``file`` messages need the
  file's size in bytes, which content does not carry (and an agent's URL is not fetched
  to learn it), so they go as a ``url`` message, or as text "caption / file name, then
  the URL" when there is one.
- a location request → the body with a keyboard whose ``location-picker`` button opens
  the customer's map.
- a contact card without a phone number → text lines.
- a location's name and address are not sent (Viber's location message has none).

Media goes by URL only (Viber has no media upload for bots), stickers by their numeric
``sticker_id``.  Templates, catalog messages and reactions do not exist on Viber and are
refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, assert_never

from adapters.content import (
    Audio,
    ButtonReply,
    Catalog,
    ContactCard,
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
from adapters.limits import card_text, framed, limit

__all__ = [
    "BUTTON_TEXT",
    "CONTACT_NAME",
    "CONTACT_PHONE",
    "DEFAULT_LOCATION_BUTTON",
    "KEYBOARD_BUTTONS",
    "PICTURE_TEXT",
    "SENDER_NAME",
    "TEXT",
    "TRACKING_DATA",
    "TRACKING_PREFIX",
    "URL",
    "Sender",
    "build_messages",
    "choice_from_tracking",
    "welcome_message",
]

TEXT = 7000
PICTURE_TEXT = 768
URL = 2000
SENDER_NAME = 28
CONTACT_NAME = 28
CONTACT_PHONE = 18
TRACKING_DATA = 4096
KEYBOARD_BUTTONS = 24
BUTTON_TEXT = 250
DEFAULT_LOCATION_BUTTON = "📍 Send my location"

#: marks ``tracking_data`` written by this module (a map of keyboard choices)
TRACKING_PREFIX = "switchboard:"


@dataclass(frozen=True, slots=True)
class Sender:
    """How the bot appears in the customer's chat (``sender`` of every message)."""

    name: str
    avatar: str | None = None

    def wire(self) -> Wire:
        limit("sender_name", self.name, SENDER_NAME, "Viber")
        return {"name": self.name, "avatar": self.avatar} if self.avatar else {"name": self.name}


@dataclass(frozen=True, slots=True)
class _Choice:
    """A button or list row, and where it sits in the content (for error messages)."""

    field: str
    id: str
    title: str
    description: str | None = None


def build_messages(
    receiver: str,
    content: Content,
    *,
    sender: Sender,
    location_button: str = DEFAULT_LOCATION_BUTTON,
) -> tuple[Wire, ...]:
    """The ``send_message`` bodies that show ``content`` to Viber user ``receiver``."""
    if not receiver:
        raise ContentError.at("to", "a recipient is needed")
    head = {"receiver": receiver, "sender": sender.wire()}
    return tuple({**head, **message} for message in _render(content, location_button))


def welcome_message(text: str, sender: Sender) -> Wire:
    """The answer to a ``conversation_started`` callback: a text Viber shows at once.

    It is the one message Viber lets a bot send to someone who has not subscribed.
    """
    return {"sender": sender.wire(), "type": "text", "text": _limit("welcome_message", text, TEXT)}


def choice_from_tracking(tracking_data: str | None, text: str) -> ButtonReply | ListReply | None:
    """The keyboard choice the customer's ``text`` is, per our message's ``tracking_data``.

    None when the tracking data is not ours, is unreadable, or names no such title.
    """
    if not tracking_data or not tracking_data.startswith(TRACKING_PREFIX):
        return None
    try:
        data = json.loads(tracking_data[len(TRACKING_PREFIX) :])
    except ValueError:
        return None
    if not isinstance(data, Mapping) or not isinstance(data.get("choices"), list):
        return None
    for choice in data["choices"]:
        if not (isinstance(choice, list) and 2 <= len(choice) <= 3):
            continue
        if not all(isinstance(part, str) for part in choice) or choice[0] != text:
            continue
        if data.get("type") == "list":
            description = choice[2] if len(choice) == 3 else None
            return ListReply(id=choice[1], title=text, description=description)
        return ButtonReply(id=choice[1], title=text)
    return None


def _render(content: Content, location_button: str) -> list[Wire]:
    match content:
        case Text():
            return [_text("body", content.body)]
        case Image():
            return [_picture(content, content.caption or "", "caption")]
        case Video() | Document() | Audio():
            return [_link(content)]
        case Sticker():
            if not (content.media_id and content.media_id.isdigit()):
                raise ContentError.at(
                    "media_id", "Viber sends stickers by their numeric sticker_id"
                )
            return [{"type": "sticker", "sticker_id": int(content.media_id)}]
        case Location():
            point = {"lat": content.latitude, "lon": content.longitude}
            return [{"type": "location", "location": point}]
        case Contacts():
            return [_contact(f"contacts[{i}]", card) for i, card in enumerate(content.contacts)]
        case ReplyButtons():
            choices = [
                _Choice(f"buttons[{i}]", b.id, b.title) for i, b in enumerate(content.buttons)
            ]
            return [_choices(content, choices, "buttons")]
        case ListMessage():
            return [_list(content)]
        case LocationRequest():
            button = {
                "Columns": 6,
                "Rows": 1,
                "ActionType": "location-picker",
                "ActionBody": "location",
                "Text": _limit("location_button", location_button, BUTTON_TEXT),
            }
            return [
                {
                    **_text("body", content.body),
                    "keyboard": _keyboard([button]),
                    "min_api_version": 3,
                }
            ]
        case Reaction():
            raise ContentError.at("kind", "Viber does not let a bot react to messages")
        case Template() | Product() | ProductList() | Catalog():
            name = content.type or content.kind
            raise ContentError.at("kind", f"{name!r} cannot be sent on Viber")
        case ButtonReply() | ListReply() | Order() | Unsupported():
            name = content.type or content.kind
            raise ContentError.at("kind", f"{name!r} is what customers send; it cannot be sent")
        case _:
            assert_never(content)


# -- limits ----------------------------------------------------------------------------------


def _limit(field: str, value: str, most: int) -> str:
    """``value`` unless it is empty or longer than Viber allows (in characters)."""
    return limit(field, value, most, "Viber")


def _text(field: str, text: str) -> Wire:
    return {"type": "text", "text": _limit(field, text, TEXT)}


# -- media -----------------------------------------------------------------------------------


def _url(media: Image | Video | Document | Audio, field: str = "") -> str:
    if not media.url:
        raise ContentError.at(
            f"{field}url", f"Viber sends media by URL only; this {media.kind} has none"
        )
    return _limit(f"{field}url", media.url, URL)


def _picture(image: Image, description: str, field: str, url_field: str = "") -> Wire:
    """A picture; its ``text`` (a description under it) may be empty, not missing."""
    if len(description) > PICTURE_TEXT:
        raise ContentError.at(
            field,
            f"is {len(description)} characters long; a Viber picture's text allows at most "
            f"{PICTURE_TEXT}",
        )
    return {"type": "picture", "text": description, "media": _url(image, url_field)}


def _link(media: Video | Document | Audio) -> Wire:
    """A ``url`` message, or the label (caption, file name) and the URL as text."""
    url = _url(media)
    label = media.caption if isinstance(media, Video | Document) else None
    if isinstance(media, Document):
        label = label or media.filename
    if label:
        return _text("caption", f"{label}\n{url}")
    return {"type": "url", "media": url}


def _contact(field: str, card: ContactCard) -> Wire:
    if not card.phones:
        return _text(field, card_text(card))
    name = card.formatted_name
    if len(name) > CONTACT_NAME:
        raise ContentError.at(
            f"{field}.formatted_name",
            f"is {len(name)} characters long; Viber allows at most {CONTACT_NAME}",
        )
    phone = card.phones[0].phone
    if len(phone) > CONTACT_PHONE:
        raise ContentError.at(
            f"{field}.phones[0].phone",
            f"is {len(phone)} characters long; Viber allows at most {CONTACT_PHONE}",
        )
    return {"type": "contact", "contact": {"name": name, "phone_number": phone}}


# -- keyboards -------------------------------------------------------------------------------


def _keyboard(buttons: Sequence[Wire]) -> Wire:
    return {"Type": "keyboard", "DefaultHeight": False, "Buttons": list(buttons)}


def _choices(
    content: ReplyButtons | ListMessage,
    choices: Sequence[_Choice],
    kind: str,
    text: str | None = None,
) -> Wire:
    """The message with one reply button per choice, and the choices in tracking data."""
    if len(choices) > KEYBOARD_BUTTONS:
        where = "buttons" if kind == "buttons" else "sections"
        raise ContentError.at(
            where, f"a Viber keyboard takes at most {KEYBOARD_BUTTONS} buttons, got {len(choices)}"
        )
    seen: dict[str, str] = {}
    ids: dict[str, str] = {}
    for choice in choices:
        field, choice_id, title = choice.field, choice.id, choice.title
        if not choice_id:
            raise ContentError.at(f"{field}.id", "must not be empty")
        if choice_id in ids:
            raise ContentError.at(
                f"{field}.id", f"{choice_id!r} is also the id of {ids[choice_id]}; ids must differ"
            )
        ids[choice_id] = field
        _limit(f"{field}.title", title, BUTTON_TEXT)
        if title in seen:
            raise ContentError.at(
                f"{field}.title",
                f"{title!r} is also the title of {seen[title]}; on Viber a tap sends the "
                "title, so titles must differ",
            )
        seen[title] = field
    buttons = [
        {"Columns": 6, "Rows": 1, "ActionType": "reply", "ActionBody": c.title, "Text": c.title}
        for c in choices
    ]
    message = _message_with_header(content, text)
    message["keyboard"] = _keyboard(buttons)
    tracking = _tracking(kind, choices)
    if tracking is not None:
        message["tracking_data"] = tracking
    return message


def _message_with_header(content: ReplyButtons | ListMessage, text: str | None) -> Wire:
    body = text if text is not None else content.body
    header = content.header
    if isinstance(header, Image | Video | Document):
        if header.caption:
            raise ContentError.at(
                "header.caption", "a header image, video or document has no caption"
            )
        if isinstance(header, Image):
            return _picture(header, framed(None, body, content.footer), "body", "header.")
        header = _url(header, "header.")
    return _text("body", framed(header, body, content.footer))


def _list(content: ListMessage) -> Wire:
    """Rows as numbered lines, and one keyboard button per row."""
    choices: list[_Choice] = []
    lines: list[str] = []
    for s, section in enumerate(content.sections):
        if not section.rows:
            raise ContentError.at(f"sections[{s}].rows", "at least one row is needed")
        if section.title and len(content.sections) > 1:
            lines.append(section.title)
        for r, row in enumerate(section.rows):
            choices.append(_Choice(f"sections[{s}].rows[{r}]", row.id, row.title, row.description))
            detail = f" — {row.description}" if row.description else ""
            lines.append(f"{len(choices)}. {row.title}{detail}")
    text = content.body + "\n\n" + "\n".join(lines)
    return _choices(content, choices, "list", text)


def _tracking(kind: str, choices: Sequence[_Choice]) -> str | None:
    """The choices as ``tracking_data``; None when they do not fit Viber's 4096 characters
    (taps then arrive as the plain text of the title)."""
    rows: list[Any] = [
        [c.title, c.id, c.description] if c.description else [c.title, c.id] for c in choices
    ]
    data = json.dumps({"type": kind, "choices": rows}, ensure_ascii=False, separators=(",", ":"))
    tracking = TRACKING_PREFIX + data
    return tracking if len(tracking) <= TRACKING_DATA else None
