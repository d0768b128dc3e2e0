"""Customers' messages as the providers send them: real webhook bodies, really signed.

Each channel the load test speaks is one :class:`ChannelKind`: the webhook path, the
settings its account needs (secret, where replies go) and ``build``, which writes one
customer text message exactly as the provider would post it — WhatsApp Cloud API
(``entry[].changes[].value.messages[]``, ``X-Hub-Signature-256``), Messenger
(``object: page``, ``entry[].messaging[]``, epoch *milliseconds*) and Instagram
(``object: instagram``, same envelope).  A "bad" webhook is the same body under a
signature made with the wrong secret: the server must answer ``401`` and record nothing.

Pure functions over plain data (no sockets), shared by the trio load test and the
locustfile.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.meta import SIGNATURE_HEADER, sign

__all__ = ["CHANNELS", "ChannelKind", "Webhook", "account_settings", "parse_channels"]


@dataclass(frozen=True, slots=True)
class Webhook:
    """One POST as the provider would send it."""

    path: str
    body: bytes
    headers: tuple[tuple[str, str], ...]
    provider_message_id: str


@dataclass(frozen=True, slots=True)
class ChannelKind:
    """How one channel's provider talks to us, and how its account is set up."""

    name: str  # the Channel value (URL segment and account channel)
    #: the body of one customer text message: (account page id, sender, mid, text, epoch s)
    body: Callable[[str, str, str, str, float], dict[str, Any]]
    #: the provider's message id for the load test's n-th message of run ``run``
    message_id: Callable[[str, int], str]
    #: the customer's id on this channel for the load test's customer ``c`` of run ``run``
    sender: Callable[[str, int], str]
    #: account settings beyond the secret: where the account's replies go
    settings: Callable[[str, str], dict[str, str]]

    def build(
        self,
        account: str,
        secret: str,
        *,
        run: str,
        customer: int,
        n: int,
        text: str,
        now: float,
        page_id: str = "1",
        bad_signature: bool = False,
    ) -> Webhook:
        """A signed webhook with customer ``customer``'s message number ``n``."""
        mid = self.message_id(run, n)
        body = self.body(page_id, self.sender(run, customer), mid, text, now)
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        key = ("not-" + secret) if bad_signature else secret
        headers = ((SIGNATURE_HEADER, sign(key.encode(), raw)),)
        return Webhook(f"/webhooks/{self.name}/{account}", raw, headers, mid)


def _whatsapp(page_id: str, sender: str, mid: str, text: str, now: float) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "905550000000", "phone_number_id": page_id},
            "contacts": [{"profile": {"name": "Müşteri"}, "wa_id": sender}],
            "messages": [{"from": sender, "id": mid, "timestamp": str(int(now)),
                          "type": "text", "text": {"body": text}}],
        }}]}],
    }  # fmt: skip


def _meta_messaging(kind: str) -> Callable[[str, str, str, str, float], dict[str, Any]]:
    def body(page_id: str, sender: str, mid: str, text: str, now: float) -> dict[str, Any]:
        millis = int(now * 1000)
        return {
            "object": kind,
            "entry": [{"id": page_id, "time": millis, "messaging": [{
                "sender": {"id": sender}, "recipient": {"id": page_id},
                "timestamp": millis, "message": {"mid": mid, "text": text},
            }]}],
        }  # fmt: skip

    return body


def _digits(run: str) -> int:
    """A run's customers get numbers of their own, so runs never share a customer."""
    return int(run, 16) % 10_000


def _whatsapp_settings(api_base_url: str, page_id: str) -> dict[str, str]:
    return {"api_base_url": api_base_url, "phone_number_id": page_id,
            "access_token": "loadtest-token"}  # fmt: skip


def _messenger_settings(key: str) -> Callable[[str, str], dict[str, str]]:
    def settings(api_base_url: str, page_id: str) -> dict[str, str]:
        return {"api_base_url": api_base_url, key: page_id, "access_token": "loadtest-token"}

    return settings


CHANNELS: Mapping[str, ChannelKind] = {
    "whatsapp": ChannelKind(
        name="whatsapp",
        body=_whatsapp,
        message_id=lambda run, n: f"wamid.lt{run}.{n}",
        sender=lambda run, c: f"90{_digits(run):04d}{c:07d}",
        settings=_whatsapp_settings,
    ),
    "messenger": ChannelKind(
        name="messenger",
        body=_meta_messaging("page"),
        message_id=lambda run, n: f"m_lt{run}.{n}",
        sender=lambda run, c: f"7{_digits(run):04d}{c:09d}",
        settings=_messenger_settings("page_id"),
    ),
    "instagram": ChannelKind(
        name="instagram",
        body=_meta_messaging("instagram"),
        message_id=lambda run, n: f"aWdfZAG1lt{run}.{n}",
        sender=lambda run, c: f"17{_digits(run):04d}{c:09d}",
        settings=_messenger_settings("instagram_account_id"),
    ),
}


def account_settings(
    kind: ChannelKind, secret: str, api_base_url: str, page_id: str
) -> dict[str, str]:
    """Everything the server's account of ``kind`` needs: the secret and the reply route."""
    return {
        "app_secret": secret,
        "verify_token": "loadtest",
        **kind.settings(api_base_url, page_id),
    }


def parse_channels(text: str) -> tuple[str, ...]:
    """``"whatsapp,messenger"`` → the channel names, each known, none twice."""
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in CHANNELS]
    if unknown or not names:
        known = ", ".join(CHANNELS)
        raise ValueError(f"unknown channel {', '.join(unknown) or '(none)'}; known: {known}")
    return names
