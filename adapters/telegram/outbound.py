"""Telegram out: content to Bot API calls (method + JSON body), limits checked first.

Every piece of content is one call, except contact cards: ``sendContact`` takes one card,
so several cards are several calls, in order (the first one's id is *the* message's).

Text is sent without ``parse_mode``: an agent's ``*`` or ``<b>`` reaches the customer as
typed, never as formatting Telegram could refuse to parse.

What Telegram cannot show natively gets a fallback rather than an error:

- reply buttons → the text with an **inline keyboard**, one button per row, whose
  ``callback_data`` is the button's ``id`` (≤ 64 bytes); a header image / video /
  document becomes the message itself (photo with the text as caption and the keyboard).
- a list → its rows as numbered lines under the body, and an inline keyboard with one
  button per row (``callback_data`` = the row's ``id``).  A tap comes back as a
  ``button_reply`` (Telegram does not tell a list's keyboard from a button's).
- header and footer texts → lines above and below the body.
- a location request → a one-time reply keyboard with a ``request_location`` button.
- a contact card without a phone number (``sendContact`` needs one) → text lines.

Templates and catalog messages do not exist on Telegram and are refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import assert_never

from adapters.content import (
    Audio,
    Button,
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
from adapters.limits import at_most, card_text, framed, limit, limit_bytes, unique_ids

__all__ = [
    "CALLBACK_DATA_BYTES",
    "CAPTION",
    "DEFAULT_LOCATION_BUTTON",
    "KEYBOARD_BUTTONS",
    "TEXT",
    "BotRequest",
    "build_requests",
    "message_ref",
]

TEXT = 4096
CAPTION = 1024
CALLBACK_DATA_BYTES = 64
KEYBOARD_BUTTONS = 100
VCARD_BYTES = 2048
DEFAULT_LOCATION_BUTTON = "📍 Send my location"

_MEDIA_METHOD = {
    "image": ("sendPhoto", "photo"),
    "video": ("sendVideo", "video"),
    "document": ("sendDocument", "document"),
    "sticker": ("sendSticker", "sticker"),
}

#: our provider ids: ``{chat}:{message}``, maybe an edit (``:e{date}``) or a part (``#n``)
_MESSAGE_REF = re.compile(r"(-?\d+):(\d+)(?::e\d+)?(?:#\d+)?")


@dataclass(frozen=True, slots=True)
class BotRequest:
    """One Bot API call: ``POST {api}/bot{token}/{method}`` with ``body`` as JSON."""

    method: str
    body: Wire


def build_requests(
    chat_id: str, content: Content, *, location_button: str = DEFAULT_LOCATION_BUTTON
) -> tuple[BotRequest, ...]:
    """The Bot API calls that show ``content`` in chat ``chat_id``, in order.

    ``location_button`` is the text of the button a location request shows.
    """
    if not chat_id:
        raise ContentError.at("to", "a recipient is needed")
    chat: int | str = int(chat_id) if re.fullmatch(r"-?\d+", chat_id) else chat_id
    return tuple(
        BotRequest(method, {"chat_id": chat, **body})
        for method, body in _render(chat_id, content, location_button)
    )


def message_ref(provider_id: str) -> tuple[str, int] | None:
    """``(chat_id, message_id)`` of one of our Telegram provider ids, else None."""
    match = _MESSAGE_REF.fullmatch(provider_id)
    return (match[1], int(match[2])) if match else None


def _render(chat_id: str, content: Content, location_button: str) -> list[tuple[str, Wire]]:
    match content:
        case Text():
            body: Wire = {"text": _text("body", content.body)}
            if not content.preview_url:
                body["link_preview_options"] = {"is_disabled": True}
            return [("sendMessage", body)]
        case Image() | Video() | Document() | Sticker():
            caption = content.caption if not isinstance(content, Sticker) else None
            return [_media(content, caption, "caption")]
        case Audio():
            method, field = ("sendVoice", "voice") if content.voice else ("sendAudio", "audio")
            return [(method, {field: _file(content)})]
        case Location():
            point: Wire = {"latitude": content.latitude, "longitude": content.longitude}
            if content.name and content.address:
                venue = {**point, "title": content.name, "address": content.address}
                return [("sendVenue", venue)]
            return [("sendLocation", point)]
        case Contacts():
            return [_contact(f"contacts[{i}]", card) for i, card in enumerate(content.contacts)]
        case ReplyButtons():
            return [_reply_buttons(content)]
        case ListMessage():
            return [_list(content)]
        case LocationRequest():
            return [("sendMessage", _location_request(content, location_button))]
        case Reaction():
            return [_reaction(chat_id, content)]
        case Template() | Product() | ProductList() | Catalog():
            name = content.type or content.kind
            raise ContentError.at("kind", f"{name!r} cannot be sent on Telegram")
        case ButtonReply() | ListReply() | Order() | Unsupported():
            name = content.type or content.kind
            raise ContentError.at("kind", f"{name!r} is what customers send; it cannot be sent")
        case _:
            assert_never(content)


# -- limits ------------------------------------------------------------------------------------


def _limit(field: str, value: str, most: int) -> str:
    """``value`` unless it is empty or longer than Telegram allows (in characters)."""
    return limit(field, value, most, "Telegram")


def _text(field: str, text: str) -> str:
    return _limit(field, text, TEXT)


def _caption(field: str, caption: str | None) -> str | None:
    return _limit(field, caption, CAPTION) if caption else None


_CALLBACK_DATA = "Telegram's callback_data"


def _callback_ids(ids: Sequence[tuple[str, str]]) -> None:
    """Each ``(field, id)`` 1-64 bytes in UTF-8 and used once."""
    if ids:
        field = ids[0][0].split("[", 1)[0]
        at_most(field, ids, KEYBOARD_BUTTONS, "keyboard buttons", "Telegram")
    unique_ids(
        ids, lambda field, data: limit_bytes(field, data, CALLBACK_DATA_BYTES, _CALLBACK_DATA)
    )


# -- media, locations, contacts -----------------------------------------------------------------


def _file(media: Image | Video | Document | Audio | Sticker) -> str:
    """A ``file_id`` Telegram gave us, else a URL Telegram downloads itself.

    Media always has one of them (``adapters.content`` refuses it otherwise).
    """
    return media.media_id or media.url or ""


def _media(
    media: Image | Video | Document | Sticker, caption: str | None, caption_field: str
) -> tuple[str, Wire]:
    method, field = _MEDIA_METHOD[media.kind]
    body: Wire = {field: _file(media)}
    text = _caption(caption_field, caption)
    if text:
        body["caption"] = text
    return method, body


def _contact(field: str, card: ContactCard) -> tuple[str, Wire]:
    """``sendContact`` with the first phone; a vCard carries the rest of the card."""
    if not card.phones:
        return "sendMessage", {"text": _text(field, card_text(card))}
    body: Wire = {
        "phone_number": card.phones[0].phone,
        "first_name": card.first_name or card.formatted_name,
    }
    if card.last_name:
        body["last_name"] = card.last_name
    if len(card.phones) > 1 or card.emails or card.urls or card.addresses or card.company:
        vcard = _vcard(card)
        size = len(vcard.encode("utf-8"))
        if size > VCARD_BYTES:
            raise ContentError.at(
                field, f"is {size} bytes long as a vCard; Telegram allows at most {VCARD_BYTES}"
            )
        body["vcard"] = vcard
    return "sendContact", body


def _vcard(card: ContactCard) -> str:
    def escape(text: str) -> str:
        return (
            text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
        )

    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{escape(card.formatted_name)}"]
    lines.append(f"N:{escape(card.last_name or '')};{escape(card.first_name or '')};;;")
    if card.company:
        lines.append(f"ORG:{escape(card.company)}")
    if card.job_title:
        lines.append(f"TITLE:{escape(card.job_title)}")
    for phone in card.phones:
        kind = f";TYPE={escape(phone.type)}" if phone.type else ""
        lines.append(f"TEL{kind}:{escape(phone.phone)}")
    for email in card.emails:
        kind = f";TYPE={escape(email.type)}" if email.type else ""
        lines.append(f"EMAIL{kind}:{escape(email.email)}")
    lines.extend(f"URL:{escape(url.url)}" for url in card.urls)
    for address in card.addresses:
        parts = (address.street, address.city, address.state, address.zip, address.country)
        lines.append("ADR:;;" + ";".join(escape(p or "") for p in parts))
    lines.append("END:VCARD")
    return "\n".join(lines)


# -- interactive ----------------------------------------------------------------------------------


def _keyboard(buttons: Sequence[Button]) -> Wire:
    return {"inline_keyboard": [[{"text": b.title, "callback_data": b.id}] for b in buttons]}


def _reply_buttons(content: ReplyButtons) -> tuple[str, Wire]:
    _callback_ids([(f"buttons[{i}].id", b.id) for i, b in enumerate(content.buttons)])
    for i, button in enumerate(content.buttons):
        _limit(f"buttons[{i}].title", button.title, TEXT)
    header = content.header
    if isinstance(header, Image | Video | Document):
        if header.caption:
            raise ContentError.at(
                "header.caption", "a header image, video or document has no caption"
            )
        caption = framed(None, content.body, content.footer)
        method, body = _media(header, caption, "body")
        return method, {**body, "reply_markup": _keyboard(content.buttons)}
    text = _text("body", framed(header, content.body, content.footer))
    return "sendMessage", {"text": text, "reply_markup": _keyboard(content.buttons)}


def _list(content: ListMessage) -> tuple[str, Wire]:
    """Rows as numbered lines, and one keyboard button per row."""
    rows = [row for section in content.sections for row in section.rows]
    if not rows:
        raise ContentError.at("sections", "at least one row is needed")
    _callback_ids(
        [
            (f"sections[{s}].rows[{r}].id", row.id)
            for s, section in enumerate(content.sections)
            for r, row in enumerate(section.rows)
        ]
    )
    lines: list[str] = []
    number = 0
    for s, section in enumerate(content.sections):
        if not section.rows:
            raise ContentError.at(f"sections[{s}].rows", "at least one row is needed")
        if section.title and len(content.sections) > 1:
            lines.append(section.title)
        for r, row in enumerate(section.rows):
            _limit(f"sections[{s}].rows[{r}].title", row.title, TEXT)
            number += 1
            detail = f" — {row.description}" if row.description else ""
            lines.append(f"{number}. {row.title}{detail}")
    text = framed(content.header, content.body + "\n\n" + "\n".join(lines), content.footer)
    keyboard = _keyboard([Button(row.id, row.title) for row in rows])
    return "sendMessage", {"text": _text("body", text), "reply_markup": keyboard}


def _location_request(content: LocationRequest, button_text: str) -> Wire:
    """The body with a one-time reply keyboard whose one button shares the location."""
    button = {"text": _limit("location_button", button_text, TEXT), "request_location": True}
    keyboard = {"keyboard": [[button]], "resize_keyboard": True, "one_time_keyboard": True}
    return {"text": _text("body", content.body), "reply_markup": keyboard}


# -- reactions -------------------------------------------------------------------------------------


def _reaction(chat_id: str, content: Reaction) -> tuple[str, Wire]:
    """``setMessageReaction`` on one of the chat's messages; an empty list removes ours."""
    ref = message_ref(content.message_id)
    if ref is None or ref[0] != chat_id:
        raise ContentError.at(
            "message_id", f"{content.message_id!r} is not a Telegram message of this chat"
        )
    reaction = [{"type": "emoji", "emoji": content.emoji}] if content.emoji else []
    return "setMessageReaction", {"message_id": ref[1], "reaction": reaction}
