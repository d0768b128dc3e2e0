"""A local HTTP server playing a provider's media host (Meta's CDN, Viber's, Mailgun's storage).

Tests put files at paths (``serve``), or scripted answers (a 404, a redirect, a body
without ``Content-Length``), and read back every request it got, with its
``Authorization`` header, to assert what went over the wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio
from quart import Response, request
from quart_trio import QuartTrio

from tests.support.local_http import serving

IMAGE = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 40
PDF = b"%PDF-1.4\n" + b"1 0 obj <</Type /Catalog>> endobj\n" * 500 + b"%%EOF\n"


@dataclass(slots=True)
class File:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False  # streamed without a Content-Length
    #: when set, the file is only served to requests with this Authorization header
    authorization: str | None = None


@dataclass(frozen=True, slots=True)
class Seen:
    path: str
    query: str
    authorization: str | None


class FakeCdn:
    """Files by path (query strings are ignored), every request recorded."""

    def __init__(self) -> None:
        self.files: dict[str, File] = {}
        self.seen: list[Seen] = []
        self.url = ""
        self.app = QuartTrio("fake-cdn")
        self.app.add_url_rule("/<path:path>", "any", self.handle, methods=["GET"])

    def serve(self, path: str, file: File) -> str:
        """Put ``file`` at ``path``; its full URL."""
        self.files["/" + path.lstrip("/")] = file
        return f"{self.url}/{path.lstrip('/')}"

    async def handle(self, path: str) -> Response:
        auth = request.headers.get("Authorization")
        self.seen.append(Seen("/" + path, request.query_string.decode(), auth))
        file = self.files.get("/" + path)
        if file is None:
            return Response(b"<html>Not Found</html>", status=404, content_type="text/html")
        if file.authorization is not None and auth != file.authorization:
            return Response(b'{"message": "Invalid private key"}', status=401,
                            content_type="application/json")  # fmt: skip
        headers = dict(file.headers)
        if file.chunked:

            async def chunks() -> AsyncIterator[bytes]:
                for i in range(0, len(file.body), 1000):
                    yield file.body[i : i + 1000]

            response = Response(chunks(), status=file.status, headers=headers)
        else:
            response = Response(file.body, status=file.status, headers=headers)
        if file.content_type is None:
            response.headers.pop("Content-Type", None)
        else:
            response.headers["Content-Type"] = file.content_type
        return response


@asynccontextmanager
async def running_cdn(nursery: trio.Nursery) -> AsyncIterator[FakeCdn]:
    """A FakeCdn listening on 127.0.0.1 (its ``url``) for the block's duration."""
    fake = FakeCdn()
    async with serving(nursery, fake.app) as fake.url:
        yield fake
