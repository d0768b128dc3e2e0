"""switchboard.config: defaults, file, environment, overrides and every refusal."""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

import pytest

from switchboard.config import (
    Config,
    ConfigError,
    LimitsConfig,
    RoutingConfig,
    RuntimeConfig,
    ServerConfig,
    env_var_name,
    load_config,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "switchboard.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    config = load_config(env={})
    assert config == Config()
    assert config.server == ServerConfig(
        host="127.0.0.1", port=8080, data_dir=Path("./data"), redis_url=None
    )
    assert config.runtime == RuntimeConfig(
        kind="pool", dispatcher_threads=2, batch=64, passivate_after_s=300.0
    )
    assert config.routing == RoutingConfig(
        disconnect_grace_s=60.0,
        disconnect_policy="keep",
        offer_timeout_s=5.0,
        affinity_wait_s=30.0,
    )
    assert config.limits == LimitsConfig(webhook_max_bytes=3 * 1024 * 1024, ws_send_buffer=1000)


def test_config_is_frozen() -> None:
    config = load_config(env={})
    with pytest.raises(FrozenInstanceError):
        config.server.port = 1  # type: ignore[misc]


def test_file_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [server]
        host = "0.0.0.0"
        port = 9000
        data_dir = "/var/lib/switchboard"
        redis_url = "redis://localhost:6379/0"
        [runtime]
        kind = "thread"
        dispatcher_threads = 4
        batch = 16
        passivate_after_s = 60
        [routing]
        disconnect_grace_s = 0
        disconnect_policy = "requeue"
        offer_timeout_s = 2.5
        affinity_wait_s = 10
        [limits]
        webhook_max_bytes = 1024
        ws_send_buffer = 10
    """,
    )
    config = load_config(path, env={})
    assert config == Config(
        ServerConfig("0.0.0.0", 9000, Path("/var/lib/switchboard"), "redis://localhost:6379/0"),
        RuntimeConfig("thread", 4, 16, 60.0),
        RoutingConfig(0.0, "requeue", 2.5, 10.0),
        LimitsConfig(1024, 10),
    )
    assert isinstance(config.runtime.passivate_after_s, float)


def test_env_overrides_file_and_flags_override_env(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\nhost = 'filehost'\n")
    env = {
        "SWITCHBOARD_PORT": "9001",
        "SWITCHBOARD_HOST": "envhost",
        "SWITCHBOARD_REDIS_URL": "redis://r:1",
        "SWITCHBOARD_ROUTING_OFFER_TIMEOUT_S": "1.5",
        "SWITCHBOARD_RUNTIME_KIND": "thread",
        "SWITCHBOARD_LIMITS_WS_SEND_BUFFER": "7",
        "SWITCHBOARD_CONFIG": "ignored: read by the CLI",
        "UNRELATED": "x",
    }
    config = load_config(path, env=env, overrides={"server.port": 9002, "server.host": None})
    assert config.server.port == 9002  # flag beats env
    assert config.server.host == "envhost"  # env beats file; a None flag is "not given"
    assert config.server.redis_url == "redis://r:1"
    assert config.routing.offer_timeout_s == 1.5
    assert config.runtime.kind == "thread"
    assert config.limits.ws_send_buffer == 7


def test_empty_env_redis_url_means_none() -> None:
    assert load_config(env={"SWITCHBOARD_REDIS_URL": ""}).server.redis_url is None


def test_string_overrides_are_parsed() -> None:
    config = load_config(env={}, overrides={"server.port": "81", "server.data_dir": "d"})
    assert (config.server.port, config.server.data_dir) == (81, Path("d"))


def test_infinite_passivation_is_allowed() -> None:
    config = load_config(env={"SWITCHBOARD_RUNTIME_PASSIVATE_AFTER_S": "inf"})
    assert math.isinf(config.runtime.passivate_after_s)


@pytest.mark.parametrize(
    ("section", "key", "expected"),
    [
        ("server", "host", "SWITCHBOARD_HOST"),
        ("server", "redis_url", "SWITCHBOARD_REDIS_URL"),
        ("runtime", "dispatcher_threads", "SWITCHBOARD_RUNTIME_DISPATCHER_THREADS"),
        ("routing", "disconnect_policy", "SWITCHBOARD_ROUTING_DISCONNECT_POLICY"),
        ("limits", "webhook_max_bytes", "SWITCHBOARD_LIMITS_WEBHOOK_MAX_BYTES"),
    ],
)
def test_env_var_names(section: str, key: str, expected: str) -> None:
    assert env_var_name(section, key) == expected


# Each row: a TOML value for section.key that must be refused, and words of the reason.
INVALID_FILE_VALUES: list[tuple[str, str, str, str]] = [
    ("server", "host", '""', "must not be empty"),
    ("server", "host", "1", "must be a string"),
    ("server", "port", "70000", "between 0 and 65535"),
    ("server", "port", "-1", "between 0 and 65535"),
    ("server", "port", '"80"', "must be a number"),
    ("server", "port", "80.5", "must be an integer"),
    ("server", "port", "true", "must be a number"),
    ("server", "data_dir", '""', "must not be empty"),
    ("server", "redis_url", '"http://x"', "redis://"),
    ("runtime", "kind", '"greenlet"', "one of pool, thread"),
    ("runtime", "dispatcher_threads", "0", "greater than 0"),
    ("runtime", "batch", "-5", "greater than 0"),
    ("runtime", "passivate_after_s", "0", "greater than 0"),
    ("runtime", "passivate_after_s", "nan", "not nan"),
    ("routing", "disconnect_grace_s", "-1", "0 or greater"),
    ("routing", "disconnect_policy", '"drop"', "one of keep, requeue"),
    ("routing", "offer_timeout_s", "0", "greater than 0"),
    ("routing", "affinity_wait_s", "-0.5", "0 or greater"),
    ("limits", "webhook_max_bytes", "0", "greater than 0"),
    ("limits", "ws_send_buffer", "1.5", "must be an integer"),
]


@pytest.mark.parametrize(("section", "key", "toml", "reason"), INVALID_FILE_VALUES)
def test_invalid_file_value(tmp_path: Path, section: str, key: str, toml: str, reason: str) -> None:
    path = write(tmp_path, f"[{section}]\n{key} = {toml}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    message = str(caught.value)
    assert f"{section}.{key}" in message
    assert reason in message


INVALID_ENV_VALUES: list[tuple[str, str, str]] = [
    ("SWITCHBOARD_PORT", "eighty", "must be an integer"),
    ("SWITCHBOARD_PORT", "65536", "between 0 and 65535"),
    ("SWITCHBOARD_HOST", " ", "must not be empty"),
    ("SWITCHBOARD_DATA_DIR", "", "must not be empty"),
    ("SWITCHBOARD_REDIS_URL", "localhost:6379", "redis://"),
    ("SWITCHBOARD_RUNTIME_KIND", "process", "one of pool, thread"),
    ("SWITCHBOARD_RUNTIME_BATCH", "many", "must be an integer"),
    ("SWITCHBOARD_RUNTIME_DISPATCHER_THREADS", "0", "greater than 0"),
    ("SWITCHBOARD_ROUTING_OFFER_TIMEOUT_S", "soon", "must be a number"),
    ("SWITCHBOARD_ROUTING_DISCONNECT_GRACE_S", "-3", "0 or greater"),
    ("SWITCHBOARD_ROUTING_DISCONNECT_POLICY", "KEEP", "one of keep, requeue"),
    ("SWITCHBOARD_LIMITS_WS_SEND_BUFFER", "0", "greater than 0"),
    ("SWITCHBOARD_PROT", "80", "unknown variable"),
]


@pytest.mark.parametrize(("name", "value", "reason"), INVALID_ENV_VALUES)
def test_invalid_env_value(name: str, value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env={name: value})
    assert name in str(caught.value)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[server\nport = 1", "not valid TOML"),
        ("[database]\nurl = 'x'\n", "unknown section [database]"),
        ("[server]\nprot = 80\n", "unknown key server.prot"),
        ("server = 1\n", "server must be a table"),
    ],
)
def test_invalid_file_shape(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=r".") as caught:
        load_config(write(tmp_path, text), env={})
    assert words in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml", env={})


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"server.port": 0.5}, "server.port: must be an integer"),
        ({"server.nope": 1}, "unknown key server.nope"),
        ({"routing.disconnect_policy": "later"}, "routing.disconnect_policy"),
    ],
)
def test_invalid_override(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env={}, overrides=overrides)
    assert words in str(caught.value)


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_LIMITS_WEBHOOK_MAX_BYTES", "2048")
    assert load_config().limits.webhook_max_bytes == 2048


def test_the_example_in_the_configuration_docs_loads(tmp_path: Path) -> None:
    docs = Path(__file__).parent.parent / "docs" / "configuration.md"
    example = docs.read_text().split("```toml", 1)[1].split("```", 1)[0]
    path = tmp_path / "switchboard.toml"
    path.write_text(example)
    config = load_config(path, env={})
    assert config.server.log_format == "json"
    assert config.routing.disconnect_policy == "requeue"
