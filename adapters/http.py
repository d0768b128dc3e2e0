"""Calling a provider's HTTP API without double messages, whatever the provider.

Every channel client (WhatsApp, Messenger / Instagram, Telegram, Viber) sends the same
way, because the rule is the same: the customer must never get the same reply twice.

- ``Retrying`` makes one call, retried with exponential backoff and jitter (``RetryPolicy``)
  only when the provider *provably did not act on it*: the connection could not be made
  (``NOT_SENT_RETRY``: connect error, connect or pool time-out — no byte of the request
  left), or the client's ``read`` of the answer says so (``Retry``: 429 / 5xx, a
  provider's own "too many requests").  A ``Retry-After`` longer than the policy's
  longest wait ends the retries instead of stalling a sender.
- Once the request may have been sent — a read time-out, a connection dropped while
  waiting for the answer — resending could deliver the message twice, so the call raises
  ``OutcomeUnknown`` instead.  A call that is safe to repeat (fetching a file) passes
  ``safe=True`` and is retried on any transport error.
- ``OnceByKey`` runs a send at most once per idempotency key for the client's lifetime:
  a second send with the same key gets the first one's result (waiting for it while it
  is in flight).  When the first one's fate is unknown — ``OutcomeUnknown``, or a
  cancellation mid-send — the key raises ``OutcomeUnknown`` again, so only a deliberate
  new key resends.  A send that definitely failed (any other ``ProviderError``) is
  forgotten, so the same key may try again.
- ``Provider`` words the errors, naming the channel, so an agent reading why a reply
  failed is told which provider refused it.

How each provider's answer is read (which codes are permanent, which need an operator)
stays in its client; only the machinery is here.
"""

from __future__ import annotations

import random as _random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
import trio

from adapters.errors import OutcomeUnknown, ProviderError

__all__ = [
    "NOT_SENT_FINAL",
    "NOT_SENT_RETRY",
    "OnceByKey",
    "Provider",
    "Retry",
    "RetryPolicy",
    "Retrying",
    "int_or_none",
    "json_object",
    "retry_after_header",
    "retry_by_status",
    "retry_status",
    "send_parts",
]

T = TypeVar("T")
P = TypeVar("P")

# Failures that happen before any byte of the request is sent.
NOT_SENT_RETRY = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
NOT_SENT_FINAL = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently one call is retried."""

    attempts: int = 4  # tries in all, the first included
    base_delay: float = 0.5  # seconds before the first retry, doubled for each next one
    max_delay: float = 8.0  # no wait is longer (a longer Retry-After ends the retries)
    jitter: float = 0.5  # share of each wait that is random, so clients spread out

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be from 0 to 1")

    def delay(self, retry: int, draw: float) -> float:
        """The wait before retry number ``retry`` (0 first); ``draw`` is uniform in [0, 1)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0**retry)
        return ceiling * (1.0 - self.jitter + self.jitter * draw)


@dataclass(frozen=True, slots=True)
class Provider:
    """Who a client calls, for the text of its errors.

    ``label`` names the channel in every error (``ProviderError``'s ``provider``; None
    keeps WhatsApp's historical form); ``host`` is what the texts call the far end
    ("Graph" for Meta's channels).  ``secret_url``: the URL holds a token (Telegram), so
    an error never quotes the failure's text, which may contain it.
    """

    label: str | None
    host: str
    secret_url: bool = False

    def error(
        self,
        code: int | None,
        message: str,
        *,
        retryable: bool,
        permanent: bool,
        http_status: int | None = None,
        subcode: int | None = None,
        details: str | None = None,
        trace_id: str | None = None,
    ) -> ProviderError:
        """A ``ProviderError`` whose text names the channel."""
        return ProviderError(
            code,
            message,
            retryable=retryable,
            permanent=permanent,
            http_status=http_status,
            subcode=subcode,
            details=details,
            trace_id=trace_id,
            provider=self.label,
        )

    def outcome_unknown(self, message: str) -> OutcomeUnknown:
        """``OutcomeUnknown`` whose text names the channel."""
        return OutcomeUnknown(message, provider=self.label)

    def unreachable(self, error: Exception) -> ProviderError:
        """The request did not get through (and did no harm): worth trying again."""
        failure = self.error(
            None,
            f"could not reach {self.host} ({type(error).__name__})",
            retryable=True,
            permanent=False,
        )
        failure.__cause__ = error  # raised after the backoff, outside the except block
        return failure

    def not_sent(self, error: Exception) -> ProviderError:
        """The request could not be made at all (bad URL, proxy): an operator must act."""
        kind = type(error).__name__
        what = f" ({kind}); check api_base_url" if self.secret_url else f": {error}"
        return self.error(
            None, f"request to {self.host} not sent{what}", retryable=False, permanent=False
        )

    def no_answer(self, error: Exception) -> OutcomeUnknown:
        """The request went out but no answer came: the message may have been delivered."""
        return self.outcome_unknown(
            f"no answer from {self.host} after the message was sent ({type(error).__name__}); "
            "it may have been delivered"
        )


@dataclass(frozen=True, slots=True)
class Retry:
    """An answer after which the provider provably did not act: the call may be made again,
    not before ``wait_at_least`` seconds; ``failure`` is raised when no attempt is left."""

    failure: ProviderError
    wait_at_least: float = 0.0


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


def retry_by_status(response: httpx.Response, failure: ProviderError) -> Retry:
    """``failure`` as a ``Retry`` when the HTTP status allows one (429 / 5xx, honouring
    ``Retry-After``); raised otherwise: any other status is the provider's final word."""
    if not retry_status(response.status_code):
        raise failure
    return Retry(failure, retry_after_header(response))


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, empty when it is not one (an HTML error page, say)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def int_or_none(value: object) -> int | None:
    """``value`` when it is a JSON integer (not a boolean), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Retrying:
    """Makes provider calls with retries (see the module's docstring).

    ``sleep`` and ``random`` are injectable so tests take no real time.
    """

    def __init__(
        self,
        provider: Provider,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = trio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.provider = provider
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._random = random

    async def call(
        self,
        request: Callable[[], Awaitable[httpx.Response]],
        read: Callable[[httpx.Response, int], T | Retry],
        *,
        safe: bool = False,
    ) -> T:
        """``read(await request(), attempt)`` until it gives a result or no attempt is left.

        ``read`` returns the result, raises the provider's final word, or returns a
        ``Retry``; ``safe``: repeating the request can do no harm (a GET).
        """
        policy = self.policy
        for attempt in range(1, policy.attempts + 1):
            outcome: T | Retry
            try:
                response = await request()
            except NOT_SENT_FINAL as error:
                raise self.provider.not_sent(error) from error
            except httpx.TransportError as error:
                if not safe and not isinstance(error, NOT_SENT_RETRY):
                    raise self.provider.no_answer(error) from error
                outcome = Retry(self.provider.unreachable(error))
            else:
                outcome = read(response, attempt)
            if not isinstance(outcome, Retry):
                return outcome
            if attempt >= policy.attempts or outcome.wait_at_least > policy.max_delay:
                raise outcome.failure
            delay = policy.delay(attempt - 1, self._random())
            await self._sleep(max(outcome.wait_at_least, delay))
        raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover


class OnceByKey(Generic[T]):
    """Sends at most once per idempotency key (see the module's docstring).

    The ``OutcomeUnknown`` raised for a key whose first send may have gone out names
    ``provider``; the outcomes of the last ``remember`` keys are kept.
    """

    def __init__(self, provider: Provider, *, remember: int = 10_000) -> None:
        self._provider = provider
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
                    raise self._provider.outcome_unknown(
                        f"an earlier send with idempotency key {key!r} may have been delivered"
                    )
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


async def send_parts(
    message_id: str, parts: Sequence[P], send: Callable[[P, str | None], Awaitable[T]]
) -> list[T]:
    """Send one message's parts in order (a channel that needs several requests for it).

    The first part goes under the message's own idempotency key, part ``i`` under
    ``"{message_id}#{i}"``, so a retry of the whole send resends only what did not go
    out; a failure after the first part says how many had been sent.
    """
    results: list[T] = []
    for i, part in enumerate(parts):
        key = message_id if i == 0 else f"{message_id}#{i}"
        try:
            results.append(await send(part, key or None))
        except ProviderError as error:
            if i:
                error.args = (f"{error} (after {i} of {len(parts)} parts were sent)",)
            raise
    return results
