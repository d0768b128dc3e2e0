"""Viber REST API calls for one bot: ``POST {api_base_url}/pa/send_message``.

The bot's auth token goes in the ``X-Viber-Auth-Token`` header.  Viber answers HTTP 200
with ``{"status": 0, "status_message": "ok", "message_token": <64-bit integer>}``, or a
non-zero ``status`` naming what went wrong.

How sending avoids double messages (the customer must never get the same reply twice):

- A call is retried, with exponential backoff and jitter, only when Viber *provably did
  not act on it*: the connection could not be made (no byte of the request left), HTTP
  429 (honouring ``Retry-After``) or 5xx, or ``status`` 12 (too many requests).
- Once the request may have been sent — a read time-out, a connection dropped while
  waiting for the answer — resending could deliver the message twice, so ``send`` raises
  ``OutcomeUnknown`` instead.
- Any other non-zero ``status`` is Viber's final word (``ProviderError`` with the status
  as its code and Viber's ``status_message``): the customer cannot get this message
  (not subscribed, not on Viber, no suitable device) or the content is bad — ``permanent``;
  or the bot itself is not set up (wrong token, account blocked or suspended, webhook not
  set, no balance) — neither retryable nor permanent: an operator must act.
- ``send(..., idempotency_key=k)``: a second send with the same key returns the first
  one's result instead of sending again (``adapters.http.OnceByKey``).
"""

from __future__ import annotations

import random as _random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import trio

from adapters.errors import ProviderError
from adapters.http import (
    OnceByKey,
    Provider,
    Retry,
    Retrying,
    RetryPolicy,
    int_or_none,
    json_object,
    retry_after_header,
    retry_status,
)

__all__ = [
    "NOT_SUBSCRIBED",
    "TOO_MANY_REQUESTS",
    "RetryPolicy",
    "SendResult",
    "ViberClient",
    "outcome_unknown",
    "provider_error",
    "status_error",
]

LABEL = "Viber"
#: ``check api_base_url`` rather than the failure's text, as for Telegram
_VIBER = Provider(LABEL, "Viber", secret_url=True)
NOT_SUBSCRIBED = 6
TOO_MANY_REQUESTS = 12

#: statuses meaning the bot is not set up: wrong token, account blocked, suspended, not
#: found or not authorized, webhook not set, out of free messages or balance
_SET_UP = frozenset({2, 7, 8, 9, 10, 15, 23, 24})

#: what Viber's short status names mean, for the agent who reads why a reply failed
_MEANING = {
    1: "invalid URL",
    3: "the request is malformed",
    4: "a required field is missing",
    5: "the receiver is not a registered Viber user",
    NOT_SUBSCRIBED: "the customer has not subscribed to the bot, or unsubscribed",
    11: "the customer has no device that can show this message",
    TOO_MANY_REQUESTS: "too many requests",
    13: "the customer's Viber app is too old for this message",
}


@dataclass(frozen=True, slots=True)
class SendResult:
    """Viber accepted the message; receipts will arrive for ``message_token``."""

    message_token: str
    attempts: int = 1


#: errors whose text says Viber (named for the adapter and the tests)
provider_error = _VIBER.error
outcome_unknown = _VIBER.outcome_unknown


class ViberClient:
    """Calls ``send_message`` for one bot through a shared ``httpx.AsyncClient``.

    Runs on trio.  ``sleep`` and ``random`` are injectable so tests take no real time;
    the outcomes of the last ``remember`` idempotency keys are kept.
    """

    def __init__(
        self,
        base_url: str,
        auth_token: str,
        *,
        http: httpx.AsyncClient,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = trio.sleep,
        random: Callable[[], float] = _random.random,
        remember: int = 10_000,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/pa/send_message"
        self._headers = {"X-Viber-Auth-Token": auth_token}
        self._http = http
        self._retrying = Retrying(_VIBER, retry, sleep=sleep, random=random)
        self._once: OnceByKey[SendResult] = OnceByKey(_VIBER, remember=remember)

    async def send(
        self, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> SendResult:
        """POST one ``build_messages`` body; see the module's docstring for the failures."""
        return await self._once.run(idempotency_key, lambda: self._deliver(body))

    async def _deliver(self, body: Mapping[str, Any]) -> SendResult:
        return await self._retrying.call(
            lambda: self._http.post(self._url, json=dict(body), headers=self._headers), _read
        )


# -- reading Viber's answers ---------------------------------------------------------------------


def _read(response: httpx.Response, attempt: int) -> SendResult | Retry:
    """The result of an answer with ``status`` 0, else the failure (retried if retryable)."""
    answer = json_object(response)
    wait_at_least = 0.0
    if not response.is_success:
        failure = _http_error(response, answer)
        wait_at_least = retry_after_header(response)
    else:
        status = int_or_none(answer.get("status"))
        if status == 0:
            return SendResult(_message_token(answer, response), attempt)
        failure = status_error(status, answer.get("status_message"))
    if not failure.retryable:
        raise failure
    return Retry(failure, wait_at_least)


def status_error(status: int | None, status_message: object) -> ProviderError:
    """A non-zero ``status`` of an HTTP 200 answer as a ``ProviderError``."""
    name = status_message if isinstance(status_message, str) and status_message else None
    meaning = _MEANING.get(status) if status is not None else None
    if status is None:
        message = "Viber answered without a status"
    else:
        message = ", ".join(part for part in (name, meaning) if part) or f"status {status}"
    retryable = status == TOO_MANY_REQUESTS
    return provider_error(
        status,
        message,
        retryable=retryable,
        permanent=not retryable and status not in _SET_UP,
        http_status=200,
    )


def _http_error(response: httpx.Response, answer: Mapping[str, Any]) -> ProviderError:
    status = response.status_code
    message = answer.get("status_message")
    retryable = retry_status(status)
    return provider_error(
        None,
        message if isinstance(message, str) and message else f"HTTP {status} from Viber",
        retryable=retryable,
        permanent=not retryable and status not in (401, 403),
        http_status=status,
    )


def _message_token(answer: Mapping[str, Any], response: httpx.Response) -> str:
    token = answer.get("message_token")
    if isinstance(token, str) and token.lstrip("-").isdigit():
        return str(int(token))
    if isinstance(token, int) and not isinstance(token, bool):
        return str(token)
    raise outcome_unknown(
        f"Viber accepted the message (HTTP {response.status_code}) without giving its token"
    )
