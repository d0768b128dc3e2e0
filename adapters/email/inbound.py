"""A Mailgun-style inbound-parse form as one normalized customer message.

What comes from where (field names are Mailgun's; header-named fields are looked up
whatever their case, then in the ``message-headers`` JSON list):

- customer: the ``from`` field's first mailbox — lowercased addr-spec as the sender id
  and the ``("email", addr)`` identity, its display name as the profile name; the
  envelope ``sender`` when ``from`` has no usable address;
- provider message id: the ``Message-Id`` header without brackets (the dedupe key: a
  retried POST carries the same mail); a mail without one (rare, malformed) gets
  ``no-message-id.<sha256>`` of its sender, recipient, date, subject and text, which is
  stable across retries too;
- content: ``Text`` of ``stripped-text`` (the reply without the quoted history and
  signature), else ``body-plain``, else the text of ``body-html``, else the subject;
- ``extra["thread"]``: ``message_id``, ``references`` (what a reply must carry to stay in
  the customer's thread; at most ``MAX_REFERENCES``), ``subject``, ``in_reply_to``;
- ``extra["context"]``: ``{"reply_to": In-Reply-To}`` — the message the customer
  answered, which the server matches against the Message-IDs we sent;
- ``extra["attachments"]``: one media wire map per attached file (``kind`` from its type,
  ``media_id``, ``filename``, ``mime_type``, ``size``; ``content_id`` for pictures shown
  inside an HTML body).  A file Mailgun stored (``store(notify=...)``) keeps its ``url``
  and gets ``media_id`` = ``adapters.links.link_media_id(url)``: the server's media
  endpoint streams it from Mailgun with the account's API key.  A file posted inline
  (``forward(...)``) gets ``media_id`` = :func:`attachment_id` (``eml_…``) and is kept by
  the server on disk, never in Redis (:func:`inline_files` gives them to it);
- ``extra["auto_submitted"]``: the ``Auto-Submitted`` header when it is not ``no``
  (out-of-office and other automatic answers), so bots can decline to answer them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from adapters.base import InboundFile, InboundItem
from adapters.content import Context, Text
from adapters.email._html import html_to_text
from adapters.email.addresses import decode_header_text, msg_ids, parse_mailbox
from adapters.email.form import Form, Upload
from adapters.errors import WebhookError
from adapters.links import link_media_id

__all__ = [
    "MAX_REFERENCES",
    "attachment_id",
    "attachments",
    "inbound_message",
    "inline_files",
    "trim_references",
]

#: References kept for a reply: the thread's first message and the latest ones
#: (RFC 5322 §3.6.4 allows trimming; the first and last are what threading uses)
MAX_REFERENCES = 20


def inbound_message(form: Form) -> InboundItem:
    """The customer's message in the form; ``WebhookError`` when it cannot be one."""
    header = _Headers(form)
    name, addr = _customer(form, header)
    subject = decode_header_text(form.get("subject") or header("Subject") or "")
    message_id = _message_id(form, header, addr, subject)
    in_reply_to = next(iter(msg_ids(header("In-Reply-To"))), None)
    references = msg_ids(header("References")) or ([in_reply_to] if in_reply_to else [])
    thread: dict[str, Any] = {
        "message_id": message_id,
        "references": trim_references(references),
        "subject": subject,
    }
    extra: dict[str, Any] = {}
    if in_reply_to:
        thread["in_reply_to"] = in_reply_to
        extra["context"] = Context(reply_to=in_reply_to).to_wire()
    extra["thread"] = thread
    files = attachments(form, message_id)
    if files:
        extra["attachments"] = files
    auto = (header("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        extra["auto_submitted"] = auto.split(";", 1)[0].strip()
    return InboundItem(
        provider_message_id=message_id,
        sender=addr,
        timestamp=_timestamp(form, header),
        content=Text(_body(form, subject)),
        profile_name=name,
        identities=(("email", addr),),
        extra=extra,
    )


def trim_references(references: list[str]) -> list[str]:
    """At most ``MAX_REFERENCES`` ids: the first (the thread's root) and the latest."""
    unique = list(dict.fromkeys(references))
    if len(unique) <= MAX_REFERENCES:
        return unique
    return [unique[0], *unique[-(MAX_REFERENCES - 1) :]]


def _customer(form: Form, header: _Headers) -> tuple[str | None, str]:
    for field in ("from", "sender"):
        value = form.get(field) or (header("From") if field == "from" else None)
        mailbox = parse_mailbox(value) if value else None
        if mailbox is not None:
            name, addr = mailbox
            return (name if field == "from" else None), addr
    raise WebhookError("from: no e-mail address of the customer (nor in 'sender')")


def _message_id(form: Form, header: _Headers, addr: str, subject: str) -> str:
    ids = msg_ids(header("Message-Id"))
    if ids:
        return ids[0]
    parts = (
        addr,
        form.get("recipient") or "",
        header("Date") or "",
        subject,
        form.get("body-plain") or form.get("body-html") or "",
    )
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "replace")).hexdigest()
    return f"no-message-id.{digest}"


def _timestamp(form: Form, header: _Headers) -> float:
    value = form.get("timestamp")
    if value is not None:
        try:
            stamped = float(value.strip())
        except ValueError:
            stamped = math.nan
        if math.isfinite(stamped) and stamped >= 0:
            return stamped
        raise WebhookError(f"timestamp: {value!r} is not epoch seconds")
    date = header("Date")
    if date:
        try:
            return parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            pass
    raise WebhookError("timestamp: missing (and no readable Date header)")


def _body(form: Form, subject: str) -> str:
    for field in ("stripped-text", "body-plain"):
        text = (form.get(field) or "").replace("\r\n", "\n").strip()
        if text:
            return text
    html = form.get("stripped-html") or form.get("body-html")
    text = html_to_text(html) if html else ""
    return text or subject


def attachments(form: Form, message_id: str = "") -> list[dict[str, Any]]:
    """The files of the mail as media wire maps (stored links first, then uploads).

    ``message_id`` (the provider message id) goes into the ids of inline files.
    """
    cids = _content_ids(form)
    files: list[dict[str, Any]] = []
    stored = form.get("attachments")
    if stored:
        for i, entry in enumerate(_json_list(stored, "attachments")):
            where = f"attachments[{i}]"
            if not isinstance(entry, Mapping):
                raise WebhookError(f"{where}: expected an object")
            url = entry.get("url")
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise WebhookError(f"{where}.url: expected an http(s) URL")
            mime = _text_or_none(entry.get("content-type")) or "application/octet-stream"
            size = entry.get("size")
            files.append(
                _media(
                    mime,
                    _text_or_none(entry.get("name")),
                    size if isinstance(size, int) and not isinstance(size, bool) else None,
                    media_id=link_media_id(url),
                    url=url,
                    content_id=cids.get(url),
                )
            )
    for upload in _inline(form):
        files.append(
            _media(
                upload.content_type,
                upload.filename,
                upload.size,
                media_id=attachment_id(form, message_id, upload),
                content_id=cids.get(upload.field),
            )
        )
    return files


def inline_files(form: Form, message_id: str) -> tuple[InboundFile, ...]:
    """The files posted inline, for the server to keep (named as in :func:`attachments`)."""
    return tuple(
        InboundFile(
            media_id=attachment_id(form, message_id, upload),
            data=upload.data,
            mime_type=upload.content_type,
            filename=upload.filename,
        )
        for upload in _inline(form)
    )


def attachment_id(form: Form, message_id: str, upload: Upload) -> str:
    """``eml_`` + 144 bits of SHA-256 over the recipient, the mail, the field and the bytes.

    The same on every retry of the POST (the file is kept once), different for another
    mail, another file, or the same mail sent to another of our addresses.
    """
    parts = (
        (form.get("recipient") or "").lower().encode(),
        message_id.encode("utf-8", "surrogatepass"),
        upload.field.encode("utf-8", "surrogatepass"),
        hashlib.sha256(upload.data).digest(),
    )
    digest = hashlib.sha256(b"\x00".join(parts)).digest()[:18]
    return "eml_" + base64.urlsafe_b64encode(digest).decode("ascii")


def _inline(form: Form) -> list[Upload]:
    return [u for u in form.uploads if u.field.startswith("attachment-")]


def _media(
    mime: str,
    filename: str | None,
    size: int | None,
    *,
    media_id: str,
    url: str | None = None,
    content_id: str | None = None,
) -> dict[str, Any]:
    major = mime.split("/", 1)[0].lower()
    kind = major if major in ("image", "video", "audio") else "document"
    wire: dict[str, Any] = {"kind": kind, "media_id": media_id, "mime_type": mime}
    for key, value in (
        ("url", url),
        ("filename", filename),
        ("size", size),
        ("content_id", content_id),
    ):
        if value is not None:
            wire[key] = value
    return wire


def _content_ids(form: Form) -> dict[str, str]:
    """``content-id-map``: ``{"<cid>": "attachment-1" or a stored URL}``, turned around."""
    raw = form.get("content-id-map")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}  # only a presentation hint: never worth refusing the mail for
    if not isinstance(data, Mapping):
        return {}
    return {
        where: cid.strip("<>")
        for cid, where in data.items()
        if isinstance(cid, str) and isinstance(where, str)
    }


class _Headers:
    """The mail's headers: each its own form field, else from ``message-headers``
    (read once, on first need)."""

    def __init__(self, form: Form) -> None:
        self._form = form
        self._listed: dict[str, str] | None = None

    def __call__(self, name: str) -> str | None:
        value = self._form.header(name)
        if value is not None:
            return value
        if self._listed is None:
            self._listed = _listed_headers(self._form.get("message-headers"))
        return self._listed.get(name.lower())


def _listed_headers(raw: str | None) -> dict[str, str]:
    """``message-headers`` (``[[name, value], ...]``) by lowercased name, first wins."""
    headers: dict[str, str] = {}
    for i, pair in enumerate(_json_list(raw, "message-headers") if raw else []):
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        ):
            raise WebhookError(f"message-headers[{i}]: expected [name, value]")
        headers.setdefault(pair[0].lower(), pair[1])
    return headers


def _json_list(raw: str, field: str) -> list[Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        raise WebhookError(f"{field}: not JSON") from None
    if not isinstance(data, list):
        raise WebhookError(f"{field}: expected a JSON list")
    return data


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
