"""Erlang B / C against known values, their properties, and the measurement helpers."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.loadtest.erlang import (
    Served,
    asa,
    erlang_b,
    erlang_c,
    fcfs_waits,
    found_all_busy,
    measure,
    predict,
)


def direct_erlang_c(n: int, a: float) -> float:
    """The textbook sum form, computed independently of the recursion."""
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize(
    ("load", "agents", "handle_s", "p_wait", "asa_s"),
    [
        # the two cases
        (48.0, 54, 240.0, 0.301, 12.1),
        (20.0, 24, 2.0, 0.298, 0.149),
        # M/M/1: P_wait = rho, ASA = rho·h/(1 - rho)
        (0.5, 1, 10.0, 0.5, 10.0),
        (0.8, 1, 1.0, 0.8, 4.0),
        # M/M/2 with A = 1: P_wait = 1/3, ASA = h/3
        (1.0, 2, 3.0, 1 / 3, 1.0),
        # the classic table for A = 10 erlangs
        (10.0, 11, 1.0, 0.6821, 0.6821),
        (10.0, 12, 1.0, 0.4494, 0.2247),
        (10.0, 13, 1.0, 0.2853, 0.0951),
        (10.0, 14, 1.0, 0.1741, 0.0435),
        (10.0, 15, 1.0, 0.1020, 0.0204),
    ],
)
def test_erlang_c_known_values(
    load: float, agents: int, handle_s: float, p_wait: float, asa_s: float
) -> None:
    assert erlang_c(agents, load) == pytest.approx(p_wait, abs=5e-4 if p_wait < 1 else 0)
    assert asa(agents, load, handle_s) == pytest.approx(asa_s, rel=4e-3)


def test_predict_from_rate_and_handle_time() -> None:
    p = predict(10.0, 2.0, 24)
    assert (p.load, p.occupancy) == (20.0, pytest.approx(20 / 24))
    assert p.p_wait == pytest.approx(0.298, abs=5e-4)
    assert p.asa_s == pytest.approx(0.149, abs=5e-4)
    assert predict(0.2, 240.0, 54).asa_s == pytest.approx(12.05, abs=0.01)


@pytest.mark.parametrize(
    ("agents", "load", "blocking"),
    [(1, 1.0, 0.5), (2, 1.0, 0.2), (0, 3.0, 1.0), (5, 0.0, 0.0), (10, 5.0, 0.01838)],
)
def test_erlang_b_known_values(agents: int, load: float, blocking: float) -> None:
    assert erlang_b(agents, load) == pytest.approx(blocking, abs=1e-5)


def test_overload_and_bad_input() -> None:
    assert erlang_c(24, 24.0) == 1.0
    assert erlang_c(24, 30.0) == 1.0
    assert asa(24, 24.0, 2.0) == math.inf
    assert erlang_c(3, 0.0) == 0.0
    with pytest.raises(ValueError, match="servers"):
        erlang_c(0, 1.0)
    with pytest.raises(ValueError, match="load"):
        erlang_b(3, -1.0)
    with pytest.raises(ValueError, match="handle time"):
        asa(3, 1.0, 0.0)


agents_st = st.integers(min_value=1, max_value=150)


@given(agents_st, st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_p_wait_is_a_probability_and_at_least_erlang_b(agents: int, occupancy: float) -> None:
    load = agents * occupancy
    p = erlang_c(agents, load)
    assert 0.0 <= p <= 1.0
    assert p >= erlang_b(agents, load) - 1e-12


@given(agents_st, st.floats(0.0, 0.98), st.floats(0.001, 0.02))
def test_p_wait_grows_with_load(agents: int, occupancy: float, step: float) -> None:
    load = agents * occupancy
    assert erlang_c(agents, load + step * agents) >= erlang_c(agents, load)


@given(agents_st, st.floats(0.01, 0.99))
def test_p_wait_falls_with_more_agents(agents: int, occupancy: float) -> None:
    load = agents * occupancy
    assert erlang_c(agents + 1, load) <= erlang_c(agents, load)


@given(agents_st)
def test_p_wait_tends_to_one_as_load_nears_the_agents(agents: int) -> None:
    near = [erlang_c(agents, agents * (1 - eps)) for eps in (1e-2, 1e-4, 1e-6)]
    assert near == sorted(near)
    assert near[-1] > 0.99


@given(st.integers(1, 60), st.floats(0.01, 0.99))
def test_recursion_matches_the_sum_form(agents: int, occupancy: float) -> None:
    load = agents * occupancy
    assert erlang_c(agents, load) == pytest.approx(direct_erlang_c(agents, load), rel=1e-9)


# -- measurement helpers -----------------------------------------------------------------------


def test_fcfs_waits_by_hand() -> None:
    # two agents; the third customer waits for the first to finish at t=3
    waits = fcfs_waits([0.0, 1.0, 2.0, 5.0], [3.0, 3.0, 1.0, 1.0], 2)
    assert waits == [0.0, 0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="sorted"):
        fcfs_waits([1.0, 0.0], [1.0, 1.0], 1)


def test_found_all_busy_by_hand() -> None:
    arrivals = [0.0, 1.0, 2.0, 3.0, 4.0]
    departures = [3.0, 4.5, 2.5, 5.0, 6.0]
    # at 2.0 two are there (0, 1) -> busy; at 3.0 the first left at 3.0 (ties: left)
    assert found_all_busy(arrivals, departures, 2) == [False, False, True, False, True]


@given(st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_in_an_ideal_center_all_busy_means_waiting(agents: int, seed: int) -> None:
    rng = random.Random(seed)
    t = 0.0
    arrivals, handles = [], []
    for _ in range(200):
        t += rng.expovariate(agents * 0.9)
        arrivals.append(t)
        handles.append(rng.expovariate(1.0))
    waits = fcfs_waits(arrivals, handles, agents)
    departures = [a + w + h for a, w, h in zip(arrivals, waits, handles, strict=True)]
    busy = found_all_busy(arrivals, departures, agents)
    assert busy == [w > 0 for w in waits]


def test_measure_a_perfect_run_matches_its_ideal_center() -> None:
    rng = random.Random(7)
    t, rows = 0.0, []
    arrivals, handles = [], []
    for _ in range(3000):
        t += rng.expovariate(10.0)
        arrivals.append(t)
        handles.append(rng.expovariate(1 / 2.0))
    waits = fcfs_waits(arrivals, handles, 24)
    for a, w, h in zip(arrivals, waits, handles, strict=True):
        rows.append(Served(a, a + w, a + w + h, h))
    m = measure(rows, 24, since=20.0)
    assert m.p_wait == m.ideal_p_wait
    assert m.asa_s == pytest.approx(m.ideal_asa_s)
    assert m.sample_rate == pytest.approx(10.0, rel=0.1)
    # a sample of 5 minutes lands near the prediction (not within 10 %: see docs)
    assert 0.15 < m.p_wait < 0.5
    with pytest.raises(ValueError, match="warm-up"):
        measure(rows, 24, since=t + 1)
