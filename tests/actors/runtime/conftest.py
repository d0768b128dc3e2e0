"""Fixtures for the actor runtime tests: every test taking ``runtime`` runs on both kinds."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from actors.runtime import Runtime, Supervisor, VirtualClock, make_runtime

_names = itertools.count()


@pytest.fixture(params=["pool", "thread"], ids=["pool", "thread"])
def runtime(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """A tracking runtime on virtual time, of each kind in turn."""
    built = make_runtime(request.param, VirtualClock(), track=True)
    yield built
    built.shutdown()


@pytest.fixture
def clock(runtime: Runtime) -> VirtualClock:
    """The runtime's virtual clock."""
    assert isinstance(runtime.clock, VirtualClock)
    return runtime.clock


@pytest.fixture
def supervise(runtime: Runtime) -> Iterator[Callable[..., Supervisor[Any]]]:
    """Build supervisors on ``runtime``; they and their children are stopped after the test."""
    made: list[Supervisor[Any]] = []

    def build(child_class: type[Any], name: str | None = None, **options: Any) -> Supervisor[Any]:
        supervisor: Supervisor[Any] = Supervisor(
            name or f"sup{next(_names)}", runtime, child_class, **options
        )
        made.append(supervisor)
        return supervisor

    yield build
    for supervisor in reversed(made):
        supervisor.stop()
