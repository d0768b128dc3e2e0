"""Messenger and Instagram webhooks in: one POST body to customer messages and receipts.

The envelope is the same on both platforms::

    {"object": "page" | "instagram",
     "entry": [{"id": <page or Instagram account id>, "time": <ms>,
                "messaging": [<event>, ...], "standby": [<event>, ...]}]}

and each event has ``sender``, ``recipient``, ``timestamp`` (epoch *milliseconds*) and
one of ``message``, ``postback``, ``reaction``, ``delivery``, ``read``, ``referral``, ...

Rules of the module:

- ``message.is_echo`` is the page's own message coming back: never a customer message.
- ``standby`` events belong to a thread another app owns (handover protocol): that app
  answers, so they are listed in ``ignored`` and never routed to our agents.
- A message with text and attachments becomes one item per part; the first keeps the
  ``mid``, the next ones ``mid#1``, ``mid#2``: unique, and the same on every retry.
- Events without a ``mid`` (reactions, postbacks of old apps) get an id built from what
  identifies them (sender, target, time): stable across Meta's retries as well.
- ``delivery`` gives a receipt per listed ``mid``; ``read`` gives one when it names a
  ``mid`` (Instagram).  Messenger's read event carries only a watermark ("everything
  before this time"), which names no message: it is ignored.
- Unknown events are ignored (listed with the reason); unknown attachment types become
  ``Unsupported`` content, so the agent still sees that the customer wrote.
- Media keeps Meta's CDN ``url`` (it expires) and gets ``media_id`` =
  ``adapters.links.link_media_id(url)``: agents open it through the server's media
  endpoint, which streams it from that URL.  A sticker keeps its ``sticker_id`` as id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from adapters.base import InboundItem, ReceiptItem, WebhookResult
from adapters.content import (
    Audio,
    ButtonReply,
    Content,
    ContentError,
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
from adapters.messenger.platform import Platform
from adapters.whatsapp._payload import Obj

__all__ = ["REACTION_EMOJI", "parse_webhook", "parse_webhook_bytes"]

#: Messenger names a reaction; when it gives no emoji, this is the one its app shows
REACTION_EMOJI = {
    "love": "\u2764\ufe0f",
    "like": "\U0001f44d",
    "dislike": "\U0001f44e",
    "smile": "\U0001f606",
    "wow": "\U0001f62e",
    "sad": "\U0001f622",
    "angry": "\U0001f620",
}

#: events that are not a customer writing (consent, account linking, thread control...)
_OTHER_EVENTS = (
    "optin",
    "account_linking",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
    "policy_enforcement",
    "message_edit",
    "messaging_feedback",
    "response_feedback",
    "game_play",
    "checkout_update",
    "payment",
)


def parse_webhook_bytes(
    raw: bytes, platform: Platform, *, account_id: str | None = None
) -> WebhookResult:
    """``parse_webhook`` over the raw POST body (after its signature was checked)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise WebhookError(f"body: not JSON ({error})") from None
    return parse_webhook(body, platform, account_id=account_id)


def parse_webhook(
    body: Mapping[str, Any], platform: Platform, *, account_id: str | None = None
) -> WebhookResult:
    """All customer messages and receipts of one webhook body, in the order sent.

    ``account_id`` (the page or Instagram account this server account is) skips entries
    of other accounts of the same Meta app: their replies would need another token.
    """
    root = Obj(body, "")
    kind = root.text("object")
    if kind != platform.webhook_object:
        raise WebhookError(f"object: expected {platform.webhook_object!r}, got {kind!r:.40}")
    out = _Collected()
    for entry in root.objects("entry", required=True):
        entry_id = _ident(entry, "id")
        if account_id and entry_id is not None and entry_id != account_id:
            out.ignored.append(f"{entry.path}: for account {entry_id}, not {account_id}")
            continue
        for event in entry.objects("standby"):
            out.ignored.append(f"{event.path}: standby, the thread is owned by another app")
        if entry.has("changes"):
            out.ignored.append(f"{entry.at('changes')}: changes (not messaging) are not handled")
        for event in entry.objects("messaging"):
            _event(event, out)
    return WebhookResult(tuple(out.messages), tuple(out.receipts), ignored=tuple(out.ignored))


class _Collected:
    """What the events of one body gave so far."""

    __slots__ = ("ignored", "messages", "receipts")

    def __init__(self) -> None:
        self.messages: list[InboundItem] = []
        self.receipts: list[ReceiptItem] = []
        self.ignored: list[str] = []


def _event(event: Obj, out: _Collected) -> None:
    if event.has("message"):
        _message(event, event.obj("message"), out)
    elif event.has("postback"):
        _postback(event, event.obj("postback"), out)
    elif event.has("reaction"):
        _reaction(event, event.obj("reaction"), out)
    elif event.has("delivery"):
        _delivery(event, event.obj("delivery"), out)
    elif event.has("read"):
        _read(event, event.obj("read"), out)
    elif event.has("referral"):
        referral = _referral(event.obj("referral"))
        source = referral.source_type if referral else None
        out.ignored.append(
            f"{event.path}: referral from {source or 'an unknown source'} without a message "
            "(the customer opened the thread but has not written)"
        )
    else:
        known = next((name for name in _OTHER_EVENTS if event.has(name)), None)
        what = f"{known} event" if known else "no event this adapter knows"
        out.ignored.append(f"{event.path}: {what} is not handled")


# -- messages ---------------------------------------------------------------------------------


def _message(event: Obj, m: Obj, out: _Collected) -> None:
    if m.flag("is_echo"):
        out.ignored.append(f"{m.path}: echo of message {m.raw('mid')!r:.80} sent by the page")
        return
    mid = m.text("mid")
    if m.flag("is_deleted"):
        out.ignored.append(f"{m.path}: the customer unsent message {mid!r:.80}")
        return
    sender = _sender(event)
    timestamp = _timestamp(event)
    extra: dict[str, Any] = {}
    reply_to = m.opt_obj("reply_to")
    if reply_to is not None and reply_to.has("mid"):
        extra["context"] = Context(reply_to=reply_to.text("mid")).to_wire()
    referral = _referral(m.opt_obj("referral"))
    story = reply_to.opt_obj("story") if reply_to is not None else None
    if referral is None and story is not None:  # a reply to the business's story
        referral = Referral(
            source_type="story", source_id=_ident(story, "id"), source_url=story.opt_text("url")
        )
    parts = _parts(m)
    for i, (content, part_referral) in enumerate(parts):
        item_extra = dict(extra) if i == 0 else {}
        chosen = referral if i == 0 and referral is not None else part_referral
        if chosen is not None:
            item_extra["referral"] = chosen.to_wire()
        out.messages.append(
            InboundItem(
                provider_message_id=mid if i == 0 else f"{mid}#{i}",
                sender=sender,
                timestamp=timestamp,
                content=content,
                extra=item_extra,
            )
        )


def _parts(m: Obj) -> list[tuple[Content, Referral | None]]:
    """The message's contents in order: its text (or quick-reply tap), then attachments."""
    parts: list[tuple[Content, Referral | None]] = []
    if m.flag("is_unsupported"):
        reason = "Meta delivered a message type it does not expose to apps"
        return [(Unsupported(provider_type="unsupported", reason=reason), None)]
    text = m.opt_text("text")
    quick_reply = m.opt_obj("quick_reply")
    if quick_reply is not None:
        payload = quick_reply.text("payload")
        parts.append((ButtonReply(id=payload, title=text or payload), None))
    elif text:
        parts.append((Text(text), None))
    for attachment in m.objects("attachments"):
        if text and attachment.raw("type") == "fallback":
            continue  # the preview of a link the text already holds
        parts.append(_attachment(attachment))
    if not parts and m.has("sticker_id"):
        parts.append((Sticker(media_id=_ident(m, "sticker_id")), None))
    if not parts:
        reason = "a message without text or attachments"
        parts.append((Unsupported(provider_type=None, reason=reason), None))
    return parts


def _attachment(a: Obj) -> tuple[Content, Referral | None]:
    kind = a.text("type")
    payload = a.opt_obj("payload")
    reader = _ATTACHMENTS.get(kind)
    if reader is None:
        return Unsupported(provider_type=kind, reason=f"attachment type {kind!r:.40}"), None
    try:
        return reader(a, payload)
    except ContentError as error:  # a value no content may have, e.g. latitude 200
        field = _PROVIDER_NAMES.get(error.field or "", error.field)
        where = f"{a.at('payload')}.{field}" if field else a.path
        raise WebhookError(f"{where}: {error.problem}") from None


_PROVIDER_NAMES = {"latitude": "coordinates.lat", "longitude": "coordinates.long"}


def _url(payload: Obj | None) -> str | None:
    return payload.opt_text("url") if payload is not None else None


def _no_url(kind: str) -> Unsupported:
    """Media Meta no longer serves (an expired story, a removed post)."""
    return Unsupported(provider_type=kind, reason=f"{kind} attachment without a URL")


def _media(kind: str, make: Callable[[str, str], Content]) -> _Reader:
    """A reader of an attachment with a CDN URL: ``make(url, media_id)``."""

    def read(a: Obj, payload: Obj | None) -> tuple[Content, Referral | None]:
        del a
        url = _url(payload)
        return (make(url, link_media_id(url)) if url else _no_url(kind)), None

    return read


def _image(a: Obj, payload: Obj | None) -> tuple[Content, Referral | None]:
    """A photo, or a sticker (Messenger marks those with ``sticker_id``)."""
    del a
    url = _url(payload)
    sticker_id = _ident(payload, "sticker_id") if payload is not None else None
    if sticker_id is not None:
        return Sticker(media_id=sticker_id, url=url), None
    return (Image(url=url, media_id=link_media_id(url)) if url else _no_url("image")), None


def _location(a: Obj, payload: Obj | None) -> tuple[Content, Referral | None]:
    if payload is None:
        raise a.missing("payload")
    coordinates = payload.obj("coordinates")
    return (
        Location(
            latitude=coordinates.number("lat"),
            longitude=coordinates.number("long"),
            name=a.opt_text("title"),
            url=a.opt_text("url"),
        ),
        None,
    )


def _link(a: Obj, payload: Obj | None) -> tuple[Content, Referral | None]:
    """A shared link or post: its title and URL as text the agent can open."""
    url = a.opt_text("url") or a.opt_text("URL") or _url(payload)
    title = a.opt_text("title") or (payload.opt_text("title") if payload is not None else None)
    lines = [line for line in (title, url) if line]
    if not lines:
        kind = a.text("type")
        return Unsupported(provider_type=kind, reason=f"{kind} without a title or URL"), None
    return Text("\n".join(lines)), None


def _reel(a: Obj, payload: Obj | None) -> tuple[Content, Referral | None]:
    url = _url(payload)
    title = payload.opt_text("title") if payload is not None else None
    if not url:
        return _no_url(a.text("type")), None
    return Video(url=url, media_id=link_media_id(url), caption=title), None


def _story_mention(a: Obj, payload: Obj | None) -> tuple[Content, Referral | None]:
    """The customer mentioned the business in their story: its URL, and where it came from."""
    url = _url(payload)
    if not url:
        return _no_url(a.text("type")), None
    return Text(url), Referral(source_type="story_mention", source_url=url)


def _template(a: Obj, payload: Obj | None) -> tuple[Content, Referral | None]:
    del payload
    return Unsupported(provider_type=a.text("type"), reason="a shared card (template)"), None


_Reader = Callable[[Obj, Obj | None], tuple[Content, Referral | None]]

_ATTACHMENTS: dict[str, _Reader] = {
    "image": _image,
    "video": _media("video", lambda url, media_id: Video(url=url, media_id=media_id)),
    "audio": _media("audio", lambda url, media_id: Audio(url=url, media_id=media_id)),
    "file": _media("file", lambda url, media_id: Document(url=url, media_id=media_id)),
    "location": _location,
    "fallback": _link,
    "share": _link,
    "ig_post": _link,
    "ig_reel": _reel,
    "reel": _reel,
    "story_mention": _story_mention,
    "template": _template,
}


# -- taps and reactions --------------------------------------------------------------------------


def _postback(event: Obj, p: Obj, out: _Collected) -> None:
    """A tap on a button of ours (button template, persistent menu, Get Started)."""
    sender = _sender(event)
    payload = p.text("payload")
    mid = p.opt_text("mid") or f"postback:{sender}:{_millis(event)}"
    referral = _referral(p.opt_obj("referral"))
    out.messages.append(
        InboundItem(
            provider_message_id=mid,
            sender=sender,
            timestamp=_timestamp(event),
            content=ButtonReply(id=payload, title=p.opt_text("title") or payload),
            extra={"referral": referral.to_wire()} if referral is not None else {},
        )
    )


def _reaction(event: Obj, r: Obj, out: _Collected) -> None:
    sender = _sender(event)
    target = r.text("mid")
    action = r.opt_text("action") or "react"
    name = r.opt_text("reaction")
    if action == "unreact":
        content: Content = Reaction(message_id=target, emoji="")
    else:
        emoji = r.opt_text("emoji") or REACTION_EMOJI.get(name or "")
        content = (
            Reaction(message_id=target, emoji=emoji)
            if emoji
            else Unsupported(provider_type="reaction", reason=f"reaction {name!r:.40}")
        )
    out.messages.append(
        InboundItem(
            provider_message_id=f"reaction:{sender}:{target}:{_millis(event)}:{action}",
            sender=sender,
            timestamp=_timestamp(event),
            content=content,
        )
    )


# -- receipts ----------------------------------------------------------------------------------


def _delivery(event: Obj, d: Obj, out: _Collected) -> None:
    mids = d.raw("mids")
    if mids is None or mids == []:
        out.ignored.append(f"{d.path}: delivered up to a watermark, no message named")
        return
    if not isinstance(mids, list) or not all(isinstance(mid, str) for mid in mids):
        raise d.wrong("mids", "a list of message ids")
    timestamp = _timestamp(event)
    out.receipts.extend(ReceiptItem(mid, "delivered", timestamp) for mid in mids)


def _read(event: Obj, r: Obj, out: _Collected) -> None:
    mid = r.opt_text("mid")
    if mid is None:
        out.ignored.append(f"{r.path}: read up to a watermark, no message named")
        return
    out.receipts.append(ReceiptItem(mid, "read", _timestamp(event)))


# -- small readers -------------------------------------------------------------------------------


def _referral(o: Obj | None) -> Referral | None:
    """An ad, m.me / ig.me link, chat plugin or shop product that led the customer here.

    ``source_id`` is the ad's id, else the link's ``ref`` (the data the business put in
    the link), else the product's id.
    """
    if o is None:
        return None
    ads = o.opt_obj("ads_context_data")
    product = o.opt_obj("product")
    product_id = _ident(product, "id") if product is not None else None
    referral = Referral(
        source_type=o.opt_text("source") or ("product" if product_id else None),
        source_id=_ident(o, "ad_id") or o.opt_text("ref") or product_id,
        source_url=o.opt_text("referer_uri") or o.opt_text("source_url"),
        headline=ads.opt_text("ad_title") if ads is not None else None,
        image_url=ads.opt_text("photo_url") if ads is not None else None,
        video_url=ads.opt_text("video_url") if ads is not None else None,
    )
    return None if referral == Referral() else referral


def _sender(event: Obj) -> str:
    sender = _ident(event.obj("sender"), "id")
    if sender is None:
        raise event.obj("sender").missing("id")
    return sender


def _ident(o: Obj, key: str) -> str | None:
    """An id Meta writes as a string (or, for stickers and some entries, as a number)."""
    value = o.raw(key)
    if value is None:
        return None
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    raise o.wrong(key, "an id")


def _millis(event: Obj) -> int:
    """The event's ``timestamp`` in epoch milliseconds.

    Meta stamps events in milliseconds, though a few documented examples show seconds;
    a value below 10^11 cannot be milliseconds of this century, so it is taken as seconds.
    """
    value = event.raw("timestamp")
    if value is None:
        raise event.missing("timestamp")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise event.wrong("timestamp", "epoch milliseconds")
    return value if value >= 10**11 else value * 1000


def _timestamp(event: Obj) -> float:
    return _millis(event) / 1000.0
