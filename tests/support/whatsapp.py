"""WhatsApp webhook bodies for server tests, built from the provider fixtures.

The fixtures (tests/adapters/fixtures/whatsapp, written outside this project) are the
shape; tests change only who writes, the message id and the text.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["FIXTURES", "fixture", "status_webhook", "text_webhook"]

FIXTURES = Path(__file__).parents[1] / "adapters" / "fixtures" / "whatsapp"


@cache
def _cases(name: str) -> dict[str, Any]:
    cases: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return cases


def fixture(name: str, case: str) -> dict[str, Any]:
    """A fresh copy of one fixture case (``fixture("message", "image")``)."""
    body: dict[str, Any] = copy.deepcopy(_cases(name)[case])
    return body


def text_webhook(text: str, wamid: str, wa_id: str = "905321112233") -> dict[str, Any]:
    """A customer's text message (from ``wa_id``, provider id ``wamid``)."""
    body = fixture("message", "text")
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = wa_id
    message = value["messages"][0]
    message.update({"from": wa_id, "id": wamid})
    message["text"]["body"] = text
    return body


def status_webhook(wamid: str, status: str) -> dict[str, Any]:
    """Graph's receipt (sent, delivered, read...) of the message we sent as ``wamid``."""
    body = fixture("message_status", "sent")
    value = body["entry"][0]["changes"][0]["value"]
    value["statuses"][0].update({"id": wamid, "status": status})
    return body
