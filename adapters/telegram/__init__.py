"""Telegram bots: updates in (``inbound``), Bot API calls out (``outbound`` builds them,
``client`` makes them, ``limiter`` keeps them under Telegram's flood limits).

Everything but ``client`` and ``limiter.acquire`` is pure.  ``docs/channels/telegram.md``
tells how to set a bot up and what maps to what.
"""

from __future__ import annotations

from adapters.telegram.adapter import DEFAULT_API_BASE_URL, SECRET_HEADER, TelegramAdapter
from adapters.telegram.client import BotApiClient, FileInfo, RetryPolicy, SendResult
from adapters.telegram.inbound import parse_update, parse_update_bytes
from adapters.telegram.limiter import RateLimiter
from adapters.telegram.outbound import BotRequest, build_requests

__all__ = [
    "DEFAULT_API_BASE_URL",
    "SECRET_HEADER",
    "BotApiClient",
    "BotRequest",
    "FileInfo",
    "RateLimiter",
    "RetryPolicy",
    "SendResult",
    "TelegramAdapter",
    "build_requests",
    "parse_update",
    "parse_update_bytes",
]
