"""A message on disk is always routed: the accept write's completion hands it over.

The storage writer is held inside a round (a completion that waits on a gate) so the
webhook's write lands only when the test lets it — after the handler gave up waiting
(503) or was cancelled (the provider hung up).  Real Redis, real writer thread.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio

from actors.messages import Inbound
from actors.routing.model import Channel
from server import webhooks
from server.webhooks import Ingress, WebhookRejected
from storage.store import Storage
from switchboard.config import Config, ServerConfig
from tests.support.writer import Holding


class _Routing:
    def __init__(self) -> None:
        self.delivered: list[Inbound] = []

    def deliver(self, message: Inbound) -> None:
        self.delivered.append(message)


def _message(pid: str) -> Inbound:
    return Inbound(
        channel=Channel.WHATSAPP, account="acme-wa", sender="905321112233",
        provider_message_id=pid, timestamp=1763900000.0,
        content={"kind": "text", "body": "merhaba"}, workspace="acme",
    )  # fmt: skip


@pytest.fixture
def setup(redis_url: str, tmp_path: Path) -> Any:
    storage = Storage(redis_url)
    routing = _Routing()
    config = dataclasses.replace(Config(), server=ServerConfig(data_dir=tmp_path))
    services = SimpleNamespace(catalog=None, storage=storage, routing=routing, config=config)
    gate = threading.Event()
    yield Ingress(services, {}), routing, storage, gate  # type: ignore[arg-type]
    gate.set()
    storage.close()


async def _until(condition: Any) -> None:
    with trio.fail_after(5):
        while not condition():
            await trio.sleep(0.01)


async def test_a_write_that_lands_after_the_503_is_still_routed(
    setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingress, routing, storage, gate = setup
    monkeypatch.setattr(webhooks, "_DURABLE_TIMEOUT_S", 0.05)
    storage.writer.commit([("SET", "hold", 1)], done=Holding(gate))
    with pytest.raises(WebhookRejected) as rejected:
        await ingress.accept([_message("wamid.late")])
    assert rejected.value.status == 503
    assert routing.delivered == []  # not on disk yet
    gate.set()
    await _until(lambda: routing.delivered)
    [message] = routing.delivered
    assert message.provider_message_id == "wamid.late"
    assert message.inbox_id is not None  # routed as written: the inbox entry named
    # the provider's retry is a repeat: written once, routed once
    assert await ingress.accept([_message("wamid.late")]) == []
    assert len(routing.delivered) == 1


async def test_a_provider_that_hangs_up_mid_write_does_not_cut_off_routing(setup: Any) -> None:
    ingress, routing, storage, gate = setup
    storage.writer.commit([("SET", "hold", 1)], done=Holding(gate))
    with trio.move_on_after(0.05) as scope:
        await ingress.accept([_message("wamid.gone"), _message("wamid.gone.2")])
    assert scope.cancelled_caught
    gate.set()
    await _until(lambda: len(routing.delivered) == 2)
    assert [m.provider_message_id for m in routing.delivered] == ["wamid.gone", "wamid.gone.2"]


async def test_repeats_are_answered_and_not_routed_again(setup: Any) -> None:
    ingress, routing, _storage, _gate = setup
    first = await ingress.accept([_message("wamid.1"), _message("wamid.2")])
    again = await ingress.accept([_message("wamid.2"), _message("wamid.3")])
    assert [m.provider_message_id for m in first] == ["wamid.1", "wamid.2"]
    assert [m.provider_message_id for m in again] == ["wamid.3"]
    assert [m.provider_message_id for m in routing.delivered] == ["wamid.1", "wamid.2", "wamid.3"]
