"""Viber bots: callbacks in (``inbound``, signed as ``signing`` checks), messages out
(``outbound`` builds them, ``client`` sends them).

Everything but ``client`` is pure.  ``docs/channels/viber.md`` tells how to set a bot up
and what maps to what.
"""

from __future__ import annotations

from adapters.viber.adapter import DEFAULT_API_BASE_URL, ViberAdapter
from adapters.viber.client import RetryPolicy, SendResult, ViberClient
from adapters.viber.inbound import parse_event, parse_event_bytes
from adapters.viber.outbound import Sender, build_messages, choice_from_tracking, welcome_message
from adapters.viber.signing import SIGNATURE_HEADER, sign, verify_signature

__all__ = [
    "DEFAULT_API_BASE_URL",
    "SIGNATURE_HEADER",
    "RetryPolicy",
    "SendResult",
    "Sender",
    "ViberAdapter",
    "ViberClient",
    "build_messages",
    "choice_from_tracking",
    "parse_event",
    "parse_event_bytes",
    "sign",
    "verify_signature",
    "welcome_message",
]
