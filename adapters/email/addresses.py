"""E-mail addresses and message ids as the rest of the adapter uses them.

- A customer is known by their address's *addr-spec*, lowercased (``Ayse@Example.COM``
  and ``ayse@example.com`` are one customer in practice, though RFC 5321 lets a server
  tell local parts apart by case; no mainstream provider does).
- A message id is kept without its angle brackets (``abc@mail.example``): that is the
  provider message id of an inbound mail and of a reply we sent, so the ``In-Reply-To``
  of a customer's answer finds our reply.  Brackets are put back in headers.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import AddressHeader

__all__ = [
    "MAX_ADDRESS",
    "address_problem",
    "decode_header_text",
    "msg_id_problem",
    "msg_ids",
    "parse_mailbox",
]

#: RFC 5321's limit on a forward path, less the two brackets
MAX_ADDRESS = 254
_MAX_LOCAL = 64

_BRACKETED = re.compile(r"<([^<>\s]+)>")
# RFC 5322 msg-id: dot-atom-text "@" (dot-atom-text / no-fold-literal), read leniently:
# any visible character but brackets and whitespace, which would break the header
_ID_TEXT = re.compile(r"[!-~]+")


def parse_mailbox(value: str) -> tuple[str | None, str] | None:
    """``(display name, lowercased addr-spec)`` of the first mailbox of a From value.

    Encoded words (``=?UTF-8?B?...?=``) in the name are decoded; None when no
    plausible address is found.
    """
    try:
        header = policy.default.header_factory("from", value)
    except (HeaderParseError, ValueError, IndexError):
        return None
    if not isinstance(header, AddressHeader):  # pragma: no cover - "from" is an address header
        return None
    for address in header.addresses:
        addr = address.addr_spec.strip().lower()
        if address_problem(addr) is None:
            name = " ".join(address.display_name.split()) or None
            return name, addr
    return None


def address_problem(addr: str) -> str | None:
    """Why ``addr`` cannot be an e-mail recipient, or None when it can."""
    if not addr:
        return "empty"
    if len(addr) > MAX_ADDRESS:
        return f"is {len(addr)} characters long; an address has at most {MAX_ADDRESS}"
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain:
        return f"{addr!r} is not an e-mail address (local@domain)"
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in addr):
        return f"{addr!r} contains spaces or control characters"
    if len(local.encode()) > _MAX_LOCAL:
        return f"the part before @ is longer than {_MAX_LOCAL} bytes"
    if any(ch in '<>(),;:"[]\\' for ch in domain) or "." not in domain.strip("."):
        return f"{domain!r} is not a mail domain"
    if domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return f"{domain!r} is not a mail domain"
    if any(ch in '<>"(),;:\\' for ch in local) and not local.startswith('"'):
        return f"{addr!r} is not an e-mail address (special characters need quotes)"
    return None


def msg_ids(value: str | None) -> list[str]:
    """The message ids of an ``In-Reply-To`` / ``References`` / ``Message-Id`` value,
    in order, without brackets; ids written without brackets (seen in the wild) too."""
    if not value:
        return []
    found = _BRACKETED.findall(value)
    if not found:
        found = value.split()
    return [i for i in found if msg_id_problem(i) is None]


def msg_id_problem(msg_id: str) -> str | None:
    """Why ``msg_id`` (no brackets) cannot go in a Message-ID header, or None."""
    if not msg_id:
        return "empty"
    if len(msg_id) > 900:
        return "is too long for a header line"
    if not _ID_TEXT.fullmatch(msg_id) or "<" in msg_id or ">" in msg_id:
        return f"{msg_id!r} has characters a message id cannot have"
    return None


def decode_header_text(value: str) -> str:
    """An unstructured header value (a Subject) as text: encoded words decoded, folded
    lines and runs of blanks made one space."""
    if "=?" in value:
        with contextlib.suppress(HeaderParseError, ValueError, IndexError):
            value = str(policy.default.header_factory("subject", value))
    return " ".join(value.split())
