"""Durable storage on Redis: conversations, messages, customers and their indexes.

The actors and the server reach storage through narrow, injected interfaces, so tests can
run against the embedded server or an in-memory double with the same code path.
"""

from __future__ import annotations

__all__: list[str] = []
