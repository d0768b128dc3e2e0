"""Webhook ingress: ``/webhooks/{channel}/{account}``.

How it works, for every POST, in this order (CONTRACT.md):

1. the account must exist for that channel (else ``404``); the body may not exceed
   ``limits.webhook_max_bytes`` (``413``);
2. the signature is checked on the **exact raw bytes** with the account's secret
   (``401``);
3. the channel's adapter parses the body into normalized messages (``400`` with the
   path of what is wrong); files that came inside the body (an e-mail's inline
   attachments) are kept in the blob store (``storage.blobs``, on disk, never in Redis)
   before anything is written (``503`` when they cannot be: the provider retries);
4. the messages are appended to the durable inbox, each with its provider-id dedupe
   key, in one atomic write; the handler waits (without blocking trio) until Redis
   confirmed it;
5. the new messages (not repeats) are handed to routing as soon as Redis confirmed the
   write — by the write's completion itself, so a provider that hangs up, or a write
   that lands after the handler gave up waiting, still delivers what is on disk — and
   only then is the answer ``200``.

A non-2xx answer records nothing.  Parsing and the wait for storage run on the
trio loop without blocking it, so a burst of webhooks never holds agent traffic.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import prometheus_client
import trio
from quart import Blueprint, Response, request

from actors.messages import CallEnded, CallStarted, DeliveryUpdate, Inbound
from actors.routing.model import Channel
from adapters import meta
from adapters.base import (
    CallEvent,
    ChannelAdapter,
    Headers,
    InboundFile,
    InboundItem,
    ReceiptItem,
)
from adapters.errors import SignatureError, WebhookError
from server.bridge import TrioFuture
from server.catalog import Account
from server.channels import META_VERIFY
from server.services import Services
from storage.blobs import BlobStore, blob_root
from storage.store import AcceptResult

__all__ = ["FastWebhooks", "Ingress", "Parsed", "webhooks_blueprint"]

logger = logging.getLogger(__name__)

WEBHOOKS = prometheus_client.Counter(
    "switchboard_webhooks_total", "Webhook requests by channel and outcome", ["channel", "outcome"]
)
WEBHOOK_MESSAGES = prometheus_client.Counter(
    "switchboard_webhook_messages_total",
    "Customer messages taken in by webhooks (repeats excluded)",
    ["channel"],
)
_COUNTERS: dict[tuple[Any, ...], Any] = {}


def _counted(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once (the webhook path counts every call)."""
    key = (metric, *labels)
    child = _COUNTERS.get(key)
    if child is None:
        child = _COUNTERS[key] = metric.labels(*labels)
    return child


ACCEPT_SECONDS = prometheus_client.Histogram(
    "switchboard_storage_accept_seconds",
    "Time from a webhook's parse to its durable write",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A provider's word on a message we sent: delivered, read, failed..."""

    provider_message_id: str
    status: str
    timestamp: float
    error: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a channel adapter found in one webhook body."""

    messages: list[Inbound]
    receipts: list[Receipt] = field(default_factory=list)
    calls: list[CallEvent] = field(default_factory=list)
    #: the body to answer with (a provider that takes a reply in the webhook's answer)
    answer: Mapping[str, Any] | None = None
    #: files the messages name that came inside the body, to keep before them
    files: list[InboundFile] = field(default_factory=list)


class WebhookRejected(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class _Route:
    """The accept write's completion (on the storage writer's thread): the messages that
    were not repeats go to routing the moment they are on disk, whoever still waits."""

    __slots__ = ("done", "messages", "route")

    def __init__(
        self,
        messages: list[Inbound],
        route: Callable[[Inbound], None],
        done: TrioFuture[list[Inbound]],
    ) -> None:
        self.messages = messages
        self.route = route
        self.done = done

    def set(self, value: list[AcceptResult] | None = None) -> None:
        fresh = [
            dataclasses.replace(m, inbox_id=r.inbox_id)
            for m, r in zip(self.messages, value or [], strict=True)
            if not r.duplicate
        ]
        for message in fresh:
            try:
                self.route(message)
            except Exception:  # on disk: recovery routes it at the next start
                logger.exception("message %s written but not routed", message.inbox_id)
        self.done.set(fresh)

    def set_exception(self, exc_info: Any = None) -> None:
        self.done.set_exception(exc_info)


def _error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _error(status: int, code: str, message: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    # a body refused unread (413) leaves the connection unusable: the client must not reuse it
    headers = {"Connection": "close"} if status == 413 else {}
    return _error_body(code, message), status, headers


# -- channel adapters ------------------------------------------------------------------


def _inbound(account: Account, channel: Channel, item: InboundItem) -> Inbound:
    return Inbound(
        channel=channel,
        account=account.account_id,
        sender=item.sender,
        provider_message_id=item.provider_message_id,
        timestamp=item.timestamp,
        content={**item.content.to_wire(), **dict(item.extra)},
        identities=item.identities,
        profile_name=item.profile_name,
        workspace=account.workspace,
    )


def _receipt(item: ReceiptItem) -> Receipt:
    return Receipt(
        item.provider_message_id,
        item.status,
        item.timestamp,
        dict(item.error) if item.error is not None else None,
    )


_CHANNELS = frozenset(c.value for c in Channel)


def _known(channel_name: str) -> str:
    return channel_name if channel_name in _CHANNELS else "unknown"


class _Headers:
    """The request's headers as adapters read them (case-insensitive ``get``)."""

    def __init__(self, headers: Any) -> None:
        self._headers = headers

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self._headers.get(key, default)
        return None if value is None else str(value)


# -- the blueprint ---------------------------------------------------------------------------


class Ingress:
    """The steps of one webhook, over the server's services."""

    def __init__(self, services: Services, adapters: Mapping[Channel, ChannelAdapter]) -> None:
        self.adapters = adapters
        self.catalog = services.catalog
        self.storage = services.storage
        self.routing = services.routing
        self.limit = services.config.limits.webhook_max_bytes
        self.blobs = BlobStore(blob_root(services.config.server.data_dir))

    def find(self, channel_name: str, account_id: str) -> tuple[Channel, Account]:
        try:
            channel = Channel(channel_name)
        except ValueError:
            raise WebhookRejected(404, "unknown_channel", f"no channel {channel_name!r}") from None
        account = self.catalog.account(channel, account_id)
        if account is None:
            msg = f"no {channel.value} account {account_id!r}"
            raise WebhookRejected(404, "unknown_account", msg)
        return channel, account

    async def body(self) -> bytes:
        too_large = WebhookRejected(413, "too_large", f"body over {self.limit} bytes")
        length = request.content_length
        if length is not None and length > self.limit:
            raise too_large
        raw = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        if len(raw) > self.limit:
            raise too_large
        return raw

    async def receive(
        self, channel_name: str, account_id: str, headers: Headers, raw: bytes
    ) -> dict[str, Any]:
        """Steps 1 to 5 for a body already read (whatever the answer: a keep-alive
        connection with an unread body would stall the provider's next request on it)."""
        channel, account = self.find(channel_name, account_id)
        adapter = self.adapters.get(channel)
        if adapter is None:
            raise WebhookRejected(404, "unsupported_channel", f"{channel.value}: not yet")
        parsed = self.parse(adapter, account, channel, raw, headers)
        if parsed.files:
            await self.keep_files(channel, account, parsed.files)
        fresh = await self.accept(parsed.messages)
        if parsed.receipts or parsed.calls:
            # written before the 200, and shown once written: nothing may cancel us
            # between the two (a provider hanging up mid-request)
            with trio.CancelScope(shield=True):
                if parsed.receipts:
                    await self.record_receipts(channel, account, parsed.receipts)
                if parsed.calls:
                    await self.record_calls(account, parsed.calls)
        _counted(WEBHOOK_MESSAGES, channel.value).inc(len(fresh))
        if parsed.answer is not None:
            return dict(parsed.answer)
        duplicates = len(parsed.messages) - len(fresh)
        return {"accepted": len(fresh), "duplicates": duplicates}

    async def keep_files(
        self, channel: Channel, account: Account, files: list[InboundFile]
    ) -> None:
        """Keep the files on disk (each once: a retry names the same ids) before the
        messages that name them are written."""
        blobs = self.blobs

        def keep() -> None:
            for file in files:
                record = {"account": account.account_id, "channel": channel.value,
                          "filename": file.filename, "mime_type": file.mime_type}  # fmt: skip
                blobs.put(file.media_id, file.data, record)

        try:
            await trio.to_thread.run_sync(keep)
        except (OSError, ValueError) as error:
            logger.error("%s %s: attachments not kept: %s", channel.value,
                         account.account_id, error)  # fmt: skip
            message = "the attachments could not be kept (is the data directory writable?)"
            raise WebhookRejected(503, "files_unavailable", message) from None

    async def record_calls(self, account: Account, calls: list[CallEvent]) -> None:
        """Calls feed cross-channel affinity: written first, then told to the directory."""
        storage = self.storage
        ops = []
        for call in calls:
            record = {"phone": call.phone, "agent_id": call.agent_id,
                      "workspace": account.workspace}  # fmt: skip
            started = call.event == "call.started"
            ops.append(storage.call_op(call.call_id, record if started else None))
        await self._durably(ops)
        for call in calls:
            kind = CallStarted if call.event == "call.started" else CallEnded
            self.routing.directory.tell(
                kind(call.call_id, call.phone, call.agent_id, account.workspace)
            )

    async def _durably(self, ops: list[Any]) -> None:
        done: TrioFuture[Any] = TrioFuture()
        self.storage.writer.commit(ops, done=done)
        try:
            await done.wait(timeout=_DURABLE_TIMEOUT_S)
        except trio.TooSlowError:
            raise WebhookRejected(503, "storage_unavailable", "not durably written") from None

    @staticmethod
    def parse(
        adapter: ChannelAdapter, account: Account, channel: Channel, raw: bytes, headers: Headers
    ) -> Parsed:
        try:
            adapter.verify(raw, headers, account.settings)
        except SignatureError as error:
            raise WebhookRejected(401, "bad_signature", str(error)) from None
        try:
            result = adapter.parse(raw, headers, account.settings)
        except WebhookError as error:
            raise WebhookRejected(400, "malformed", str(error)) from None
        messages = [_inbound(account, channel, item) for item in result.messages]
        receipts = [_receipt(r) for r in result.receipts]
        return Parsed(messages, receipts, list(result.calls), result.answer, list(result.files))

    async def accept(
        self, messages: list[Inbound], route: Callable[[Inbound], None] | None = None
    ) -> list[Inbound]:
        """Write ``messages`` to the durable inbox and route the ones that are not
        repeats once written (``route``, from the storage writer's thread; default
        ``routing.deliver``); returns those."""
        if not messages:
            return []
        started = time.perf_counter()
        done: TrioFuture[list[Inbound]] = TrioFuture()
        self.storage.accept(messages, _Route(messages, route or self.routing.deliver, done))
        try:
            fresh = await done.wait(timeout=_DURABLE_TIMEOUT_S)
        except trio.TooSlowError:
            # not confirmed in time (storage down): the provider will retry, and the
            # dedupe key makes the retry a repeat if this write lands meanwhile (the
            # write's completion routes it then)
            raise WebhookRejected(503, "storage_unavailable", "not durably written") from None
        ACCEPT_SECONDS.observe(time.perf_counter() - started)
        return fresh

    async def record_receipts(
        self, channel: Channel, account: Account, receipts: list[Receipt]
    ) -> None:
        """Log each receipt in its conversation (durably, before the 200), then show it."""
        storage = self.storage

        def lookup() -> list[tuple[Receipt, tuple[str, str]]]:
            found = []
            for receipt in receipts:
                where = storage.message_of(
                    channel.value, account.account_id, receipt.provider_message_id
                )
                if where is not None:
                    found.append((receipt, where))
            return found

        known = await trio.to_thread.run_sync(lookup)
        if not known:
            return
        ops = [
            storage.log_entry(cid, {
                "type": "delivery", "at": receipt.timestamp, "message_id": mid,
                "status": receipt.status, "provider_message_id": receipt.provider_message_id,
                "error": receipt.error,
            })
            for receipt, (cid, mid) in known
        ]  # fmt: skip
        await self._durably(ops)
        for receipt, (cid, mid) in known:
            update = DeliveryUpdate(mid, receipt.status, receipt.provider_message_id,
                                    receipt.error, recorded=True)  # fmt: skip
            self.routing.conversations.adopt(cid).tell(update)

    async def answer(
        self, channel_name: str, account_id: str, headers: Headers, raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        """The webhook's status and JSON answer, counted by outcome."""
        outcome = "error"
        try:
            answer = await self.receive(channel_name, account_id, headers, raw)
            outcome = "ok"
            return 200, answer
        except WebhookRejected as rejected:
            outcome = rejected.code
            return rejected.status, _error_body(rejected.code, rejected.message)
        finally:
            _counted(WEBHOOKS, _known(channel_name), outcome).inc()

    def verify(self, channel_name: str, account_id: str) -> Response:
        channel, account = self.find(channel_name, account_id)
        if channel not in META_VERIFY:
            msg = f"{channel.value} webhooks are POST only"
            raise WebhookRejected(405, "method_not_allowed", msg)
        token = account.settings.get("verify_token", "")
        challenge = meta.verification_challenge(request.args, token) if token else None
        if challenge is None:
            msg = "hub.mode or hub.verify_token is wrong"
            raise WebhookRejected(403, "verification_failed", msg)
        return Response(challenge, status=200, content_type="text/plain")


#: how long a webhook waits for its durable write before answering 503
_DURABLE_TIMEOUT_S = 10.0


def webhooks_blueprint(ingress: Ingress) -> Blueprint:
    bp = Blueprint("webhooks", __name__)

    @bp.get("/webhooks/<channel_name>/<account_id>")
    async def verify(channel_name: str, account_id: str) -> Any:
        try:
            return ingress.verify(channel_name, account_id)
        except WebhookRejected as rejected:
            return _error(rejected.status, rejected.code, rejected.message)

    @bp.post("/webhooks/<channel_name>/<account_id>")
    async def receive(channel_name: str, account_id: str) -> Any:
        # the server takes these in ``FastWebhooks`` before quart; this route serves the
        # app without it (quart's test client)
        try:
            raw = await ingress.body()
        except WebhookRejected as rejected:
            WEBHOOKS.labels(_known(channel_name), rejected.code).inc()
            return _error(rejected.status, rejected.code, rejected.message)
        status, answer = await ingress.answer(
            channel_name, account_id, _Headers(request.headers), raw
        )
        return Response(json.dumps(answer), status=status, content_type="application/json")

    @bp.errorhandler(413)
    async def too_large(_error_value: Exception) -> Any:
        return _error(413, "too_large", f"body over {ingress.limit} bytes")

    return bp


# -- straight from ASGI ----------------------------------------------------------------------

ASGIApp = Callable[..., Awaitable[None]]  # hypercorn / quart: (scope, receive, send)
_JSON = [(b"content-type", b"application/json")]


class _ScopeHeaders:
    """An ASGI scope's headers as adapters read them (case-insensitive ``get``)."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw
        self._map: dict[str, str] | None = None

    def get(self, key: str, default: str | None = None) -> str | None:
        if self._map is None:  # several values of a name: the first, as werkzeug's ``get``
            found: dict[str, str] = {}
            for name, value in self._raw:
                found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
            self._map = found
        return self._map.get(key.lower(), default)


class _Gone(Exception):
    """The client hung up before its request body was complete: nothing to answer."""


class FastWebhooks:
    """``POST /webhooks/{channel}/{account}`` served straight from ASGI, before quart.

    Webhooks are the server's busiest route, and quart's per-request work (a request
    context, routing, the response object) cost about a third of a small webhook's
    handling; here they take the same :class:`Ingress` steps with none of it.  Every
    other request goes on to ``app``.  With ``bench_empty``, ``POST /bench/empty`` (read
    the body, answer ``{}``) is served the same way: the bare endpoint ``switchboard bench
    ingest`` compares webhooks with must share their path through the server.
    """

    def __init__(self, app: ASGIApp, ingress: Ingress, *, bench_empty: bool = False) -> None:
        self.app = app
        self.ingress = ingress
        self.bench_empty = bench_empty

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            parts = scope["path"].split("/")
            if len(parts) == 4 and parts[1] == "webhooks" and parts[2] and parts[3]:
                await self._webhook(parts[2], parts[3], scope, receive, send)
                return
            if self.bench_empty and scope["path"] == "/bench/empty":
                with contextlib.suppress(_Gone):
                    await _read_body(receive, scope, None)
                    await _respond(send, 200, b"{}")
                return
        await self.app(scope, receive, send)

    async def _webhook(
        self,
        channel_name: str,
        account_id: str,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        limit = self.ingress.limit
        try:
            raw = await _read_body(receive, scope, limit)
        except _Gone:
            WEBHOOKS.labels(_known(channel_name), "client_gone").inc()
            return
        if raw is None:
            WEBHOOKS.labels(_known(channel_name), "too_large").inc()
            body = json.dumps(_error_body("too_large", f"body over {limit} bytes")).encode()
            await _respond(send, 413, body, close=True)
            return
        headers = _ScopeHeaders(scope["headers"])
        status, answer = await self.ingress.answer(channel_name, account_id, headers, raw)
        await _respond(send, status, json.dumps(answer).encode())


async def _read_body(
    receive: Callable[[], Awaitable[Any]], scope: dict[str, Any], limit: int | None
) -> bytes | None:
    """The request body; None (left unread) if it is over ``limit`` bytes."""
    if limit is not None:
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away mid-body
            raise _Gone
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Callable[[Any], Awaitable[None]], status: int, body: bytes, *, close: bool = False
) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    if close:  # a body refused unread leaves the connection unusable
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
