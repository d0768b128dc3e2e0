"""E-mail as a :class:`adapters.base.ChannelAdapter`: inbound parse webhooks in, SMTP out.

Account settings (all strings):

- ``signing_key`` — Mailgun's *HTTP webhook signing key*; signs every inbound POST;
- ``max_age_s`` — how old a signed timestamp may be, default ``900`` (15 minutes);
- ``smtp_host``, ``smtp_port`` (default ``587``, ``465`` with ``smtp_ssl``),
  ``smtp_username``, ``smtp_password`` — the server replies are handed to;
- ``smtp_starttls`` — ``"true"`` (default) upgrades with STARTTLS and refuses to go on
  without it; ``"false"`` for a relay on a trusted network;
- ``smtp_ssl`` — ``"true"`` for TLS from the first byte (port 465);
- ``smtp_timeout_s`` — per step of the SMTP dialogue, default ``30``;
- ``from_address``, ``from_name`` — who replies (``support@example.com``, ``Example``);
- ``message_id_domain`` — the domain of our Message-IDs, default ``from_address``'s;
- ``default_subject`` — the subject of a mail that answers no thread (default
  ``from_name``);
- ``api_key`` — Mailgun's API key, to fetch the files of stored mail
  (``store(notify=...)``): sent as HTTP basic auth ``api:<key>``;
- ``media_hosts``, ``media_max_bytes``, ``media_timeout_s`` — what the server may fetch
  when an agent opens a stored file (``adapters.links``; default hosts
  :data:`MEDIA_HOSTS`).

Files posted inline (``forward(...)``) come back from ``parse`` as
``WebhookResult.files``: the server keeps them on disk before it accepts the message.
Files of stored mail are links: a ``LinkMediaSource`` (``media_link``) streams them.

One POST is read once: ``verify`` keeps the parsed form of the raw bytes it checked and
``parse`` takes it when called with the same bytes object (bytes are immutable, so
identity is enough), then lets it go.
"""

from __future__ import annotations

import hashlib
import random as _random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from email import policy
from typing import ClassVar

import httpx
import trio

from adapters.base import Headers, MediaStream, OutboundItem, WebhookResult
from adapters.content import ContentError
from adapters.email.addresses import address_problem
from adapters.email.form import Form, parse_form
from adapters.email.inbound import inbound_message, inline_files
from adapters.email.outbound import Sender, build_email, check_recipient, render_text
from adapters.email.signing import DEFAULT_MAX_AGE_S, TokenCache, check_signature
from adapters.email.smtp import Envelope, RetryPolicy, SmtpClient, SmtpConfig, smtp_error
from adapters.errors import ProviderError, SignatureError, WebhookError
from adapters.links import link_policy, open_link

__all__ = ["MEDIA_HOSTS", "EmailAdapter"]

#: Mailgun's stored-message hosts (``storage.mailgun.net``,
#: ``storage-europe-west1.api.mailgun.net``, older ``api.mailgun.org`` links), over https
MEDIA_HOSTS = ("mailgun.net", "mailgun.org")

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class EmailAdapter:
    """E-mail: Mailgun-style signed inbound-parse webhooks, replies by SMTP."""

    channel: ClassVar[str] = "email"

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = trio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self._clock = clock
        self._retry = retry
        self._sleep = sleep
        self._random = random
        self._tokens = TokenCache()
        self._last: tuple[bytes, str | None, Form] | None = None
        self._clients: dict[SmtpConfig, SmtpClient] = {}

    # -- inbound ---------------------------------------------------------------------------

    def verify(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> None:
        try:
            form = self._form(raw, headers)
        except WebhookError as error:  # the signature is inside the form: none to check
            raise SignatureError(f"no signed form in the body ({error})") from None
        try:
            max_age = _number(settings, "max_age_s", DEFAULT_MAX_AGE_S)
        except ValueError as error:  # fail closed: no check is not an option
            raise SignatureError(str(error)) from None
        now = self._clock()
        try:
            token, stamped = check_signature(
                form, settings.get("signing_key", ""), now=now, max_age_s=max_age
            )
        except WebhookError as error:  # a signing field posted twice
            raise SignatureError(str(error)) from None
        digest = hashlib.sha256(raw).hexdigest()
        if not self._tokens.first_use(token, stamped, now=now, max_age_s=max_age, body=digest):
            raise SignatureError("token: already used for another body (a replayed webhook)")

    def parse(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> WebhookResult:
        del settings
        form = self._form(raw, headers)
        self._last = None  # read: a large body is not kept until the next webhook
        message = inbound_message(form)
        files = inline_files(form, message.provider_message_id)
        return WebhookResult(messages=(message,), files=files)

    @asynccontextmanager
    async def media_link(
        self,
        url: str,
        settings: Mapping[str, str],
        http: httpx.AsyncClient,
        *,
        mime_type: str | None = None,
    ) -> AsyncIterator[MediaStream]:
        """A file of a mail Mailgun stored, fetched with the account's API key."""
        key = (settings.get("api_key") or "").strip()
        if not key:
            raise ProviderError(None, "api_key setting: missing (needed to fetch stored files)",
                                retryable=False, permanent=False, provider="Mailgun")  # fmt: skip
        allowed = link_policy(settings, MEDIA_HOSTS, provider="Mailgun")
        async with open_link(url, http, allowed, provider="Mailgun", auth=("api", key),
                             mime_type=mime_type) as stream:  # fmt: skip
            yield stream

    def _form(self, raw: bytes, headers: Headers) -> Form:
        content_type = headers.get("Content-Type")
        last = self._last
        if last is not None and last[0] is raw and last[1] == content_type:
            return last[2]
        form = parse_form(raw, content_type)
        self._last = (raw, content_type, form)
        return form

    # -- outbound --------------------------------------------------------------------------

    def check(self, item: OutboundItem, now: float) -> None:
        del now  # e-mail has no messaging window
        if item.to:  # an empty one is refused by send, like the other channels
            check_recipient(item.to)
        render_text(item.content)

    async def send(
        self, item: OutboundItem, settings: Mapping[str, str], http: httpx.AsyncClient
    ) -> str:
        del http  # SMTP, not HTTP
        sender = _sender(settings)
        try:
            mail = build_email(item, sender, now=self._clock(),
                               default_subject=_default_subject(settings))  # fmt: skip
        except ContentError as error:  # check() refuses it first; here it can only fail
            raise smtp_error(None, str(error), retryable=False, permanent=True) from error
        smtputf8 = not (item.to.isascii() and sender.address.isascii())
        data = mail.as_bytes(policy=policy.SMTPUTF8 if smtputf8 else policy.SMTP)
        envelope = Envelope(mail_from=sender.address, rcpt_to=item.to, data=data,
                            smtputf8=smtputf8)  # fmt: skip
        client = self._client(_smtp_config(settings, helo_name=_helo_name(sender.address)))
        await client.send(envelope, idempotency_key=item.message_id or None)
        return str(mail["Message-ID"]).strip().strip("<>")

    def _client(self, config: SmtpConfig) -> SmtpClient:
        client = self._clients.get(config)
        if client is None:
            client = SmtpClient(config, retry=self._retry, sleep=self._sleep, random=self._random)
            self._clients[config] = client
        return client


def _default_subject(settings: Mapping[str, str]) -> str:
    return settings.get("default_subject") or settings.get("from_name") or ""


def _sender(settings: Mapping[str, str]) -> Sender:
    address = (settings.get("from_address") or "").strip()
    problem = address_problem(address)
    if problem is not None:
        raise smtp_error(None, f"from_address setting: {problem}",
                         retryable=False, permanent=False)  # fmt: skip
    return Sender.of(address, settings.get("from_name"), settings.get("message_id_domain"))


def _helo_name(address: str) -> str:
    """The name we give in EHLO: our sending domain (in IDNA, as EHLO wants ASCII)."""
    try:
        return address.rpartition("@")[2].encode("idna").decode("ascii")
    except UnicodeError:
        return "localhost"


def _smtp_config(settings: Mapping[str, str], *, helo_name: str) -> SmtpConfig:
    host = (settings.get("smtp_host") or "").strip()
    if not host:
        raise smtp_error(None, "smtp_host setting: missing", retryable=False, permanent=False)
    implicit_tls = _flag(settings, "smtp_ssl", default=False)
    try:
        port = _number(settings, "smtp_port", 465 if implicit_tls else 587)
        timeout = _number(settings, "smtp_timeout_s", 30.0)
        if not (port.is_integer() and port < 65536):
            raise ValueError(f"smtp_port setting: {port:g} is not a port")
    except ValueError as error:
        raise smtp_error(None, str(error), retryable=False, permanent=False) from None
    return SmtpConfig(
        host=host,
        port=int(port),
        username=settings.get("smtp_username") or None,
        password=settings.get("smtp_password") or None,
        starttls=_flag(settings, "smtp_starttls", default=not implicit_tls),
        implicit_tls=implicit_tls,
        timeout=timeout,
        helo_name=helo_name,
    )


def _flag(settings: Mapping[str, str], key: str, *, default: bool) -> bool:
    value = (settings.get(key) or "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise smtp_error(None, f"{key} setting: {value!r} is neither true nor false",
                     retryable=False, permanent=False)  # fmt: skip


def _number(settings: Mapping[str, str], key: str, default: float) -> float:
    """A positive number setting; ``ValueError`` naming the setting when it is not one."""
    value = (settings.get(key) or "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number < float("inf"):
        raise ValueError(f"{key} setting: {value!r} is not a positive number")
    return number
