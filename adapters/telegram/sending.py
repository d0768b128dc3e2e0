"""What a provider client needs to send without double messages, whatever the provider.

Channel-neutral (Telegram's and Viber's clients both use it; it could live in
``adapters/`` beside ``errors``):

- ``OnceByKey`` runs a send at most once per idempotency key for the client's lifetime:
  a second send with the same key gets the first one's result (waiting for it while it
  is in flight).  When the first one's fate is unknown — ``OutcomeUnknown``, or a
  cancellation mid-send — the key raises ``OutcomeUnknown`` again, so only a deliberate
  new key resends.  A send that definitely failed (any other ``ProviderError``) is
  forgotten, so the same key may try again.
- ``named`` rewrites a ``ProviderError``'s text with the provider's name
  (``ProviderError`` itself says "WhatsApp error", the first channel).
- ``NOT_SENT_RETRY`` / ``NOT_SENT_FINAL``: the httpx failures that happen before any
  byte of the request left, so retrying them cannot deliver a message twice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import httpx
import trio

from adapters.errors import OutcomeUnknown, ProviderError

__all__ = [
    "NOT_SENT_FINAL",
    "NOT_SENT_RETRY",
    "OnceByKey",
    "named",
    "retry_after_header",
    "retry_status",
]

T = TypeVar("T")
E = TypeVar("E", bound=ProviderError)

# Failures that happen before any byte of the request is sent.
NOT_SENT_RETRY = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
NOT_SENT_FINAL = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)


def named(error: E, label: str) -> E:
    """``error`` with a text that names the provider: ``Telegram error 403: ...``."""
    code = f" {error.code}" if error.code is not None else ""
    error.args = (f"{label} error{code}: {error.message}",)
    return error


def retry_status(status: int) -> bool:
    """HTTP statuses after which the provider provably did not act: try again later."""
    return status == 429 or status >= 500


def retry_after_header(response: httpx.Response) -> float:
    """Seconds from a ``Retry-After: <seconds>`` header, 0 when absent or a date."""
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return 0.0
    return seconds if seconds > 0.0 else 0.0


class OnceByKey(Generic[T]):
    """Sends at most once per idempotency key (see the module's docstring).

    ``unknown(key)`` makes the ``OutcomeUnknown`` raised for a key whose first send may
    have gone out; the outcomes of the last ``remember`` keys are kept.
    """

    def __init__(self, unknown: Callable[[str], OutcomeUnknown], *, remember: int = 10_000) -> None:
        self._unknown = unknown
        self._remember = remember
        self._done: OrderedDict[str, T | None] = OrderedDict()  # None: outcome unknown
        self._in_flight: dict[str, trio.Event] = {}

    async def run(self, key: str | None, send: Callable[[], Awaitable[T]]) -> T:
        """``await send()`` unless ``key`` was sent already; its result either way."""
        if key is None:
            return await send()
        while True:
            if key in self._done:
                result = self._done[key]
                if result is None:
                    raise self._unknown(key)
                return result
            event = self._in_flight.get(key)
            if event is None:
                break
            await event.wait()
        event = self._in_flight[key] = trio.Event()
        try:
            result = await send()
        except OutcomeUnknown:
            self._record(key, None)
            raise
        except ProviderError:
            raise  # definitely not sent: the key may be used again
        except BaseException:
            self._record(key, None)  # cancelled mid-send: it may have gone out
            raise
        else:
            self._record(key, result)
            return result
        finally:
            del self._in_flight[key]
            event.set()

    def _record(self, key: str, result: T | None) -> None:
        self._done[key] = result
        while len(self._done) > self._remember:
            self._done.popitem(last=False)
