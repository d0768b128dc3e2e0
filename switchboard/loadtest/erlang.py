"""Erlang B and C: what an ideal contact center with ``n`` agents and offered load ``a`` does.

The model (M/M/N, "Erlang C"): customers arrive as a Poisson process at rate ``lambda`` per
second, each chat takes an exponentially distributed handle time of mean ``h`` seconds,
each of the ``n`` agents takes one chat at a time, and a customer who finds every agent
busy waits in one first-come-first-served line and never gives up.  The offered load is
``a = lambda·h`` erlangs; the line is stable only while ``a < n``.

- Erlang B (the share of arrivals that find every agent busy when there is *no* line) by
  the numerically stable recursion ``B(0) = 1``, ``B(k) = a·B(k-1) / (k + a·B(k-1))``;
- Erlang C from it: ``P_wait = B / (1 - rho·(1 - B))`` with ``rho = a / n``;
- average speed of answer over *all* customers: ``ASA = P_wait · h / (n - a)``.

For ``a = 48, n = 54, h = 240 s``: ``P_wait ≈ 0.301``, ``ASA ≈ 12.1 s``.

Everything here is plain arithmetic over plain numbers, so the load test's predictions
and the measurement helpers (``fcfs_waits``, ``found_all_busy``) are tested exactly.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ErlangPrediction",
    "Measured",
    "Served",
    "asa",
    "erlang_b",
    "erlang_c",
    "fcfs_waits",
    "found_all_busy",
    "measure",
    "predict",
]


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of ``servers`` agents under ``load`` erlangs (no waiting line)."""
    if servers < 0:
        raise ValueError(f"servers must be 0 or more, not {servers}")
    if load < 0 or not math.isfinite(load):
        raise ValueError(f"load must be a finite number ≥ 0, not {load}")
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arriving customer finds every agent busy and has to wait.

    1.0 when the line is not stable (``load ≥ servers``): sooner or later everyone waits.
    """
    if servers <= 0:
        raise ValueError(f"servers must be 1 or more, not {servers}")
    if load >= servers:
        return 1.0
    if load == 0:
        return 0.0
    b = erlang_b(servers, load)
    rho = load / servers
    return min(1.0, b / (1.0 - rho * (1.0 - b)))


def asa(servers: int, load: float, handle_time_s: float) -> float:
    """Average speed of answer (seconds), over every customer, waiting or not."""
    if handle_time_s <= 0:
        raise ValueError(f"handle time must be > 0, not {handle_time_s}")
    if load >= servers:
        return math.inf
    return erlang_c(servers, load) * handle_time_s / (servers - load)


@dataclass(frozen=True, slots=True)
class ErlangPrediction:
    """What Erlang C predicts for one arrival rate, handle time and number of agents."""

    arrival_rate: float
    handle_time_s: float
    agents: int
    load: float  # offered load A = lambda·h, erlangs
    occupancy: float  # rho = A / N
    p_wait: float
    asa_s: float


def predict(arrival_rate: float, handle_time_s: float, agents: int) -> ErlangPrediction:
    """Erlang C for ``arrival_rate`` customers/s, mean handle ``handle_time_s``, ``agents``."""
    if arrival_rate < 0:
        raise ValueError(f"arrival rate must be ≥ 0, not {arrival_rate}")
    load = arrival_rate * handle_time_s
    return ErlangPrediction(
        arrival_rate=arrival_rate,
        handle_time_s=handle_time_s,
        agents=agents,
        load=load,
        occupancy=load / agents,
        p_wait=erlang_c(agents, load),
        asa_s=asa(agents, load, handle_time_s),
    )


def fcfs_waits(
    arrivals: Sequence[float], handle_times: Sequence[float], servers: int
) -> list[float]:
    """How long each customer would wait in an ideal first-come-first-served center.

    The same arrivals and handle times as a run, served by ``servers`` agents with no
    latency at all: what a perfect router would have given on exactly this sample.  It
    separates the sampling noise of a finite run (this sample against the formula) from
    what the server adds (the run against this sample).  ``arrivals`` must be sorted.
    """
    if len(arrivals) != len(handle_times):
        raise ValueError("one handle time per arrival")
    if servers <= 0:
        raise ValueError(f"servers must be 1 or more, not {servers}")
    free_at = [0.0] * servers  # a heap: when each agent is next free
    waits = []
    previous = -math.inf
    for arrival, handle in zip(arrivals, handle_times, strict=True):
        if arrival < previous:
            raise ValueError("arrivals must be sorted")
        previous = arrival
        earliest = heapq.heappop(free_at)
        start = max(arrival, earliest)
        waits.append(start - arrival)
        heapq.heappush(free_at, start + handle)
    return waits


def found_all_busy(
    arrivals: Sequence[float], departures: Sequence[float], servers: int
) -> list[bool]:
    """For each customer: were ``servers`` or more earlier customers still there on arrival?

    A customer is "there" from arrival until its chat is resolved.  In a center that
    serves in arrival order and never leaves an agent idle while someone waits, this is
    exactly "found no free agent on arrival" (everyone there is either talking to one of
    the agents or waiting ahead in line).  Ties: a customer who leaves at the very instant
    another arrives has left.
    """
    if len(arrivals) != len(departures):
        raise ValueError("one departure per arrival")
    # sweep over the instants: departures before arrivals at the same time
    events = sorted(
        [(t, 0, i) for i, t in enumerate(departures)] + [(t, 1, i) for i, t in enumerate(arrivals)]
    )
    present = 0
    busy = [False] * len(arrivals)
    arrived = [False] * len(arrivals)
    gone = [False] * len(arrivals)  # left before it arrived: clocks that disagree slightly
    for _, kind, i in events:
        if kind == 1:
            busy[i] = present >= servers
            arrived[i] = True
            if not gone[i]:
                present += 1
        elif arrived[i]:
            present -= 1
        else:
            gone[i] = True
    return busy


@dataclass(frozen=True, slots=True)
class Served:
    """One customer of an Erlang run, as the parties saw it (seconds, one clock)."""

    arrival: float  # the webhook's 200 read by the customer
    assigned: float  # ``conversation.assigned`` read by the agent
    departure: float  # the agent sent ``conversation.resolve``
    handle_time_s: float  # the handle time drawn for this customer


@dataclass(frozen=True, slots=True)
class Measured:
    """What an Erlang run measured, next to an ideal center serving the same sample."""

    customers: int  # counted (arrived after the warm-up)
    p_wait: float  # share that found no free agent on arrival (``found_all_busy``)
    asa_s: float  # mean of assigned - arrival, over every counted customer
    p_wait_by_delay: float  # share whose assignment took over ``delay_threshold_s``
    delay_threshold_s: float
    free_agent_latency_s: float  # median assigned - arrival of those who found one free
    ideal_p_wait: float  # the same arrivals and handle times, zero latency, FCFS
    ideal_asa_s: float
    sample_rate: float  # arrivals per second over the counted period
    sample_handle_time_s: float  # mean handle time drawn for the counted customers


def measure(served: Sequence[Served], servers: int, since: float) -> Measured:
    """P_wait and ASA of the customers who arrived at ``since`` or later.

    Everyone counts towards who is *there* (the warm-up's customers occupy agents too);
    only arrivals from ``since`` on are measured, as Erlang C describes a center that has
    run for a while, not one that opened empty.
    """
    ordered = sorted(served, key=lambda s: s.arrival)
    if not ordered:
        raise ValueError("nobody was served")
    arrivals = [s.arrival for s in ordered]
    busy = found_all_busy(arrivals, [s.departure for s in ordered], servers)
    ideal = fcfs_waits(arrivals, [s.handle_time_s for s in ordered], servers)
    counted = [i for i, s in enumerate(ordered) if s.arrival >= since]
    if not counted:
        raise ValueError("nobody arrived after the warm-up")
    n = len(counted)
    delays = [ordered[i].assigned - ordered[i].arrival for i in counted]
    free = sorted(d for i, d in zip(counted, delays, strict=True) if not busy[i])
    base = free[len(free) // 2] if free else 0.0
    threshold = max(2 * base, 0.010)
    span = ordered[counted[-1]].arrival - ordered[counted[0]].arrival
    return Measured(
        customers=n,
        p_wait=sum(busy[i] for i in counted) / n,
        asa_s=sum(delays) / n,
        p_wait_by_delay=sum(d > threshold for d in delays) / n,
        delay_threshold_s=threshold,
        free_agent_latency_s=base,
        ideal_p_wait=sum(ideal[i] > 0 for i in counted) / n,
        ideal_asa_s=sum(ideal[i] for i in counted) / n,
        sample_rate=(n - 1) / span if span > 0 else math.nan,
        sample_handle_time_s=sum(ordered[i].handle_time_s for i in counted) / n,
    )
