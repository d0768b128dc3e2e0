"""The outbound thread: the outbox it runs is started again when it fails."""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import httpx
import redis

from actors.messages import DeliveryUpdate
from actors.routing.model import Channel
from adapters.base import OutboundItem
from server.outbound import RESTARTS, OutboundThread
from storage.codec import encode
from storage.store import Storage


class _FirstReadFails:
    """The real storage, except that the outbox's first read finds the server gone."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    def outbox(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        if self.reads == 1:
            raise redis.ConnectionError("storage went away")
        return self._storage.outbox(*args, **kwargs)


class _Recorder:
    """A channel that takes every message (what a provider would answer: an id)."""

    channel = "whatsapp"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(
        self, item: OutboundItem, settings: Mapping[str, str], http: httpx.AsyncClient
    ) -> str:
        del settings, http
        self.sent.append(item.message_id)
        return f"wamid.{item.message_id}"


def test_the_outbox_starts_again_after_a_failure_and_sends_what_waits(redis_url: str) -> None:
    storage = Storage(redis_url)
    told: list[object] = []
    services = SimpleNamespace(
        storage=_FirstReadFails(storage),
        catalog=SimpleNamespace(accounts={"acc": SimpleNamespace(account_id="acc", settings={})}),
        routing=SimpleNamespace(
            conversations=SimpleNamespace(adopt=lambda _cid: SimpleNamespace(tell=told.append))
        ),
    )
    item = {"message_id": "msg_1", "conversation_id": "conv_1", "channel": "whatsapp",
            "account": "acc", "to": "905321112233", "reply_to": None, "thread": {},
            "content": {"kind": "text", "body": "Merhaba"}, "queued_at": time.time(),
            "last_customer_message_at": time.time()}  # fmt: skip
    storage.client.xadd(storage.keys.outbox, {"m": encode(item)})
    recorder = _Recorder()
    restarts = RESTARTS._value.get()
    thread = OutboundThread(
        services,  # type: ignore[arg-type]
        lambda: {Channel.WHATSAPP: recorder},  # type: ignore[dict-item]
        restart_backoff_s=0.01,
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not told and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        thread.stop()
        storage.close()
    assert recorder.sent == ["msg_1"]
    [update] = told
    assert isinstance(update, DeliveryUpdate)
    assert (update.status, update.provider_message_id) == ("sent", "wamid.msg_1")
    assert RESTARTS._value.get() == restarts + 1
