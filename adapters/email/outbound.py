"""An agent's message as an e-mail reply in the customer's thread (pure: no sockets).

The mail is a single ``text/plain; charset=utf-8`` part (7bit when it is short ASCII,
else quoted-printable, so it stays readable in any client).  Its headers:

- ``Message-ID: <{message_id}.{digest}@{domain}>`` — made from *our* message id, so a
  resend of the same message (after a crash) carries the same id and mail clients that
  collapse duplicates (Gmail does) show it once.  ``digest`` hashes the recipient, the
  content and the parent mail: our message ids are counters (``msg_42``), which start
  again after a data reset or in another installation sending from the same domain, and
  a *different* mail under a reused Message-ID would be hidden as a duplicate;
- ``In-Reply-To: <customer's last Message-Id>`` and ``References: <thread references>
  <that id>`` (RFC 5322 §3.6.4) so the reply lands in the customer's thread;
- ``Subject: Re: <the thread's subject>`` (not doubled when it already starts with
  ``Re:``; cut to ``MAX_SUBJECT`` characters: the customer chose it, the agent cannot
  shorten it), ``default_subject`` when there is no thread yet.

Content an e-mail cannot show natively gets a text fallback (``render_text``): reply
buttons and list menus become numbered options (the customer answers with a number),
a location a map link, media sent by URL a link, contact cards their fields as lines.
WhatsApp-only kinds (templates, catalog products) and what only customers send are
refused with a ``ContentError`` naming ``kind``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from adapters.base import OutboundItem
from adapters.content import (
    Audio,
    Catalog,
    ContactCard,
    Contacts,
    Content,
    ContentError,
    Document,
    Image,
    ListMessage,
    Location,
    LocationRequest,
    Product,
    ProductList,
    ReplyButtons,
    Sticker,
    Template,
    Text,
    Video,
)
from adapters.email.addresses import address_problem, msg_id_problem, msg_ids
from adapters.email.inbound import trim_references

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_SUBJECT",
    "Sender",
    "Thread",
    "build_email",
    "check_recipient",
    "message_id_for",
    "render_text",
    "reply_subject",
    "thread_of",
]

#: a mail body agents write is text: more than this is a paste gone wrong
MAX_BODY_BYTES = 256 * 1024
#: a subject longer than this is cut (RFC 5322 wants lines under 78, folding allows more)
MAX_SUBJECT = 250

_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_REPLY_PREFIX = re.compile(r"\s*re\s*:", re.IGNORECASE)
_MAPS = "https://www.google.com/maps/search/?api=1&query={lat},{lon}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sender:
    """Who replies: the account's address and name, and the domain of our Message-IDs."""

    address: str
    name: str | None = None
    domain: str

    @classmethod
    def of(cls, address: str, name: str | None = None, domain: str | None = None) -> Sender:
        """The sender for ``address``; Message-IDs under its domain unless told otherwise."""
        return cls(address=address, name=name or None,
                   domain=domain or address.rpartition("@")[2])  # fmt: skip


def check_recipient(to: str) -> None:
    """``ContentError`` on ``to`` unless it is a deliverable address."""
    problem = address_problem(to)
    if problem is not None:
        raise ContentError.at("to", problem)


def render_text(content: Content) -> str:
    """The mail's text for ``content``; ``ContentError`` when e-mail cannot carry it."""
    text = _render(content)
    if not text.strip():
        raise ContentError.at("body", "an e-mail needs some text")
    size = len(text.encode())
    if size > MAX_BODY_BYTES:
        raise ContentError.at(
            "body", f"is {size} bytes long; an e-mail reply may have at most {MAX_BODY_BYTES}"
        )
    return text


def _render(content: Content) -> str:
    if isinstance(content, Text):
        return content.body
    if isinstance(content, LocationRequest):
        return content.body
    if isinstance(content, Image | Video | Audio | Document | Sticker):
        return "\n".join(_media_lines(content, ""))
    if isinstance(content, Location):
        link = _MAPS.format(lat=content.latitude, lon=content.longitude)
        return "\n".join(x for x in (content.name, content.address, link) if x)
    if isinstance(content, Contacts):
        return "\n\n".join(_card_lines(card) for card in content.contacts)
    if isinstance(content, ReplyButtons):
        options = [f"{n}. {b.title}" for n, b in enumerate(content.buttons, 1)]
        return _menu(_header_lines(content.header), content.body, options, content.footer)
    if isinstance(content, ListMessage):
        lines: list[str] = []
        n = 0
        for section in content.sections:
            if section.title and len(content.sections) > 1:
                lines.append(f"{section.title}:" if lines == [] else f"\n{section.title}:")
            for row in section.rows:
                n += 1
                lines.append(
                    f"{n}. {row.title}" + (f" — {row.description}" if row.description else "")
                )
        header = [content.header] if content.header else []
        return _menu(header, content.body, lines, content.footer)
    if isinstance(content, Template | Product | ProductList | Catalog):
        raise ContentError.at(
            "kind", f"{content.kind} messages are WhatsApp's; an e-mail reply is text"
        )
    raise ContentError.at("kind", f"{content.kind} is sent by customers, not to them")


def _menu(header: list[str], body: str, options: list[str], footer: str | None) -> str:
    parts = ["\n".join(header)] if header else []
    parts += [body, "\n".join(options)]
    if footer:
        parts.append(footer)
    return "\n\n".join(parts)


def _header_lines(header: str | Image | Video | Document | None) -> list[str]:
    if header is None:
        return []
    if isinstance(header, str):
        return [header]
    return _media_lines(header, "header.")


def _media_lines(media: Image | Video | Audio | Document | Sticker, where: str) -> list[str]:
    if not media.url:
        raise ContentError.at(
            f"{where}url", "e-mail sends files as links: give the file's url, not a media_id"
        )
    caption = getattr(media, "caption", None)
    filename = getattr(media, "filename", None)
    return [x for x in (caption, filename, media.url) if x]


def _card_lines(card: ContactCard) -> str:
    lines = [card.formatted_name]
    work = ", ".join(x for x in (card.job_title, card.department, card.company) if x)
    if work:
        lines.append(work)
    lines += [_typed(p.phone, p.type) for p in card.phones]
    lines += [_typed(e.email, e.type) for e in card.emails]
    lines += [_typed(u.url, u.type) for u in card.urls]
    for a in card.addresses:
        place = ", ".join(x for x in (a.street, a.city, a.state, a.zip, a.country) if x)
        if place:
            lines.append(_typed(place, a.type))
    if card.birthday:
        lines.append(card.birthday)
    return "\n".join(lines)


def _typed(value: str, kind: str | None) -> str:
    return f"{value} ({kind.lower()})" if kind else value


# -- headers ---------------------------------------------------------------------------


def message_id_for(message_id: str, domain: str, *, mail: str = "") -> str:
    """Our Message-ID (without brackets) for our message ``message_id`` carrying ``mail``
    (what identifies the mail beyond the id): the same for the same pair, every time."""
    if mail:
        message_id = f"{message_id}.{hashlib.sha256(mail.encode()).hexdigest()[:12]}"
    local = message_id if _DOT_ATOM.fullmatch(message_id) and len(message_id) <= 200 else (
        "sb." + hashlib.sha256(message_id.encode()).hexdigest()[:40]
    )  # fmt: skip
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        domain = "switchboard.invalid"
    return f"{local}@{domain}"


def reply_subject(subject: str | None, default: str) -> str:
    """``Re: subject`` (one ``Re:`` only), on one line, at most ``MAX_SUBJECT`` characters."""
    text = " ".join((subject or "").split())
    if not text:
        text = " ".join(default.split())
    elif not _REPLY_PREFIX.match(text):
        text = f"Re: {text}"
    if len(text) > MAX_SUBJECT:
        text = text[: MAX_SUBJECT - 1].rstrip() + "…"
    return text


@dataclass(frozen=True, slots=True)
class Thread:
    """What the customer's last mail said about its thread (``InboundItem.extra["thread"]``)."""

    subject: str | None
    references: tuple[str, ...]
    message_id: str | None


def thread_of(extra: Mapping[str, Any]) -> Thread:
    """The thread map an outbound item carries, read leniently (it was stored by us)."""
    nested = extra.get("thread")
    data: Mapping[str, Any] = nested if isinstance(nested, Mapping) else extra
    subject = data.get("subject")
    references = data.get("references")
    refs = [r for r in references if isinstance(r, str)] if isinstance(references, list) else []
    message_id = data.get("message_id")
    return Thread(
        subject if isinstance(subject, str) else None,
        tuple(i for r in refs for i in msg_ids(f"<{r.strip('<>')}>")),
        message_id.strip("<>") if isinstance(message_id, str) and message_id else None,
    )


def build_email(
    item: OutboundItem, sender: Sender, *, now: float, default_subject: str
) -> EmailMessage:
    """The reply to send for ``item``; ``ContentError`` when it cannot be one."""
    check_recipient(item.to)
    text = render_text(item.content)
    thread = thread_of(item.extra)
    parent = (item.reply_to or "").strip().strip("<>") or thread.message_id
    if parent is not None and msg_id_problem(parent) is not None:
        parent = None
    mail = EmailMessage()
    mail["From"] = Address(display_name=sender.name or "", addr_spec=sender.address)
    mail["To"] = item.to
    mail["Subject"] = reply_subject(thread.subject, default_subject)
    mail["Date"] = formatdate(now, usegmt=True)
    identity = json.dumps([item.to, item.content.to_wire(), parent], ensure_ascii=False)
    mail["Message-ID"] = f"<{message_id_for(item.message_id, sender.domain, mail=identity)}>"
    if parent is not None:
        references = trim_references([*thread.references, parent])
        mail["In-Reply-To"] = f"<{parent}>"
        mail["References"] = " ".join(f"<{r}>" for r in references)
    ascii_short = text.isascii() and all(len(line) <= 76 for line in text.splitlines())
    mail.set_content(text, cte="7bit" if ascii_short else "quoted-printable")
    return mail
