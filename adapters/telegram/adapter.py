"""Telegram as a :class:`adapters.base.ChannelAdapter` (and a ``MediaSource``).

Account settings:

- ``bot_token`` — the token @BotFather gave the bot (``123456:ABC-...``).
- ``secret_token`` — the ``secret_token`` passed to ``setWebhook``; Telegram sends it in
  ``X-Telegram-Bot-Api-Secret-Token`` with every update.  Without it every update is
  refused (401): anyone who learns the webhook URL could otherwise post updates.
- ``api_base_url`` — default ``https://api.telegram.org`` (a local Bot API server, or a
  test server).
- ``location_button_text`` — the text of the button a location request shows (default
  ``📍 Send my location``); write it in the customers' language.
"""

from __future__ import annotations

import hmac
import random as _random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import ClassVar

import httpx
import trio

from adapters.base import Headers, MediaStream, OutboundItem, WebhookResult
from adapters.content import ContentError, Reaction
from adapters.errors import SignatureError
from adapters.http import send_parts
from adapters.telegram.client import BotApiClient, RetryPolicy, provider_error
from adapters.telegram.inbound import parse_update_bytes
from adapters.telegram.limiter import RateLimiter
from adapters.telegram.outbound import DEFAULT_LOCATION_BUTTON, build_requests

__all__ = ["DEFAULT_API_BASE_URL", "SECRET_HEADER", "TelegramAdapter"]

DEFAULT_API_BASE_URL = "https://api.telegram.org"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TelegramAdapter:
    """A Telegram bot: updates in through its webhook, Bot API calls out."""

    channel: ClassVar[str] = "telegram"

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        retry: RetryPolicy | None = None,
        limiter: Callable[[], RateLimiter] = RateLimiter,
        sleep: Callable[[float], Awaitable[None]] = trio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self._clock = clock
        self._retry = retry
        self._limiter = limiter
        self._sleep = sleep
        self._random = random
        self._clients: dict[tuple[str, str], BotApiClient] = {}

    def verify(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> None:
        del raw  # Telegram signs nothing: it proves itself with the secret we gave it
        secret = settings.get("secret_token", "")
        given = headers.get(SECRET_HEADER)
        if not secret or given is None or not hmac.compare_digest(_utf8(given), _utf8(secret)):
            raise SignatureError(f"{SECRET_HEADER} is missing or wrong")

    def parse(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> WebhookResult:
        del headers, settings
        return parse_update_bytes(raw, received_at=self._clock())

    def check(self, item: OutboundItem, now: float) -> None:
        del now  # Telegram has no messaging window: a bot may write whenever it likes
        build_requests(item.to or "0", item.content)

    async def send(
        self, item: OutboundItem, settings: Mapping[str, str], http: httpx.AsyncClient
    ) -> str:
        if not item.to:
            reason = "no Telegram chat to reply to"
            raise provider_error(None, reason, retryable=False, permanent=True)
        button = settings.get("location_button_text") or DEFAULT_LOCATION_BUTTON
        try:
            requests = build_requests(item.to, item.content, location_button=button)
        except ContentError as error:  # check() refuses it first; here it can only fail
            raise provider_error(None, str(error), retryable=False, permanent=True) from error
        client = self._client(settings, http)
        results = await send_parts(
            item.message_id, requests, lambda body, key: client.send(body, idempotency_key=key)
        )
        if isinstance(item.content, Reaction):  # no message of its own: an id of ours
            return f"reaction:{item.message_id}"
        return results[0].message_id

    @asynccontextmanager
    async def media(
        self, media_id: str, settings: Mapping[str, str], http: httpx.AsyncClient
    ) -> AsyncIterator[MediaStream]:
        """A customer's file by its ``file_id`` (``getFile``, then the download)."""
        async with self._client(settings, http).download(media_id) as download:
            yield MediaStream(download.mime_type, download.size, download.chunks)

    def _client(self, settings: Mapping[str, str], http: httpx.AsyncClient) -> BotApiClient:
        base = settings.get("api_base_url") or DEFAULT_API_BASE_URL
        token = settings.get("bot_token", "")
        client = self._clients.get((base, token))
        if client is None:
            client = BotApiClient(
                base,
                token,
                http=http,
                retry=self._retry,
                limiter=self._limiter(),
                sleep=self._sleep,
                random=self._random,
            )
            self._clients[(base, token)] = client
        return client


def _utf8(text: str) -> bytes:
    """Bytes for a constant-time compare; odd header bytes survive as surrogates."""
    return text.encode("utf-8", "surrogatepass")
