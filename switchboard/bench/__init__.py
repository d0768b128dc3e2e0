"""The benchmark registry behind ``switchboard bench NAME``.

How it works: each benchmark is a module ``switchboard/bench/<name>.py`` that registers
itself on import::

    from switchboard.bench import register

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--agents", type=int, default=100)

    @register("routing", help="assignments per second", add_arguments=add_arguments)
    def run(args: argparse.Namespace) -> dict[str, object]:
        report.progress("warming up")
        ...
        return {"assignments_per_s": ..., ...}

``discover()`` imports every public module of this package (all but ``report`` and names
starting with ``_``), so adding a file is all it takes.  The CLI parses the benchmark's own
arguments plus ``--json`` into ``args`` and hands the returned dict to
``switchboard.bench.report.emit``: a table for people, or with ``--json`` one JSON object
as the last line of stdout.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["REGISTRY", "BenchResult", "Benchmark", "RunBenchmark", "discover", "register"]

BenchResult = dict[str, object]
RunBenchmark = Callable[[argparse.Namespace], BenchResult]
AddArguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True, slots=True)
class Benchmark:
    """One registered benchmark: its name, entry point and command-line arguments."""

    name: str
    run: RunBenchmark
    help: str = ""
    add_arguments: AddArguments | None = None


REGISTRY: dict[str, Benchmark] = {}
"""Registered benchmarks by name (filled by ``register`` as modules are imported)."""

_NOT_BENCHMARKS = frozenset({"report"})


def register(
    name: str, *, help: str = "", add_arguments: AddArguments | None = None
) -> Callable[[RunBenchmark], RunBenchmark]:
    """Decorator registering ``run(args) -> dict`` as benchmark ``name``."""

    def decorate(run: RunBenchmark) -> RunBenchmark:
        existing = REGISTRY.get(name)
        if existing is not None and existing.run is not run:
            raise ValueError(
                f"benchmark {name!r} is already registered by {existing.run.__module__}"
            )
        REGISTRY[name] = Benchmark(name, run, help, add_arguments)
        return run

    return decorate


def discover() -> dict[str, Benchmark]:
    """Import every benchmark module of this package and return the registry."""
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_") or module.name in _NOT_BENCHMARKS:
            continue
        importlib.import_module(f"{__name__}.{module.name}")
    return REGISTRY
