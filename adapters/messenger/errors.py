"""Messenger's and Instagram's errors: the shared kinds of ``adapters.errors``, named right.

An agent reading why an Instagram reply failed must not be told about WhatsApp (the
default name of ``ProviderError``), so every error of this package is made here, with
the platform's name.
"""

from __future__ import annotations

from adapters.errors import WindowClosed
from adapters.http import Provider
from adapters.messenger.platform import Platform

__all__ = ["WINDOW_CODE", "graph", "window_closed"]

#: Graph's code for "permission denied"; with the platform's subcode: outside the window
WINDOW_CODE = 10


def graph(platform: Platform) -> Provider:
    """Graph as ``platform``'s client calls it: ``graph(platform).error(...)`` and the
    client's retries make errors that name the platform."""
    return Provider(platform.label, "Graph")


def window_closed(
    platform: Platform,
    message: str,
    *,
    code: int = WINDOW_CODE,
    subcode: int | None = None,
    http_status: int | None = None,
    trace_id: str | None = None,
) -> WindowClosed:
    """``WindowClosed`` with Graph's code and subcode for it (10 and the platform's)."""
    return WindowClosed(
        message,
        code=code,
        subcode=platform.window_subcode if subcode is None else subcode,
        http_status=http_status,
        trace_id=trace_id,
        provider=platform.label,
    )
