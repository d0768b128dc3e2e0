"""``FastWebhooks``: webhook POSTs taken from ASGI before quart, everything else passed on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.webhooks import WEBHOOKS, FastWebhooks


class _Ingress:
    """Records what the fast path hands over; answers like the real one."""

    limit = 16

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None, bytes]] = []

    async def answer(
        self, channel_name: str, account_id: str, headers: Any, raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        signature = headers.get("X-HUB-SIGNATURE-256")
        self.calls.append((channel_name, account_id, signature, raw))
        return 200, {"accepted": 1, "duplicates": 0}


def _scope(path: str, method: str = "POST", headers: list[tuple[bytes, bytes]] = []) -> Any:  # noqa: B006
    return {"type": "http", "method": method, "path": path, "headers": headers}


async def _run(
    fast: FastWebhooks, scope: Any, chunks: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    incoming = iter(chunks)

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await fast(scope, receive, send)
    return sent


def _fast() -> tuple[FastWebhooks, _Ingress, list[str]]:
    passed: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        passed.append(scope["path"])

    ingress = _Ingress()
    fast = FastWebhooks(app, ingress)  # type: ignore[arg-type]
    return fast, ingress, passed


async def test_a_webhook_post_is_answered_from_the_body_in_pieces() -> None:
    fast, ingress, passed = _fast()
    headers = [(b"x-hub-signature-256", b"sha256=ab"), (b"content-length", b"9")]
    sent = await _run(fast, _scope("/webhooks/whatsapp/acme", headers=headers), [
        {"type": "http.request", "body": b"{\"a\":", "more_body": True},
        {"type": "http.request", "body": b"1}", "more_body": False},
    ])  # fmt: skip
    assert ingress.calls == [("whatsapp", "acme", "sha256=ab", b'{"a":1}')]
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"]) == {"accepted": 1, "duplicates": 0}
    assert passed == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/webhooks/whatsapp/acme"),
        ("POST", "/webhooks/whatsapp"),
        ("POST", "/webhooks/whatsapp/acme/extra"),
        ("POST", "/api/v1/agents"),
        ("POST", "/bench/empty"),
    ],
)
async def test_everything_else_goes_on_to_the_app(method: str, path: str) -> None:
    fast, ingress, passed = _fast()
    await _run(fast, _scope(path, method), [])
    assert passed == [path]
    assert ingress.calls == []


async def test_a_body_over_the_limit_is_refused_unread_and_the_connection_closed() -> None:
    fast, ingress, _passed = _fast()
    before = WEBHOOKS.labels("whatsapp", "too_large")._value.get()
    sent = await _run(
        fast, _scope("/webhooks/whatsapp/acme", headers=[(b"content-length", b"17")]), []
    )
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["error"]["code"] == "too_large"
    # no length given: counted as it comes
    sent = await _run(fast, _scope("/webhooks/whatsapp/acme"), [
        {"type": "http.request", "body": b"x" * 10, "more_body": True},
        {"type": "http.request", "body": b"x" * 10, "more_body": False},
    ])  # fmt: skip
    assert sent[0]["status"] == 413
    assert ingress.calls == []
    assert WEBHOOKS.labels("whatsapp", "too_large")._value.get() == before + 2


async def test_a_client_gone_mid_body_gets_no_answer_and_records_nothing() -> None:
    fast, ingress, _passed = _fast()
    sent = await _run(fast, _scope("/webhooks/whatsapp/acme"), [
        {"type": "http.request", "body": b"{", "more_body": True},
        {"type": "http.disconnect"},
    ])  # fmt: skip
    assert sent == []
    assert ingress.calls == []
