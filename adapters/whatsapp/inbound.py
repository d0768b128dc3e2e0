"""WhatsApp Cloud API webhooks in: one POST body to normalized messages and statuses.

One POST may carry several entries, each with several changes, each with several
messages and statuses; all of them come out, in order, in one ``WebhookBatch``.

- A body that is not a Cloud API envelope raises ``WebhookError`` with the exact place
  (the HTTP layer answers 400 and records nothing).
- Unknown keys are ignored; an unknown message type becomes ``Unsupported`` content so
  the agent still sees that the customer wrote; changes of other fields (template
  reviews, account updates) and unknown status values are skipped and listed in
  ``WebhookBatch.ignored`` for the logs.
- The customer is their ``wa_id`` (phone number, digits only), or the business-scoped
  user id (``from_user_id`` / ``user_id``) when a user with a username hides the number.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.content import (
    Audio,
    ButtonReply,
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
from adapters.whatsapp._payload import Obj
from adapters.whatsapp.errors import WebhookError

__all__ = [
    "DeliveryStatus",
    "ErrorInfo",
    "InboundMessage",
    "StatusUpdate",
    "WebhookBatch",
    "parse_webhook",
    "parse_webhook_bytes",
]

OBJECT = "whatsapp_business_account"


class DeliveryStatus(enum.StrEnum):
    """How far an outbound message got (``played``: a voice note was listened to)."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    """An error Meta attached to a message or a status (e.g. 131047, 130472)."""

    code: int
    title: str
    message: str | None = None
    details: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """One customer message, normalized."""

    wamid: str
    phone_number_id: str  # the business number it was sent to
    customer: str  # wa_id, or the business-scoped user id when there is no wa_id
    timestamp: int  # epoch seconds
    content: Content
    wa_id: str | None = None
    user_id: str | None = None
    profile_name: str | None = None
    username: str | None = None
    context: Context | None = None
    referral: Referral | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdate:
    """A delivery status of a message we sent, to be applied to that message."""

    wamid: str
    phone_number_id: str
    status: DeliveryStatus
    timestamp: int
    recipient: str
    errors: tuple[ErrorInfo, ...] = ()
    conversation_id: str | None = None
    conversation_origin: str | None = None  # service, marketing, utility, ...
    conversation_expires_at: int | None = None
    billable: bool | None = None
    pricing_model: str | None = None
    pricing_category: str | None = None
    callback_data: str | None = None  # biz_opaque_callback_data given when sending
    recipient_type: str | None = None  # individual / group
    participant: str | None = None  # in a group: the member this status is about


@dataclass(frozen=True, slots=True)
class WebhookBatch:
    """Everything one webhook POST carried."""

    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()
    ignored: tuple[str, ...] = ()  # what was skipped and why, for the logs


def parse_webhook_bytes(raw: bytes) -> WebhookBatch:
    """``parse_webhook`` over the raw POST body (after its signature was checked)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise WebhookError(f"body: not JSON ({error})") from None
    return parse_webhook(body)


def parse_webhook(body: Mapping[str, Any]) -> WebhookBatch:
    """All messages and statuses of a Cloud API webhook body, in the order sent."""
    root = Obj(body, "")
    kind = root.text("object")
    if kind != OBJECT:
        raise WebhookError(f"object: expected {OBJECT!r}, got {kind!r:.40}")
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    ignored: list[str] = []
    for entry in root.objects("entry", required=True):
        for change in entry.objects("changes", required=True):
            field = change.text("field")
            if field != "messages":
                ignored.append(f"{change.path}: field {field!r} is not handled")
                continue
            _read_value(change.obj("value"), messages, statuses, ignored)
    return WebhookBatch(tuple(messages), tuple(statuses), tuple(ignored))


def _read_value(
    value: Obj,
    messages: list[InboundMessage],
    statuses: list[StatusUpdate],
    ignored: list[str],
) -> None:
    phone_number_id = value.obj("metadata").text("phone_number_id")
    contacts = value.objects("contacts")
    errors = _errors(value)
    found = value.objects("messages")
    for m in found:
        messages.append(_message(m, phone_number_id, contacts, errors))
    updates = value.objects("statuses")
    for s in updates:
        status = _status(s, phone_number_id)
        if status is None:
            ignored.append(f"{s.path}: status {s.raw('status')!r:.40} is not handled")
        else:
            statuses.append(status)
    if not found and not updates and errors:
        ignored.append(f"{value.path}: errors without a message: {_reason(errors)}")


# -- messages ----------------------------------------------------------------------------


def _message(
    m: Obj, phone_number_id: str, contacts: list[Obj], errors: tuple[ErrorInfo, ...]
) -> InboundMessage:
    wa_id = m.opt_text("from")
    user_id = m.opt_text("from_user_id")
    sender = wa_id or user_id
    if not sender:
        raise m.missing("from")
    contact = _contact_of(contacts, wa_id, user_id)
    profile = contact.opt_obj("profile") if contact else None
    if contact is not None:
        wa_id = wa_id or contact.opt_text("wa_id")
        user_id = user_id or contact.opt_text("user_id")
    customer = wa_id or user_id or sender
    return InboundMessage(
        wamid=m.text("id"),
        phone_number_id=phone_number_id,
        customer=customer,
        timestamp=m.epoch("timestamp"),
        content=_content(m, (*_errors(m), *errors)),
        wa_id=wa_id,
        user_id=user_id,
        profile_name=profile.opt_text("name") if profile else None,
        username=profile.opt_text("username") if profile else None,
        context=_context(m.opt_obj("context")),
        referral=_referral(m.opt_obj("referral")),
    )


def _contact_of(contacts: list[Obj], wa_id: str | None, user_id: str | None) -> Obj | None:
    """The ``contacts`` entry describing the sender (the only one, or the matching one)."""
    for contact in contacts:
        if (wa_id and contact.raw("wa_id") == wa_id) or (
            user_id and contact.raw("user_id") == user_id
        ):
            return contact
    return contacts[0] if len(contacts) == 1 else None


def _content(m: Obj, errors: tuple[ErrorInfo, ...]) -> Content:
    kind = m.text("type")
    if kind == "unsupported":
        detail = m.opt_obj("unsupported")
        return Unsupported(
            provider_type=detail.opt_text("type") if detail else None, reason=_reason(errors)
        )
    reader = _READERS.get(kind)
    if reader is None:
        system = m.opt_obj("system") if kind == "system" else None
        reason = system.opt_text("body") if system else _reason(errors)
        return Unsupported(provider_type=kind, reason=reason)
    if not m.has(kind):
        if errors:  # Meta could not give us the content and said why
            return Unsupported(provider_type=kind, reason=_reason(errors))
        raise m.missing(kind)
    payload = m.obj(kind) if kind != "contacts" else m
    try:
        return reader(payload)
    except ContentError as error:  # a value no content may have, e.g. latitude 200
        field = _PROVIDER_NAMES.get(error.field or "", error.field)
        where = f"{m.at(kind)}.{field}" if field else m.at(kind)
        raise WebhookError(f"{where}: {error.problem}") from None


_PROVIDER_NAMES = {"media_id": "id"}


def _media(o: Obj) -> dict[str, Any]:
    return {
        "media_id": o.opt_text("id"),
        "url": o.opt_text("url"),
        "mime_type": o.opt_text("mime_type"),
        "sha256": o.opt_text("sha256"),
    }


def _interactive(o: Obj) -> Content:
    kind = o.text("type")
    if kind == "button_reply":
        reply = o.obj("button_reply")
        return ButtonReply(id=reply.text("id"), title=reply.text("title"))
    if kind == "list_reply":
        row = o.obj("list_reply")
        return ListReply(
            id=row.text("id"), title=row.text("title"), description=row.opt_text("description")
        )
    return Unsupported(provider_type=f"interactive.{kind}")


def _template_button(o: Obj) -> Content:
    title = o.text("text")
    return ButtonReply(id=o.opt_text("payload") or title, title=title, from_template=True)


def _contact_cards(m: Obj) -> Content:
    return Contacts(tuple(_card(c) for c in m.objects("contacts", required=True)))


def _card(c: Obj) -> ContactCard:
    name = c.opt_obj("name")
    first = name.opt_text("first_name") if name else None
    last = name.opt_text("last_name") if name else None
    phones = tuple(phone for p in c.objects("phones") if (phone := _phone(p)) is not None)
    formatted = name.opt_text("formatted_name") if name else None
    formatted = formatted or " ".join(n for n in (first, last) if n)
    formatted = formatted or (phones[0].phone if phones else "")
    org = c.opt_obj("org")
    return ContactCard(
        formatted_name=formatted,
        first_name=first,
        last_name=last,
        middle_name=name.opt_text("middle_name") if name else None,
        prefix=name.opt_text("prefix") if name else None,
        suffix=name.opt_text("suffix") if name else None,
        phones=phones,
        emails=tuple(
            ContactEmail(email=e.text("email"), type=e.opt_text("type"))
            for e in c.objects("emails")
        ),
        urls=tuple(
            ContactUrl(url=u.text("url"), type=u.opt_text("type")) for u in c.objects("urls")
        ),
        addresses=tuple(
            ContactAddress(**{k: a.opt_text(k) for k in _ADDRESS_KEYS})
            for a in c.objects("addresses")
        ),
        company=org.opt_text("company") if org else None,
        department=org.opt_text("department") if org else None,
        job_title=org.opt_text("title") if org else None,
        birthday=c.opt_text("birthday"),
    )


def _phone(p: Obj) -> ContactPhone | None:
    """A card's phone; WhatsApp may give only the ``wa_id`` of a number."""
    wa_id = p.opt_text("wa_id")
    phone = p.opt_text("phone") or wa_id
    return (
        None if phone is None else ContactPhone(phone=phone, type=p.opt_text("type"), wa_id=wa_id)
    )


_ADDRESS_KEYS = ("street", "city", "state", "zip", "country", "country_code", "type")


def _order(o: Obj) -> Content:
    return Order(
        catalog_id=o.text("catalog_id"),
        text=o.opt_text("text") or None,
        items=tuple(
            OrderItem(
                product_retailer_id=i.text("product_retailer_id"),
                quantity=i.integer("quantity"),
                item_price=i.number("item_price"),
                currency=i.text("currency"),
            )
            for i in o.objects("product_items", required=True)
        ),
    )


_READERS: dict[str, Callable[[Obj], Content]] = {
    "text": lambda o: Text(o.text("body")),
    "image": lambda o: Image(**_media(o), caption=o.opt_text("caption")),
    "video": lambda o: Video(**_media(o), caption=o.opt_text("caption")),
    "audio": lambda o: Audio(**_media(o), voice=o.flag("voice")),
    "document": lambda o: Document(
        **_media(o), caption=o.opt_text("caption"), filename=o.opt_text("filename")
    ),
    "sticker": lambda o: Sticker(**_media(o), animated=o.flag("animated")),
    "location": lambda o: Location(
        latitude=o.number("latitude"),
        longitude=o.number("longitude"),
        name=o.opt_text("name"),
        address=o.opt_text("address"),
        url=o.opt_text("url"),
    ),
    "contacts": _contact_cards,
    "interactive": _interactive,
    "button": _template_button,
    "reaction": lambda o: Reaction(
        message_id=o.text("message_id"), emoji=o.opt_text("emoji") or ""
    ),
    "order": _order,
}


def _context(o: Obj | None) -> Context | None:
    if o is None:
        return None
    product = o.opt_obj("referred_product")
    context = Context(
        reply_to=o.opt_text("id"),
        forwarded=o.flag("forwarded"),
        frequently_forwarded=o.flag("frequently_forwarded"),
        referred_product=ProductRef(
            catalog_id=product.text("catalog_id"),
            product_retailer_id=product.text("product_retailer_id"),
        )
        if product
        else None,
    )
    return None if context == Context() else context


def _referral(o: Obj | None) -> Referral | None:
    if o is None:
        return None
    return Referral(
        source_url=o.opt_text("source_url"),
        source_id=o.opt_text("source_id"),
        source_type=o.opt_text("source_type"),
        headline=o.opt_text("headline"),
        body=o.opt_text("body"),
        media_type=o.opt_text("media_type"),
        image_url=o.opt_text("image_url"),
        video_url=o.opt_text("video_url"),
        thumbnail_url=o.opt_text("thumbnail_url"),
        click_id=o.opt_text("ctwa_clid"),
    )


# -- statuses and errors ---------------------------------------------------------------------


def _status(s: Obj, phone_number_id: str) -> StatusUpdate | None:
    wamid = s.text("id")
    try:
        status = DeliveryStatus(s.text("status"))
    except ValueError:
        return None
    recipient = s.opt_text("recipient_id") or s.opt_text("recipient_user_id")
    if recipient is None:
        raise s.missing("recipient_id")
    conversation = s.opt_obj("conversation")
    origin = conversation.opt_obj("origin") if conversation else None
    pricing = s.opt_obj("pricing")
    return StatusUpdate(
        wamid=wamid,
        phone_number_id=phone_number_id,
        status=status,
        timestamp=s.epoch("timestamp"),
        recipient=recipient,
        errors=_errors(s),
        conversation_id=conversation.opt_text("id") if conversation else None,
        conversation_origin=origin.opt_text("type") if origin else None,
        conversation_expires_at=conversation.opt_epoch("expiration_timestamp")
        if conversation
        else None,
        billable=pricing.opt_flag("billable") if pricing else None,
        pricing_model=pricing.opt_text("pricing_model") if pricing else None,
        pricing_category=pricing.opt_text("category") if pricing else None,
        callback_data=s.opt_text("biz_opaque_callback_data"),
        recipient_type=s.opt_text("recipient_type"),
        participant=s.opt_text("recipient_participant_id")
        or s.opt_text("recipient_participant_user_id"),
    )


def _errors(o: Obj) -> tuple[ErrorInfo, ...]:
    found = []
    for e in o.objects("errors"):
        data = e.opt_obj("error_data")
        message = e.opt_text("message")
        found.append(
            ErrorInfo(
                code=e.integer("code"),
                title=e.opt_text("title") or message or "",
                message=message,
                details=data.opt_text("details") if data else None,
            )
        )
    return tuple(found)


def _reason(errors: tuple[ErrorInfo, ...]) -> str | None:
    """A one-line account of Meta's errors, for the agent and the logs."""
    if not errors:
        return None
    return "; ".join(
        f"{e.title} ({e.code})" + (f": {e.details}" if e.details else "") for e in errors
    )
