"""``switchboard bench routing``: assignments per second, pool runtime vs thread-per-actor.

The workload, run ``--rounds`` times on each runtime with the same numbers, each run in
a fresh process (the runtimes taking turns; the best run of each counts):

* ``--queues`` queues (longest-idle), ``--agents`` agents of capacity ``--capacity``,
  each a member of two queues, so queues compete to offer to the same agents;
* ``--conversations`` conversations waiting in those queues (set up, not timed);
* timed: every agent comes online; each agent's connection resolves a chat as soon
  as it is assigned, which frees the slot, so the backlog is worked off by
  offers, accepts, resolves and auto-assignment on free capacity.

A second workload, *backlog*, gives every agent room for its share of the waiting
chats and resolves nothing: the morning rush when a full queue meets agents
logging in.  Its figures are reported as ``backlog_*``.

The clock stops when every conversation has been assigned.  Each agent's
connection counts the chats it holds (assigned minus resolved) and records a
capacity violation if that ever exceeds the agent's limit.
"""

from __future__ import annotations

import argparse
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from actors.events import ConversationAssigned, ConversationResolved
from actors.messages import Describe, Resolve, SetStatus
from actors.routing.model import (
    AgentState,
    AgentStatus,
    Capacity,
    Channel,
    ConversationState,
    QueueConfig,
)
from actors.runtime import heap
from actors.runtime.runtime import RuntimeKind, make_runtime
from actors.system import Routing, RoutingSettings
from switchboard.bench import register, report
from switchboard.config import RuntimeConfig

__all__ = ["run", "run_once"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=1_000)
    parser.add_argument("--capacity", type=int, default=5)
    parser.add_argument("--queues", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="dispatcher threads (pool)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--rounds", type=int, default=2, help="runs of each workload on each runtime (best counts)"
    )


class _Desk:
    """One agent's connection in the benchmark: resolves what it gets, counts what it holds."""

    def __init__(self, bench: _Bench, agent_id: str, limit: int, *, churn: bool) -> None:
        self.bench = bench
        self.churn = churn
        self.agent_id = agent_id
        self.limit = limit
        self.held = 0

    def push(self, event: object) -> None:
        if isinstance(event, ConversationAssigned):
            self.held += 1
            if self.held > self.limit:
                self.bench.violations += 1
            self.bench.assigned()
            conversation = self.bench.routing.conversations.get(event.conversation_id)
            if conversation is not None and self.churn:
                conversation.ask_future(Resolve(self.agent_id, "benchmark"))
        elif isinstance(event, ConversationResolved):
            self.held -= 1


class _Bench:
    def __init__(self, routing: Routing, target: int) -> None:
        self.routing = routing
        self.target = target
        self.count = 0
        self.violations = 0
        self.done = threading.Event()
        self._lock = threading.Lock()  # the benchmark's own tally, not the product's state

    def assigned(self) -> None:
        with self._lock:
            self.count += 1
            if self.count >= self.target:
                self.done.set()


def run_once(kind: RuntimeKind, args: argparse.Namespace, *, churn: bool = True) -> dict[str, Any]:
    """Set up the workload on one runtime, time the assignments, tear down."""
    runtime = make_runtime(kind, threads=args.threads)
    routing = Routing(runtime, RoutingSettings(passivate_after_s=None))
    bench = _Bench(routing, args.conversations)
    # churn: capacity as given, resolved on arrival; backlog: room to spare, no resolves
    # (twice the even share, so no chat is stranded by how queues share their agents)
    limit = args.capacity if churn else 2 * -(-args.conversations // args.agents)
    try:
        queue_ids = [f"q{i}" for i in range(args.queues)]
        for queue_id in queue_ids:
            routing.add_queue(QueueConfig(queue_id))
        agents = []
        for i in range(args.agents):
            agent_id = f"agent-{i}"
            member_of = frozenset({queue_ids[i % args.queues], queue_ids[(i + 1) % args.queues]})
            agents.append(
                routing.add_agent(AgentState(agent_id, queues=member_of, capacity=Capacity(limit)))
            )
            routing.connect(agent_id, _Desk(bench, agent_id, limit, churn=churn))
        report.progress(f"{kind}: {args.agents} agents ready; queueing {args.conversations} chats")
        now = runtime.clock.now()
        for i in range(args.conversations):
            cid = f"c{i}"
            state = ConversationState(
                cid,
                f"customer-{i}",
                Channel.WHATSAPP,
                "bench",
                queue_ids[i % args.queues],
                created_at=now,
            )
            routing.conversations.open(cid, state)
        _wait_queued(routing, queue_ids, args.conversations, args.timeout)
        report.progress(f"{kind}: backlog queued; agents going online")
        started = time.perf_counter()
        for agent in agents:
            agent.tell(SetStatus(AgentStatus.ONLINE))
        if not bench.done.wait(args.timeout):
            msg = f"{kind}: only {bench.count} of {args.conversations} assigned in {args.timeout}s"
            raise TimeoutError(msg)
        elapsed = time.perf_counter() - started
        report.progress(f"{kind}: {bench.count} assignments in {elapsed:.2f}s")
        return {
            "assignments": bench.count,
            "seconds": elapsed,
            "assignments_per_s": bench.count / elapsed,
            "capacity_violations": bench.violations,
        }
    finally:
        routing.stop()
        runtime.shutdown()


def _run_fresh(kind: RuntimeKind, args: argparse.Namespace, churn: bool) -> dict[str, Any]:
    """One run in a process of its own, set up as ``switchboard serve`` sets itself up."""
    heap.collect_less_often(RuntimeConfig().gc_young_threshold)
    return run_once(kind, args, churn=churn)


def _wait_queued(routing: Routing, queue_ids: list[str], expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = sum(routing.queue(q).ask(Describe())["waiting"] for q in queue_ids)
        if waiting >= expected:
            return
        time.sleep(0.05)
    msg = f"the backlog did not form within {timeout}s"
    raise TimeoutError(msg)


@register(
    "routing",
    help="assignments/s on the pool runtime vs thread-per-actor",
    add_arguments=add_arguments,
)
def run(args: argparse.Namespace) -> dict[str, object]:
    # each workload on each runtime ``--rounds`` times, the runtimes taking turns; the
    # best run of each counts, as background noise on the machine only ever slows a run.
    # Every run has a fresh process of its own: what one run leaves behind (ten thousand
    # threads' stacks, a grown and scattered heap) slowed the next run by a third.
    runs: dict[tuple[RuntimeKind, bool], list[dict[str, Any]]] = {}
    spawn = multiprocessing.get_context("spawn")
    for churn in (True, False):
        for _ in range(max(1, args.rounds)):
            for kind in ("pool", "thread"):
                with ProcessPoolExecutor(1, mp_context=spawn) as fresh:
                    result = fresh.submit(_run_fresh, kind, args, churn).result()
                runs.setdefault((kind, churn), []).append(result)

    def best(kind: RuntimeKind, churn: bool) -> dict[str, Any]:
        return max(runs[kind, churn], key=lambda r: float(r["assignments_per_s"]))

    def rates(kind: RuntimeKind, churn: bool) -> list[float]:
        return [round(r["assignments_per_s"], 1) for r in runs[kind, churn]]

    pool, thread = best("pool", True), best("thread", True)
    backlog, backlog_thread = best("pool", False), best("thread", False)
    return {
        "conversations": args.conversations,
        "agents": args.agents,
        "queues": args.queues,
        "capacity": args.capacity,
        "dispatcher_threads": args.threads,
        "assignments_per_s": round(pool["assignments_per_s"], 1),
        "baseline_assignments_per_s": round(thread["assignments_per_s"], 1),
        "ratio": round(pool["assignments_per_s"] / thread["assignments_per_s"], 2),
        "capacity_violations": sum(
            r["capacity_violations"] for every in runs.values() for r in every
        ),
        "backlog_assignments_per_s": round(backlog["assignments_per_s"], 1),
        "backlog_baseline_assignments_per_s": round(backlog_thread["assignments_per_s"], 1),
        "backlog_ratio": round(
            backlog["assignments_per_s"] / backlog_thread["assignments_per_s"], 2
        ),
        "rounds": {
            "assignments_per_s": rates("pool", True),
            "baseline_assignments_per_s": rates("thread", True),
            "backlog_assignments_per_s": rates("pool", False),
            "backlog_baseline_assignments_per_s": rates("thread", False),
        },
    }
