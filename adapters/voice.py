"""Voice call events as a :class:`adapters.base.ChannelAdapter`: calls in, nothing out.

A telephony system (a PBX, a cloud contact center) tells Switchboard when an agent's
call with a customer starts and ends, so that a chat from the same customer on another
channel goes to the agent already talking to them (cross-channel affinity).  The body
(``CONTRACT.md``)::

    POST /webhooks/voice/{account}
    X-Switchboard-Signature: sha256=<hex HMAC-SHA256 of the exact body, key signing_secret>

    {"event": "call.started", "call_id": "c-42", "customer": {"phone": "+905321112233"},
     "agent_id": "agent-7"}

Account settings: ``signing_secret`` (required: an empty one refuses every POST) and
``default_region`` (optional, e.g. ``TR``: national numbers like ``0532 111 22 33`` are
read as that country's; without it a number must start with ``+``).  Phone numbers are
normalized to E.164 (``+905321112233``), the form every channel's phone identity takes.

Events other than ``call.started`` / ``call.ended`` are ignored (listed in
``WebhookResult.ignored``), so a telephony system may send more than we use.  The
signature covers the body only: a replay repeats an event that changes nothing (a
started call started again, an ended call ended again).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import phonenumbers

from adapters import meta
from adapters.base import CallEvent, Headers, OutboundItem, WebhookResult
from adapters.content import ContentError
from adapters.errors import ProviderError, SignatureError, WebhookError

__all__ = ["EVENTS", "SIGNATURE_HEADER", "VoiceAdapter", "normalize_phone", "parse_call_event"]

#: our own header; the value has Meta's form (``sha256=`` + hex), so ``adapters.meta``
#: signs and checks it
SIGNATURE_HEADER = "X-Switchboard-Signature"
EVENTS = frozenset({"call.started", "call.ended"})
#: ids longer than this are not ids (they end up in storage keys and logs)
MAX_ID = 256


class VoiceAdapter:
    """Voice: signed call started / ended events from a telephony system."""

    channel: ClassVar[str] = "voice"

    def verify(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> None:
        secret = settings.get("signing_secret", "").encode()
        if not meta.verify_signature(secret, raw, headers.get(SIGNATURE_HEADER)):
            raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")

    def parse(self, raw: bytes, headers: Headers, settings: Mapping[str, str]) -> WebhookResult:
        del headers
        try:
            body = json.loads(raw)
        except ValueError as error:  # also undecodable bytes
            raise WebhookError(f"body: not JSON ({error})") from None
        event = parse_call_event(
            body, default_region=(settings.get("default_region") or "").strip().upper() or None
        )
        if isinstance(event, str):
            return WebhookResult(ignored=(event,))
        return WebhookResult(calls=(event,))

    def check(self, item: OutboundItem, now: float) -> None:
        del item, now
        raise ContentError.at("kind", "the voice channel carries calls, not messages")

    async def send(
        self, item: OutboundItem, settings: Mapping[str, str], http: httpx.AsyncClient
    ) -> str:
        del item, settings, http
        raise ProviderError(None, "voice has no outbound messages", retryable=False, permanent=True)


def parse_call_event(body: Any, *, default_region: str | None = None) -> CallEvent | str:
    """The call event of a webhook body, or why it is ignored; ``WebhookError`` if malformed."""
    if not isinstance(body, dict):
        raise WebhookError("body: expected a JSON object")
    event = _string(body, "event")
    if event not in EVENTS:
        return f"event {event[:MAX_ID]!r} is not a call event"
    customer = body.get("customer")
    if customer is None:
        raise WebhookError("customer: missing")
    if not isinstance(customer, dict):
        raise WebhookError("customer: expected an object")
    phone = normalize_phone(_string(customer, "phone", "customer."), default_region)
    return CallEvent(
        event=event,
        call_id=_id(body, "call_id"),
        phone=phone,
        agent_id=_id(body, "agent_id"),
    )


def normalize_phone(phone: str, default_region: str | None = None) -> str:
    """``phone`` in E.164 (``+905321112233``); ``WebhookError`` unless it can be a number."""
    where = "customer.phone"
    try:
        number = phonenumbers.parse(phone, default_region)
    except phonenumbers.NumberParseException as error:
        hint = "" if default_region or phone.lstrip().startswith("+") else " (start with +)"
        raise WebhookError(f"{where}: {phone!r} is not a phone number{hint}: {error}") from None
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:  # local-only is not E.164
        raise WebhookError(f"{where}: {phone!r} has the wrong length for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _string(data: Mapping[str, Any], key: str, parent: str = "") -> str:
    value = data.get(key)
    if value is None:
        raise WebhookError(f"{parent}{key}: missing")
    if not isinstance(value, str):
        raise WebhookError(f"{parent}{key}: expected a string")
    if not value.strip():
        raise WebhookError(f"{parent}{key}: empty")
    return value


def _id(data: Mapping[str, Any], key: str) -> str:
    value = _string(data, key)
    if len(value) > MAX_ID or any(not ch.isprintable() for ch in value):
        raise WebhookError(f"{key}: expected at most {MAX_ID} printable characters")
    return value
