"""Viber as a :class:`adapters.base.ChannelAdapter`.

Account settings:

- ``auth_token`` — the bot's token (Viber Admin Panel / Partners): signs every callback
  (``X-Viber-Content-Signature``) and authorizes every send.  Without it every callback
  is refused (401).
- ``sender_name`` — the bot's name shown on each message (≤ 28 characters; required to
  send).  ``sender_avatar`` — optional URL of its picture.
- ``api_base_url`` — default ``https://chatapi.viber.com``.
- ``location_button_text`` — the text of the button a location request shows (default
  ``📍 Send my location``).
- ``welcome_message`` — optional: the text shown to a customer who opens the chat
  (the answer to ``conversation_started``).
- ``media_hosts``, ``media_max_bytes``, ``media_timeout_s`` — what the server may fetch
  when an agent opens a customer's picture, video or file (``adapters.links``; default
  hosts :data:`MEDIA_HOSTS`).

A ``LinkMediaSource``: customers' files arrive as links to Viber's media servers, which
the server's media endpoint streams to agents (``media_link``).
"""

from __future__ import annotations

import random as _random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import ClassVar

import httpx
import trio

from adapters.base import Headers, MediaStream, OutboundItem, WebhookResult
from adapters.content import ContentError, Wire
from adapters.errors import SignatureError
from adapters.http import send_parts
from adapters.links import link_policy, open_link
from adapters.viber.client import RetryPolicy, ViberClient, provider_error
from adapters.viber.inbound import parse_event_bytes
from adapters.viber.outbound import (
    DEFAULT_LOCATION_BUTTON,
    Sender,
    build_messages,
    welcome_message,
)
from adapters.viber.signing import SIGNATURE_HEADER, verify_signature

__all__ = ["DEFAULT_API_BASE_URL", "MEDIA_HOSTS", "ViberAdapter"]

DEFAULT_API_BASE_URL = "https://chatapi.viber.com"
#: Viber's media servers (``dl-media.viber.com``), over https
MEDIA_HOSTS = ("viber.com",)

#: a stand-in for ``check``, which has no settings: the real name is checked at send
_CHECK_SENDER = Sender("Switchboard")


class ViberAdapter:
    """A Viber bot: callbacks in through its webhook, ``send_message`` out."""

    channel: ClassVar[str] = "viber"

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = trio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self._retry = retry
        self._sleep = sleep
        self._random = random
        self._clients: dict[tuple[str, str], ViberClient] = {}

    def verify(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> None:
        token = settings.get("auth_token", "")
        if not verify_signature(token, raw, headers.get(SIGNATURE_HEADER)):
            raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")

    def parse(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> WebhookResult:
        del headers
        return parse_event_bytes(raw, welcome=_welcome(settings))

    def check(self, item: OutboundItem, now: float) -> None:
        del now  # Viber has no messaging window (a customer who unsubscribed is refused)
        build_messages(item.to or "0", item.content, sender=_CHECK_SENDER)

    async def send(
        self, item: OutboundItem, settings: Mapping[str, str], http: httpx.AsyncClient
    ) -> str:
        if not item.to:
            reason = "no Viber user to reply to"
            raise provider_error(None, reason, retryable=False, permanent=True)
        sender = _sender(settings)
        try:
            sender.wire()
        except ContentError as error:  # the account's settings: an operator must fix them
            message = f"account setting {error}"
            raise provider_error(None, message, retryable=False, permanent=False) from None
        button = settings.get("location_button_text") or DEFAULT_LOCATION_BUTTON
        try:
            bodies = build_messages(item.to, item.content, sender=sender, location_button=button)
        except ContentError as error:  # check() refuses it first; here it can only fail
            raise provider_error(None, str(error), retryable=False, permanent=True) from error
        client = self._client(settings, http)
        results = await send_parts(
            item.message_id, bodies, lambda body, key: client.send(body, idempotency_key=key)
        )
        return results[0].message_token

    @asynccontextmanager
    async def media_link(
        self,
        url: str,
        settings: Mapping[str, str],
        http: httpx.AsyncClient,
        *,
        mime_type: str | None = None,
    ) -> AsyncIterator[MediaStream]:
        """A customer's file from Viber's media server (signed links: no token sent)."""
        policy = link_policy(settings, MEDIA_HOSTS, provider="Viber")
        async with open_link(url, http, policy, provider="Viber", mime_type=mime_type) as stream:
            yield stream

    def _client(self, settings: Mapping[str, str], http: httpx.AsyncClient) -> ViberClient:
        base = settings.get("api_base_url") or DEFAULT_API_BASE_URL
        token = settings.get("auth_token", "")
        client = self._clients.get((base, token))
        if client is None:
            client = ViberClient(
                base, token, http=http, retry=self._retry, sleep=self._sleep, random=self._random
            )
            self._clients[(base, token)] = client
        return client


def _sender(settings: Mapping[str, str]) -> Sender:
    return Sender(settings.get("sender_name", ""), settings.get("sender_avatar") or None)


def _welcome(settings: Mapping[str, str]) -> Wire | None:
    """The welcome message body, when the account has one it can send."""
    text = settings.get("welcome_message")
    if not text:
        return None
    try:
        return welcome_message(text, _sender(settings))
    except ContentError:  # no usable sender name: no welcome (sending reports the setting)
        return None
