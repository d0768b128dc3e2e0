"""Messenger and Instagram DM as :class:`adapters.base.ChannelAdapter`\\ s.

The two share everything but a :class:`~adapters.messenger.platform.Platform` value:
the same signed webhooks, the same Send API.  Account settings:

- ``app_secret`` — the Meta app's secret; signs every webhook (``X-Hub-Signature-256``).
- ``verify_token`` — the token chosen when subscribing the webhook URL (read by the
  server's verification GET, not here).
- ``access_token`` — the page access token (Instagram: of the page connected to the
  Instagram account, or an Instagram user token with ``api_base_url`` set to
  ``https://graph.instagram.com/v21.0``).
- ``page_id`` — optional: send through ``/{page_id}/messages`` instead of
  ``/me/messages``; on Messenger also the page whose webhook entries this account takes.
- ``instagram_account_id`` — optional, Instagram: the professional account whose
  webhook entries this account takes (entries of other accounts are ignored).
- ``api_base_url`` — default ``https://graph.facebook.com/v21.0``.
- ``human_agent`` — ``"false"`` when the app lacks Meta's Human Agent permission: no
  reply is then sent more than 24 hours after the customer's last message.
- ``media_hosts``, ``media_max_bytes``, ``media_timeout_s`` — what the server may fetch
  when an agent opens a customer's attachment (``adapters.links``; default hosts
  ``adapters.meta.MEDIA_HOSTS``).

Both are ``LinkMediaSource``\\ s: attachments arrive as CDN links, which the server's
media endpoint streams to agents (``media_link``).
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import ClassVar

import httpx
import trio

from adapters import meta
from adapters.base import Headers, MediaStream, OutboundItem, WebhookResult
from adapters.content import ContentError
from adapters.errors import SignatureError
from adapters.http import send_parts
from adapters.links import link_policy, open_link
from adapters.messenger.client import RetryPolicy, SendClient
from adapters.messenger.errors import graph
from adapters.messenger.inbound import parse_webhook_bytes
from adapters.messenger.outbound import build_requests, window
from adapters.messenger.platform import INSTAGRAM, MESSENGER, Platform

__all__ = ["DEFAULT_API_BASE_URL", "InstagramAdapter", "MessengerAdapter"]

DEFAULT_API_BASE_URL = "https://graph.facebook.com/v21.0"

_FALSE = frozenset({"false", "0", "no", "off"})


class _MetaMessagingAdapter:
    """What Messenger and Instagram share; each subclass names its platform."""

    channel: ClassVar[str]
    platform: ClassVar[Platform]

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = trio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self._clock = clock
        self._retry = retry
        self._sleep = sleep
        self._random = random
        self._clients: dict[tuple[str, str, str], SendClient] = {}

    def verify(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> None:
        secret = settings.get("app_secret", "").encode()
        if not meta.verify_signature(secret, raw, headers.get(meta.SIGNATURE_HEADER)):
            raise SignatureError(f"{meta.SIGNATURE_HEADER} does not match the body")

    def parse(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> WebhookResult:
        del headers
        account = settings.get(self.platform.account_key) or None
        return parse_webhook_bytes(raw, self.platform, account_id=account)

    def check(self, item: OutboundItem, now: float) -> None:
        build_requests(item.to or "0", item.content, self.platform)
        window(self.platform, item.last_customer_message_at, now)

    async def send(
        self, item: OutboundItem, settings: Mapping[str, str], http: httpx.AsyncClient
    ) -> str:
        platform = self.platform
        if not item.to:
            raise graph(platform).error(None, f"no {platform.label} user to reply to",
                                        retryable=False, permanent=True)  # fmt: skip
        human_agent = settings.get("human_agent", "true").strip().lower() not in _FALSE
        when = window(platform, item.last_customer_message_at, self._clock(),
                      human_agent=human_agent)  # fmt: skip
        try:
            requests = build_requests(item.to, item.content, platform, when)
        except ContentError as error:  # check() refuses it first; here it can only fail
            raise graph(platform).error(
                None, str(error), retryable=False, permanent=True
            ) from error
        client = self._client(settings, http)
        results = await send_parts(
            item.message_id, requests, lambda body, key: client.send(body, idempotency_key=key)
        )
        return results[0].message_id or f"sender_action:{item.message_id}"

    @asynccontextmanager
    async def media_link(
        self,
        url: str,
        settings: Mapping[str, str],
        http: httpx.AsyncClient,
        *,
        mime_type: str | None = None,
    ) -> AsyncIterator[MediaStream]:
        """A customer's attachment from Meta's CDN (public, signed links: no token sent)."""
        label = self.platform.label
        policy = link_policy(settings, meta.MEDIA_HOSTS, provider=label)
        async with open_link(url, http, policy, provider=label, mime_type=mime_type) as stream:
            yield stream

    def _client(self, settings: Mapping[str, str], http: httpx.AsyncClient) -> SendClient:
        base = settings.get("api_base_url") or DEFAULT_API_BASE_URL
        sender = settings.get("page_id") or "me"
        token = settings.get("access_token", "")
        client = self._clients.get((base, sender, token))
        if client is None:
            client = SendClient(
                self.platform,
                base,
                sender,
                token,
                http=http,
                retry=self._retry,
                sleep=self._sleep,
                random=self._random,
            )
            self._clients[(base, sender, token)] = client
        return client


class MessengerAdapter(_MetaMessagingAdapter):
    """Facebook Messenger: a page's conversations (webhook ``object`` = ``page``)."""

    channel: ClassVar[str] = "messenger"
    platform: ClassVar[Platform] = MESSENGER


class InstagramAdapter(_MetaMessagingAdapter):
    """Instagram Direct: a professional account's DMs (webhook ``object`` = ``instagram``)."""

    channel: ClassVar[str] = "instagram"
    platform: ClassVar[Platform] = INSTAGRAM
