"""Customers' media that a provider hands over as a URL, streamed to agents on demand.

Messenger and Instagram (Meta's CDN: ``fbcdn.net``, ``fbsbx.com``), Viber
(``dl-media.viber.com``) and Mailgun's stored mail give a link instead of a file id, and
the links expire (Viber's after an hour, Meta's after days, Mailgun's with the stored
mail).  The adapters keep the link in the message's content and give the media object a
``media_id`` of its own, :func:`link_media_id` (``lnk_`` + 144 bits of the URL's
SHA-256): short, opaque, the same on every retry, and nothing but the message itself is
stored.  Agents fetch it through the server's media endpoint, which resolves the id to the
URL *of that conversation's own inbound message* and calls the adapter's ``media_link``.

This module is that fetch, shared by the adapters:

- only URLs whose host is in the account's allow-list are fetched (``media_hosts``
  setting, else the channel's defaults; see :func:`host_rules`), and only over https
  unless an entry names another scheme (``http://127.0.0.1:8080`` for a test server);
  every redirect is checked the same way, and credentials are dropped when a redirect
  leaves the host.  So the endpoint cannot be used as an open proxy: a client can only
  name media ids, the ids only resolve to URLs providers sent, and the URLs only reach
  the provider's hosts;
- the body is streamed chunk by chunk, never held whole; a ``Content-Length`` over the
  limit (``media_max_bytes``, default 100 MiB) is refused before a byte is read, and a
  body that grows past it is cut off (the agent's download fails rather than ending
  short);
- ``media_timeout_s`` (default 30) bounds connecting and each wait for a chunk.

Errors are ``ProviderError``\\ s the server answers precisely: :class:`MediaRefused`
(403: a host outside the allow-list), :class:`MediaGone` (404: the provider answered 403,
404 or 410 — the link expired), :class:`MediaTooLarge` and any other ``ProviderError``
(502: the provider failed, timed out or cannot be reached).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import math
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urljoin, urlsplit

import httpx
import trio

from adapters.base import MediaStream
from adapters.errors import ProviderError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIMEOUT_S",
    "LINK_PREFIX",
    "HostRule",
    "LinkPolicy",
    "MediaGone",
    "MediaRefused",
    "MediaTooLarge",
    "allowed",
    "clean_mime",
    "host_rules",
    "is_link_id",
    "link_media_id",
    "link_policy",
    "open_link",
]

LINK_PREFIX = "lnk_"
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_TIMEOUT_S = 30.0
#: redirects followed per fetch (each checked against the allow-list)
MAX_REDIRECTS = 3

_LINK_ID = re.compile(r"^lnk_[A-Za-z0-9_-]{24}$")
_MIME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def link_media_id(url: str) -> str:
    """The media id of a provider's URL: ``lnk_`` + 24 URL-safe characters of its SHA-256."""
    digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).digest()[:18]
    return LINK_PREFIX + base64.urlsafe_b64encode(digest).decode("ascii")


def is_link_id(media_id: str) -> bool:
    """Whether ``media_id`` is one of :func:`link_media_id` (no provider's own media id)."""
    return bool(_LINK_ID.match(media_id))


# -- the allow-list -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostRule:
    """One entry of an allow-list.

    ``fbcdn.net``: https to that host and every host under it.  ``https://cdn.example.com``
    or ``http://127.0.0.1:8080``: exactly that scheme, host and port (443 / 80 when none).
    """

    scheme: str
    host: str
    port: int | None  # None: the scheme's default port
    subdomains: bool

    def admits(self, scheme: str, host: str, port: int | None) -> bool:
        if scheme != self.scheme:
            return False
        if (port or _DEFAULT_PORTS[scheme]) != (self.port or _DEFAULT_PORTS[self.scheme]):
            return False
        return host == self.host or (self.subdomains and host.endswith("." + self.host))


_DEFAULT_PORTS = {"https": 443, "http": 80}


def host_rules(setting: str | None, defaults: tuple[str, ...]) -> tuple[HostRule, ...]:
    """The allow-list of ``setting`` (comma- or space-separated entries), else ``defaults``.

    A setting replaces the defaults (list them too to keep them).  ``ValueError`` names an
    entry that is not a host name or an ``http(s)://host[:port]`` origin.
    """
    raw = setting if setting is not None and setting.strip() else ",".join(defaults)
    rules = []
    for entry in re.split(r"[,\s]+", raw.strip()):
        if entry:
            rules.append(_rule(entry))
    return tuple(rules)


def _rule(entry: str) -> HostRule:
    problem = ValueError(
        f"media_hosts: {entry!r:.80} is neither a host name (fbcdn.net) "
        "nor an origin (https://cdn.example.com, http://127.0.0.1:8080)"
    )
    if "://" not in entry:
        host = entry.lower().strip(".")
        if not _HOST.match(host):
            raise problem
        return HostRule("https", host, None, subdomains=True)
    try:
        parts = urlsplit(entry)
        port = parts.port
    except ValueError:
        raise problem from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in _DEFAULT_PORTS or not host or parts.path not in ("", "/"):
        raise problem
    return HostRule(parts.scheme, host, port, subdomains=False)


def allowed(url: str, rules: tuple[HostRule, ...]) -> bool:
    """Whether ``url`` may be fetched under ``rules`` (no credentials in the URL either)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if not host or parts.username is not None or parts.password is not None:
        return False
    return any(rule.admits(parts.scheme.lower(), host, port) for rule in rules)


# -- the account's limits ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    """What an account lets the server fetch: where, how much, how patiently."""

    hosts: tuple[HostRule, ...]
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout_s: float = DEFAULT_TIMEOUT_S


def link_policy(
    settings: Mapping[str, str], default_hosts: tuple[str, ...], *, provider: str
) -> LinkPolicy:
    """The account's ``media_hosts``, ``media_max_bytes`` and ``media_timeout_s``.

    A bad setting is an operator's to fix: a ``ProviderError`` (neither retryable nor
    permanent) naming it.
    """
    try:
        hosts = host_rules(settings.get("media_hosts"), default_hosts)
        max_bytes = _positive(settings, "media_max_bytes", DEFAULT_MAX_BYTES)
        timeout = _positive(settings, "media_timeout_s", DEFAULT_TIMEOUT_S)
        if not max_bytes.is_integer():
            raise ValueError(f"media_max_bytes: {max_bytes:g} is not a whole number of bytes")
    except ValueError as error:
        raise ProviderError(None, f"account setting {error}", retryable=False,
                            permanent=False, provider=provider) from None  # fmt: skip
    return LinkPolicy(hosts, int(max_bytes), timeout)


def _positive(settings: Mapping[str, str], key: str, default: float) -> float:
    value = (settings.get(key) or "").strip()
    if not value:
        return float(default)
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{key}: {value!r:.40} is not a positive number")
    return number


# -- errors ----------------------------------------------------------------------------------


class MediaRefused(ProviderError):
    """The URL's host is not in the account's allow-list: never fetched."""

    status: ClassVar[int] = 403


class MediaGone(ProviderError):
    """The provider no longer serves the file (403, 404, 410: most often an expired link)."""

    status: ClassVar[int] = 404


class MediaTooLarge(ProviderError):
    """The file is larger than the account's ``media_max_bytes``."""


def _refused(url: str, provider: str) -> MediaRefused:
    shown = urlsplit(url).netloc if "://" in url else url
    return MediaRefused(
        None,
        f"{shown[:100]!r} is not in the account's media_hosts: not fetched",
        retryable=False,
        permanent=True,
        provider=provider,
    )


# -- the fetch ---------------------------------------------------------------------------------


@asynccontextmanager
async def open_link(
    url: str,
    http: httpx.AsyncClient,
    policy: LinkPolicy,
    *,
    provider: str,
    auth: tuple[str, str] | None = None,
    mime_type: str | None = None,
) -> AsyncIterator[MediaStream]:
    """Stream the file at ``url`` (see the module's docstring); read it inside the block.

    ``auth`` is HTTP basic auth, sent only to the URL's own host; ``mime_type`` is what the
    message said the file is, used when the provider's answer does not say.
    """
    timeout = httpx.Timeout(policy.timeout_s, connect=min(policy.timeout_s, 10.0))
    origin = _origin(url)
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        if not allowed(current, policy.hosts):
            raise _refused(current, provider)
        request = http.build_request("GET", current, timeout=timeout)
        credentials = auth if _origin(current) == origin else None
        try:
            response = await http.send(request, auth=credentials, stream=True,
                                       follow_redirects=False)  # fmt: skip
        except httpx.TimeoutException:
            raise _failed(provider, f"no answer within {policy.timeout_s:g} s") from None
        except httpx.HTTPError as error:
            raise _failed(provider, f"could not fetch the file ({type(error).__name__})") from None
        try:
            location = response.headers.get("location")
            if response.is_redirect and location:
                current = urljoin(current, location)
                continue
            if not response.is_success:
                raise _answer_error(response, provider)
            size = _length(response)
            if size is not None and size > policy.max_bytes:
                raise _too_large(policy.max_bytes, provider)
            yield MediaStream(
                clean_mime(response.headers.get("content-type"), mime_type),
                size,
                _limited(response, policy.max_bytes, provider),
            )
            return
        finally:
            with trio.CancelScope(shield=True):
                await response.aclose()
    raise _failed(provider, f"more than {MAX_REDIRECTS} redirects")


def _origin(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", "", None


async def _limited(response: httpx.Response, limit: int, provider: str) -> AsyncIterator[bytes]:
    seen = 0
    chunks = response.aiter_bytes()
    try:
        async for chunk in chunks:
            seen += len(chunk)
            if seen > limit:
                raise _too_large(limit, provider)
            yield chunk
    except BaseException:
        await _abandon(response, chunks)
        raise


async def _abandon(response: httpx.Response, chunks: AsyncIterator[bytes]) -> None:
    """Stop reading mid-body: close the connection, then let httpx's iterators end on the
    closed stream (left suspended, they would be finalized by the garbage collector)."""
    with trio.CancelScope(shield=True):
        await response.aclose()
        with contextlib.suppress(Exception):  # the read fails on the closed stream: done
            async for _ in chunks:
                pass


def _length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def clean_mime(given: str | None, hint: str | None = None) -> str:
    """``given`` when it is a content type (parameters kept), else ``hint``, else
    ``application/octet-stream``: nothing else ever reaches a response header."""
    for value in (given, hint):
        if value:
            base = value.split(";", 1)[0].strip()
            if _MIME.match(base) and base.lower() != "application/octet-stream":
                return value.strip() if value.isascii() and value.isprintable() else base
    return "application/octet-stream"


def _answer_error(response: httpx.Response, provider: str) -> ProviderError:
    status = response.status_code
    if status in (403, 404, 410):
        return MediaGone(
            None,
            f"the provider no longer serves the file (HTTP {status}); its links expire",
            retryable=False,
            permanent=True,
            http_status=status,
            provider=provider,
        )
    return ProviderError(
        None,
        f"HTTP {status} fetching the file",
        retryable=status == 429 or status >= 500,
        permanent=False,
        http_status=status,
        provider=provider,
    )


def _failed(provider: str, message: str) -> ProviderError:
    return ProviderError(None, message, retryable=True, permanent=False, provider=provider)


def _too_large(limit: int, provider: str) -> MediaTooLarge:
    return MediaTooLarge(
        None,
        f"the file is larger than the account's media_max_bytes ({limit} bytes)",
        retryable=False,
        permanent=True,
        provider=provider,
    )
