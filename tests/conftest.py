"""Storage fixtures: every test that needs Redis gets a real server, never a fake.

``redis_url`` is what most tests want: one session-wide embedded server with thousands of
logical databases, and each test gets a database of its own, emptied first.  That isolates
tests at the cost of a FLUSHDB (well under a millisecond) instead of a server start.
Server-wide state (CONFIG SET, scripts, pub/sub) is shared: a test that changes it, or that
kills or restarts a server, takes a dedicated one from ``redis_factory``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from storage.embedded import EmbeddedRedis, Fsync

#: Logical databases of the session server: ``redis_url`` hands them out in turn (and wraps
#: around, emptying each one again, should a session ever run more tests than this).
SESSION_DATABASES = 4096


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One embedded server for the whole session (started by the first test that needs it)."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), databases=SESSION_DATABASES)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _redis_db_numbers() -> Iterator[int]:
    """The session's counter of logical databases given out by ``redis_url``."""
    return itertools.count()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis, _redis_db_numbers: Iterator[int]) -> str:
    """The URL of an empty logical database of the session server, unique to this test.

    ``unix:///.../redis.sock?db=N`` (or ``redis://127.0.0.1:PORT/N`` when the temporary
    directory is too deep for a unix socket); both work with ``redis.Redis.from_url``.
    """
    url = redis_server.db_url(next(_redis_db_numbers) % redis_server.databases)
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    return url


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[Callable[..., EmbeddedRedis]]:
    """Start dedicated servers: ``make(data_dir=None, fsync="everysec", **options)``.

    For tests that kill, restart or reconfigure a server.  Without ``data_dir`` each server
    gets a new directory under the test's ``tmp_path``; ``options`` go to
    :class:`EmbeddedRedis`.  Every server made is stopped when the test ends (stopping a
    killed or stopped one does nothing).
    """
    servers: list[EmbeddedRedis] = []
    names = itertools.count()

    def make(
        data_dir: Path | None = None, fsync: Fsync = "everysec", **options: Any
    ) -> EmbeddedRedis:
        server = EmbeddedRedis(
            data_dir if data_dir is not None else tmp_path / f"redis{next(names)}",
            fsync=fsync,
            **options,
        )
        servers.append(server)
        server.start()
        return server

    yield make
    errors: list[Exception] = []
    for server in reversed(servers):
        try:
            server.stop()
        except Exception as exc:  # stop the others anyway
            errors.append(exc)
    if errors:
        raise errors[0]
