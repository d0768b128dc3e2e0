"""``switchboard retention``: delete old transcripts, on a running server's storage or not.

Where the data is: an explicit Redis URL; else the embedded server of ``data_dir``
— through its socket when a server is running there, or by starting it for the
purge (the data directory's lock keeps this from racing a server that starts
meanwhile).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import redis

from storage.embedded import SOCKET_FILE, EmbeddedRedis
from storage.store import Storage

__all__ = ["purge"]


def purge(
    *,
    older_than_s: float,
    redis_url: str | None,
    data_dir: str | Path,
    workspaces: Iterable[str] | None = None,
) -> dict[str, int]:
    """Delete resolved conversations created more than ``older_than_s`` ago; counts per ws."""
    cutoff = time.time() - older_than_s
    if redis_url is not None:
        return _purge(redis_url, cutoff, workspaces)
    socket = Path(data_dir) / SOCKET_FILE
    if socket.exists():
        url = f"unix://{socket.resolve()}"
        probe = redis.Redis.from_url(url)
        try:
            running = bool(probe.ping())
        except redis.ConnectionError:
            running = False
        finally:
            probe.close()
        if running:
            return _purge(url, cutoff, workspaces)
    with EmbeddedRedis(Path(data_dir)) as server:
        return _purge(server.url, cutoff, workspaces)


def _purge(url: str, cutoff: float, workspaces: Iterable[str] | None) -> dict[str, int]:
    storage = Storage(url)
    try:
        chosen = list(workspaces) if workspaces else storage.workspaces()
        return {ws: storage.purge_before(ws, cutoff) for ws in chosen}
    finally:
        storage.close()
