"""Message content, channel-neutral, in both directions.

Every channel adapter turns what a customer sent into one of these values, and renders
one of them into what the channel sends.  Agents and the API speak the wire form:
``to_wire()`` gives a JSON- and msgpack-safe ``{"kind": ..., ...}`` object and
``content_from_wire`` reads one back, refusing bad input with a ``ContentError`` that
names the field.  ``docs/content.md`` shows each kind with an example.

Rules of the module:

- Media is *referenced*, never copied: a media kind carries the provider's media id
  and/or URL plus what the provider told us about it (mime type, sha256).
- ``interactive`` and ``product`` are families; their wire form adds a ``"type"``.
- Fields that are ``None`` are left out of the wire form; missing means ``None``.
- Provider limits (lengths, counts) are *not* checked here: they differ per channel and
  are checked by each adapter before sending.  Only what makes a value meaningless
  anywhere (an image without a media id or URL, a latitude of 200) is refused here.
- ``Context`` (reply-to, forwarded) and ``Referral`` (ad click-to-chat) describe a
  message rather than its content; they travel next to ``content``, not inside it.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    TypeAlias,
    TypeVar,
    cast,
    get_args,
    get_origin,
    get_type_hints,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "KINDS",
    "Audio",
    "Button",
    "ButtonReply",
    "Catalog",
    "ContactAddress",
    "ContactCard",
    "ContactEmail",
    "ContactPhone",
    "ContactUrl",
    "Contacts",
    "Content",
    "ContentError",
    "Context",
    "Document",
    "Image",
    "ListMessage",
    "ListReply",
    "ListRow",
    "ListSection",
    "Location",
    "LocationRequest",
    "Order",
    "OrderItem",
    "Product",
    "ProductList",
    "ProductRef",
    "ProductSection",
    "Reaction",
    "Referral",
    "ReplyButtons",
    "Sticker",
    "Template",
    "TemplateComponent",
    "Text",
    "Unsupported",
    "Video",
    "Wire",
    "content_from_wire",
    "context_from_wire",
    "referral_from_wire",
]

Wire: TypeAlias = dict[str, Any]
"""A JSON- and msgpack-safe object: str keys; str, int, float, bool, None, list, dict."""


class ContentError(ValueError):
    """Content that cannot be understood or sent; ``field`` names the culprit."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid_content"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.problem = message

    @classmethod
    def at(cls, field: str, problem: str) -> ContentError:
        """``field: problem`` — the form every message of this module takes."""
        error = cls(f"{field}: {problem}" if field else problem, field=field or None)
        error.problem = problem
        return error

    def within(self, parent: str) -> ContentError:
        """The same problem, with its field re-rooted under ``parent`` (nested content)."""
        if not parent:
            return self
        if self.field is None:
            return ContentError.at(parent, self.problem)
        sep = "" if self.field.startswith("[") else "."
        return ContentError.at(f"{parent}{sep}{self.field}", self.problem)


class _Record:
    """A value whose wire form is its fields, by name (``None`` left out, tuples as lists)."""

    __slots__ = ()

    def to_wire(self) -> Wire:
        wire: Wire = {}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if value is not None:
                wire[name] = _wire_value(value, name)
        return wire


class _Kind(_Record):
    """One kind of content: the wire form starts with ``kind`` (and ``type`` in a family)."""

    __slots__ = ()
    kind: ClassVar[str]
    type: ClassVar[str | None] = None

    def to_wire(self) -> Wire:
        head: Wire = {"kind": self.kind}
        if self.type is not None:
            head["type"] = self.type
        return head | _Record.to_wire(self)


@dataclass(frozen=True, slots=True)
class Text(_Kind):
    """Plain text; ``preview_url`` asks the channel to render a preview of the first link."""

    kind: ClassVar[str] = "text"
    body: str
    preview_url: bool = False


# -- media -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _MediaKind(_Kind):
    """What every media kind has: the provider's media id and/or a URL (one is needed),
    the MIME type and a checksum."""

    noun: ClassVar[str]  # for the error: "an image needs a media_id or a url"
    media_id: str | None = None
    url: str | None = None
    mime_type: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        if not self.media_id and not self.url:
            raise ContentError.at("media_id", f"{self.noun} needs a media_id or a url")


@dataclass(frozen=True, slots=True, kw_only=True)
class Image(_MediaKind):
    """A photo, referenced by the provider's media id and/or URL."""

    kind: ClassVar[str] = "image"
    noun: ClassVar[str] = "an image"
    caption: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Video(_MediaKind):
    """A video clip, referenced like an image."""

    kind: ClassVar[str] = "video"
    noun: ClassVar[str] = "a video"
    caption: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Audio(_MediaKind):
    """An audio file, or a voice note recorded in the app (``voice``)."""

    kind: ClassVar[str] = "audio"
    noun: ClassVar[str] = "an audio"
    voice: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Document(_MediaKind):
    """A file (PDF, spreadsheet, ...) with the name the customer sees."""

    kind: ClassVar[str] = "document"
    noun: ClassVar[str] = "a document"
    caption: str | None = None
    filename: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Sticker(_MediaKind):
    """A sticker (webp), static or animated."""

    kind: ClassVar[str] = "sticker"
    noun: ClassVar[str] = "a sticker"
    animated: bool = False


Media: TypeAlias = Image | Video | Audio | Document | Sticker
HeaderMedia: TypeAlias = Image | Video | Document


# -- location, contacts --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Location(_Kind):
    """A point on the map, optionally named (a shop, an address)."""

    kind: ClassVar[str] = "location"
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.latitude) and -90.0 <= self.latitude <= 90.0):
            raise ContentError.at("latitude", "must be a number from -90 to 90")
        if not (math.isfinite(self.longitude) and -180.0 <= self.longitude <= 180.0):
            raise ContentError.at("longitude", "must be a number from -180 to 180")


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactPhone(_Record):
    """A phone number on a shared contact card; ``wa_id`` when it is on WhatsApp."""

    phone: str
    type: str | None = None
    wa_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactEmail(_Record):
    email: str
    type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactUrl(_Record):
    url: str
    type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactAddress(_Record):
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactCard(_Record):
    """One shared contact (vCard-like); only ``formatted_name`` is required."""

    formatted_name: str
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    phones: tuple[ContactPhone, ...] = ()
    emails: tuple[ContactEmail, ...] = ()
    urls: tuple[ContactUrl, ...] = ()
    addresses: tuple[ContactAddress, ...] = ()
    company: str | None = None
    department: str | None = None
    job_title: str | None = None
    birthday: str | None = None  # YYYY-MM-DD


@dataclass(frozen=True, slots=True)
class Contacts(_Kind):
    """One or more contact cards shared in one message."""

    kind: ClassVar[str] = "contacts"
    contacts: tuple[ContactCard, ...]

    def __post_init__(self) -> None:
        if not self.contacts:
            raise ContentError.at("contacts", "at least one contact card is needed")


# -- interactive -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Button(_Record):
    """A reply button: ``id`` comes back in the customer's ``ButtonReply``."""

    id: str
    title: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyButtons(_Kind):
    """A message with up to a few quick-reply buttons (yes/no, menus)."""

    kind: ClassVar[str] = "interactive"
    type: ClassVar[str] = "buttons"
    body: str
    buttons: tuple[Button, ...]
    header: str | HeaderMedia | None = None
    footer: str | None = None

    def __post_init__(self) -> None:
        if not self.buttons:
            raise ContentError.at("buttons", "at least one button is needed")


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRow(_Record):
    """One choice of a list message."""

    id: str
    title: str
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ListSection(_Record):
    title: str | None = None
    rows: tuple[ListRow, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ListMessage(_Kind):
    """A menu that opens behind a button (``button`` is that button's text)."""

    kind: ClassVar[str] = "interactive"
    type: ClassVar[str] = "list"
    body: str
    button: str
    sections: tuple[ListSection, ...]
    header: str | None = None
    footer: str | None = None

    def __post_init__(self) -> None:
        if not self.sections:
            raise ContentError.at("sections", "at least one section is needed")


@dataclass(frozen=True, slots=True, kw_only=True)
class ButtonReply(_Kind):
    """The customer tapped a reply button (``from_template``: a template's quick reply)."""

    kind: ClassVar[str] = "interactive"
    type: ClassVar[str] = "button_reply"
    id: str
    title: str
    from_template: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ListReply(_Kind):
    """The customer chose a row of a list message."""

    kind: ClassVar[str] = "interactive"
    type: ClassVar[str] = "list_reply"
    id: str
    title: str
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationRequest(_Kind):
    """Asks the customer to share their location with one tap."""

    kind: ClassVar[str] = "location_request"
    body: str


# -- templates -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateComponent(_Record):
    """Values for one part of an approved template (header, body, a button).

    ``parameters`` are passed to the provider as they are (WhatsApp's parameter objects,
    e.g. ``{"type": "text", "text": "Ayşe"}``): providers keep adding parameter types,
    and a template only means something to the provider that approved it.
    """

    type: str
    parameters: tuple[Mapping[str, Any], ...] = ()
    sub_type: str | None = None
    index: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Template(_Kind):
    """A pre-approved template message: the only thing sendable outside a service window."""

    kind: ClassVar[str] = "template"
    name: str
    language: str
    components: tuple[TemplateComponent, ...] = ()


# -- commerce ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Product(_Kind):
    """One product of a catalog, shown as a card."""

    kind: ClassVar[str] = "product"
    type: ClassVar[str] = "product"
    catalog_id: str
    product_retailer_id: str
    body: str | None = None
    footer: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductSection(_Record):
    title: str
    product_retailer_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductList(_Kind):
    """Several products of one catalog, in titled sections."""

    kind: ClassVar[str] = "product"
    type: ClassVar[str] = "product_list"
    catalog_id: str
    header: str
    body: str
    sections: tuple[ProductSection, ...]
    footer: str | None = None

    def __post_init__(self) -> None:
        if not self.sections:
            raise ContentError.at("sections", "at least one section is needed")


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog(_Kind):
    """An invitation to browse the business's whole catalog."""

    kind: ClassVar[str] = "product"
    type: ClassVar[str] = "catalog"
    body: str
    footer: str | None = None
    thumbnail_product_retailer_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderItem(_Record):
    product_retailer_id: str
    quantity: int
    item_price: float
    currency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Order(_Kind):
    """A cart the customer sent from a catalog."""

    kind: ClassVar[str] = "order"
    catalog_id: str
    items: tuple[OrderItem, ...]
    text: str | None = None


# -- reactions, the rest -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Reaction(_Kind):
    """An emoji on an earlier message (provider message id); an empty emoji removes it."""

    kind: ClassVar[str] = "reaction"
    message_id: str
    emoji: str = ""

    def __post_init__(self) -> None:
        if not self.message_id:
            raise ContentError.at("message_id", "a reaction needs the message it reacts to")

    @property
    def removed(self) -> bool:
        """True when the customer took their reaction back."""
        return not self.emoji


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsupported(_Kind):
    """Something the channel delivered but we cannot show (a poll, a new message type).

    Kept as a message rather than dropped so the agent knows the customer wrote.
    """

    kind: ClassVar[str] = "unsupported"
    provider_type: str | None = None
    reason: str | None = None


Content: TypeAlias = (
    Text
    | Image
    | Video
    | Audio
    | Document
    | Sticker
    | Location
    | Contacts
    | ReplyButtons
    | ListMessage
    | ButtonReply
    | ListReply
    | LocationRequest
    | Template
    | Product
    | ProductList
    | Catalog
    | Order
    | Reaction
    | Unsupported
)


# -- message context -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductRef(_Record):
    """A catalog product a message is about (a customer asking about a product card)."""

    catalog_id: str
    product_retailer_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Context(_Record):
    """What a message refers to: the message it quotes, whether it was forwarded."""

    reply_to: str | None = None  # provider message id of the quoted message
    forwarded: bool = False
    frequently_forwarded: bool = False
    referred_product: ProductRef | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Referral(_Record):
    """The ad or post a customer clicked to start the chat (click-to-chat)."""

    source_url: str | None = None
    source_id: str | None = None
    source_type: str | None = None
    headline: str | None = None
    body: str | None = None
    media_type: str | None = None
    image_url: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    click_id: str | None = None  # WhatsApp's ctwa_clid


# -- the wire form, both ways --------------------------------------------------------------
#
# The dataclasses above are the schema: a field's name is its wire name and its type
# annotation says how it is checked, so writing and reading cannot drift apart.

R = TypeVar("R", bound=_Record)

KINDS: tuple[type[_Kind], ...] = (
    Text,
    Image,
    Video,
    Audio,
    Document,
    Sticker,
    Location,
    Contacts,
    ReplyButtons,
    ListMessage,
    ButtonReply,
    ListReply,
    LocationRequest,
    Template,
    Product,
    ProductList,
    Catalog,
    Order,
    Reaction,
    Unsupported,
)
_BY_KIND = {(cls.kind, cls.type): cls for cls in KINDS}
_FAMILIES = {cls.kind for cls in KINDS if cls.type is not None}


def content_from_wire(data: Mapping[str, Any]) -> Content:
    """Read a wire ``{"kind": ...}`` object; a ``ContentError`` names the first bad field."""
    return _read_content(data, "")


def context_from_wire(data: Mapping[str, Any]) -> Context:
    """Read a wire context object (``reply_to``, ``forwarded``, ...)."""
    return _read(Context, data, "context")


def referral_from_wire(data: Mapping[str, Any]) -> Referral:
    """Read a wire referral object (every field optional)."""
    return _read(Referral, data, "referral")


def _field_names(cls: type[_Record]) -> tuple[str, ...]:
    return tuple(name for name, _, _ in _schema(cls))


def _schema(cls: type[_Record]) -> tuple[tuple[str, Any, bool], ...]:
    """``(name, type, required)`` of each field of ``cls``, worked out once per class."""
    schema = _SCHEMAS.get(cls)
    if schema is None:
        hints = get_type_hints(cls)
        schema = _SCHEMAS[cls] = tuple(
            (
                f.name,
                hints[f.name],
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(cast("type[DataclassInstance]", cls))
        )
    return schema


_SCHEMAS: dict[type[_Record], tuple[tuple[str, Any, bool], ...]] = {}


def _wire_value(value: object, where: str) -> Any:
    if isinstance(value, _Record):
        return value.to_wire()
    if isinstance(value, tuple):
        return [_wire_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return _json_copy(value, where)
    return value


def _json_copy(value: object, where: str) -> Any:
    """A deep copy of ``value`` made only of JSON types, or a ContentError at ``where``."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return _in_range(value, where)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ContentError.at(where, "numbers must be finite")
        return value
    if isinstance(value, list | tuple):
        return [_json_copy(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        copied: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ContentError.at(where, "object keys must be strings")
            copied[key] = _json_copy(item, f"{where}.{key}")
        return copied
    raise ContentError.at(where, f"{type(value).__name__} is not a JSON value")


#: integers msgpack (storage, binary frames) can carry: signed and unsigned 64-bit
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def _in_range(value: int, where: str) -> int:
    if not _INT_MIN <= value <= _INT_MAX:
        raise ContentError.at(where, "integers must fit in 64 bits")
    return value


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _text(data: Mapping[str, Any], path: str, key: str) -> str:
    value = data.get(key)
    if value is None:
        raise ContentError.at(_at(path, key), "missing")
    if not isinstance(value, str):
        raise ContentError.at(_at(path, key), "expected a string")
    return value


def _read_content(data: object, path: str) -> Content:
    if not isinstance(data, Mapping):
        raise ContentError.at(path or "content", "expected an object")
    kind = _text(data, path, "kind")
    kind_type = _text(data, path, "type") if kind in _FAMILIES else None
    cls = _BY_KIND.get((kind, kind_type))
    if cls is None:
        if kind_type is None:
            known = ", ".join(sorted({k for k, _ in _BY_KIND}))
            problem = f"unknown kind {kind!r} (expected one of {known})"
            raise ContentError.at(_at(path, "kind"), problem)
        known = ", ".join(sorted(t for k, t in _BY_KIND if k == kind and t))
        problem = f"unknown {kind} type {kind_type!r} (expected one of {known})"
        raise ContentError.at(_at(path, "type"), problem)
    return cast("Content", _read(cls, data, path))


def _read(cls: type[R], data: object, path: str) -> R:
    """An instance of ``cls`` from its wire object, each field checked against its type."""
    if not isinstance(data, Mapping):
        raise ContentError.at(path or cls.__name__.lower(), "expected an object")
    values: dict[str, Any] = {}
    for name, hint, required in _schema(cls):
        raw = data.get(name)
        if raw is None:
            if required:
                raise ContentError.at(_at(path, name), "missing")
            continue
        values[name] = _read_value(hint, raw, _at(path, name))
    try:
        return cls(**values)
    except ContentError as error:  # an invariant of the class, e.g. a media id or url
        raise error.within(path) from None


def _read_value(hint: Any, raw: object, where: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin is types.UnionType:
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return _read_value(options[0], raw, where)
        return _read_header(options, raw, where)
    if origin is tuple:
        if not isinstance(raw, list | tuple):
            raise ContentError.at(where, "expected a list")
        return tuple(_read_value(args[0], item, f"{where}[{i}]") for i, item in enumerate(raw))
    if origin is Mapping:  # a template parameter, passed on as it is
        if not isinstance(raw, Mapping):
            raise ContentError.at(where, "expected an object")
        _text(raw, where, "type")
        return _json_copy(raw, where)
    if hint is bool:
        if not isinstance(raw, bool):
            raise ContentError.at(where, "expected true or false")
        return raw
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ContentError.at(where, "expected an integer")
        return _in_range(raw, where)
    if hint is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ContentError.at(where, "expected a number")
        if not math.isfinite(raw):
            raise ContentError.at(where, "expected a finite number")
        return raw
    if hint is str:
        if not isinstance(raw, str):
            raise ContentError.at(where, "expected a string")
        return raw
    if isinstance(hint, type) and issubclass(hint, _Record):
        return _read(hint, raw, where)
    raise TypeError(f"{where}: no wire reading for {hint!r}")  # a bug in the schema


def _read_header(options: list[Any], raw: object, where: str) -> Any:
    """Text, or one of the content kinds in ``options`` (a header: image, video...)."""
    if isinstance(raw, str) and str in options:
        return raw
    kinds = tuple(o for o in options if isinstance(o, type) and issubclass(o, _Kind))
    names = ", ".join(k.kind for k in kinds)
    if not isinstance(raw, Mapping):
        raise ContentError.at(where, f"expected a string or an object of kind {names}")
    content = _read_content(raw, where)
    if not isinstance(content, kinds):
        raise ContentError.at(f"{where}.kind", f"expected text or one of {names}")
    return content
