"""WhatsApp's errors: the shared ones of ``adapters.errors`` (re-exported here)."""

from __future__ import annotations

from adapters.errors import (
    RE_ENGAGEMENT,
    OutcomeUnknown,
    ProviderError,
    SignatureError,
    WebhookError,
    WindowClosed,
)

__all__ = [
    "RE_ENGAGEMENT",
    "OutcomeUnknown",
    "ProviderError",
    "SignatureError",
    "WebhookError",
    "WindowClosed",
]
