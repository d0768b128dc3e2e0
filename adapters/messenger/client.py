"""Send API calls for one page (Messenger) or Instagram account: ``POST /{id}/messages``.

``{id}`` is the page id when the account's settings give one, else ``me`` (the page or
Instagram account the token belongs to).  The token goes in an ``Authorization: Bearer``
header, which Graph accepts like the ``access_token`` query parameter, so it never
appears in logged URLs.

How sending avoids double messages (the customer must never get the same reply twice):

- A call is retried, with exponential backoff and jitter, only when Meta *provably did
  not act on it*: the connection could not be made (connect error, connect or pool
  time-out — no byte of the request left), or Graph answered 429 / 5xx.
- Once the request may have been sent — a read time-out, a connection dropped while
  waiting for the answer — resending could deliver the message twice, so ``send`` raises
  ``OutcomeUnknown`` instead.
- Any other 4xx is Graph's final word: ``ProviderError`` with Graph's code.  Rate limits
  (codes 4, 17, 32, 613, 80006) and temporary send failures (1, 2, 1200) are
  ``retryable`` (later, by the caller); code 10 with the "outside the allowed window"
  subcode (2018278, Instagram 2534022) is ``WindowClosed``; token and permission problems
  (401/403, codes 3, 10, 190, 200, 230, 368) need an operator, so they are neither
  retryable nor permanent; anything else (100 / 2018001 "no matching user", 551 "person
  unavailable", invalid parameters) is ``permanent``.
- ``send(..., idempotency_key=k)``: within this client's lifetime a second send with the
  same key returns the first one's result (waiting if it is in flight); after an
  ``OutcomeUnknown`` or a cancellation mid-send it raises ``OutcomeUnknown`` again.  A
  send that definitely failed is forgotten, so the same key may try again.
"""

from __future__ import annotations

import random as _random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import trio

from adapters.errors import OutcomeUnknown, ProviderError
from adapters.messenger.errors import WINDOW_CODE, outcome_unknown, provider_error, window_closed
from adapters.messenger.platform import Platform
from adapters.whatsapp.client import RetryPolicy

__all__ = ["RetryPolicy", "SendClient", "SendResult"]

_THROTTLED = frozenset({4, 17, 32, 613, 80006})
_TRANSIENT = frozenset({1, 2, 1200})
_SET_UP = frozenset({3, 10, 190, 200, 230, 368})
_WINDOW_SUBCODES = frozenset({2018278, 2534022})

# Failures that happen before any byte of the request is sent.
_NOT_SENT_RETRY = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_NOT_SENT_FINAL = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)


@dataclass(frozen=True, slots=True)
class SendResult:
    """Meta accepted the request; ``message_id`` is empty for a sender action (a reaction)."""

    message_id: str
    recipient_id: str | None = None
    attempts: int = 1


class SendClient:
    """Calls the Send API for one page or Instagram account through a shared httpx client.

    Runs on trio.  ``base_url`` includes the Graph version
    (``https://graph.facebook.com/v21.0``); ``sleep`` and ``random`` are injectable so
    tests take no real time; the outcomes of the last ``remember`` keys are kept.
    """

    def __init__(
        self,
        platform: Platform,
        base_url: str,
        sender_id: str,
        access_token: str,
        *,
        http: httpx.AsyncClient,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = trio.sleep,
        random: Callable[[], float] = _random.random,
        remember: int = 10_000,
    ) -> None:
        self._platform = platform
        self._url = f"{base_url.rstrip('/')}/{sender_id or 'me'}/messages"
        self._headers = {"Authorization": f"Bearer {access_token}"}
        self._http = http
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._random = random
        self._remember = remember
        self._done: OrderedDict[str, SendResult | None] = OrderedDict()  # None: unknown
        self._in_flight: dict[str, trio.Event] = {}

    async def send(
        self, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> SendResult:
        """POST one ``build_requests`` body; see the module's docstring for the failures."""
        if idempotency_key is None:
            return await self._deliver(body)
        key = idempotency_key
        while True:
            if key in self._done:
                result = self._done[key]
                if result is None:
                    raise outcome_unknown(
                        self._platform,
                        f"an earlier send with idempotency key {key!r} may have been delivered",
                    )
                return result
            event = self._in_flight.get(key)
            if event is None:
                break
            await event.wait()
        event = self._in_flight[key] = trio.Event()
        try:
            result = await self._deliver(body)
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

    def _record(self, key: str, result: SendResult | None) -> None:
        self._done[key] = result
        while len(self._done) > self._remember:
            self._done.popitem(last=False)

    async def _deliver(self, body: Mapping[str, Any]) -> SendResult:
        action = "sender_action" in body
        for attempt in range(1, self._retry.attempts + 1):
            try:
                response = await self._http.post(self._url, json=dict(body), headers=self._headers)
            except _NOT_SENT_RETRY as error:
                failure = self._unreachable(error)
                wait_at_least = 0.0
            except _NOT_SENT_FINAL as error:
                raise provider_error(
                    self._platform,
                    None,
                    f"request to Graph not sent: {error}",
                    retryable=False,
                    permanent=False,
                ) from error
            except httpx.TransportError as error:
                raise outcome_unknown(
                    self._platform,
                    f"no answer from Graph after the message was sent ({type(error).__name__}); "
                    "it may have been delivered",
                ) from error
            else:
                if response.is_success:
                    return self._result(response, attempt, action=action)
                failure = graph_error(self._platform, response)
                if not _retry_status(response.status_code):
                    raise failure
                wait_at_least = _retry_after(response)
            await self._backoff(attempt, wait_at_least, failure)
        raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover

    async def _backoff(self, attempt: int, wait_at_least: float, failure: ProviderError) -> None:
        """Wait before the next attempt, or raise ``failure`` when there is none."""
        if attempt >= self._retry.attempts or wait_at_least > self._retry.max_delay:
            raise failure
        await self._sleep(max(wait_at_least, self._retry.delay(attempt - 1, self._random())))

    def _result(self, response: httpx.Response, attempt: int, *, action: bool) -> SendResult:
        data = _json(response)
        recipient = data.get("recipient_id")
        recipient = recipient if isinstance(recipient, str) else None
        message_id = data.get("message_id")
        if isinstance(message_id, str) and message_id:
            return SendResult(message_id, recipient, attempt)
        if action:
            return SendResult("", recipient, attempt)
        raise outcome_unknown(
            self._platform,
            f"Graph accepted the message (HTTP {response.status_code}) without giving its id",
        )

    def _unreachable(self, error: Exception) -> ProviderError:
        failure = provider_error(
            self._platform,
            None,
            f"could not reach Graph ({type(error).__name__})",
            retryable=True,
            permanent=False,
        )
        failure.__cause__ = error  # raised after the backoff, outside the except block
        return failure


def graph_error(platform: Platform, response: httpx.Response) -> ProviderError:
    """Graph's ``{"error": {...}}`` answer as a ``ProviderError`` (or ``WindowClosed``)."""
    status = response.status_code
    error = _json(response).get("error")
    error = error if isinstance(error, dict) else {}
    code = _int(error.get("code"))
    subcode = _int(error.get("error_subcode"))
    message = error.get("message") if isinstance(error.get("message"), str) else None
    trace = error.get("fbtrace_id") if isinstance(error.get("fbtrace_id"), str) else None
    if subcode in _WINDOW_SUBCODES:
        return window_closed(
            platform,
            message or "outside the allowed window",
            code=WINDOW_CODE if code is None else code,
            subcode=subcode,
            http_status=status,
            trace_id=trace,
        )
    retryable = _retry_status(status) or code in _THROTTLED or code in _TRANSIENT
    permanent = not retryable and status not in (401, 403) and code not in _SET_UP
    return provider_error(
        platform,
        code,
        message or f"HTTP {status} from Graph",
        retryable=retryable,
        permanent=permanent,
        http_status=status,
        subcode=subcode,
        trace_id=trace,
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _retry_status(status: int) -> bool:
    return status == 429 or status >= 500


def _retry_after(response: httpx.Response) -> float:
    """Seconds from a ``Retry-After: <seconds>`` header, 0 when absent or a date."""
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0.0


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
