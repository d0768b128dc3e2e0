"""The channels this server speaks: one adapter each (``adapters.base.ChannelAdapter``).

Adding a channel is adding its adapter here; webhooks (``server.webhooks``) and the
outbox (``server.outbound``) find it by the account's channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import ClassVar

import httpx
import trio

from actors.routing.model import Channel
from adapters.base import ChannelAdapter, Headers, OutboundItem, WebhookResult
from adapters.email import EmailAdapter
from adapters.messenger import InstagramAdapter, MessengerAdapter
from adapters.telegram import TelegramAdapter
from adapters.viber import ViberAdapter
from adapters.voice import VoiceAdapter
from adapters.webchat import WebchatAdapter
from adapters.whatsapp.adapter import WhatsAppAdapter

__all__ = ["META_VERIFY", "SentInLoop", "adapters", "outbound_adapters"]

#: channels whose providers verify the webhook URL with a GET (hub.challenge)
META_VERIFY = frozenset({Channel.WHATSAPP, Channel.MESSENGER, Channel.INSTAGRAM})


def adapters() -> dict[Channel, ChannelAdapter]:
    """A fresh adapter per channel (adapters cache provider clients; one set per server)."""
    webchat = WebchatAdapter()  # one for both: it keeps the customers' live sockets
    return {
        Channel.WEBCHAT: webchat,
        Channel.INAPP: webchat,
        Channel.WHATSAPP: WhatsAppAdapter(),
        Channel.MESSENGER: MessengerAdapter(),
        Channel.INSTAGRAM: InstagramAdapter(),
        Channel.TELEGRAM: TelegramAdapter(),
        Channel.VIBER: ViberAdapter(),
        Channel.EMAIL: EmailAdapter(),
        Channel.VOICE: VoiceAdapter(),
    }


def outbound_adapters(
    served: Mapping[Channel, ChannelAdapter], token: trio.lowlevel.TrioToken
) -> dict[Channel, ChannelAdapter]:
    """Adapters for the outbound thread (``server.outbound.OutboundThread``).

    Provider channels get instances of their own (their clients belong to that thread's
    loop); the web chat's sends go to the customers' sockets, which live in the server's
    loop (``token``), so they are carried out there.
    """
    own = adapters()
    for channel in (Channel.WEBCHAT, Channel.INAPP):
        own[channel] = SentInLoop(served[channel], token)
    return own


class SentInLoop:
    """An adapter whose ``send`` runs in another thread's trio loop; the rest as is."""

    channel: ClassVar[str] = Channel.WEBCHAT.value

    def __init__(self, adapter: ChannelAdapter, token: trio.lowlevel.TrioToken) -> None:
        self.adapter = adapter
        self.token = token

    def verify(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> None:
        self.adapter.verify(raw, headers, settings)

    def parse(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> WebhookResult:
        return self.adapter.parse(raw, headers, settings)

    def check(self, item: OutboundItem, now: float) -> None:
        self.adapter.check(item, now)

    async def send(
        self, item: OutboundItem, settings: Mapping[str, str], http: httpx.AsyncClient
    ) -> str:
        there = partial(trio.from_thread.run, self.adapter.send, item, settings, http,
                        trio_token=self.token)  # fmt: skip
        return await trio.to_thread.run_sync(there)
