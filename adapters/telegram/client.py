"""Bot API calls for one bot: send messages, fetch the customers' files.

Every call is ``POST {api_base_url}/bot{token}/{method}`` with a JSON body; Telegram
answers ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": n,
"description": "...", "parameters": {"retry_after": s}}``.  The token is part of the
URL (Telegram has no other way), so no URL is ever put in an error message or a log.

How sending avoids double messages (the customer must never get the same reply twice):

- Each send first waits for its slot in the bot's ``RateLimiter`` (≈ 1 message/s per
  chat, 30/s overall), so Telegram's flood control is rarely met at all.
- A call is retried, with exponential backoff and jitter, only when Telegram *provably
  did not act on it*: the connection could not be made (no byte of the request left),
  or it answered 429 (waiting at least ``retry_after``, and holding the chat's other
  sends as long) or 5xx.
- Once the request may have been sent — a read time-out, a connection dropped while
  waiting for the answer — resending could deliver the message twice, so the call
  raises ``OutcomeUnknown`` instead.
- Any other error is Telegram's final word: 403 (the customer blocked the bot, or never
  started it) and 400 (a bad request: chat not found, bad content) are ``permanent``;
  401 / 404 (a wrong or revoked token) need an operator: neither retryable nor permanent.
- ``send(..., idempotency_key=k)``: a second send with the same key returns the first
  one's result instead of sending again (``adapters.http.OnceByKey``).

Fetching a file (``getFile``, then the download) is safe to repeat: retried on any
transport error.
"""

from __future__ import annotations

import random as _random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

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
from adapters.telegram.limiter import RateLimiter
from adapters.telegram.outbound import BotRequest

__all__ = [
    "BotApiClient",
    "FileDownload",
    "FileInfo",
    "RetryPolicy",
    "SendResult",
    "answer_error",
    "outcome_unknown",
    "provider_error",
]

T = TypeVar("T")

LABEL = "Telegram"
#: the bot token is part of every URL: no error quotes a failure's text
_TELEGRAM = Provider(LABEL, "Telegram", secret_url=True)


@dataclass(frozen=True, slots=True)
class SendResult:
    """Telegram accepted the call; ``message_id`` is ``{chat}:{id}``, empty for a reaction."""

    message_id: str
    attempts: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class FileInfo:
    """Where a file can be downloaded (``getFile``; the path lasts at least an hour)."""

    file_id: str
    file_path: str
    file_size: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FileDownload:
    """A file being downloaded: read ``chunks`` inside ``download``'s block."""

    info: FileInfo
    mime_type: str
    size: int | None
    chunks: AsyncIterator[bytes]


#: errors whose text says Telegram (named for the adapter and the tests)
provider_error = _TELEGRAM.error
outcome_unknown = _TELEGRAM.outcome_unknown


class BotApiClient:
    """Calls the Bot API for one bot through a shared ``httpx.AsyncClient``.

    Runs on trio.  ``sleep`` and ``random`` (retry waits) and the ``limiter`` are
    injectable so tests take no real time; the outcomes of the last ``remember``
    idempotency keys are kept.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        http: httpx.AsyncClient,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], Awaitable[None]] = trio.sleep,
        random: Callable[[], float] = _random.random,
        remember: int = 10_000,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._http = http
        self.limiter = limiter or RateLimiter()
        self._retrying = Retrying(_TELEGRAM, retry, sleep=sleep, random=random)
        self._once: OnceByKey[SendResult] = OnceByKey(_TELEGRAM, remember=remember)

    # -- sending ---------------------------------------------------------------------------

    async def send(self, request: BotRequest, *, idempotency_key: str | None = None) -> SendResult:
        """Make one ``build_requests`` call; see the module's docstring for the failures."""
        return await self._once.run(idempotency_key, lambda: self._deliver(request))

    async def _deliver(self, request: BotRequest) -> SendResult:
        url = f"{self._base}/bot{self._token}/{request.method}"
        chat = str(request.body.get("chat_id", ""))

        async def post() -> httpx.Response:
            await self.limiter.acquire(chat)  # each attempt waits for the chat's slot
            return await self._http.post(url, json=request.body)

        def read(response: httpx.Response, attempt: int) -> SendResult | Retry:
            return self._read(
                response,
                lambda answer: SendResult(_message_id(answer, chat, response), attempt),
                chat=chat,
            )

        return await self._retrying.call(post, read)

    def _read(
        self,
        response: httpx.Response,
        result: Callable[[Mapping[str, Any]], T],
        *,
        chat: str | None = None,
    ) -> T | Retry:
        """``result(answer)`` of an ``ok`` answer; else the failure, retried when Telegram
        says so (429 holds the ``chat``'s other sends for as long as it asks to wait)."""
        answer = json_object(response)
        if response.is_success and answer.get("ok") is True:
            return result(answer)
        failure = answer_error(response.status_code, answer)
        if not failure.retryable:
            raise failure
        wait_at_least = _retry_after(response, answer)
        if wait_at_least and chat is not None:
            self.limiter.hold(chat, wait_at_least)
        return Retry(failure, wait_at_least)

    # -- files -----------------------------------------------------------------------------

    async def get_file(self, file_id: str) -> FileInfo:
        """``getFile``: the path to download a customer's file from (files up to 20 MB)."""
        url = f"{self._base}/bot{self._token}/getFile"

        def read(response: httpx.Response, attempt: int) -> FileInfo | Retry:
            return self._read(response, lambda answer: _file_info(file_id, answer))

        return await self._retrying.call(
            lambda: self._http.post(url, json={"file_id": file_id}), read, safe=True
        )

    @asynccontextmanager
    async def download(self, file_id: str) -> AsyncIterator[FileDownload]:
        """Stream a customer's file from Telegram, never holding it whole.

        ``async with client.download(file_id) as file: async for chunk in file.chunks``
        """
        info = await self.get_file(file_id)
        url = f"{self._base}/file/bot{self._token}/{info.file_path}"
        try:
            async with self._http.stream("GET", url) as response:
                if not response.is_success:
                    await response.aread()
                    raise provider_error(
                        response.status_code,
                        f"the file {file_id!r} could not be downloaded",
                        retryable=retry_status(response.status_code),
                        permanent=False,
                        http_status=response.status_code,
                    )
                length = response.headers.get("content-length")
                yield FileDownload(
                    info=info,
                    mime_type=response.headers.get("content-type") or "application/octet-stream",
                    size=int(length) if length and length.isdigit() else info.file_size,
                    chunks=response.aiter_bytes(),
                )
        except httpx.TransportError as error:
            raise _TELEGRAM.unreachable(error) from error


# -- reading Telegram's answers ------------------------------------------------------------------


def answer_error(status: int, answer: Mapping[str, Any]) -> ProviderError:
    """An ``{"ok": false, ...}`` answer (or none) as a ``ProviderError``."""
    code = int_or_none(answer.get("error_code"))
    description = answer.get("description")
    message = description if isinstance(description, str) and description else None
    kind = code if code is not None else status
    retryable = retry_status(status) or retry_status(kind)
    operator = kind in (401, 404) or status in (401, 404)  # a wrong or revoked token
    return provider_error(
        code,
        message or f"HTTP {status} from Telegram",
        retryable=retryable,
        permanent=not retryable and not operator,
        http_status=status,
    )


def _retry_after(response: httpx.Response, answer: Mapping[str, Any]) -> float:
    """``parameters.retry_after`` (Telegram's way), else a ``Retry-After`` header."""
    parameters = answer.get("parameters")
    if isinstance(parameters, Mapping):
        seconds = parameters.get("retry_after")
        if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0:
            return float(seconds)
    return retry_after_header(response)


def _message_id(answer: Mapping[str, Any], chat: str, response: httpx.Response) -> str:
    result = answer.get("result")
    if result is True:  # setMessageReaction and other calls that make no message
        return ""
    if isinstance(result, Mapping):
        message_id = int_or_none(result.get("message_id"))
        where = result.get("chat")
        chat_id = int_or_none(where.get("id")) if isinstance(where, Mapping) else None
        if message_id is not None:
            return f"{chat_id if chat_id is not None else chat}:{message_id}"
    raise outcome_unknown(
        f"Telegram accepted the message (HTTP {response.status_code}) without giving its id"
    )


def _file_info(file_id: str, answer: Mapping[str, Any]) -> FileInfo:
    result = answer.get("result")
    path = result.get("file_path") if isinstance(result, Mapping) else None
    if not isinstance(path, str) or not path:
        raise provider_error(
            None,
            f"Telegram gave no download path for file {file_id!r} (over 20 MB?)",
            retryable=False,
            permanent=True,
        )
    size = int_or_none(result.get("file_size")) if isinstance(result, Mapping) else None
    return FileInfo(file_id=file_id, file_path=path, file_size=size)
