"""What every channel adapter gives the server: verify, parse, send.

The server knows channels only through :class:`ChannelAdapter`.  An adapter is
pure where it can be: ``verify`` and ``parse`` take the exact raw bytes and
headers of a webhook plus the account's settings and return plain data;
``send`` is the one coroutine, talking to the provider over the given
``httpx.AsyncClient`` (tests point it at a local server speaking the provider's
format).

Errors (``adapters.errors``): ``SignatureError`` → 401, ``WebhookError`` → 400
(nothing recorded either way); ``ContentError`` → refused before sending;
``ProviderError`` (``retryable`` / ``permanent``), ``WindowClosed``,
``OutcomeUnknown`` from ``send``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx

from adapters.content import Content

__all__ = [
    "CallEvent",
    "ChannelAdapter",
    "Headers",
    "InboundFile",
    "InboundItem",
    "LinkMediaSource",
    "MediaSource",
    "MediaStream",
    "OutboundItem",
    "ReceiptItem",
    "WebhookResult",
]


@dataclass(frozen=True, slots=True)
class InboundItem:
    """One customer message, normalized."""

    provider_message_id: str  # unique per account; the dedupe key of provider retries
    sender: str  # the channel's id of the customer: where replies go
    timestamp: float  # epoch seconds, as the provider stamped it
    content: Content
    profile_name: str | None = None
    #: identity keys beyond the sender id, e.g. (("phone", "+905321112233"),)
    identities: tuple[tuple[str, str], ...] = ()
    #: beside the content, as wire maps: ``context`` (reply-to, forwarded), ``referral``,
    #: ``thread`` (what replies must carry to stay in the customer's thread: an e-mail's
    #: Message-ID, References, Subject); the conversation keeps the latest ``thread``
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReceiptItem:
    """The provider's word on a message we sent: delivered, read, failed..."""

    provider_message_id: str
    status: str  # sent | delivered | read | played | failed
    timestamp: float
    error: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CallEvent:
    """A voice call started or ended between a customer (by phone) and an agent."""

    event: str  # call.started | call.ended
    call_id: str
    phone: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class InboundFile:
    """A customer's file that came whole inside the webhook: no provider keeps it.

    The server keeps it in its blob store (``storage.blobs``, on disk, never in Redis)
    before it accepts the messages, which name it by ``media_id``.  The id must be a blob
    id (``eml_…``) derived from what identifies the file, so a provider's retry of the
    webhook names the same file instead of keeping a second copy.
    """

    media_id: str
    data: bytes = field(repr=False)
    mime_type: str = "application/octet-stream"
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """Everything one webhook POST carried."""

    messages: tuple[InboundItem, ...] = ()
    receipts: tuple[ReceiptItem, ...] = ()
    calls: tuple[CallEvent, ...] = ()
    #: what was skipped and why (echoes of our own messages, unknown events), for the logs
    ignored: tuple[str, ...] = ()
    #: a body to answer the webhook with instead of the default (a provider may want one)
    answer: Mapping[str, Any] | None = None
    #: files the messages name that came inside the POST (kept before the messages)
    files: tuple[InboundFile, ...] = ()


@dataclass(frozen=True, slots=True)
class OutboundItem:
    """One agent message to send."""

    message_id: str  # ours: unique, also the idempotency key of the send
    to: str  # the customer's channel id (InboundItem.sender of their messages)
    content: Content
    #: the provider id of the customer's last message (e-mail's In-Reply-To)
    reply_to: str | None = None
    #: the ``thread`` map the customer's last message carried (``InboundItem.extra["thread"]``,
    #: e.g. an e-mail's subject and References), for channels that thread replies
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: epoch seconds of the customer's last message, for messaging windows
    last_customer_message_at: float | None = None


@dataclass(frozen=True, slots=True)
class MediaStream:
    """A customer's media file on its way from the provider, never held whole."""

    mime_type: str
    size: int | None
    chunks: AsyncIterator[bytes]


@runtime_checkable
class MediaSource(Protocol):
    """An adapter whose provider keeps the customer's media (fetched on demand)."""

    def media(
        self, media_id: str, settings: Mapping[str, str], http: httpx.AsyncClient
    ) -> AbstractAsyncContextManager[MediaStream]:
        """Open the media file ``media_id`` of this account; ``ProviderError`` if gone."""
        ...


@runtime_checkable
class LinkMediaSource(Protocol):
    """An adapter whose provider hands the customer's media over as a URL (Messenger,
    Instagram, Viber, Mailgun's stored mail): the URL is kept in the message's content.

    The server's media endpoint calls this only with the ``url`` of a media object of one
    of the conversation's *inbound* messages (what the provider sent), never with one a
    client supplied; the adapter still refuses hosts outside its allow-list
    (``adapters.links``), and adds what the provider wants (credentials, limits).
    """

    def media_link(
        self,
        url: str,
        settings: Mapping[str, str],
        http: httpx.AsyncClient,
        *,
        mime_type: str | None = None,
    ) -> AbstractAsyncContextManager[MediaStream]:
        """Open the file at ``url``; ``ProviderError`` (``adapters.links``' kinds) if not."""
        ...


class Headers(Protocol):
    """Request headers, looked up case-insensitively (werkzeug's ``Headers`` and alike)."""

    def get(self, key: str, default: str | None = None) -> str | None: ...


class ChannelAdapter(Protocol):
    """One channel: how its webhooks are checked and read, and how messages go out."""

    channel: ClassVar[str]  # a value of actors.routing.model.Channel

    def verify(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> None:
        """Raise ``SignatureError`` unless the provider signed these exact bytes."""
        ...

    def parse(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> WebhookResult:
        """The webhook's messages, receipts and calls; ``WebhookError`` if malformed."""
        ...

    def check(self, item: OutboundItem, now: float) -> None:
        """Refuse (``ContentError``, ``WindowClosed``) what the provider would refuse."""
        ...

    async def send(
        self, item: OutboundItem, settings: Mapping[str, str], http: httpx.AsyncClient
    ) -> str:
        """Send; the provider's message id.  ``ProviderError`` and its kinds on failure."""
        ...
