"""WhatsApp out: content to the JSON body of Graph's ``POST /{phone_number_id}/messages``.

``build_message`` checks WhatsApp's limits *before* anything is sent, so an agent who
typed a 21-character button title learns it at once, with the field named, instead of
from a failed delivery later.  The limits are WhatsApp's published ones, inline below.

The 24-hour customer service window: a business may send free-form content only within
24 hours of the customer's last message; outside it only approved templates
(Graph answers error 131047 otherwise).  ``check_window`` refuses early with
``WindowClosed``, the same error the client raises when Graph says so.
"""

from __future__ import annotations

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
    TemplateComponent,
    Text,
    Unsupported,
    Video,
    Wire,
)
from adapters.limits import at_most, compact, limit, unique_ids
from adapters.whatsapp.errors import WindowClosed

__all__ = ["SERVICE_WINDOW_S", "build_message", "check_window", "window_open"]

SERVICE_WINDOW_S = 24 * 60 * 60


def window_open(last_customer_message_at: float | None, now: float) -> bool:
    """True while free-form messages may be sent: under 24 h since the customer wrote.

    Both are epoch seconds; a customer who never wrote has no open window.
    """
    if last_customer_message_at is None:
        return False
    return now - last_customer_message_at < SERVICE_WINDOW_S


def check_window(content: Content, *, last_customer_message_at: float | None, now: float) -> None:
    """Raise ``WindowClosed`` for free-form content outside the window; templates pass."""
    if isinstance(content, Template) or window_open(last_customer_message_at, now):
        return
    if last_customer_message_at is None:
        since = "the customer has not written yet"
    else:
        hours = (now - last_customer_message_at) / 3600
        since = f"the customer last wrote {hours:.0f} hours ago"
    raise WindowClosed(
        f"{since}; outside the 24-hour service window only approved templates may be sent"
    )


def build_message(
    to: str,
    content: Content,
    *,
    reply_to: str | None = None,
    callback_data: str | None = None,
) -> Wire:
    """The Graph ``/messages`` body sending ``content`` to ``to`` (wa_id or phone number).

    ``reply_to`` quotes an earlier message (its wamid).  ``callback_data`` comes back in
    every status webhook of this message (``StatusUpdate.callback_data``), which lets a
    sender match statuses to a send whose answer it never saw.
    """
    if not to:
        raise ContentError.at("to", "a recipient is needed")
    kind, payload = _render(content)
    body: Wire = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
        kind: payload,
    }
    if reply_to is not None:
        if isinstance(content, Reaction):
            raise ContentError.at("reply_to", "a reaction already names its message")
        body["context"] = {"message_id": reply_to}
    if callback_data is not None:
        _limit("callback_data", callback_data, 512)
        body["biz_opaque_callback_data"] = callback_data
    return body


def _render(content: Content) -> tuple[str, Any]:
    match content:
        case Text():
            _limit("body", content.body, 4096)
            return "text", {"body": content.body, "preview_url": content.preview_url}
        case Image() | Video() | Document() | Audio() | Sticker():
            return content.kind, _media(content)
        case Location():
            return "location", compact(
                {
                    "latitude": content.latitude,
                    "longitude": content.longitude,
                    "name": content.name,
                    "address": content.address,
                }
            )
        case Contacts():
            return "contacts", [_card(c) for c in content.contacts]
        case ReplyButtons():
            return "interactive", _reply_buttons(content)
        case ListMessage():
            return "interactive", _list(content)
        case LocationRequest():
            _limit("body", content.body, 1024)
            return "interactive", {
                "type": "location_request_message",
                "body": {"text": content.body},
                "action": {"name": "send_location"},
            }
        case Template():
            return "template", _template(content)
        case Product() | ProductList() | Catalog():
            return "interactive", _commerce(content)
        case Reaction():
            return "reaction", {"message_id": content.message_id, "emoji": content.emoji}
        case ButtonReply() | ListReply() | Order() | Unsupported():
            name = content.type or content.kind
            raise ContentError.at("kind", f"{name!r} is what customers send; it cannot be sent")
        case _:
            assert_never(content)


# -- limits ------------------------------------------------------------------------------------


def _limit(field: str, value: str | None, most: int, *, required: bool = True) -> None:
    """Refuse an empty required text, or one longer than WhatsApp allows."""
    if value or required:
        limit(field, value or "", most, "WhatsApp")


def _count(field: str, items: tuple[object, ...], most: int, what: str) -> None:
    """Between one and ``most`` items; ``what`` names them in the message ("reply buttons")."""
    if not items:
        raise ContentError.at(field, f"at least one of the {what} is needed")
    at_most(field, items, most, what, "WhatsApp")


def _unique(ids: list[tuple[str, str]], most: int) -> None:
    """Each ``(field, id)`` non-empty, at most ``most`` long, and used once."""
    unique_ids(ids, lambda field, item: _limit(field, item, most))


# -- payloads ------------------------------------------------------------------------------------


def _media(media: Image | Video | Document | Audio | Sticker, field: str = "") -> Wire:
    """By media id when we have one (uploaded to WhatsApp), else by link."""
    payload: Wire = {"id": media.media_id} if media.media_id else {"link": media.url}
    if isinstance(media, Image | Video | Document):
        _limit(f"{field}caption", media.caption, 1024, required=False)
        if media.caption:
            payload["caption"] = media.caption
    if isinstance(media, Document) and media.filename:
        payload["filename"] = media.filename
    return payload


def _header(header: str | Image | Video | Document | None) -> Wire | None:
    if header is None:
        return None
    if isinstance(header, str):
        _limit("header", header, 60)
        return {"type": "text", "text": header}
    if header.caption:
        raise ContentError.at("header.caption", "a header image, video or document has no caption")
    return {"type": header.kind, header.kind: _media(header, "header.")}


def _texts(body: str, footer: str | None) -> Wire:
    _limit("body", body, 1024)
    _limit("footer", footer, 60, required=False)
    return compact({"body": {"text": body}, "footer": {"text": footer} if footer else None})


def _reply_buttons(content: ReplyButtons) -> Wire:
    _count("buttons", content.buttons, 3, "reply buttons")
    _unique([(f"buttons[{i}].id", b.id) for i, b in enumerate(content.buttons)], 256)
    for i, button in enumerate(content.buttons):
        _limit(f"buttons[{i}].title", button.title, 20)
    buttons = [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in content.buttons]
    return compact(
        {
            "type": "button",
            "header": _header(content.header),
            **_texts(content.body, content.footer),
            "action": {"buttons": buttons},
        }
    )


def _list(content: ListMessage) -> Wire:
    _limit("button", content.button, 20)
    _count("sections", content.sections, 10, "sections")
    rows = tuple(row for section in content.sections for row in section.rows)
    _count("sections", rows, 10, "rows in all sections")
    _unique(
        [
            (f"sections[{s}].rows[{r}].id", row.id)
            for s, section in enumerate(content.sections)
            for r, row in enumerate(section.rows)
        ],
        200,
    )
    for s, section in enumerate(content.sections):
        _limit(f"sections[{s}].title", section.title, 24, required=len(content.sections) > 1)
        if not section.rows:
            raise ContentError.at(f"sections[{s}].rows", "at least one row is needed")
        for r, row in enumerate(section.rows):
            _limit(f"sections[{s}].rows[{r}].title", row.title, 24)
            _limit(f"sections[{s}].rows[{r}].description", row.description, 72, required=False)
    sections = [
        compact(
            {
                "title": section.title,
                "rows": [
                    compact({"id": r.id, "title": r.title, "description": r.description})
                    for r in section.rows
                ],
            }
        )
        for section in content.sections
    ]
    return compact(
        {
            "type": "list",
            "header": _header(content.header),
            **_texts(content.body, content.footer),
            "action": {"button": content.button, "sections": sections},
        }
    )


def _commerce(content: Product | ProductList | Catalog) -> Wire:
    if isinstance(content, Product):
        _limit("body", content.body, 1024, required=False)
        _limit("footer", content.footer, 60, required=False)
        return compact(
            {
                "type": "product",
                "body": {"text": content.body} if content.body else None,
                "footer": {"text": content.footer} if content.footer else None,
                "action": {
                    "catalog_id": content.catalog_id,
                    "product_retailer_id": content.product_retailer_id,
                },
            }
        )
    if isinstance(content, Catalog):
        parameters = compact(
            {"thumbnail_product_retailer_id": content.thumbnail_product_retailer_id}
        )
        return {
            "type": "catalog_message",
            **_texts(content.body, content.footer),
            "action": compact({"name": "catalog_message", "parameters": parameters or None}),
        }
    _limit("header", content.header, 60)
    _count("sections", content.sections, 10, "sections")
    products = tuple(p for s in content.sections for p in s.product_retailer_ids)
    _count("sections", products, 30, "products in all sections")
    for s, section in enumerate(content.sections):
        _limit(f"sections[{s}].title", section.title, 24)
        if not section.product_retailer_ids:
            raise ContentError.at(
                f"sections[{s}].product_retailer_ids", "at least one product is needed"
            )
    sections = [
        {
            "title": s.title,
            "product_items": [{"product_retailer_id": p} for p in s.product_retailer_ids],
        }
        for s in content.sections
    ]
    return {
        "type": "product_list",
        "header": {"type": "text", "text": content.header},
        **_texts(content.body, content.footer),
        "action": {"catalog_id": content.catalog_id, "sections": sections},
    }


def _template(content: Template) -> Wire:
    _limit("name", content.name, 512)
    _limit("language", content.language, 15)
    return {
        "name": content.name,
        "language": {"code": content.language},
        **(
            {"components": [_component(i, c) for i, c in enumerate(content.components)]}
            if content.components
            else {}
        ),
    }


def _component(i: int, component: TemplateComponent) -> Wire:
    where = f"components[{i}]"
    _limit(f"{where}.type", component.type, 32)
    wire: Wire = {"type": component.type}
    if component.type == "button":
        if not component.sub_type:
            raise ContentError.at(f"{where}.sub_type", "a button component needs a sub_type")
        if component.index is None or not 0 <= component.index <= 9:
            raise ContentError.at(f"{where}.index", "a button component needs an index 0-9")
    if component.sub_type is not None:
        wire["sub_type"] = component.sub_type
    if component.index is not None:
        wire["index"] = str(component.index)
    if component.parameters:
        wire["parameters"] = component.to_wire()["parameters"]
    return wire


def _card(card: ContactCard) -> Wire:
    """A contact card; Graph wants some name part besides ``formatted_name``."""
    name = compact(
        {
            "formatted_name": card.formatted_name,
            "first_name": card.first_name,
            "last_name": card.last_name,
            "middle_name": card.middle_name,
            "prefix": card.prefix,
            "suffix": card.suffix,
        }
    )
    if len(name) == 1:
        name["first_name"] = card.formatted_name
    wire = card.to_wire()
    org = compact({"company": card.company, "department": card.department, "title": card.job_title})
    return compact(
        {
            "name": name,
            "phones": wire.get("phones") or None,
            "emails": wire.get("emails") or None,
            "urls": wire.get("urls") or None,
            "addresses": wire.get("addresses") or None,
            "org": org or None,
            "birthday": card.birthday,
        }
    )
