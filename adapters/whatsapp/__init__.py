"""WhatsApp Business Cloud API: webhooks in (``inbound``), Graph messages out
(``outbound`` builds them, ``client`` sends them).

Everything but ``client`` is pure: plain data in, plain data out.  The names below are
the public API; the modules hold the details.
"""

from __future__ import annotations

from adapters.whatsapp.client import GraphClient, MediaDownload, MediaInfo, RetryPolicy, SendResult
from adapters.whatsapp.errors import OutcomeUnknown, ProviderError, WebhookError, WindowClosed
from adapters.whatsapp.inbound import (
    DeliveryStatus,
    ErrorInfo,
    InboundMessage,
    StatusUpdate,
    WebhookBatch,
    parse_webhook,
    parse_webhook_bytes,
)
from adapters.whatsapp.outbound import SERVICE_WINDOW_S, build_message, check_window, window_open

__all__ = [
    "SERVICE_WINDOW_S",
    "DeliveryStatus",
    "ErrorInfo",
    "GraphClient",
    "InboundMessage",
    "MediaDownload",
    "MediaInfo",
    "OutcomeUnknown",
    "ProviderError",
    "RetryPolicy",
    "SendResult",
    "StatusUpdate",
    "WebhookBatch",
    "WebhookError",
    "WindowClosed",
    "build_message",
    "check_window",
    "parse_webhook",
    "parse_webhook_bytes",
    "window_open",
]
