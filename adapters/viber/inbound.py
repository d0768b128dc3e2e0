"""Viber callbacks in: one webhook POST (one event) to messages and receipts.

Viber posts one event per request: ``{"event": ..., "timestamp": <ms>,
"message_token": <64-bit integer>, ...}``.

Rules of the module:

- ``message``: the customer is ``sender.id`` (where replies go), named ``sender.name``.
  The provider message id is the decimal string of ``message_token`` (a 64-bit integer,
  unique per bot, the same on every retry).
- ``delivered`` / ``seen`` / ``failed`` are receipts of a message we sent, by its
  ``message_token``: delivered, read, failed (with Viber's ``desc``).
- A text that is the title of a keyboard button we sent, with our ``tracking_data``
  beside it, is the customer's tap: a ``button_reply`` / ``list_reply`` with the id
  (``adapters.viber.outbound.choice_from_tracking``).
- A shared contact also gives the identity ``("phone", "+...")``.  Viber does not say
  whose number it is; it is taken as the customer's because sharing one's own number (a
  "share phone" button) is how a Viber bot learns it.
- ``conversation_started`` (the customer opened the chat; they have not written, and
  may not be subscribed) is not a message: it is ignored, and answered with the
  account's welcome message when one is configured — the one message Viber lets a bot
  send before the customer writes.  ``subscribed``, ``unsubscribed`` and ``webhook``
  (Viber checking the URL) are ignored too, listed with the reason.
- Media is referenced by Viber's URL (``media``, valid for about an hour), never
  downloaded here: a picture, video or file gets ``media_id`` =
  ``adapters.links.link_media_id(url)``, which agents open through the server's media
  endpoint (it streams the file from that URL); a sticker keeps its ``sticker_id``.  An
  unknown message type becomes ``Unsupported``; an unknown event is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from adapters.base import InboundItem, ReceiptItem, WebhookResult
from adapters.content import (
    ContactCard,
    ContactPhone,
    Contacts,
    Content,
    ContentError,
    Document,
    Image,
    Location,
    Sticker,
    Text,
    Unsupported,
    Video,
)
from adapters.errors import WebhookError
from adapters.identity import phone_identity
from adapters.links import link_media_id
from adapters.viber.outbound import choice_from_tracking
from adapters.whatsapp._payload import Obj

__all__ = ["parse_event", "parse_event_bytes"]

_RECEIPTS = {"delivered": "delivered", "seen": "read", "failed": "failed"}
_IGNORED = {
    "subscribed": "the customer subscribed (the bot may now write to them)",
    "unsubscribed": "the customer unsubscribed (messages to them now fail)",
    "webhook": "Viber checking the webhook URL",
    "client_status": "a client status report",
}


def parse_event_bytes(raw: bytes, *, welcome: Mapping[str, Any] | None = None) -> WebhookResult:
    """``parse_event`` over the raw POST body (after its signature was checked)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise WebhookError(f"body: not JSON ({error})") from None
    return parse_event(body, welcome=welcome)


def parse_event(
    body: Mapping[str, Any], *, welcome: Mapping[str, Any] | None = None
) -> WebhookResult:
    """The message or receipt of one callback.

    ``welcome`` (a ``welcome_message`` body) answers a ``conversation_started`` event.
    """
    root = Obj(body, "")
    event = root.text("event")
    if event == "message":
        return WebhookResult(messages=(_message(root),))
    status = _RECEIPTS.get(event)
    if status is not None:
        return WebhookResult(receipts=(_receipt(root, status),))
    if event == "conversation_started":
        user = root.obj("user")
        reason = f"conversation_started by {user.text('id')!r:.40}: opened the chat, wrote nothing"
        return WebhookResult(ignored=(reason,), answer=dict(welcome) if welcome else None)
    reason = _IGNORED.get(event, "an event this adapter does not know")
    return WebhookResult(ignored=(f"event {event!r:.40}: {reason}",))


def _token(o: Obj, key: str) -> str:
    """A message token: a 64-bit integer in the JSON (a string of digits accepted too)."""
    value = o.raw(key)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return str(int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None:
        raise o.missing(key)
    raise o.wrong(key, "an integer message token")


def _timestamp(o: Obj) -> float:
    """Epoch milliseconds as float seconds."""
    value = o.number("timestamp")
    if value < 0:
        raise o.wrong("timestamp", "epoch milliseconds")
    return value / 1000.0


def _receipt(root: Obj, status: str) -> ReceiptItem:
    error = None
    if status == "failed":
        error = {"message": root.opt_text("desc") or "Viber could not deliver the message"}
    return ReceiptItem(_token(root, "message_token"), status, _timestamp(root), error)


def _message(root: Obj) -> InboundItem:
    sender = root.obj("sender")
    message = root.obj("message")
    content = _content(message)
    identities: tuple[tuple[str, str], ...] = ()
    if isinstance(content, Contacts) and content.contacts[0].phones:
        identity = phone_identity(content.contacts[0].phones[0].phone)
        identities = (identity,) if identity is not None else ()
    return InboundItem(
        provider_message_id=_token(root, "message_token"),
        sender=sender.text("id"),
        timestamp=_timestamp(root),
        content=content,
        profile_name=sender.opt_text("name") or None,
        identities=identities,
    )


def _content(m: Obj) -> Content:
    kind = m.text("type")
    try:
        return _read(m, kind)
    except ContentError as error:  # a value no content may have, e.g. latitude 200
        field = {"latitude": "location.lat", "longitude": "location.lon"}.get(error.field or "")
        where = f"{m.path}.{field or error.field}" if field or error.field else m.path
        raise WebhookError(f"{where}: {error.problem}") from None


def _read(m: Obj, kind: str) -> Content:
    match kind:
        case "text":
            text = m.text("text")
            return choice_from_tracking(m.opt_text("tracking_data"), text) or Text(text)
        case "picture":
            url = m.text("media")
            caption = m.opt_text("text") or None
            return Image(url=url, media_id=link_media_id(url), caption=caption)
        case "video":
            url = m.text("media")
            caption = m.opt_text("text") or None
            return Video(url=url, media_id=link_media_id(url), caption=caption)
        case "file":
            url = m.text("media")
            name = m.opt_text("file_name")
            return Document(url=url, media_id=link_media_id(url), filename=name)
        case "sticker":
            return Sticker(media_id=str(m.integer("sticker_id")), url=m.opt_text("media"))
        case "location":
            point = m.obj("location")
            return Location(latitude=point.number("lat"), longitude=point.number("lon"))
        case "contact":
            card = m.obj("contact")
            phone = card.text("phone_number")
            name = card.opt_text("name") or phone
            return Contacts(
                (ContactCard(formatted_name=name, phones=(ContactPhone(phone=phone),)),)
            )
        case "url":
            return Text(m.text("media"))
        case _:
            return Unsupported(provider_type=kind, reason=f"Viber message type {kind!r:.40}")
