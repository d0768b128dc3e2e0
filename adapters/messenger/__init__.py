"""Facebook Messenger and Instagram DM: Meta's Messenger Platform, both ways.

``inbound`` reads webhooks, ``outbound`` renders Send API bodies and decides the
messaging window, ``client`` sends them, ``adapter`` joins them into the two channel
adapters.  Instagram is the same code with another :class:`Platform` value.
"""

from __future__ import annotations

from adapters.messenger.adapter import DEFAULT_API_BASE_URL, InstagramAdapter, MessengerAdapter
from adapters.messenger.client import RetryPolicy, SendClient, SendResult
from adapters.messenger.inbound import parse_webhook, parse_webhook_bytes
from adapters.messenger.outbound import Window, build_requests, window
from adapters.messenger.platform import INSTAGRAM, MESSENGER, Platform

__all__ = [
    "DEFAULT_API_BASE_URL",
    "INSTAGRAM",
    "MESSENGER",
    "InstagramAdapter",
    "MessengerAdapter",
    "Platform",
    "RetryPolicy",
    "SendClient",
    "SendResult",
    "Window",
    "build_requests",
    "parse_webhook",
    "parse_webhook_bytes",
    "window",
]
