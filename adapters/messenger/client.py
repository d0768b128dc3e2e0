"""Send API calls for one page (Messenger) or Instagram account: ``POST /{id}/messages``.

``{id}`` is the page id when the account's settings give one, else ``me`` (the page or
Instagram account the token belongs to).  The token goes in an ``Authorization: Bearer``
header, which Graph accepts like the ``access_token`` query parameter, so it never
appears in logged URLs.

How sending avoids double messages is every client's (``adapters.http``): a call is
retried only when Meta provably did not act on it (no connection, 429 / 5xx); once it may
have been sent, ``send`` raises ``OutcomeUnknown`` instead; ``send(...,
idempotency_key=k)`` sends at most once per key.  What is Messenger's own:
any other 4xx is Graph's final word: ``ProviderError`` with Graph's code.  Rate limits
(codes 4, 17, 32, 613, 80006) and temporary send failures (1, 2, 1200) are
``retryable`` (later, by the caller); code 10 with the "outside the allowed window"
subcode (2018278, Instagram 2534022) is ``WindowClosed``; token and permission problems
(401/403, codes 3, 10, 190, 200, 230, 368) need an operator, so they are neither
retryable nor permanent; anything else (100 / 2018001 "no matching user", 551 "person
unavailable", invalid parameters) is ``permanent``.
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
    Retry,
    Retrying,
    RetryPolicy,
    int_or_none,
    json_object,
    retry_by_status,
    retry_status,
)
from adapters.messenger.errors import WINDOW_CODE, graph, window_closed
from adapters.messenger.platform import Platform

__all__ = ["RetryPolicy", "SendClient", "SendResult"]

_THROTTLED = frozenset({4, 17, 32, 613, 80006})
_TRANSIENT = frozenset({1, 2, 1200})
_SET_UP = frozenset({3, 10, 190, 200, 230, 368})
_WINDOW_SUBCODES = frozenset({2018278, 2534022})


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
        self._graph = graph(platform)
        self._retrying = Retrying(self._graph, retry, sleep=sleep, random=random)
        self._once: OnceByKey[SendResult] = OnceByKey(self._graph, remember=remember)

    async def send(
        self, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> SendResult:
        """POST one ``build_requests`` body; see the module's docstring for the failures."""
        return await self._once.run(idempotency_key, lambda: self._deliver(body))

    async def _deliver(self, body: Mapping[str, Any]) -> SendResult:
        action = "sender_action" in body

        def read(response: httpx.Response, attempt: int) -> SendResult | Retry:
            if response.is_success:
                return self._result(response, attempt, action=action)
            return retry_by_status(response, graph_error(self._platform, response))

        return await self._retrying.call(
            lambda: self._http.post(self._url, json=dict(body), headers=self._headers), read
        )

    def _result(self, response: httpx.Response, attempt: int, *, action: bool) -> SendResult:
        data = json_object(response)
        recipient = data.get("recipient_id")
        recipient = recipient if isinstance(recipient, str) else None
        message_id = data.get("message_id")
        if isinstance(message_id, str) and message_id:
            return SendResult(message_id, recipient, attempt)
        if action:
            return SendResult("", recipient, attempt)
        raise self._graph.outcome_unknown(
            f"Graph accepted the message (HTTP {response.status_code}) without giving its id",
        )


def graph_error(platform: Platform, response: httpx.Response) -> ProviderError:
    """Graph's ``{"error": {...}}`` answer as a ``ProviderError`` (or ``WindowClosed``)."""
    status = response.status_code
    error = json_object(response).get("error")
    error = error if isinstance(error, dict) else {}
    code = int_or_none(error.get("code"))
    subcode = int_or_none(error.get("error_subcode"))
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
    retryable = retry_status(status) or code in _THROTTLED or code in _TRANSIENT
    permanent = not retryable and status not in (401, 403) and code not in _SET_UP
    return graph(platform).error(
        code,
        message or f"HTTP {status} from Graph",
        retryable=retryable,
        permanent=permanent,
        http_status=status,
        subcode=subcode,
        trace_id=trace,
    )
