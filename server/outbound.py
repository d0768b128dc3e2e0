"""The one outbound path: from an agent's message to the provider, durably.

How it works: when an agent sends a message, its conversation writes the message
to its log *and* to the outbox stream in the same transaction, so nothing an
agent sent can be lost between the two.  :class:`Outbox` (a trio task) reads the
stream and hands each message to its channel's sender.  Messages of one
conversation go out in order (each conversation always lands on the same
worker); different conversations go out in parallel.

Outcomes are told to the conversation (``DeliveryUpdate``), which logs them and
shows them to the agents on the conversation:

* **sent** — the provider's message id is remembered (30 days) so the provider's
  later receipts (delivered, read, failed) find the message;
* **failed** — a permanent refusal (the 24-hour window closed, an invalid
  recipient, content the channel refuses), or an outcome that cannot be known
  (the connection dropped after the request went out: sending again could
  double it, so it is shown to the agent instead);
* a provider that is down or rate-limits (429 / 5xx / unreachable) is retried by
  the channel client with backoff, then by the outbox itself with a longer
  backoff; the message stays in the stream meanwhile.

The outbox runs in a thread of its own (:class:`OutboundThread`), with its own trio
loop, HTTP client and channel adapters: provider calls (TLS, HTTP parsing, retries) then
never take turns with the webhooks and websockets of the server's loop.

After a crash the stream is read from the start: a message whose send was in
flight is sent again (the provider has no idempotency key; this is the one place
a duplicate is possible, documented in docs/storage.md).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import httpx
import prometheus_client
import redis
import trio

from actors.errors import BadRequest, Conflict
from actors.messages import DeliveryUpdate
from actors.routing.model import Channel, ConversationState
from actors.system import Routing
from adapters.base import ChannelAdapter, OutboundItem
from adapters.content import ContentError, content_from_wire
from adapters.errors import OutcomeUnknown, ProviderError, WindowClosed
from server.services import Services

__all__ = ["OutboundThread", "Outbox", "install_checks"]

logger = logging.getLogger(__name__)

SENT = prometheus_client.Counter(
    "switchboard_outbound_total", "Outbound messages by channel and outcome", ["channel", "outcome"]
)

RESTARTS = prometheus_client.Counter(
    "switchboard_outbox_restarts_total", "Times the outbox failed and was started again"
)

#: retries of a whole send (after the client's own quick retries) before giving up
_ATTEMPTS = 6
_BACKOFF_S = 2.0


def _outbound_item(state: ConversationState, content: Mapping[str, Any]) -> OutboundItem:
    return OutboundItem(
        message_id="",
        to=state.contact or "",
        content=content_from_wire(dict(content)),
        last_customer_message_at=state.last_customer_message_at,
    )


def install_checks(routing: Routing, adapters: Mapping[Channel, ChannelAdapter]) -> None:
    """Give routing each channel's check: what the provider would refuse is refused at once."""
    for channel, adapter in adapters.items():

        def check(
            state: ConversationState,
            content: Mapping[str, Any],
            now: float,
            adapter: ChannelAdapter = adapter,
        ) -> None:
            try:
                adapter.check(_outbound_item(state, content), now)
            except ContentError as error:
                raise BadRequest(str(error), code="invalid_content") from None
            except WindowClosed as error:
                raise Conflict(str(error), code="window_closed") from None

        routing.outbound_checks[channel] = check


class Outbox:
    """Reads the outbox stream and sends each message through its channel."""

    def __init__(
        self,
        services: Services,
        adapters: Mapping[Channel, ChannelAdapter],
        http: httpx.AsyncClient,
        *,
        workers: int = 8,
        backoff_s: float = _BACKOFF_S,
    ) -> None:
        self.services = services
        self.adapters = dict(adapters)
        self.http = http
        self.workers = workers
        self.backoff_s = backoff_s

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        storage = self.services.storage
        reader = redis.Redis.from_url(storage.url)  # its own connection: XREAD blocks
        queues = [trio.open_memory_channel[tuple[str, dict[str, Any]]](1000)
                  for _ in range(self.workers)]  # fmt: skip
        try:
            async with trio.open_nursery() as nursery:
                for send_channel, receive_channel in queues:
                    del send_channel
                    nursery.start_soon(self._work, receive_channel)
                task_status.started()
                last = "0"
                while True:
                    read = partial(storage.outbox, last, block_ms=1000, client=reader)
                    entries = await trio.to_thread.run_sync(read, abandon_on_cancel=True)
                    for entry_id, item in entries:
                        last = entry_id
                        worker = hash(item.get("conversation_id")) % self.workers
                        await queues[worker][0].send((entry_id, item))
        finally:
            reader.close()

    async def _work(self, inbox: trio.MemoryReceiveChannel[tuple[str, dict[str, Any]]]) -> None:
        async for entry_id, item in inbox:
            try:
                await self._deliver(entry_id, item)
            except Exception as error:  # a bug: never strand the message, nor stop the worker
                logger.exception("outbound message %s could not be handled", item.get("message_id"))
                failure = {"code": "internal_error", "message": f"not sent: {error!r}"[:300]}
                self._failed(entry_id, item, failure)

    async def _deliver(self, entry_id: str, item: dict[str, Any]) -> None:
        storage = self.services.storage
        channel_name = str(item.get("channel"))
        account = self.services.catalog.accounts.get(str(item.get("account")))
        adapter = self.adapters.get(Channel(channel_name)) if channel_name in _CHANNELS else None
        if account is None or adapter is None:
            reason = f"no {channel_name} sender for this account"
            self._failed(entry_id, item, {"code": "no_sender", "message": reason})
            return
        try:
            outbound = OutboundItem(
                message_id=str(item["message_id"]),
                to=str(item.get("to") or ""),
                content=content_from_wire(dict(item["content"])),
                reply_to=item.get("reply_to"),
                extra=dict(item.get("thread") or {}),
                last_customer_message_at=item.get("last_customer_message_at"),
            )
        except ContentError as error:
            self._failed(entry_id, item, {"code": "invalid_content", "message": str(error)})
            return
        for attempt in range(_ATTEMPTS):
            try:
                provider_id = await adapter.send(outbound, account.settings, self.http)
            except OutcomeUnknown as error:
                self._failed(entry_id, item, _error(error))
                return
            except ProviderError as error:
                if error.retryable and attempt + 1 < _ATTEMPTS:
                    logger.warning("send %s: %s; retrying", item.get("message_id"), error)
                    await trio.sleep(self.backoff_s * 2**attempt)
                    continue
                self._failed(entry_id, item, _error(error))
                return
            cid, mid = str(item["conversation_id"]), str(item["message_id"])
            ops = storage.sent_ops(channel_name, account.account_id, provider_id, cid, mid)
            storage.writer.commit([*ops, storage.outbox_done(entry_id)])
            SENT.labels(channel_name, "sent").inc()
            self._tell(item, DeliveryUpdate(str(item["message_id"]), "sent", provider_id))
            return

    def _failed(self, entry_id: str, item: Mapping[str, Any], error: dict[str, Any]) -> None:
        storage = self.services.storage
        storage.writer.commit([storage.outbox_done(entry_id)])
        SENT.labels(str(item.get("channel")), "failed").inc()
        logger.warning("message %s not sent: %s", item.get("message_id"), error)
        self._tell(item, DeliveryUpdate(str(item["message_id"]), "failed", error=error))

    def _tell(self, item: Mapping[str, Any], update: DeliveryUpdate) -> None:
        conversation_id = str(item.get("conversation_id"))
        self.services.routing.conversations.adopt(conversation_id).tell(update)


_CHANNELS = frozenset(c.value for c in Channel)


class OutboundThread:
    """Runs an :class:`Outbox` in a thread with its own trio loop and HTTP client.

    ``make_adapters`` gives this thread adapter instances of its own: adapters keep
    provider clients (and their rate limiters) bound to the loop they were first used in.
    """

    def __init__(
        self,
        services: Services,
        make_adapters: Callable[[], Mapping[Channel, ChannelAdapter]],
        *,
        timeout: httpx.Timeout | None = None,
        restart_backoff_s: float = 0.5,
    ) -> None:
        self.services = services
        self.make_adapters = make_adapters
        self.timeout = timeout or httpx.Timeout(10.0, connect=5.0)
        self.restart_backoff_s = restart_backoff_s
        self._started = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="switchboard-outbound", daemon=True)

    def start(self, wait_s: float = 30.0) -> None:
        """Start the thread; returns once the outbox reads its stream (raises if it could not)."""
        self._thread.start()
        if not self._started.wait(wait_s):
            raise RuntimeError("the outbound thread did not start")
        if self._failure is not None:
            raise RuntimeError("the outbound thread failed to start") from self._failure

    def stop(self, wait_s: float = 10.0) -> None:
        """Cancel the outbox (what is in flight stays in the stream) and join the thread."""
        token, scope = self._token, self._scope
        if token is not None and scope is not None:
            with contextlib.suppress(trio.RunFinishedError):  # it ended by itself
                token.run_sync_soon(scope.cancel)
        self._thread.join(wait_s)

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as error:  # reported to start(), or logged
            self._failure = error
            if self._started.is_set():
                logger.exception("the outbound thread stopped")
        finally:
            self._started.set()

    async def _serve(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout) as http, trio.open_nursery() as nursery:
            self._token = trio.lowlevel.current_trio_token()
            self._scope = nursery.cancel_scope
            await nursery.start(self._supervise, self.make_adapters(), http)
            self._started.set()

    async def _supervise(
        self,
        adapters: Mapping[Channel, ChannelAdapter],
        http: httpx.AsyncClient,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run the outbox; if it fails (storage unreachable...), log it and start it again.

        A restarted outbox reads the stream from its start: what was in flight is sent
        again, as after a crash (docs/storage.md).
        """
        backoff = self.restart_backoff_s
        starting = True
        while True:
            try:
                async with trio.open_nursery() as nursery:
                    await nursery.start(Outbox(self.services, adapters, http).run)
                    if starting:
                        starting = False
                        task_status.started()
                    backoff = self.restart_backoff_s
            except Exception:
                if starting:
                    raise  # the server's start reports it
                RESTARTS.inc()
                logger.exception("the outbox stopped; starting it again in %.1f s", backoff)
                await trio.sleep(backoff)
                backoff = min(2 * backoff, 30.0)


def _error(error: ProviderError) -> dict[str, Any]:
    return {"code": error.code, "message": str(error), "permanent": error.permanent}
