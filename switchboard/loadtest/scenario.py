"""One load-test run: the scenario's numbers, and the simulation that plays it.

How this works, in phases (``Simulation.phase``):

1. **starting** — every agent connects over ``/ws/agent`` and goes online;
2. **sending** — customers arrive for ``seconds`` (:mod:`~switchboard.loadtest.customers`)
   while agents work (:mod:`~switchboard.loadtest.agents`);
3. **draining** — no new webhooks; agents keep working until every message the server
   accepted has reached an agent (or ``drain_s`` passes).  In normal mode agents now
   resolve each chat as soon as they have it, so a backlog clears quickly; in Erlang
   mode they keep their handle times, so the last customers are served like the rest;
4. **closing** — agents resolve whatever they still hold, then leave.

The result is computed from the :class:`~switchboard.loadtest.ledger.Ledger` alone —
what the customers and agents saw.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import trio

from switchboard.loadtest import erlang
from switchboard.loadtest.agents import SimAgent
from switchboard.loadtest.customers import Customers
from switchboard.loadtest.ledger import Ledger, percentiles, waiting_over_time
from switchboard.loadtest.workspace import Target

__all__ = ["Scenario", "Simulation", "Tick"]


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything that shapes a run (command-line flags map one to one)."""

    seconds: float = 30.0
    #: customer messages per second (Erlang mode: new customers per second, lambda)
    rate: float = 50.0
    agents: int = 20
    capacity: int = 5
    handle_time_s: float = 20.0  # mean, exponential
    think_time_s: float = 2.0  # mean, exponential
    messages: float = 4.0  # mean messages per customer and channel, geometric
    gap_s: float = 2.0  # mean seconds between a customer's messages
    park_share: float = 0.1
    return_after_s: float = 3.0  # mean seconds before a parked customer writes again
    duplicate_share: float = 0.02
    bad_signature_share: float = 0.01
    two_channel_share: float = 0.05
    away_every_s: float = 60.0  # mean seconds between an agent's breaks (0: never)
    away_for_s: float = 5.0
    drop_every_s: float = 90.0  # mean seconds between an agent's dropped connections (0: never)
    channels: tuple[str, ...] = ("whatsapp", "messenger", "instagram")
    connections: int = 32  # webhook connections
    drain_s: float = 60.0
    #: Erlang mode: arrivals before this many seconds are not measured (None: 10 handle times)
    warmup_s: float | None = None
    erlang: bool = False
    seed: int = 1

    def for_erlang(self) -> Scenario:
        """The Erlang C model's assumptions: one chat per agent, nothing but arrivals and
        exponential handle times (no park, no replies, no retries, no breaks, no drops)."""
        return replace(self, erlang=True, capacity=1, messages=1.0, think_time_s=0.0,
                       park_share=0.0, duplicate_share=0.0, bad_signature_share=0.0,
                       two_channel_share=0.0, away_every_s=0.0, drop_every_s=0.0)  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Tick:
    """The run so far, a few times a second, for the live view."""

    phase: str
    elapsed_s: float
    seconds: float
    sent: int
    accepted: int
    delivered: int
    in_flight: int  # accepted, not yet at an agent
    msgs_per_s: float  # accepted in the last second
    recent_p50_ms: float | None
    recent_p99_ms: float | None
    agents_online: int
    agents_away: int
    agents_disconnected: int
    active_chats: int
    parked_chats: int
    duplicated: int
    capacity_violations: int
    errors: int


class Simulation:
    """Customers and agents against one server, and what they saw."""

    def __init__(
        self, scenario: Scenario, target: Target, on_tick: Callable[[Tick], None] | None = None
    ) -> None:
        self.scenario = scenario
        self.target = target
        self.on_tick = on_tick
        self.ledger = Ledger()
        self.phase = "starting"
        self.closed = trio.Event()  # agents resolve what they hold at once
        self.ended = trio.Event()  # agents leave and do not come back
        self.retries_pending = 0
        self.customers = Customers(self)
        self.agents = [SimAgent(self, a, token, cap) for a, token, cap in target.agents]
        #: (time, agent, what, conversation, detail): the agents' journal, for ``--raw``
        self.journal: list[tuple[float, str, str, str, str]] = []
        #: command -> seconds from sending it to its answer (the agent's wait)
        self.command_times: dict[str, list[float]] = {}
        self.erlang_served: dict[str, tuple[float, float]] = {}  # pid -> (assigned, departed)
        self.started = math.nan
        self.sending = (math.nan, math.nan)
        self.finished = math.nan
        self._wall_offset = 0.0
        self._history: list[tuple[float, int]] = []  # (time, accepted) for msgs/s

    # -- hooks for customers and agents ---------------------------------------------------

    def wall(self, t: float) -> float:
        """Epoch seconds of trio time ``t`` (webhook timestamps)."""
        return t + self._wall_offset

    def handle_time_of(self, pid: str) -> float:
        customer = self.ledger.messages[pid].customer if pid in self.ledger.messages else -1
        return self.customers.handle_times.get(customer, self.scenario.handle_time_s)

    def erlang_departure(self, pid: str, assigned: float, departed: float) -> None:
        self.erlang_served.setdefault(pid, (assigned, departed))

    def customer_told_to_come_back(self, pid: str) -> None:
        message = self.ledger.messages.get(pid)
        if message is not None and self.phase == "sending":
            self.customers.come_back(message.customer, message.channel)

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> None:
        scenario = self.scenario
        self._wall_offset = time.time() - trio.current_time()
        self.started = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._ticker)
            agents_scope = trio.CancelScope()
            nursery.start_soon(self._agents, agents_scope)
            with trio.fail_after(120):
                for agent in self.agents:
                    await agent.ready.wait()
            self.phase = "sending"
            start = trio.current_time()
            await self.customers.run(scenario.seconds)
            self.sending = (start, start + scenario.seconds)
            self.phase = "draining"
            if not scenario.erlang:
                self._close_all()
            with trio.move_on_after(scenario.drain_s):
                while self.ledger.undelivered() or (scenario.erlang and self._held()):
                    await trio.sleep(0.2)
            self.phase = "closing"
            self._close_all()
            with trio.move_on_after(30):
                while self._held():
                    await trio.sleep(0.1)
            self.ended.set()
            for agent in self.agents:
                await agent.stop()
            with trio.move_on_after(10):
                while any(agent.ws is not None for agent in self.agents):
                    await trio.sleep(0.05)
            self.finished = trio.current_time()
            self._tick()
            agents_scope.cancel()
            nursery.cancel_scope.cancel()

    async def _agents(self, scope: trio.CancelScope) -> None:
        with scope:
            async with trio.open_nursery() as nursery:
                for agent in self.agents:
                    nursery.start_soon(agent.run)

    def _close_all(self) -> None:
        self.closed.set()
        for agent in self.agents:
            for chat in list(agent.chats.values()):
                chat.poke()

    def _held(self) -> int:
        return sum(len(h.active) + len(h.parked) for h in self.ledger.holdings.values())

    async def _ticker(self) -> None:
        while True:
            self._tick()
            await trio.sleep(0.25)

    def _tick(self) -> None:
        now = trio.current_time()
        ledger = self.ledger
        history = self._history
        history.append((now, ledger.accepted_count))
        while len(history) > 2 and history[1][0] <= now - 1.0:
            history.pop(0)
        span = history[-1][0] - history[0][0]
        rate = (history[-1][1] - history[0][1]) / span if span > 0 else 0.0
        recent = [lat for at, lat in ledger.recent if at >= now - 5.0]
        quantiles = percentiles(recent)
        statuses = [a.status if a.ws is not None else "disconnected" for a in self.agents]
        tick = Tick(
            phase=self.phase,
            elapsed_s=now - self.started,
            seconds=self.scenario.seconds,
            sent=len(ledger.send_lags),
            accepted=ledger.accepted_count,
            delivered=ledger.delivered_count,
            in_flight=ledger.accepted_count - ledger.delivered_count,
            msgs_per_s=rate,
            recent_p50_ms=quantiles["p50"],
            recent_p99_ms=quantiles["p99"],
            agents_online=statuses.count("online"),
            agents_away=statuses.count("away"),
            agents_disconnected=statuses.count("disconnected"),
            active_chats=sum(len(h.active) for h in ledger.holdings.values()),
            parked_chats=sum(len(h.parked) for h in ledger.holdings.values()),
            duplicated=ledger.duplicate_deliveries,
            capacity_violations=ledger.violations,
            errors=ledger.errors,
        )
        if self.on_tick is not None:
            self.on_tick(tick)

    # -- the result ------------------------------------------------------------------------

    def result(self) -> dict[str, Any]:
        """The report: the contract's keys first, then what explains them."""
        scenario = self.scenario
        ledger = self.ledger
        counts = ledger.invariants()
        start, stop = self.sending
        in_window = sum(
            1 for m in ledger.messages.values()
            if not m.bad_signature and m.accepted and start <= m.answered_at <= stop
        )  # fmt: skip
        in_chat, routed = ledger.latencies()
        agents = self.agents
        out: dict[str, Any] = {
            "sent": counts["sent"],
            "delivered_to_agents": counts["delivered_to_agents"],
            "lost": counts["lost"],
            "duplicated": counts["duplicated"],
            "capacity_violations": counts["capacity_violations"],
            "msgs_per_s": round(in_window / scenario.seconds, 1),
            "latency_ms": percentiles(in_chat),
            "routed_latency_ms": percentiles(routed),
            "ok": _ok(counts),
            "accepted": counts["accepted"],
            "not_accepted": counts["not_accepted"],
            "http_statuses": {str(k): v for k, v in sorted(ledger.statuses.items())},
            "request_errors": ledger.errors,
            "recovered_after_reconnect": counts["recovered_after_reconnect"],
            "retried_duplicates_sent": counts["retried_duplicates_sent"],
            "dedupe_failures": counts["dedupe_failures"],
            "bad_signatures_sent": counts["bad_signatures_sent"],
            "bad_signature_accepted": counts["bad_signature_accepted"],
            "unsigned_delivered": counts["unsigned_delivered"],
            "unknown_deliveries": ledger.unknown_deliveries,
            "send_lag_ms": percentiles(ledger.send_lags),
            "customers": len({m.customer for m in ledger.messages.values()}),
            "customers_came_back": self.customers.came_back,
            "conversations": len(ledger.activations),
            "peak_chats_per_agent": max((h.peak for h in ledger.holdings.values()), default=0),
            "agent_replies": sum(a.replies for a in agents),
            "agent_parks": sum(a.parks for a in agents),
            "agent_resolves": sum(a.resolves for a in agents),
            "agent_drops": sum(a.drops for a in agents),
            "agent_errors": _merge(a.errors for a in agents),
            "command_ms": {
                kind: {**percentiles(times), "max": round(max(times) * 1000, 1)}
                for kind, times in sorted(self.command_times.items())
            },
            "seconds": scenario.seconds,
            "run_s": round(self.finished - self.started, 1),
        }
        if scenario.erlang:
            out["erlang_c"] = self.erlang_result()
        out["scenario"] = scenario.as_dict()
        return out

    def served(self) -> list[erlang.Served]:
        """Erlang mode: every customer who was served, as ``erlang.measure`` wants them."""
        rows = []
        for pid, (assigned, departed) in self.erlang_served.items():
            message = self.ledger.messages.get(pid)
            if message is None or not message.accepted:
                continue
            handle = self.customers.handle_times[message.customer]
            rows.append(erlang.Served(message.answered_at, assigned, departed, handle))
        return rows

    def erlang_result(self) -> dict[str, Any]:
        scenario = self.scenario
        predicted = erlang.predict(scenario.rate, scenario.handle_time_s, scenario.agents)
        warmup = scenario.warmup_s
        if warmup is None:
            warmup = min(10 * scenario.handle_time_s, scenario.seconds / 5)
        start = self.sending[0]
        out: dict[str, Any] = {
            "predicted_p_wait": round(predicted.p_wait, 4),
            "measured_p_wait": None,
            "predicted_asa_s": round(predicted.asa_s, 4),
            "measured_asa_s": None,
            "offered_load": round(predicted.load, 3),
            "agents": scenario.agents,
            "warmup_s": warmup,
        }
        served = self.served()
        try:
            measured = erlang.measure(served, scenario.agents, start + warmup)
        except ValueError as error:
            out["error"] = str(error)
            return out
        sample = erlang.predict(measured.sample_rate, measured.sample_handle_time_s,
                                scenario.agents)  # fmt: skip
        out.update({
            "measured_p_wait": round(measured.p_wait, 4),
            "measured_asa_s": round(measured.asa_s, 4),
            "p_wait_error": _relative(measured.p_wait, predicted.p_wait),
            "asa_error": _relative(measured.asa_s, predicted.asa_s),
            "customers_measured": measured.customers,
            "customers_served": len(served),
            "measured_p_wait_by_delay": round(measured.p_wait_by_delay, 4),
            "delay_threshold_ms": round(measured.delay_threshold_s * 1000, 2),
            "free_agent_assign_ms": round(measured.free_agent_latency_s * 1000, 2),
            "ideal_p_wait": round(measured.ideal_p_wait, 4),
            "ideal_asa_s": round(measured.ideal_asa_s, 4),
            "sample_rate": round(measured.sample_rate, 3),
            "sample_handle_time_s": round(measured.sample_handle_time_s, 4),
            "predicted_p_wait_at_sample": round(sample.p_wait, 4),
            "predicted_asa_s_at_sample": round(sample.asa_s, 4),
        })  # fmt: skip
        # the ideal center on the same sample is a control variate: its expectation is the
        # prediction, and it shares the sample's luck with the run, so measured - ideal +
        # predicted estimates the server at the nominal load with most of the noise of a
        # five-minute sample taken out (docs/loadtest.md, "Reading the result")
        cv_p_wait = measured.p_wait - measured.ideal_p_wait + predicted.p_wait
        cv_asa = measured.asa_s - measured.ideal_asa_s + predicted.asa_s
        out.update({
            "server_p_wait_excess": round(measured.p_wait - measured.ideal_p_wait, 4),
            "server_asa_excess_s": round(measured.asa_s - measured.ideal_asa_s, 4),
            "cv_p_wait": round(cv_p_wait, 4),
            "cv_asa_s": round(cv_asa, 4),
            "cv_p_wait_error": _relative(cv_p_wait, predicted.p_wait),
            "cv_asa_error": _relative(cv_asa, predicted.asa_s),
        })  # fmt: skip
        return out

    # -- for the plot ----------------------------------------------------------------------

    def waiting_series(self, step: float = 0.5) -> tuple[list[float], list[int]]:
        """Conversations waiting for their first agent, over the run (parties' view)."""
        ledger = self.ledger
        opened: dict[str, float] = {}  # conversation -> its earliest message's send
        for m in ledger.messages.values():
            if m.deliveries:
                conversation = m.deliveries[0][1]
                opened[conversation] = min(opened.get(conversation, math.inf), m.sent_at)
        # a conversation whose first message was read from a transcript (after a reconnect)
        # shows only later ones: their send can be after its assignment; such are left out
        intervals = [
            (opened[conversation], activations[0][1])
            for conversation, activations in ledger.activations.items()
            if opened.get(conversation, math.inf) <= activations[0][1]
        ]
        return waiting_over_time(intervals, self.started, self.finished, step)


def _ok(counts: dict[str, int]) -> bool:
    return not any(counts[k] for k in ("lost", "duplicated", "capacity_violations",
                                       "bad_signature_accepted", "unsigned_delivered",
                                       "dedupe_failures"))  # fmt: skip


def _merge(dicts: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items()))


def _relative(measured: float, predicted: float) -> float | None:
    if predicted == 0 or not math.isfinite(predicted):
        return None
    return round((measured - predicted) / predicted, 4)
