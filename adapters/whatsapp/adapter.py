"""WhatsApp as a :class:`adapters.base.ChannelAdapter`.

Account settings: ``app_secret`` (signs webhooks), ``verify_token`` (the
verification GET), ``access_token``, ``phone_number_id``, ``api_base_url``
(default ``https://graph.facebook.com/v21.0``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import ClassVar

import httpx

from adapters import meta
from adapters.base import (
    Headers,
    InboundItem,
    MediaStream,
    OutboundItem,
    ReceiptItem,
    WebhookResult,
)
from adapters.errors import ProviderError, SignatureError
from adapters.whatsapp.client import GraphClient
from adapters.whatsapp.inbound import parse_webhook_bytes
from adapters.whatsapp.outbound import build_message, check_window

__all__ = ["DEFAULT_API_BASE_URL", "WhatsAppAdapter"]

DEFAULT_API_BASE_URL = "https://graph.facebook.com/v21.0"


class WhatsAppAdapter:
    channel: ClassVar[str] = "whatsapp"

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str, str], GraphClient] = {}

    def verify(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> None:
        secret = settings.get("app_secret", "").encode()
        if not secret or not meta.verify_signature(secret, raw, headers.get("X-Hub-Signature-256")):
            raise SignatureError("X-Hub-Signature-256 does not match the body")

    def parse(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> WebhookResult:
        del headers, settings
        batch = parse_webhook_bytes(raw)
        messages = []
        for m in batch.messages:
            extra = {}
            if m.context is not None:
                extra["context"] = m.context.to_wire()
            if m.referral is not None:
                extra["referral"] = m.referral.to_wire()
            messages.append(
                InboundItem(
                    provider_message_id=m.wamid,
                    sender=m.customer,
                    timestamp=float(m.timestamp),
                    content=m.content,
                    profile_name=m.profile_name,
                    identities=(("phone", "+" + m.wa_id),) if m.wa_id else (),
                    extra=extra,
                )
            )
        receipts = tuple(
            ReceiptItem(
                s.wamid,
                s.status.value,
                float(s.timestamp),
                {"code": s.errors[0].code, "message": s.errors[0].title} if s.errors else None,
            )
            for s in batch.statuses
        )
        return WebhookResult(tuple(messages), receipts, ignored=batch.ignored)

    def check(self, item: OutboundItem, now: float) -> None:
        build_message(item.to or "0", item.content)
        check_window(item.content, last_customer_message_at=item.last_customer_message_at, now=now)

    async def send(
        self, item: OutboundItem, settings: Mapping[str, str], http: httpx.AsyncClient
    ) -> str:
        if not item.to:
            raise ProviderError(None, "no WhatsApp number to reply to",
                                retryable=False, permanent=True)  # fmt: skip
        # ``item.reply_to`` is the customer's last message: e-mail threads on it, but a
        # WhatsApp reply quotes a message only when the agent chose one (not yet offered)
        body = build_message(item.to, item.content)
        result = await self._client(settings, http).send(body, idempotency_key=item.message_id)
        return result.wamid

    @asynccontextmanager
    async def media(
        self, media_id: str, settings: Mapping[str, str], http: httpx.AsyncClient
    ) -> AsyncIterator[MediaStream]:
        async with self._client(settings, http).download_media(media_id) as download:
            yield MediaStream(download.mime_type, download.size, download.chunks)

    def _client(self, settings: Mapping[str, str], http: httpx.AsyncClient) -> GraphClient:
        base = settings.get("api_base_url", DEFAULT_API_BASE_URL)
        number = settings.get("phone_number_id", "")
        token = settings.get("access_token", "")
        client = self._clients.get((base, number, token))
        if client is None:
            client = GraphClient(base, number, token, http=http)
            self._clients[(base, number, token)] = client
        return client
