"""Serving a stand-in provider's quart app on a free local port, for a test's duration."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

__all__ = ["serving"]


@asynccontextmanager
async def serving(nursery: trio.Nursery, app: Any) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port) for the block's duration; its base URL."""
    config = HypercornConfig()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 0.5
    stop = trio.Event()
    (url,) = await nursery.start(partial(serve, app, config, shutdown_trigger=stop.wait))
    try:
        yield url
    finally:
        stop.set()
