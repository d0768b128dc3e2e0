"""Messenger's and Instagram's errors: the shared kinds of ``adapters.errors``, named right.

``ProviderError`` writes its message as "WhatsApp error <code>: ..." (WhatsApp was the
first channel); an agent reading why an Instagram reply failed must not be told about
WhatsApp, so every error of this package is made here, with the platform's name.
"""

from __future__ import annotations

from typing import TypeVar

from adapters.errors import OutcomeUnknown, ProviderError, WindowClosed
from adapters.messenger.platform import Platform

__all__ = ["WINDOW_CODE", "outcome_unknown", "provider_error", "window_closed"]

#: Graph's code for "permission denied"; with the platform's subcode: outside the window
WINDOW_CODE = 10

E = TypeVar("E", bound=ProviderError)


def _named(error: E, platform: Platform) -> E:
    code = f" {error.code}" if error.code is not None else ""
    error.args = (f"{platform.label} error{code}: {error.message}",)
    return error


def provider_error(
    platform: Platform,
    code: int | None,
    message: str,
    *,
    retryable: bool,
    permanent: bool,
    http_status: int | None = None,
    subcode: int | None = None,
    trace_id: str | None = None,
) -> ProviderError:
    """A ``ProviderError`` whose text names the platform."""
    error = ProviderError(
        code,
        message,
        retryable=retryable,
        permanent=permanent,
        http_status=http_status,
        subcode=subcode,
        trace_id=trace_id,
    )
    return _named(error, platform)


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
    error = WindowClosed(message, http_status=http_status, trace_id=trace_id)
    error.code = code
    error.subcode = platform.window_subcode if subcode is None else subcode
    return _named(error, platform)


def outcome_unknown(platform: Platform, message: str) -> OutcomeUnknown:
    return _named(OutcomeUnknown(message), platform)
