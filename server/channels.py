"""The channels this server speaks: one adapter each (``adapters.base.ChannelAdapter``).

Adding a channel is adding its adapter here; webhooks (``server.webhooks``) and the
outbox (``server.outbound``) find it by the account's channel.
"""

from __future__ import annotations

from actors.routing.model import Channel
from adapters.base import ChannelAdapter
from adapters.email import EmailAdapter
from adapters.messenger import InstagramAdapter, MessengerAdapter
from adapters.telegram import TelegramAdapter
from adapters.viber import ViberAdapter
from adapters.voice import VoiceAdapter
from adapters.webchat import WebchatAdapter
from adapters.whatsapp.adapter import WhatsAppAdapter

__all__ = ["META_VERIFY", "adapters"]

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
