"""The ``switchboard`` command: ``serve``, ``bench NAME`` and ``loadtest``.

How it works: one argparse parser with a subcommand each.  ``serve`` builds the config
(file, then ``SWITCHBOARD_*`` variables, then flags) and hands it to ``server.app.run``.
``bench NAME`` looks ``NAME`` up in the registry of ``switchboard.bench`` and parses the
remaining arguments with that benchmark's own parser, so each benchmark owns its flags.
Exit codes: 0 success, 1 a failure while running, 2 bad usage or bad configuration.
Heavy imports (quart, hypercorn, the benchmarks) happen only in the command that needs
them, so ``switchboard --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from switchboard import __version__
from switchboard.config import ENV_PREFIX, ConfigError, load_config

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser (benchmark-specific flags are parsed later)."""
    parser = argparse.ArgumentParser(
        prog="switchboard",
        description="Real-time routing server for omnichannel contact-center chat.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument(
        "--config", metavar="FILE", help=f"TOML config file (default: ${ENV_PREFIX}CONFIG if set)"
    )
    serve.add_argument("--host", help="address to listen on (server.host)")
    serve.add_argument("--port", type=int, help="port to listen on (server.port)")
    serve.add_argument(
        "--redis-url", metavar="URL", help="external Redis; without it an embedded one is started"
    )
    serve.add_argument("--data-dir", metavar="DIR", help="where data files live")

    bench = commands.add_parser(
        "bench",
        help="run a benchmark",
        add_help=False,
        usage="switchboard bench NAME [--json] [benchmark options]",
    )
    bench.add_argument("name", nargs="?", metavar="NAME")
    bench.add_argument("-h", "--help", action="store_true", dest="bench_help")

    retention = commands.add_parser(
        "retention", help="delete transcripts of resolved conversations older than an age"
    )
    retention.add_argument("--older-than-days", type=float, required=True, metavar="DAYS")
    retention.add_argument("--workspace", action="append", metavar="WS",
                           help="only this workspace (repeatable; default: all)")  # fmt: skip
    _storage_arguments(retention)

    admin = commands.add_parser(
        "admin",
        help="create or update an admin of a workspace (the first one too) and print a new token",
    )
    admin.add_argument("--workspace", required=True, metavar="WS")
    admin.add_argument("--user", required=True, metavar="USER_ID")
    admin.add_argument("--name", default="Administrator", help="display name")
    admin.add_argument("--email", help="for password login (set the password over REST)")
    _storage_arguments(admin)

    commands.add_parser(
        "loadtest",
        help="simulated customers and agents (switchboard loadtest --help)",
        add_help=False,
        usage="switchboard loadtest [--url URL] [--seconds S] [--rate R] ... [--json]",
    )
    return parser


def _storage_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the server's storage is: flags, else the config file, else the environment."""
    add = parser.add_argument
    add("--config", metavar="FILE", help="the server's TOML config ($SWITCHBOARD_CONFIG)")
    add("--redis-url", metavar="URL", help="the server's Redis (server.redis_url)")
    add("--data-dir", metavar="DIR", help="its data directory (server.data_dir; ./data)")


def _storage_of(args: argparse.Namespace) -> tuple[str | None, Path]:
    """(redis URL or None for the embedded server, data directory) as the server sees them."""
    path = args.config or os.environ.get(f"{ENV_PREFIX}CONFIG") or None
    config = load_config(
        path, overrides={"server.redis_url": args.redis_url, "server.data_dir": args.data_dir}
    )
    return config.server.redis_url, Path(config.server.data_dir)


def _serve(args: argparse.Namespace) -> int:
    path = args.config or os.environ.get(f"{ENV_PREFIX}CONFIG") or None
    try:
        config = load_config(
            path,
            overrides={
                "server.host": args.host,
                "server.port": args.port,
                "server.redis_url": args.redis_url,
                "server.data_dir": args.data_dir,
            },
        )
    except ConfigError as error:
        print(f"switchboard: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE
    _configure_logging(config.server.log_format)
    from server import app  # noqa: PLC0415 -- quart and hypercorn only when serving
    from storage.embedded import StorageServerError  # noqa: PLC0415

    try:
        app.run(config, demo=path is None)
    except StorageServerError as error:
        print(f"switchboard: storage: {error}", file=sys.stderr)
        return 1
    except BaseExceptionGroup as group:  # raised inside the server's nurseries
        storage_errors, _others = group.split(StorageServerError)
        if storage_errors is None:
            raise
        print(f"switchboard: storage: {_first(storage_errors)}", file=sys.stderr)
        return 1
    return EXIT_OK


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a (nested) exception group."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _configure_logging(log_format: str) -> None:
    """Plain lines for a terminal, or one JSON object per line for log shippers."""
    handler = logging.StreamHandler()
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter  # noqa: PLC0415

        fields = "%(asctime)s %(levelname)s %(name)s %(message)s"
        renamed = {"levelname": "level", "name": "logger"}
        handler.setFormatter(JsonFormatter(fields, rename_fields=renamed))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # one INFO line per provider request (httpx) would drown the server's own log and
    # cost the event loop a write per message sent; their failures still show
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def _bench(args: argparse.Namespace, rest: list[str]) -> int:
    from switchboard import bench  # noqa: PLC0415 -- imports every benchmark module
    from switchboard.bench import report  # noqa: PLC0415

    known = bench.discover()
    listing = ", ".join(sorted(known)) or "(none yet)"
    if args.name is None:
        print(
            f"usage: switchboard bench NAME [--json] [benchmark options]\nbenchmarks: {listing}",
            file=sys.stdout if args.bench_help else sys.stderr,
        )
        return EXIT_OK if args.bench_help else EXIT_USAGE
    benchmark = known.get(args.name)
    if benchmark is None:
        print(
            f"switchboard bench: unknown benchmark {args.name!r}; known: {listing}", file=sys.stderr
        )
        return EXIT_USAGE
    parser = argparse.ArgumentParser(
        prog=f"switchboard bench {benchmark.name}", description=benchmark.help or None
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object as the last line of stdout"
    )
    if benchmark.add_arguments is not None:
        benchmark.add_arguments(parser)
    bench_args = parser.parse_args([*rest, "--help"] if args.bench_help else rest)
    result = benchmark.run(bench_args)
    report.emit(result, as_json=bench_args.json, title=f"bench {benchmark.name}")
    return EXIT_OK


def _retention(args: argparse.Namespace) -> int:
    from storage.retention import purge  # noqa: PLC0415

    if args.older_than_days < 0:
        print("switchboard retention: --older-than-days must be 0 or more", file=sys.stderr)
        return EXIT_USAGE
    try:
        redis_url, data_dir = _storage_of(args)
        removed = purge(
            older_than_s=args.older_than_days * 86400,
            redis_url=redis_url,
            data_dir=data_dir,
            workspaces=args.workspace,
        )
    except Exception as error:  # a clear line, not a traceback, for an operator's cron job
        print(f"switchboard retention: {error}", file=sys.stderr)
        return EXIT_FAILURE
    for workspace, count in sorted(removed.items()):
        print(f"{workspace}: {count} conversations deleted")
    return EXIT_OK


def _admin(args: argparse.Namespace) -> int:
    """Write an admin user into storage and print a new bearer token for it.

    The server reads users when it starts, so this runs with the server stopped (on an
    embedded data directory in use it refuses).
    """
    from server.catalog import Catalog, Role, User  # noqa: PLC0415
    from storage.embedded import EmbeddedRedis, running_url  # noqa: PLC0415
    from storage.store import Storage  # noqa: PLC0415

    def create(url: str) -> str:
        storage = Storage(url)
        try:
            catalog = Catalog(storage)
            catalog.load()
            known = catalog.users.get(args.user)
            if known is not None and known.workspace != args.workspace:
                msg = f"user {args.user!r} belongs to workspace {known.workspace!r}"
                raise ValueError(msg)
            user = User(args.user, args.workspace, Role.ADMIN, args.name, email=args.email)
            if known is not None:  # keeps its password
                user = replace(user, password_hash=known.password_hash)
            catalog.put_user(user)
            token = catalog.issue_token(user)
            storage.writer.flush()
            return token
        finally:
            storage.close()

    try:
        redis_url, data_dir = _storage_of(args)
        if redis_url is not None:
            token = create(redis_url)
        elif running_url(data_dir) is not None:
            print("switchboard admin: a server is running on this data directory; stop it "
                  "first (it reads users when it starts)", file=sys.stderr)  # fmt: skip
            return EXIT_FAILURE
        else:
            with EmbeddedRedis(data_dir) as server:
                token = create(server.url)
    except Exception as error:  # a clear line, not a traceback
        print(f"switchboard admin: {error}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"admin {args.user} of workspace {args.workspace}; bearer token (shown once):",
          file=sys.stderr)  # fmt: skip
    print(token)
    return EXIT_OK


def _loadtest(rest: list[str]) -> int:
    from switchboard import loadtest  # noqa: PLC0415 -- trio, clients: only when load testing

    return loadtest.main(rest)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    if args.command == "bench":
        return _bench(args, rest)
    if args.command == "loadtest":
        return _loadtest(rest)
    if args.command == "retention":
        return _retention(args)
    if args.command == "admin":
        return _admin(args)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
