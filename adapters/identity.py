"""Customer identities that are the same on every channel: a phone number in E.164.

A customer who shares their own number on Telegram or Viber is the same customer who
writes on WhatsApp or calls; routing can only join them up when every channel writes the
number the same way, so the cleaning lives here, not in one channel's package.
"""

from __future__ import annotations

import re

__all__ = ["phone_identity", "with_plus"]

_PUNCTUATION = re.compile(r"[\s\-().\u00a0/]")


def with_plus(phone: str) -> str:
    """Providers write numbers without the plus (``905321234567``): put it back.

    Spaces, dashes, dots, slashes and brackets are dropped, a ``00`` prefix becomes
    ``+``; anything that is still not a number is returned as it came.
    """
    text = _PUNCTUATION.sub("", phone.strip())
    if text.startswith("00"):
        text = text[2:]
    return text if text.startswith("+") else f"+{text}" if text.isdigit() else phone


def phone_identity(phone: str) -> tuple[str, str] | None:
    """``("phone", "+905321234567")`` from a number as a provider wrote it, or None."""
    text = with_plus(phone)
    digits = text[1:]
    if not text.startswith("+") or not digits.isdigit() or not 7 <= len(digits) <= 15:
        return None
    return ("phone", text)
