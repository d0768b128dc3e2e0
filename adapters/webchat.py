"""Web chat widget and in-app chat: one :class:`adapters.base.ChannelAdapter` for both.

The protocol, the widget and the settings are described in docs/channels/webchat.md.

How it works: customers do not reach us through a provider's webhooks but over a
websocket of our own (``/ws/webchat/{account}``, served by ``server.webchat``).  Their
side of the protocol is read here, as pure functions over plain data: ``hello`` and
``message.send`` frames are checked (:func:`read_hello`, :func:`customer_content`), a
customer's claimed e-mail and phone become identity keys (:func:`identities`), and a
conversation's log becomes the transcript the widget shows (:func:`transcript_messages`).

Agents' replies leave through the outbox like every channel's: :meth:`WebchatAdapter.send`
hands the message to the customer's open sockets, found in :class:`LiveSessions` (the
server attaches each socket there once the customer said hello).  A customer with no
socket open loses nothing: the message is in the conversation's log and is shown by the
next ``welcome``; ``send`` answers "sent" either way, with our own message id as the
provider id.  ``LiveSessions`` is used on the trio loop only (the outbox and the
websockets both run there), so it needs no lock.

Files customers attach are uploaded over HTTP and kept on disk by :class:`UploadStore`,
never in Redis; agents stream them through the REST media endpoint, which finds them
here (:meth:`WebchatAdapter.media`).

Account settings (all optional): ``session_ttl_days`` (30), ``upload_max_bytes``
(3 MiB, never more than the server's request limit), ``allowed_origins`` (comma
separated; empty: any page may embed the widget), ``default_region`` (for national
phone numbers, e.g. ``TR``), ``identity_secret`` (when set, e-mail and phone link the
customer to other channels only if the page signed them: ``identity_hash``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol

import httpx
import phonenumbers
import trio

from adapters.base import Headers, MediaStream, OutboundItem, WebhookResult
from adapters.content import Content, ContentError, content_from_wire
from adapters.errors import ProviderError, SignatureError, WebhookError
from storage.blobs import BlobStore, BlobTooLarge, read_chunks

__all__ = [
    "AGENT_KINDS",
    "CUSTOMER_KINDS",
    "FrameError",
    "Hello",
    "LiveSessions",
    "NoWebhooks",
    "Upload",
    "UploadStore",
    "UploadTooLarge",
    "WebchatAdapter",
    "WebchatSocket",
    "client_id_of",
    "customer_content",
    "identities",
    "identity_hash",
    "normalize_phone",
    "outbound_frame",
    "provider_message_id",
    "read_hello",
    "transcript_messages",
]

#: what a customer may send: what a browser or app can produce, answers to the agent's
#: buttons and lists included.  Media only as an upload of their own (``media_id``).
CUSTOMER_KINDS = frozenset({
    ("text", None), ("image", None), ("video", None), ("audio", None), ("document", None),
    ("location", None), ("interactive", "button_reply"), ("interactive", "list_reply"),
})  # fmt: skip
#: what the widget shows; anything else an agent sends is refused before it is queued
AGENT_KINDS = frozenset({
    ("text", None), ("image", None), ("video", None), ("audio", None), ("document", None),
    ("sticker", None), ("location", None), ("contacts", None),
    ("interactive", "buttons"), ("interactive", "list"),
})  # fmt: skip
TEXT_MAX = 4096
CLIENT_ID_MAX = 100
NAME_MAX = 200
TOKEN_MAX = 200
DEFAULT_SESSION_TTL_DAYS = 30
DEFAULT_UPLOAD_MAX_BYTES = 3 * 1024 * 1024
#: uploads a browser may show inline; every other type is served as an attachment
INLINE_TYPES = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/webp",
    "audio/mpeg", "audio/ogg", "audio/aac", "audio/mp4", "audio/webm", "audio/wav",
    "video/mp4", "video/webm", "video/quicktime", "application/pdf",
})  # fmt: skip

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_UPLOAD_ID = re.compile(r"^wcu_[A-Za-z0-9_-]{22}$")


class FrameError(ValueError):
    """A customer's frame that cannot be taken; ``code`` is what the error frame carries."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NoWebhooks(WebhookError, SignatureError):
    """Webchat has no webhooks.  Both kinds, so the webhook path refuses it at any step
    (``verify`` maps ``SignatureError`` to 401, ``parse`` maps ``WebhookError`` to 400)."""


# -- the customer's side of the protocol -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """What a customer says first: who they are, or the session they come back to."""

    resume: str | None = None
    name: str | None = None
    email: str | None = None  # lowercased
    phone: str | None = None  # E.164
    identity_hash: str | None = None


def read_hello(frame: Mapping[str, Any], settings: Mapping[str, str]) -> Hello:
    """The ``hello`` frame's fields, checked and normalized; ``FrameError`` names the bad one."""
    resume = _optional_text(frame, "resume", TOKEN_MAX)
    name = _optional_text(frame, "name", NAME_MAX)
    email = _optional_text(frame, "email", 254)
    if email is not None:
        email = email.strip().lower()
        if not _EMAIL.match(email):
            raise FrameError("invalid_field", f"email: {email!r} is not an e-mail address")
    phone = _optional_text(frame, "phone", 40)
    if phone is not None:
        phone = normalize_phone(phone, (settings.get("default_region") or "").upper() or None)
    signed = _optional_text(frame, "identity_hash", 128)
    return Hello(resume, (name and name.strip()) or None, email, phone, signed)


def normalize_phone(phone: str, default_region: str | None) -> str:
    """``phone`` in E.164, the form every channel's phone identity takes."""
    try:
        number = phonenumbers.parse(phone, default_region)
    except phonenumbers.NumberParseException:
        raise FrameError("invalid_field", f"phone: {phone!r} is not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise FrameError("invalid_field", f"phone: {phone!r} has the wrong length")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def identity_hash(secret: str, email: str | None, phone: str | None) -> str:
    """What a page signs to vouch for its signed-in user: HMAC-SHA256 of ``email|phone``."""
    message = f"{email or ''}|{phone or ''}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def identities(hello: Hello, settings: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The identity keys that link this customer to their other channels.

    Anybody can type an address into a web form, and a key links the visitor to that
    customer's history; an account with ``identity_secret`` therefore takes them only
    when the page (which knows its signed-in user) signed them.
    """
    keys = tuple((k, v) for k, v in (("email", hello.email), ("phone", hello.phone)) if v)
    secret = settings.get("identity_secret", "")
    if not keys or not secret:
        return keys
    expected = identity_hash(secret, hello.email, hello.phone)
    if hello.identity_hash is None or not hmac.compare_digest(expected, hello.identity_hash):
        return ()
    return keys


def client_id_of(frame: Mapping[str, Any]) -> str:
    """The customer's idempotency key of one message (printable, at most 100 characters)."""
    value = frame.get("client_id")
    if not isinstance(value, str) or not value.strip():
        raise FrameError("missing_field", "client_id must be a non-empty string")
    if len(value) > CLIENT_ID_MAX or not value.isprintable():
        limit = f"at most {CLIENT_ID_MAX} printable characters"
        raise FrameError("invalid_field", f"client_id: {limit}")
    return value


def provider_message_id(customer_ref: str, client_id: str) -> str:
    """The dedupe key of a customer message: a resend after a reconnect is a repeat."""
    return f"{customer_ref}:{client_id}"


def customer_content(raw: object) -> Content:
    """A customer's message content, checked; media must be an upload (``media_id``)."""
    if not isinstance(raw, dict):
        raise FrameError("invalid_content", "content must be an object with a 'kind'")
    try:
        content = content_from_wire(raw)
    except ContentError as error:
        raise FrameError("invalid_content", str(error)) from None
    kind = (content.kind, content.type)
    if kind not in CUSTOMER_KINDS:
        shown = content.kind if content.type is None else f"{content.kind}/{content.type}"
        raise FrameError("invalid_content", f"kind: {shown} cannot be sent from the chat")
    body = getattr(content, "body", None)
    if isinstance(body, str) and (not body.strip() or len(body) > TEXT_MAX):
        raise FrameError("invalid_content", f"body: 1 to {TEXT_MAX} characters")
    if content.kind in ("image", "video", "audio", "document"):
        media_id = getattr(content, "media_id", None)
        if getattr(content, "url", None) is not None or not isinstance(media_id, str):
            # a link typed by a visitor would be loaded by the agent's browser
            raise FrameError("invalid_content", "media: upload the file, then send its media_id")
    return content


def transcript_messages(
    entries: Iterable[Mapping[str, Any]], agent_name: Callable[[str], str]
) -> list[dict[str, Any]]:
    """The messages of a conversation's log as the customer sees them, oldest first."""
    messages: list[dict[str, Any]] = []
    for entry in entries:
        if entry.get("type") != "message" or not isinstance(entry.get("content"), dict):
            continue
        at = entry.get("timestamp", entry.get("at"))
        if entry.get("direction") == "in":
            pid = str(entry.get("provider_message_id") or "")
            messages.append({
                "message_id": pid, "client_id": pid.partition(":")[2] or None,
                "direction": "in", "content": entry["content"], "at": at,
            })  # fmt: skip
        elif entry.get("direction") == "out":
            message = {"message_id": entry.get("message_id"), "direction": "out",
                       "content": entry["content"], "at": at}  # fmt: skip
            agent = entry.get("agent_id")
            if isinstance(agent, str):
                message["agent"] = agent_name(agent)
            messages.append(message)
    return messages


def outbound_frame(item: OutboundItem, at: float) -> dict[str, Any]:
    """The ``message`` frame of an agent's reply."""
    return {"type": "message", "message_id": item.message_id, "direction": "out",
            "content": item.content.to_wire(), "at": at}  # fmt: skip


def _optional_text(frame: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = frame.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise FrameError("invalid_field", f"{name}: a string of at most {limit} characters")
    return value


# -- live sockets ------------------------------------------------------------------------


class WebchatSocket(Protocol):
    """One open customer socket, as the server offers it frames."""

    def offer(self, frame: Mapping[str, Any]) -> bool:
        """Queue ``frame`` for the customer without waiting; False if it was dropped."""
        ...


class LiveSessions:
    """The customers' open sockets, by customer ref (several tabs: several sockets)."""

    def __init__(self) -> None:
        self._sockets: dict[str, list[WebchatSocket]] = {}

    def attach(self, customer_ref: str, socket: WebchatSocket) -> None:
        self._sockets.setdefault(customer_ref, []).append(socket)

    def detach(self, customer_ref: str, socket: WebchatSocket) -> None:
        sockets = self._sockets.get(customer_ref, [])
        if socket in sockets:
            sockets.remove(socket)
        if not sockets:
            self._sockets.pop(customer_ref, None)

    def sockets(self, customer_ref: str) -> tuple[WebchatSocket, ...]:
        return tuple(self._sockets.get(customer_ref, ()))

    def push(
        self, customer_ref: str, frame: Mapping[str, Any], *, skip: WebchatSocket | None = None
    ) -> int:
        """Offer ``frame`` to every socket of the customer; how many took it."""
        return sum(s.offer(frame) for s in self.sockets(customer_ref) if s is not skip)

    def __len__(self) -> int:
        return sum(len(s) for s in self._sockets.values())


# -- uploads -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Upload:
    """A file a customer attached, kept on the server's disk."""

    media_id: str
    account: str
    customer_ref: str
    filename: str
    mime_type: str
    size: int
    sha256: str

    @property
    def kind(self) -> str:
        top = self.mime_type.partition("/")[0]
        return top if top in ("image", "video", "audio") else "document"

    @property
    def inline(self) -> bool:
        return self.mime_type in INLINE_TYPES

    def content(self, caption: str | None = None) -> dict[str, Any]:
        """The wire content that sends this file (what the widget puts in ``message.send``)."""
        wire: dict[str, Any] = {"kind": self.kind, "media_id": self.media_id,
                                "mime_type": self.mime_type, "sha256": self.sha256}  # fmt: skip
        if self.kind == "document":
            wire["filename"] = self.filename
        if caption and self.kind != "audio":
            wire["caption"] = caption
        return wire


class UploadTooLarge(BlobTooLarge):
    """An upload over its account's limit (nothing is kept)."""


class UploadStore:
    """Customers' files in the server's blob store (``storage.blobs``): ``{media_id}`` and
    ``{media_id}.json``, ids ``wcu_`` + 128 random bits.

    Blocking file operations: the server calls them in a worker thread.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = BlobStore(root)

    def save(
        self, source: IO[bytes], *, account: str, customer_ref: str, filename: str,
        mime_type: str, limit: int,
    ) -> Upload:  # fmt: skip
        """Copy ``source`` in (at most ``limit`` bytes, else ``UploadTooLarge``)."""
        media_id = f"wcu_{secrets.token_urlsafe(16)}"
        record = {"account": account, "customer_ref": customer_ref,
                  "filename": _safe_filename(filename), "mime_type": mime_type}  # fmt: skip
        try:
            kept = self.blobs.write(media_id, source, record, limit=limit)
        except BlobTooLarge as error:
            raise UploadTooLarge(str(error)) from None
        upload = _upload(kept)
        assert upload is not None  # written just now, with every field
        return upload

    def find(self, media_id: str) -> Upload | None:
        if not _UPLOAD_ID.match(media_id):
            return None  # never a path outside the directory, nor another kind of blob
        record = self.blobs.record(media_id)
        return None if record is None else _upload(record)

    def path(self, upload: Upload) -> Path:
        return self.blobs.path(upload.media_id)

    def delete(self, media_id: str) -> None:
        if _UPLOAD_ID.match(media_id):
            self.blobs.delete(media_id)


def _upload(record: Mapping[str, Any]) -> Upload | None:
    try:
        return Upload(**{f.name: record[f.name] for f in fields(Upload)})
    except (KeyError, TypeError):
        return None


def _safe_filename(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|:*?')
    return cleaned.strip()[:200] or "file"


# -- the adapter ---------------------------------------------------------------------------


class WebchatAdapter:
    """Web chat and in-app chat: the same socket protocol, one adapter for both channels."""

    channel: ClassVar[str] = "webchat"

    def __init__(
        self, sessions: LiveSessions | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.sessions = sessions if sessions is not None else LiveSessions()
        #: where uploads are kept; set by the server (``server.webchat``) from its data dir
        self.uploads: UploadStore | None = None
        self.clock = clock

    def verify(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> None:
        del raw, headers, settings
        raise NoWebhooks("webchat has no webhooks: customers connect to /ws/webchat/{account}")

    def parse(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> WebhookResult:
        del raw, headers, settings
        raise NoWebhooks("webchat has no webhooks: customers connect to /ws/webchat/{account}")

    def check(self, item: OutboundItem, now: float) -> None:
        del now
        content = item.content
        if (content.kind, content.type) not in AGENT_KINDS:
            shown = content.kind if content.type is None else f"{content.kind}/{content.type}"
            raise ContentError.at("kind", f"{shown} cannot be shown in the web chat")
        body = getattr(content, "body", None)
        if isinstance(body, str) and len(body) > TEXT_MAX:
            raise ContentError.at("body", f"at most {TEXT_MAX} characters")

    async def send(
        self, item: OutboundItem, settings: Mapping[str, str], http: httpx.AsyncClient
    ) -> str:
        del settings, http
        self.sessions.push(item.to, outbound_frame(item, self.clock()))
        return item.message_id  # ours is unique: receipts (read...) can find the message

    def media(
        self, media_id: str, settings: Mapping[str, str], http: httpx.AsyncClient
    ) -> contextlib.AbstractAsyncContextManager[MediaStream]:
        del settings, http
        return self._open(media_id)

    @contextlib.asynccontextmanager
    async def _open(self, media_id: str) -> AsyncIterator[MediaStream]:
        store = self.uploads
        upload = None if store is None else await trio.to_thread.run_sync(store.find, media_id)
        if store is None or upload is None:
            raise ProviderError(None, f"no upload {media_id}", retryable=False, permanent=True)
        chunks = read_chunks(store.path(upload))
        try:
            yield MediaStream(upload.mime_type, upload.size, chunks)
        finally:
            await chunks.aclose()
