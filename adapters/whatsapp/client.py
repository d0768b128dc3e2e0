"""Graph API calls for one WhatsApp business number: send messages, fetch media.

How sending avoids double messages (the customer must never get the same reply twice):

- A call is retried, with exponential backoff and jitter, only when Graph *provably did
  not act on it*: the connection could not be made (connect error, connect or pool
  time-out — no byte of the request left), or Graph answered 429 / 5xx (it refused or
  failed the call; Graph does not send a message and then answer 5xx).
- Once the request may have been sent — a read time-out, a connection dropped while
  waiting for the answer — resending could deliver the message twice, so ``send`` raises
  ``OutcomeUnknown`` instead.  The caller can pass ``callback_data`` to
  ``build_message``: Graph repeats it in the status webhooks of that message, which
  settles later whether it went out.
- Any other 4xx is Graph's final word and is not retried; 131047 (customer service
  window closed) becomes ``WindowClosed``.
- ``send(..., idempotency_key=k)``: within this client's lifetime, a second send with
  the same key returns the first one's ``SendResult`` (waiting for it if it is still
  in flight) instead of sending again; after an ``OutcomeUnknown`` (or a cancellation
  mid-send) it raises ``OutcomeUnknown`` again, so only a deliberate new key resends.
  A send that definitely failed is forgotten, so the same key may try again.

Fetching media is a plain GET, safe to repeat, so it is retried on any transport error.
The retries and the idempotency memory are every client's: ``adapters.http``.
"""

from __future__ import annotations

import random as _random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import trio

from adapters.http import (
    OnceByKey,
    Provider,
    Retry,
    Retrying,
    RetryPolicy,
    json_object,
    retry_by_status,
    retry_status,
)
from adapters.whatsapp.errors import RE_ENGAGEMENT, OutcomeUnknown, ProviderError, WindowClosed

__all__ = ["GraphClient", "MediaDownload", "MediaInfo", "RetryPolicy", "SendResult"]

# Graph codes: throttling (worth retrying later) and set-up problems (an operator must
# act; the message itself is fine).  Any other 4xx code is a problem of the message.
_THROTTLED = frozenset({4, 80007, 130429, 131048, 131056})
_SET_UP = frozenset({0, 3, 10, 190, 368, 131031, 131042, 131045, 133010})

#: WhatsApp's errors keep their historical text (no channel name without a code)
_GRAPH = Provider(None, "Graph")


@dataclass(frozen=True, slots=True)
class SendResult:
    """Graph accepted the message; statuses will arrive for ``wamid``."""

    wamid: str
    attempts: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaInfo:
    """Where a media file can be downloaded (the URL lasts about five minutes)."""

    media_id: str
    url: str
    mime_type: str | None = None
    sha256: str | None = None
    file_size: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaDownload:
    """A media file being downloaded: read ``chunks`` inside ``download_media``'s block."""

    info: MediaInfo
    mime_type: str
    size: int | None
    chunks: AsyncIterator[bytes]


class GraphClient:
    """Calls Graph for one business phone number, through a shared ``httpx.AsyncClient``.

    Runs on trio (the server's loop).  ``base_url`` includes the Graph version
    (``https://graph.facebook.com/v21.0``); ``sleep`` and ``random`` are injectable so
    tests take no real time; the outcomes of the last ``remember`` idempotency keys are
    kept.
    """

    def __init__(
        self,
        base_url: str,
        phone_number_id: str,
        access_token: str,
        *,
        http: httpx.AsyncClient,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = trio.sleep,
        random: Callable[[], float] = _random.random,
        remember: int = 10_000,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._phone_number_id = phone_number_id
        self._headers = {"Authorization": f"Bearer {access_token}"}
        self._http = http
        self._retrying = Retrying(_GRAPH, retry, sleep=sleep, random=random)
        self._once: OnceByKey[SendResult] = OnceByKey(_GRAPH, remember=remember)

    # -- sending ---------------------------------------------------------------------------

    async def send(
        self, body: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> SendResult:
        """POST a ``build_message`` body to ``/{phone_number_id}/messages``.

        Raises ``ProviderError`` (``WindowClosed``, ``OutcomeUnknown``) when Graph did not
        accept it; see the module's docstring for what is retried and what is not.
        """
        return await self._once.run(idempotency_key, lambda: self._deliver(body))

    async def _deliver(self, body: Mapping[str, Any]) -> SendResult:
        url = f"{self._base}/{self._phone_number_id}/messages"

        def read(response: httpx.Response, attempt: int) -> SendResult | Retry:
            if response.is_success:
                return SendResult(_wamid(response), attempt)
            return retry_by_status(response, _graph_error(response))

        return await self._retrying.call(
            lambda: self._http.post(url, json=dict(body), headers=self._headers), read
        )

    # -- media ---------------------------------------------------------------------------

    async def fetch_media(self, media_id: str) -> MediaInfo:
        """``GET /{media-id}``: a short-lived download URL and the mime type.

        The business number is passed too, so Graph refuses media of other numbers.
        """
        url = f"{self._base}/{media_id}"
        params = {"phone_number_id": self._phone_number_id}

        def read(response: httpx.Response, attempt: int) -> MediaInfo | Retry:
            if response.is_success:
                return _media_info(media_id, response)
            return retry_by_status(response, _graph_error(response))

        return await self._retrying.call(
            lambda: self._http.get(url, params=params, headers=self._headers), read, safe=True
        )

    @asynccontextmanager
    async def download_media(self, media_id: str) -> AsyncIterator[MediaDownload]:
        """Stream a customer's media file from WhatsApp, never holding it whole.

        ``async with client.download_media(id) as media: async for chunk in media.chunks``
        """
        info = await self.fetch_media(media_id)
        async with self._http.stream("GET", info.url, headers=self._headers) as response:
            if not response.is_success:
                await response.aread()
                raise _graph_error(response)
            length = response.headers.get("content-length")
            yield MediaDownload(
                info=info,
                mime_type=response.headers.get("content-type")
                or info.mime_type
                or "application/octet-stream",
                size=int(length) if length and length.isdigit() else info.file_size,
                chunks=response.aiter_bytes(),
            )


# -- reading Graph's answers ---------------------------------------------------------------


def _wamid(response: httpx.Response) -> str:
    messages = json_object(response).get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        wamid = messages[0].get("id")
        if isinstance(wamid, str) and wamid:
            return wamid
    raise OutcomeUnknown(
        f"Graph accepted the message (HTTP {response.status_code}) without giving its id"
    )


def _media_info(media_id: str, response: httpx.Response) -> MediaInfo:
    data = json_object(response)
    url = data.get("url")
    if not isinstance(url, str) or not url:
        raise ProviderError(
            None, f"Graph gave no URL for media {media_id!r}", retryable=True, permanent=False
        )
    size = data.get("file_size")
    mime = data.get("mime_type")
    sha = data.get("sha256")
    return MediaInfo(
        media_id=media_id,
        url=url,
        mime_type=mime if isinstance(mime, str) else None,
        sha256=sha if isinstance(sha, str) else None,
        file_size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
    )


def _graph_error(response: httpx.Response) -> ProviderError:
    """Graph's ``{"error": {...}}`` answer as a ``ProviderError`` (or ``WindowClosed``)."""
    status = response.status_code
    error = json_object(response).get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    subcode = error.get("error_subcode") if isinstance(error.get("error_subcode"), int) else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    details = details if isinstance(details, str) else None
    trace = error.get("fbtrace_id") if isinstance(error.get("fbtrace_id"), str) else None
    if code == RE_ENGAGEMENT:
        return WindowClosed(
            details or message or "re-engagement message",
            http_status=status,
            details=details,
            trace_id=trace,
        )
    retryable = retry_status(status) or code in _THROTTLED
    permanent = not retryable and status not in (401, 403) and code not in _SET_UP
    return ProviderError(
        code,
        message or f"HTTP {status} from Graph",
        retryable=retryable,
        permanent=permanent,
        http_status=status,
        subcode=subcode,
        details=details,
        trace_id=trace,
    )
