"""The body of an inbound-parse POST, read into plain fields and upload descriptions.

Mailgun (and the other inbound-parse services that copied its fields) posts a parsed
e-mail as an HTML form: ``multipart/form-data`` when files are attached, else possibly
``application/x-www-form-urlencoded``.  Both ``verify`` (the signature travels *inside*
the form) and ``parse`` need the fields, so both call :func:`parse_form` on the same raw
bytes; the adapter keeps the last result so one POST is read once.

Multipart bodies are read by the standard library's e-mail parser (a form is a MIME
multipart body) under a synthesized ``Content-Type`` header — the request's own.  The
parser never fails by itself: it records *defects*, and a missing start or end boundary
(a truncated or mislabelled body) is turned into a ``WebhookError`` here.

A field posted twice is remembered as such and refused only if it is read (see
:class:`Form`).  Uploaded files keep their bytes (``Upload.data``) for the server to store
on disk, outside Redis (``docs/channels/email.md``); they are not part of an upload's
equality or its repr.
Text fields are UTF-8 (Mailgun converts every message to it); stray undecodable bytes
become U+FFFD rather than refusing a customer's message that Mailgun would then retry
in vain.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser
from types import MappingProxyType
from urllib.parse import parse_qsl

from adapters.errors import WebhookError

__all__ = ["MAX_FIELDS", "Form", "Upload", "parse_form"]

#: a form with more fields than this is not an e-mail (Mailgun sends a few dozen)
MAX_FIELDS = 1000

_MULTIPART = "multipart/form-data"
_URLENCODED = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True, kw_only=True)
class Upload:
    """A file posted in the form (``attachment-1`` ...): what it is, and its bytes."""

    field: str
    filename: str | None
    content_type: str
    size: int
    data: bytes = dataclasses.field(default=b"", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Form:
    """The fields of one POST, by name, and the files it carried, in order.

    A field posted twice (an e-mail may repeat a header, like ``Received``) is kept in
    ``repeated``; reading it is refused, since the two values would be ambiguous (which
    ``signature``, which ``from``?), but fields nobody reads may repeat freely.
    """

    fields: Mapping[str, str]
    uploads: tuple[Upload, ...] = ()
    repeated: frozenset[str] = frozenset()

    def get(self, name: str) -> str | None:
        """The value of field ``name`` (exact name), or None."""
        if name in self.repeated:
            raise WebhookError(f"{name}: the field appears more than once")
        return self.fields.get(name)

    def header(self, name: str) -> str | None:
        """A field named like an e-mail header, whatever its case (``Message-Id``/``-ID``)."""
        wanted = name.lower()
        keys = [key for key in self.fields if key.lower() == wanted]
        if len(keys) > 1:
            raise WebhookError(f"{name}: the field appears more than once ({', '.join(keys)})")
        return self.get(keys[0]) if keys else None


def parse_form(raw: bytes, content_type: str | None) -> Form:
    """The fields and uploads of a form body; ``WebhookError`` names what is wrong."""
    if not content_type:
        raise WebhookError("Content-Type: missing (expected a form)")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == _MULTIPART:
        return _multipart(raw, content_type)
    if media_type == _URLENCODED:
        return _urlencoded(raw)
    raise WebhookError(
        f"Content-Type: {media_type!r} is not a form ({_MULTIPART} or {_URLENCODED})"
    )


def _urlencoded(raw: bytes) -> Form:
    try:
        pairs = parse_qsl(
            raw.decode("utf-8", "replace"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="replace",
            max_num_fields=MAX_FIELDS,
        )
    except ValueError as error:  # too many fields
        raise WebhookError(f"body: {error}") from None
    return _form(pairs, ())


def _multipart(raw: bytes, content_type: str) -> Form:
    if "\r" in content_type or "\n" in content_type:
        raise WebhookError("Content-Type: contains a line break")
    head = b"Content-Type: " + content_type.encode("utf-8", "replace") + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + raw)
    if message.defects or not message.is_multipart():
        names = ", ".join(type(d).__name__ for d in message.defects) or "no parts"
        raise WebhookError(f"body: not a complete multipart/form-data body ({names})")
    parts = message.get_payload()
    assert isinstance(parts, list)  # a multipart message's payload is its parts
    if len(parts) > MAX_FIELDS:
        raise WebhookError(f"body: more than {MAX_FIELDS} fields")
    pairs: list[tuple[str, str]] = []
    uploads: list[Upload] = []
    for i, part in enumerate(parts):
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise WebhookError(f"body part {i}: no form field name in Content-Disposition")
        if part.is_multipart():
            raise WebhookError(f"{name}: nested multipart fields are not supported")
        data = _payload(part)
        filename = part.get_filename()
        if filename is not None:
            uploads.append(
                Upload(
                    field=name,
                    filename=filename or None,
                    content_type=part.get_content_type()
                    if part.get("content-type")
                    else "application/octet-stream",
                    size=len(data),
                    data=data,
                )
            )
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            text = data.decode(charset, "replace")
        except LookupError:  # an unknown charset name
            text = data.decode("utf-8", "replace")
        pairs.append((name, text))
    return _form(pairs, tuple(uploads))


def _payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _form(pairs: list[tuple[str, str]], uploads: tuple[Upload, ...]) -> Form:
    fields: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in pairs:
        if name in fields:
            repeated.add(name)
        else:
            fields[name] = value
    return Form(MappingProxyType(fields), uploads, frozenset(repeated))
