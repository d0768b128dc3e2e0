"""A lean HTTP/1.1 client for webhooks: ``h11`` over a trio socket, kept alive.

The load generator must not be the bottleneck it measures: a general-purpose client
(httpx) costs more per request than the server's webhook handling, so webhooks go out
through this one — a pre-built body, a few headers, the status and the small JSON answer
back.  Pattern shared with ``switchboard.bench.ingest``; this one also reads the answer's
body (the server says whether the message was new or a repeat).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11
import trio

__all__ = ["Answer", "Connection", "host_port"]


def host_port(url: str) -> tuple[str, int]:
    """``http://host:port`` → ``(host, port)`` (port 80 when not given)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"expected an http://host:port URL, not {url!r}")
    return parts.hostname, parts.port or 80


@dataclass(frozen=True, slots=True)
class Answer:
    """The server's answer to one request."""

    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


class Connection:
    """One keep-alive HTTP/1.1 connection; reopened when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._stream: trio.SocketStream | None = None
        self._h11 = h11.Connection(h11.CLIENT)

    async def post(self, path: str, body: bytes, headers: tuple[tuple[str, str], ...]) -> Answer:
        """POST ``body``; one retry on a connection the server had already closed."""
        for attempt in (1, 2):
            if self._stream is None:
                self._stream = await trio.open_tcp_stream(self.host, self.port)
                self._h11 = h11.Connection(h11.CLIENT)
            try:
                return await self._exchange(path, body, headers)
            except (ConnectionError, trio.BrokenResourceError, h11.RemoteProtocolError):
                await self._drop()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(
        self, path: str, body: bytes, headers: tuple[tuple[str, str], ...]
    ) -> Answer:
        assert self._stream is not None
        conn = self._h11
        request = h11.Request(
            method="POST",
            target=path,
            headers=[("Host", self.host), ("Content-Type", "application/json"),
                     ("Content-Length", str(len(body))), *headers],
        )  # fmt: skip
        wire = conn.send(request) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
        await self._stream.send_all(wire)
        status = 0
        chunks: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await self._stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    await self._drop()
                else:
                    conn.start_next_cycle()
                return Answer(status, b"".join(chunks))
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection")

    async def _drop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.aclose()

    async def aclose(self) -> None:
        await self._drop()
