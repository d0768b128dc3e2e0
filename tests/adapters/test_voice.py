"""adapters.voice: signed call events from a telephony system, nothing out."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import meta
from adapters.base import CallEvent, OutboundItem, WebhookResult
from adapters.content import ContentError, Text
from adapters.errors import ProviderError, SignatureError, WebhookError
from adapters.voice import SIGNATURE_HEADER, VoiceAdapter, normalize_phone

SECRET = "whsec_5f0c2a9e7d1b4c3a"
SETTINGS = {"signing_secret": SECRET}


class Headers(dict[str, str]):
    """Case-insensitive lookups, as the server passes request headers."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        for name, value in self.items():
            if name.lower() == key.lower():
                return value
        return default


def body(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": "call.started",
        "call_id": "CA5f9d2e0b7c",
        "customer": {"phone": "+90 532 111 22 33"},
        "agent_id": "agent-7",
    }
    for key, value in changes.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def raw(event: Any) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


def signed(data: bytes, secret: str = SECRET) -> Headers:
    return Headers({"x-switchboard-signature": meta.sign(secret.encode(), data)})


# -- verify ------------------------------------------------------------------------------


def test_a_body_signed_with_the_secret_is_accepted() -> None:
    data = raw(body())
    VoiceAdapter().verify(data, signed(data), SETTINGS)
    assert SIGNATURE_HEADER == "X-Switchboard-Signature"


@pytest.mark.parametrize(
    ("headers", "settings"),
    [
        (Headers(), SETTINGS),  # missing
        (Headers({SIGNATURE_HEADER: "sha256=zz"}), SETTINGS),  # malformed
        (Headers({SIGNATURE_HEADER: "sha1=" + "0" * 40}), SETTINGS),  # another scheme
        (signed(raw(body()), "another-secret"), SETTINGS),  # wrong key
        (signed(raw(body(agent_id="agent-8"))), SETTINGS),  # another body
        (signed(raw(body()), ""), {"signing_secret": ""}),  # no secret configured
        (signed(raw(body())), {}),
    ],
)
def test_unsigned_or_wrongly_signed_bodies_are_refused(
    headers: Headers, settings: dict[str, str]
) -> None:
    with pytest.raises(SignatureError, match="X-Switchboard-Signature does not match"):
        VoiceAdapter().verify(raw(body()), headers, settings)


@given(secret=st.text(min_size=1), data=st.binary())
def test_whatever_is_signed_verifies_and_a_changed_byte_does_not(secret: str, data: bytes) -> None:
    adapter = VoiceAdapter()
    adapter.verify(data, signed(data, secret), {"signing_secret": secret})
    with pytest.raises(SignatureError):
        adapter.verify(data + b" ", signed(data, secret), {"signing_secret": secret})


# -- parse -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "settings", "expected"),
    [
        (body(), {}, CallEvent("call.started", "CA5f9d2e0b7c", "+905321112233", "agent-7")),
        (body(event="call.ended"), {},
         CallEvent("call.ended", "CA5f9d2e0b7c", "+905321112233", "agent-7")),
        (body(customer={"phone": "0532 111 22 33"}), {"default_region": "tr"},
         CallEvent("call.started", "CA5f9d2e0b7c", "+905321112233", "agent-7")),
        (body(customer={"phone": "+1 (202) 555-0143", "name": "John"}, extra={"x": 1}), {},
         CallEvent("call.started", "CA5f9d2e0b7c", "+12025550143", "agent-7")),
    ],
)  # fmt: skip
def test_call_events_name_the_customer_in_e164(
    event: dict[str, Any], settings: dict[str, str], expected: CallEvent
) -> None:
    assert VoiceAdapter().parse(raw(event), Headers(), settings) == WebhookResult(calls=(expected,))


def test_other_events_are_ignored_not_refused() -> None:
    result = VoiceAdapter().parse(raw({"event": "call.ringing"}), Headers(), {})
    assert result == WebhookResult(ignored=("event 'call.ringing' is not a call event",))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{", "body: not JSON"),
        (b"\xff", "body: not JSON"),
        (raw([body()]), "body: expected a JSON object"),
        (raw(body(event=None)), "event: missing"),
        (raw(body(event=7)), "event: expected a string"),
        (raw(body(customer=None)), "customer: missing"),
        (raw(body(customer="+905321112233")), "customer: expected an object"),
        (raw(body(customer={})), "customer.phone: missing"),
        (raw(body(customer={"phone": 905321112233})), "customer.phone: expected a string"),
        (raw(body(customer={"phone": " "})), "customer.phone: empty"),
        (raw(body(customer={"phone": "0532 111 22 33"})),
         r"customer.phone: '0532 111 22 33' is not a phone number \(start with \+\)"),
        (raw(body(customer={"phone": "+90 532"})),
         "customer.phone: '\\+90 532' has the wrong length"),
        (raw(body(customer={"phone": "+1 555 0100"})), "has the wrong length for its country"),
        (raw(body(customer={"phone": "call me"})),
         "customer.phone: 'call me' is not a phone number"),
        (raw(body(call_id=None)), "call_id: missing"),
        (raw(body(call_id="")), "call_id: empty"),
        (raw(body(call_id=42)), "call_id: expected a string"),
        (raw(body(call_id="x" * 257)), "call_id: expected at most 256 printable characters"),
        (raw(body(agent_id="agent\n7")), "agent_id: expected at most 256 printable characters"),
        (raw(body(agent_id=None)), "agent_id: missing"),
    ],
)  # fmt: skip
def test_a_malformed_event_is_refused_with_the_field(data: bytes, reason: str) -> None:
    with pytest.raises(WebhookError, match=reason):
        VoiceAdapter().parse(data, Headers(), {})


def test_numbers_are_normalized_like_other_channels_phone_identities() -> None:
    assert normalize_phone("+90 (532) 111-22-33") == "+905321112233"
    assert normalize_phone("00905321112233", "TR") == "+905321112233"


# -- nothing out -------------------------------------------------------------------------


def test_nothing_can_be_sent_on_voice() -> None:
    item = OutboundItem(message_id="m1", to="+905321112233", content=Text("Merhaba"))
    with pytest.raises(ContentError, match="kind: the voice channel carries calls"):
        VoiceAdapter().check(item, 0.0)


async def test_send_fails_permanently() -> None:
    item = OutboundItem(message_id="m1", to="+905321112233", content=Text("Merhaba"))
    async with httpx.AsyncClient() as http:
        with pytest.raises(ProviderError, match="voice has no outbound messages") as caught:
            await VoiceAdapter().send(item, SETTINGS, http)
    assert (caught.value.permanent, caught.value.retryable) == (True, False)
