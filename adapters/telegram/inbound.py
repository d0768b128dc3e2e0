"""Telegram updates in: one webhook POST (one Bot API ``Update``) to messages.

Telegram posts one ``Update`` per request: ``{"update_id": n, <one kind>: {...}}``.

Rules of the module:

- The customer is the **chat**: ``sender`` is the chat id (as a string), where replies go.
  Only private chats are served; a bot added to a group or channel sees other people's
  talk, which is not a customer conversation: those updates are ignored (listed).
- Provider message ids are ``{chat_id}:{message_id}`` (message ids are unique per chat,
  chat ids per bot); an edit is ``{chat_id}:{message_id}:e{edit_date}`` — a new message
  the agent sees, saying which one it corrects (``extra["edit"]``), because the agent may
  already have answered the original.  An inline-keyboard tap is ``cb:{callback id}``; a
  reaction ``reaction:{update_id}``.  All are the same on every retry of the update.
- A message with a caption the content kind cannot hold (a voice note, an audio file)
  becomes two messages: the media, then the caption as text (``...#1``).
- A tap on an inline keyboard (``callback_query``) must be answered or the customer's app
  keeps spinning: ``WebhookResult.answer`` carries ``answerCallbackQuery``, which Telegram
  runs when it reads the webhook's answer — no extra request.
- Media is referenced by ``file_id`` (``Image.media_id`` ...), never downloaded here;
  a photo's largest size is taken.
- A contact card the customer shares *of themselves* (``contact.user_id`` is the sender,
  as when they tap a "share my number" button) also gives the identity
  ``("phone", "+...")``; someone else's card does not — that number is not the customer's.
- Unknown update kinds are ignored (listed); a message of an unknown kind becomes
  ``Unsupported``, so the agent still sees that the customer wrote; service messages
  (a pinned message, an auto-delete timer) are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from adapters.base import InboundItem, WebhookResult
from adapters.content import (
    Audio,
    ButtonReply,
    ContactCard,
    ContactPhone,
    Contacts,
    Content,
    ContentError,
    Context,
    Document,
    Image,
    Location,
    Reaction,
    Sticker,
    Text,
    Unsupported,
    Video,
)
from adapters.errors import WebhookError
from adapters.identity import phone_identity, with_plus
from adapters.whatsapp._payload import Obj

__all__ = ["parse_update", "parse_update_bytes", "phone_identity"]

#: message fields of kinds we cannot show (kept as ``Unsupported``)
_UNSUPPORTED = (
    "poll",
    "dice",
    "game",
    "story",
    "invoice",
    "paid_media",
    "giveaway",
    "giveaway_winners",
    "checklist",
    "web_app_data",
    "passport_data",
    "successful_payment",
    "refunded_payment",
    "users_shared",
    "chat_shared",
)

#: message fields of service messages: something happened in the chat, nobody wrote
_SERVICE = (
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "delete_chat_photo",
    "group_chat_created",
    "supergroup_chat_created",
    "channel_chat_created",
    "message_auto_delete_timer_changed",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "pinned_message",
    "connected_website",
    "write_access_allowed",
    "proximity_alert_triggered",
    "boost_added",
    "chat_background_set",
    "forum_topic_created",
    "forum_topic_edited",
    "forum_topic_closed",
    "forum_topic_reopened",
    "general_forum_topic_hidden",
    "general_forum_topic_unhidden",
    "giveaway_created",
    "giveaway_completed",
    "video_chat_scheduled",
    "video_chat_started",
    "video_chat_ended",
    "video_chat_participants_invited",
)

#: update kinds that are not a customer writing to the bot in a private chat
_OTHER_UPDATES = (
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)

_STICKER_MIME = {"animated": "application/x-tgsticker", "video": "video/webm"}


def parse_update_bytes(raw: bytes, *, received_at: float) -> WebhookResult:
    """``parse_update`` over the raw POST body (after its secret token was checked)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise WebhookError(f"body: not JSON ({error})") from None
    return parse_update(body, received_at=received_at)


def parse_update(body: Mapping[str, Any], *, received_at: float) -> WebhookResult:
    """The customer message (if any) of one update.

    ``received_at`` (epoch seconds) stamps what Telegram does not date: a keyboard tap.
    """
    root = Obj(body, "")
    update_id = root.integer("update_id")
    if root.has("message"):
        return _message(root.obj("message"), edited=False)
    if root.has("edited_message"):
        return _message(root.obj("edited_message"), edited=True)
    if root.has("callback_query"):
        return _callback(root.obj("callback_query"), received_at)
    if root.has("message_reaction"):
        return _reaction(root.obj("message_reaction"), update_id)
    if root.has("my_chat_member"):
        member = root.obj("my_chat_member").obj("new_chat_member")
        status = member.text("status")
        what = "the customer blocked the bot" if status == "kicked" else f"bot is now {status}"
        return _ignored(f"my_chat_member: {what}")
    kind = next((name for name in _OTHER_UPDATES if root.has(name)), None)
    return _ignored(f"update {update_id}: {kind or 'an update kind this adapter does not know'}")


def _ignored(reason: str) -> WebhookResult:
    return WebhookResult(ignored=(reason,))


# -- messages --------------------------------------------------------------------------------


def _message(m: Obj, *, edited: bool) -> WebhookResult:
    chat = m.obj("chat")
    chat_id = str(chat.integer("id"))
    chat_type = chat.text("type")
    message_id = m.integer("message_id")
    if chat_type != "private":
        return _ignored(f"{m.path}: a {chat_type} chat, not a customer's private chat")
    base_id = f"{chat_id}:{message_id}"
    timestamp = float(m.epoch("date"))
    provider_id = base_id
    extra: dict[str, Any] = {}
    if edited:
        edit_date = m.epoch("edit_date")
        provider_id = f"{base_id}:e{edit_date}"
        timestamp = float(edit_date)
        extra["edit"] = {"of": base_id}
    service = next((name for name in _SERVICE if m.has(name)), None)
    if service is not None:
        return _ignored(f"{m.path}: service message ({service}), nobody wrote")
    context = _context(m, chat_id)
    if context is not None:
        extra["context"] = context.to_wire()
    user = m.opt_obj("from")
    identities: tuple[tuple[str, str], ...] = ()
    contents = _contents(m)
    if m.has("contact") and user is not None:
        identities = _own_phone(m.obj("contact"), user)
    messages = tuple(
        InboundItem(
            provider_message_id=provider_id if i == 0 else f"{provider_id}#{i}",
            sender=chat_id,
            timestamp=timestamp,
            content=content,
            profile_name=_name(user or chat),
            identities=identities,
            extra=extra if i == 0 else {},
        )
        for i, content in enumerate(contents)
    )
    return WebhookResult(messages=messages)


def _context(m: Obj, chat_id: str) -> Context | None:
    reply = m.opt_obj("reply_to_message")
    reply_to = f"{chat_id}:{reply.integer('message_id')}" if reply is not None else None
    forwarded = m.has("forward_origin") or m.has("forward_date")
    if reply_to is None and not forwarded:
        return None
    return Context(reply_to=reply_to, forwarded=forwarded)


def _contents(m: Obj) -> list[Content]:
    """The message's content; a caption the kind cannot hold follows as text."""
    caption = m.opt_text("caption") or None
    if m.has("photo"):
        return [_largest_photo(m, caption)]
    for field, reader in _READERS:
        if not m.has(field):
            continue
        part = m.obj(field)
        try:
            content = reader(part, caption)
        except ContentError as error:  # a value no content may have, e.g. latitude 200
            inner = "location." if field == "venue" else ""
            where = f"{part.path}.{inner}{error.field}" if error.field else part.path
            raise WebhookError(f"{where}: {error.problem}") from None
        if caption and isinstance(content, Audio | Sticker | Location | Contacts):
            return [content, Text(caption)]
        return [content]
    if m.has("text"):
        return [Text(m.text("text"))]
    kind = next((name for name in _UNSUPPORTED if m.has(name)), None)
    reason = f"{kind} messages are not supported" if kind else "a message kind not known here"
    return [Unsupported(provider_type=kind, reason=reason)]


def _largest_photo(m: Obj, caption: str | None) -> Image:
    value = m.raw("photo")
    if not isinstance(value, list) or not value:
        raise WebhookError(f"{m.at('photo')}: expected a non-empty list of sizes")
    sizes = m.objects("photo")
    best = max(sizes, key=lambda s: (s.integer("width") * s.integer("height"), _size(s)))
    return Image(media_id=best.text("file_id"), caption=caption)


def _size(o: Obj) -> int:
    return o.integer("file_size") if o.has("file_size") else 0


def _video(v: Obj, caption: str | None) -> Content:
    return Video(media_id=v.text("file_id"), mime_type=v.opt_text("mime_type"), caption=caption)


def _video_note(v: Obj, caption: str | None) -> Content:
    return Video(media_id=v.text("file_id"), mime_type="video/mp4", caption=caption)


def _voice(v: Obj, caption: str | None) -> Content:
    del caption
    return Audio(media_id=v.text("file_id"), mime_type=v.opt_text("mime_type"), voice=True)


def _audio(a: Obj, caption: str | None) -> Content:
    del caption
    return Audio(media_id=a.text("file_id"), mime_type=a.opt_text("mime_type"))


def _document(d: Obj, caption: str | None) -> Content:
    return Document(
        media_id=d.text("file_id"),
        mime_type=d.opt_text("mime_type"),
        filename=d.opt_text("file_name"),
        caption=caption,
    )


def _sticker(s: Obj, caption: str | None) -> Content:
    del caption
    kind = "video" if s.flag("is_video") else "animated" if s.flag("is_animated") else "static"
    return Sticker(
        media_id=s.text("file_id"),
        mime_type=_STICKER_MIME.get(kind, "image/webp"),
        animated=kind != "static",
    )


def _venue(v: Obj, caption: str | None) -> Content:
    del caption
    point = v.obj("location")
    return Location(
        latitude=point.number("latitude"),
        longitude=point.number("longitude"),
        name=v.opt_text("title"),
        address=v.opt_text("address"),
    )


def _location(p: Obj, caption: str | None) -> Content:
    del caption
    return Location(latitude=p.number("latitude"), longitude=p.number("longitude"))


def _contact(c: Obj, caption: str | None) -> Content:
    del caption
    phone = c.text("phone_number")
    first = c.text("first_name")
    last = c.opt_text("last_name")
    name = f"{first} {last}" if last else first
    card = ContactCard(
        formatted_name=name,
        first_name=first,
        last_name=last,
        phones=(ContactPhone(phone=with_plus(phone)),),
    )
    return Contacts((card,))


# Checked in this order: an animation also carries ``document``, a venue ``location``.
_READERS: tuple[tuple[str, Callable[[Obj, str | None], Content]], ...] = (
    ("animation", _video),
    ("video", _video),
    ("video_note", _video_note),
    ("voice", _voice),
    ("audio", _audio),
    ("document", _document),
    ("sticker", _sticker),
    ("venue", _venue),
    ("location", _location),
    ("contact", _contact),
)


def _own_phone(contact: Obj, user: Obj) -> tuple[tuple[str, str], ...]:
    """The phone identity, when the card is the sender's own (``user_id`` is theirs)."""
    if not contact.has("user_id") or contact.integer("user_id") != user.integer("id"):
        return ()
    identity = phone_identity(contact.text("phone_number"))
    return (identity,) if identity is not None else ()


def _name(who: Obj) -> str | None:
    """ "First Last" of a user (or a private chat), else its @username."""
    first = who.opt_text("first_name")
    last = who.opt_text("last_name")
    full = " ".join(part for part in (first, last) if part)
    if full:
        return full
    username = who.opt_text("username")
    return f"@{username}" if username else None


# -- keyboard taps ----------------------------------------------------------------------------


def _callback(q: Obj, received_at: float) -> WebhookResult:
    query_id = q.text("id")
    answer = {"method": "answerCallbackQuery", "callback_query_id": query_id}
    user = q.obj("from")
    data = q.opt_text("data")
    message = q.opt_obj("message")
    if data is None:
        reason = f"{q.path}: a tap without callback data (a game button)"
        return WebhookResult(ignored=(reason,), answer=answer)
    if message is None:
        reason = f"{q.path}: a tap on a message sent in inline mode, in no chat with the bot"
        return WebhookResult(ignored=(reason,), answer=answer)
    chat = message.obj("chat")
    chat_id = str(chat.integer("id"))
    chat_type = chat.text("type")
    if chat_type != "private":
        reason = f"{q.path}: a tap in a {chat_type} chat, not a customer's private chat"
        return WebhookResult(ignored=(reason,), answer=answer)
    tapped = f"{chat_id}:{message.integer('message_id')}"
    item = InboundItem(
        provider_message_id=f"cb:{query_id}",
        sender=chat_id,
        timestamp=received_at,
        content=ButtonReply(id=data, title=_button_text(message, data) or data),
        profile_name=_name(user),
        extra={"context": Context(reply_to=tapped).to_wire()},
    )
    return WebhookResult(messages=(item,), answer=answer)


def _button_text(message: Obj, data: str) -> str | None:
    """The tapped button's text, found in the keyboard of the message it sits under.

    Read leniently: the keyboard only names the button, and a message Telegram no longer
    shows in full (``date`` 0) has none.
    """
    markup = message.raw("reply_markup")
    rows = markup.get("inline_keyboard") if isinstance(markup, Mapping) else None
    for row in rows if isinstance(rows, list) else ():
        for button in row if isinstance(row, list) else ():
            if isinstance(button, Mapping) and button.get("callback_data") == data:
                text = button.get("text")
                return text if isinstance(text, str) and text else None
    return None


# -- reactions --------------------------------------------------------------------------------


def _reaction(r: Obj, update_id: int) -> WebhookResult:
    chat = r.obj("chat")
    chat_id = str(chat.integer("id"))
    chat_type = chat.text("type")
    if chat_type != "private":
        return _ignored(f"{r.path}: a reaction in a {chat_type} chat")
    emojis = [
        reaction.text("emoji")
        for reaction in r.objects("new_reaction")
        if reaction.text("type") == "emoji"
    ]
    if not emojis and r.objects("new_reaction"):
        return _ignored(f"{r.path}: a custom or paid reaction, which has no emoji")
    user = r.opt_obj("user")
    target = f"{chat_id}:{r.integer('message_id')}"
    item = InboundItem(
        provider_message_id=f"reaction:{update_id}",
        sender=chat_id,
        timestamp=float(r.epoch("date")),
        content=Reaction(message_id=target, emoji=emojis[0] if emojis else ""),
        profile_name=_name(user) if user is not None else None,
    )
    return WebhookResult(messages=(item,))
