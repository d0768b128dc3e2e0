"""``switchboard bench routing`` on a small workload: the contract keys and the invariants.

Timing is not checked here (machines are noisy); what must hold on any machine is that
every conversation gets assigned on both runtimes, in every run's own process, and no
agent is ever above its limit.
"""

from __future__ import annotations

import json

import pytest

from switchboard import cli


def test_a_small_routing_benchmark_assigns_everything_within_capacity_on_both_runtimes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["bench", "routing", "--json", "--conversations", "300", "--agents", "20"]
    assert cli.main([*args, "--capacity", "3", "--queues", "3", "--rounds", "2"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"conversations", "agents", "assignments_per_s", "baseline_assignments_per_s",
            "ratio", "capacity_violations"} <= result.keys()  # fmt: skip
    assert result["conversations"] == 300
    assert result["agents"] == 20
    assert result["capacity_violations"] == 0
    rounds = result["rounds"]
    assert all(len(rates) == 2 and min(rates) > 0 for rates in rounds.values())
    assert result["assignments_per_s"] == max(rounds["assignments_per_s"])
    assert result["ratio"] == pytest.approx(
        result["assignments_per_s"] / result["baseline_assignments_per_s"], rel=0.01
    )
