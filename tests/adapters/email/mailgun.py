"""Mailgun inbound-parse POSTs for tests, written from Mailgun's documented format.

Mailgun's "forward" route action posts the parsed mail as ``multipart/form-data``:
``recipient``, ``sender``, ``from``, ``subject``, ``body-plain``, ``stripped-text``,
``stripped-signature``, ``body-html``, ``stripped-html``, ``attachment-count``,
``attachment-1..n`` (the files), ``timestamp``, ``token``, ``signature``,
``message-headers`` (a JSON list of ``[name, value]``), ``content-id-map``, and each
MIME header of the mail as a field of its own (``Message-Id``, ``In-Reply-To``...).
The "store and notify" action posts the same without the files and with
``attachments`` (a JSON list of ``{url, content-type, name, size}``) and
``message-url``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from adapters.email.signing import sign

SIGNING_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
NOW = 1_714_564_800.0  # 2024-05-01T12:00:00Z
TOKEN = "c1a9e8f34b2d4e6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f"

CUSTOMER = "Ayşe Yılmaz <Ayse.Yilmaz@Example.com>"
SUPPORT = "destek@acme.com.tr"

HEADERS = [
    ["Received", "from mail-ed1-f41.google.com (mail-ed1-f41.google.com [209.85.208.41]) by"
                 " mxa.mailgun.org with ESMTP id 6631f0a1.7f0e; Wed, 01 May 2024 11:59:58 -0000"],
    ["Received", "by mail-ed1-f41.google.com with SMTP id 4fb4d7f45d1cf; Wed, 01 May 2024"
                 " 04:59:57 -0700 (PDT)"],
    ["Mime-Version", "1.0"],
    ["References", "<sb-41@acme.com.tr>"],
    ["In-Reply-To", "<sb-41@acme.com.tr>"],
    ["From", CUSTOMER],
    ["Date", "Wed, 1 May 2024 14:59:45 +0300"],
    ["Message-Id", "<CAGv4Tq9Xk=8s6bH+Mz2dQ@mail.gmail.com>"],
    ["Subject", "Re: Siparişim nerede?"],
    ["To", f"Acme Destek <{SUPPORT}>"],
    ["Content-Type", 'multipart/mixed; boundary="000000000000b3e1a70617636e5f"'],
    ["X-Mailgun-Incoming", "Yes"],
]  # fmt: skip

BODY_PLAIN = (
    "Merhaba,\r\n\r\nKargo hâlâ gelmedi, fatura ektedir.\r\n\r\nAyşe\r\n\r\n"
    "On Tue, Apr 30, 2024 at 5:00 PM Acme Destek <destek@acme.com.tr> wrote:\r\n"
    "> Siparişiniz kargoya verildi.\r\n"
)
STRIPPED = "Merhaba,\r\n\r\nKargo hâlâ gelmedi, fatura ektedir."


def signed(timestamp: float = NOW, token: str = TOKEN, key: str = SIGNING_KEY) -> dict[str, str]:
    """The three signing fields Mailgun adds to every POST."""
    stamp = str(int(timestamp))
    return {"timestamp": stamp, "token": token, "signature": sign(key, stamp, token)}


def forward_fields(**changes: str | None) -> dict[str, str]:
    """The text fields of a "forward" POST of a reply with one attachment."""
    fields = {
        "Content-Type": 'multipart/mixed; boundary="000000000000b3e1a70617636e5f"',
        "Date": "Wed, 1 May 2024 14:59:45 +0300",
        "From": CUSTOMER,
        "In-Reply-To": "<sb-41@acme.com.tr>",
        "Message-Id": "<CAGv4Tq9Xk=8s6bH+Mz2dQ@mail.gmail.com>",
        "Mime-Version": "1.0",
        "Received": HEADERS[0][1],
        "References": "<sb-41@acme.com.tr>",
        "Subject": "Re: Siparişim nerede?",
        "To": f"Acme Destek <{SUPPORT}>",
        "X-Mailgun-Incoming": "Yes",
        "attachment-count": "1",
        "body-html": '<div dir="ltr">Merhaba,<br><br>Kargo hâlâ gelmedi, fatura ektedir.</div>',
        "body-plain": BODY_PLAIN,
        "content-id-map": "{}",
        "from": CUSTOMER,
        "message-headers": json.dumps(HEADERS),
        "recipient": SUPPORT,
        "sender": "ayse.yilmaz@example.com",
        "stripped-html": '<div dir="ltr">Merhaba,<br><br>Kargo hâlâ gelmedi.</div>',
        "stripped-signature": "Ayşe",
        "stripped-text": STRIPPED,
        "subject": "Re: Siparişim nerede?",
        **signed(),
    }
    for key, value in changes.items():
        name = key.replace("_", "-")
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    return fields


PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <</Type /Catalog>> endobj\ntrailer <<>>\n%%EOF\n"
PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4


def multipart(
    fields: Mapping[str, str],
    files: Mapping[str, tuple[str, str, bytes]] = {},  # read only
    *,
    boundary: str = "------------------------a9d8c7b6e5f4",
) -> tuple[bytes, str]:
    """``(body, content type)`` of a multipart/form-data POST, as an HTTP client writes it."""
    crlf = b"\r\n"
    out = bytearray()
    for name, value in fields.items():
        out += b"--" + boundary.encode() + crlf
        out += f'Content-Disposition: form-data; name="{name}"'.encode() + crlf + crlf
        out += value.encode() + crlf
    for name, (filename, mime, data) in files.items():
        out += b"--" + boundary.encode() + crlf
        disposition = f'Content-Disposition: form-data; name="{name}"; filename="{filename}"'
        out += disposition.encode() + crlf
        out += f"Content-Type: {mime}".encode() + crlf + crlf
        out += data + crlf
    out += b"--" + boundary.encode() + b"--" + crlf
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def urlencoded(fields: Mapping[str, str]) -> tuple[bytes, str]:
    """``(body, content type)`` of the same fields as an url-encoded form."""
    return urlencode(fields).encode(), "application/x-www-form-urlencoded"


class Headers:
    """Request headers looked up case-insensitively, as the server passes them."""

    def __init__(self, headers: Mapping[str, str] | None = None, **more: Any) -> None:
        self._headers = {k.lower(): v for k, v in {**(headers or {}), **more}.items()}

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._headers.get(key.lower(), default)


def content_type(value: str) -> Headers:
    return Headers({"Content-Type": value})
