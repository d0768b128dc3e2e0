"""The load test's webhooks are what each provider sends: the server's own adapters agree."""

from __future__ import annotations

import json

import pytest

from actors.routing.model import Channel
from adapters.errors import SignatureError
from server.channels import adapters
from switchboard.loadtest.channels import CHANNELS, account_settings, parse_channels


class Headers:
    def __init__(self, pairs: tuple[tuple[str, str], ...]) -> None:
        self._pairs = {k.lower(): v for k, v in pairs}

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._pairs.get(key.lower(), default)


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_each_channel_webhook_verifies_and_parses_to_one_text(name: str) -> None:
    kind = CHANNELS[name]
    adapter = adapters()[Channel(name)]
    settings = account_settings(kind, "s3cret", "http://127.0.0.1:9/v21.0", "4242")
    hook = kind.build("acc", "s3cret", run="1a2b", customer=7, n=42, text="Merhaba",
                      now=1763900000.25, page_id="4242")  # fmt: skip
    assert hook.path == f"/webhooks/{name}/acc"
    adapter.verify(hook.body, Headers(hook.headers), settings)
    result = adapter.parse(hook.body, Headers(hook.headers), settings)
    (item,) = result.messages
    assert item.provider_message_id == hook.provider_message_id
    assert item.sender == kind.sender("1a2b", 7)
    assert item.content.to_wire()["body"] == "Merhaba"


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_a_forged_webhook_fails_the_signature_check(name: str) -> None:
    kind = CHANNELS[name]
    adapter = adapters()[Channel(name)]
    settings = account_settings(kind, "s3cret", "http://127.0.0.1:9/v21.0", "4242")
    hook = kind.build("acc", "s3cret", run="1a2b", customer=7, n=43, text="x", now=0.0,
                      page_id="4242", bad_signature=True)  # fmt: skip
    with pytest.raises(SignatureError):
        adapter.verify(hook.body, Headers(hook.headers), settings)


def test_ids_differ_per_run_customer_and_message() -> None:
    kind = CHANNELS["whatsapp"]
    ids = {kind.message_id(run, n) for run in ("aa", "bb") for n in (1, 2)}
    senders = {kind.sender(run, c) for run in ("aa", "bb") for c in (1, 2)}
    assert len(ids) == len(senders) == 4
    assert all(s.isdigit() for s in senders)  # a wa_id is a phone number


def test_messenger_timestamps_are_milliseconds() -> None:
    hook = CHANNELS["messenger"].build("acc", "s", run="1", customer=1, n=1, text="x",
                                       now=1763900000.5, page_id="9")  # fmt: skip
    event = json.loads(hook.body)["entry"][0]["messaging"][0]
    assert event["timestamp"] == 1763900000500


def test_parse_channels() -> None:
    assert parse_channels("WhatsApp, instagram,whatsapp") == ("whatsapp", "instagram")
    with pytest.raises(ValueError, match="unknown channel sms"):
        parse_channels("whatsapp,sms")
    with pytest.raises(ValueError, match="none"):
        parse_channels(" , ")
