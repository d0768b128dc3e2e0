"""switchboard.cli and switchboard.bench: dispatch, exit codes and the --json contract."""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from pathlib import Path

import pytest

from server.catalog import Catalog, Role
from storage.embedded import EmbeddedRedis
from storage.store import Storage
from switchboard import bench, cli
from switchboard.bench import Benchmark, register, report


@pytest.fixture
def tiny_bench(monkeypatch: pytest.MonkeyPatch) -> None:
    """A benchmark registered for one test only (the registry is restored after)."""
    monkeypatch.setattr(bench, "REGISTRY", dict(bench.REGISTRY))

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--count", type=int, default=2)

    @register("tiny", help="counts", add_arguments=add_arguments)
    def run(args: argparse.Namespace) -> dict[str, object]:
        report.progress(f"counting to {args.count}")
        return {
            "count": args.count,
            "per_s": 1234.5678,
            "latency_ms": {"p50": 1.0},
            "nothing": float("nan"),
        }


def test_bench_json_puts_one_object_on_the_last_stdout_line(
    tiny_bench: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["bench", "tiny", "--json", "--count", "5"]) == 0
    out, err = capsys.readouterr()
    last = out.strip().splitlines()[-1]
    assert json.loads(last) == {
        "count": 5,
        "per_s": 1234.5678,
        "latency_ms": {"p50": 1.0},
        "nothing": None,
    }
    assert "counting to 5" in err
    assert "per_s" in err  # the human table went to stderr


def test_bench_without_json_prints_a_table(
    tiny_bench: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["bench", "tiny"]) == 0
    out, _ = capsys.readouterr()
    assert "count       2" in out  # keys aligned to the longest, latency_ms
    assert "{" not in out


def test_unknown_benchmark_exits_2_listing_known_ones(
    tiny_bench: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["bench", "nope", "--json"]) == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'nope'" in err
    known = err.split("known: ", 1)[1].strip().split(", ")
    assert "tiny" in known
    assert known == sorted(known)


def test_bench_without_a_name_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench"]) == 2
    assert "usage" in capsys.readouterr().err


def test_registering_a_name_twice_is_refused(tiny_bench: None) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register("tiny")(lambda args: {})


def test_discover_returns_the_registry() -> None:
    found = bench.discover()
    assert found is bench.REGISTRY
    assert all(isinstance(b, Benchmark) for b in found.values())


def test_loadtest_refuses_bad_flags_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["loadtest", "--rate", "-3"])
    assert exited.value.code == 2
    assert "--rate" in capsys.readouterr().err


def test_serve_with_a_bad_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[routing]\ndisconnect_policy = 'drop'\n", encoding="utf-8")
    assert cli.main(["serve", "--config", str(config)]) == 2
    assert "routing.disconnect_policy" in capsys.readouterr().err


def test_serve_rejects_unknown_flags() -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["serve", "--colour", "blue"])
    assert caught.value.code == 2


def test_report_emit_writes_to_the_given_streams() -> None:
    out, err = io.StringIO(), io.StringIO()
    report.emit({"a": 1}, as_json=True, title="t", stdout=out, stderr=err)
    assert out.getvalue() == '{"a":1}\n'
    assert err.getvalue().startswith("t\n")


def test_json_logs_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()
    try:
        cli._configure_logging("json")
        logging.getLogger("switchboard.test").warning("storage %s", "degraded")
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        root.handlers[:] = saved
    record = json.loads(line)
    assert (record["level"], record["logger"], record["message"]) == (
        "WARNING", "switchboard.test", "storage degraded",
    )  # fmt: skip


def test_admin_creates_the_first_admin_whose_token_the_server_knows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    args = ["admin", "--workspace", "acme", "--user", "root", "--data-dir", str(data)]
    assert cli.main(args) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("sbt_")
    assert cli.main([*args, "--name", "Root"]) == 0  # again: a second token, same user
    second = capsys.readouterr().out.strip()
    with EmbeddedRedis(data) as server:
        storage = Storage(server.url)
        try:
            catalog = Catalog(storage)
            catalog.load()  # what the server does when it starts
            for known in (token, second):
                user = catalog.user_for_token(known)
                assert user is not None
                assert (user.user_id, user.workspace, user.role) == ("root", "acme", Role.ADMIN)
            assert catalog.users["root"].name == "Root"
            assert storage.workspaces() == ["acme"]
        finally:
            storage.close()
    # a user of another workspace is not taken over
    other = ["admin", "--workspace", "other", "--user", "root", "--data-dir", str(data)]
    assert cli.main(other) == 1
    assert "belongs to workspace 'acme'" in capsys.readouterr().err


def test_serve_on_a_data_directory_in_use_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    interval = sys.getswitchinterval()
    try:
        with EmbeddedRedis(data):  # another server holds the directory
            code = cli.main(["serve", "--data-dir", str(data), "--port", "0"])
    finally:
        sys.setswitchinterval(interval)
    err = capsys.readouterr().err
    assert code == 1
    assert "switchboard: storage:" in err
    assert "Traceback" not in err


def test_admin_and_retention_find_the_storage_where_the_server_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "from-config"
    config = tmp_path / "switchboard.toml"
    config.write_text(f'[server]\ndata_dir = "{data}"\n')
    args = ["admin", "--workspace", "acme", "--user", "root", "--config", str(config)]
    assert cli.main(args) == 0
    assert capsys.readouterr().out.startswith("sbt_")
    assert (data / "appendonlydir").is_dir()  # the config's directory, not ./data
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(data))
    assert cli.main(["retention", "--older-than-days", "30"]) == 0
    assert "acme: 0 conversations deleted" in capsys.readouterr().out
