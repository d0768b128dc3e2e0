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

After a crash the stream is read from the start: a message whose send was in
flight is sent again (the provider has no idempotency key; this is the one place
a duplicate is possible, documented in docs/storage.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any, Protocol

import httpx
import prometheus_client
import redis
import trio

from actors.errors import BadRequest, Conflict
from actors.messages import DeliveryUpdate
from actors.routing.model import Channel, ConversationState
from adapters.content import ContentError, content_from_wire
from adapters.whatsapp.client import GraphClient
from adapters.whatsapp.errors import OutcomeUnknown, ProviderError, WindowClosed
from adapters.whatsapp.outbound import build_message, check_window
from server.catalog import Account
from server.services import Services

__all__ = ["ChannelSender", "Outbox", "WhatsAppSender", "install_checks"]

logger = logging.getLogger(__name__)

SENT = prometheus_client.Counter(
    "switchboard_outbound_total", "Outbound messages by channel and outcome", ["channel", "outcome"]
)

#: retries of a whole send (after the client's own quick retries) before giving up
_ATTEMPTS = 6
_BACKOFF_S = 2.0


class ChannelSender(Protocol):
    async def send(self, item: Mapping[str, Any], account: Account) -> str:
        """Send one outbox item; the provider's message id.  Raises ``ProviderError``."""
        ...


class WhatsAppSender:
    """Cloud API: POST /{phone_number_id}/messages on the account's Graph base URL."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self._clients: dict[str, GraphClient] = {}

    def client(self, account: Account) -> GraphClient:
        settings = account.settings
        parts = ("api_base_url", "phone_number_id", "access_token")
        key = "|".join((account.account_id, *(settings.get(p, "") for p in parts)))
        client = self._clients.get(key)
        if client is None:
            client = GraphClient(
                settings.get("api_base_url", "https://graph.facebook.com/v21.0"),
                settings.get("phone_number_id", ""),
                settings.get("access_token", ""),
                http=self.http,
            )
            self._clients[key] = client
        return client

    async def send(self, item: Mapping[str, Any], account: Account) -> str:
        to = item.get("to")
        if not to:
            raise ProviderError(0, "the conversation has no WhatsApp number to reply to",
                                retryable=False, permanent=True)  # fmt: skip
        body = build_message(str(to), content_from_wire(dict(item["content"])))
        result = await self.client(account).send(body, idempotency_key=str(item["message_id"]))
        return result.wamid


def _whatsapp_check(state: ConversationState, content: Mapping[str, Any], now: float) -> None:
    """Refuse at once what WhatsApp would refuse: bad content, or the window closed."""
    try:
        parsed = content_from_wire(dict(content))
        build_message(state.contact or "0", parsed)
        check_window(parsed, last_customer_message_at=state.last_customer_message_at, now=now)
    except ContentError as error:
        raise BadRequest(str(error), code="invalid_content") from None
    except WindowClosed as error:
        raise Conflict(str(error), code="window_closed") from None


def install_checks(services: Services) -> None:
    """Register the channels' outbound checks with routing."""
    services.routing.outbound_checks[Channel.WHATSAPP] = _whatsapp_check


class Outbox:
    """Reads the outbox stream and sends each message through its channel."""

    def __init__(
        self,
        services: Services,
        senders: Mapping[Channel, ChannelSender],
        *,
        workers: int = 8,
        backoff_s: float = _BACKOFF_S,
    ) -> None:
        self.services = services
        self.senders = dict(senders)
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
            except Exception:  # never let one message stop the worker
                logger.exception("outbound message %s could not be handled", item.get("message_id"))

    async def _deliver(self, entry_id: str, item: dict[str, Any]) -> None:
        storage = self.services.storage
        channel_name = str(item.get("channel"))
        account = self.services.catalog.accounts.get(str(item.get("account")))
        sender = self.senders.get(Channel(channel_name)) if channel_name in _CHANNELS else None
        if account is None or sender is None:
            reason = f"no {channel_name} sender for this account"
            self._failed(entry_id, item, {"code": "no_sender", "message": reason})
            return
        for attempt in range(_ATTEMPTS):
            try:
                provider_id = await sender.send(item, account)
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
            except ContentError as error:
                self._failed(entry_id, item, {"code": "invalid_content", "message": str(error)})
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


def _error(error: ProviderError) -> dict[str, Any]:
    return {"code": error.code, "message": str(error), "permanent": error.permanent}
