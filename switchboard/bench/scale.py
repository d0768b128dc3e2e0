"""``switchboard bench scale``: how many live conversation actors, at what memory and speed.

The workload, on the pool runtime (``--threads`` dispatcher threads):

* a routing system with one queue and no passivation, so every actor stays live;
* timed (``start_s``): ``--conversations`` real conversation actors are opened, each
  from a parked conversation (a parked chat does not join a queue, so starting it is
  the actor alone), until the last of them has run its ``on_start`` and answered;
* memory: the growth of the process's resident set (``VmRSS``) across the start,
  after a full garbage collection, per actor (``kb_per_actor``);
* timed (``fanout_s``): every actor is asked ``Describe()`` at once and every reply is
  collected.

No tracemalloc: it slows allocation several times over and would distort the timings;
the resident set is what a host pays for anyway.
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path
from typing import Any

from actors.messages import Describe
from actors.routing.model import (
    Channel,
    ConversationState,
    ConversationStatus,
    QueueConfig,
)
from actors.runtime import heap
from actors.runtime.address import Address
from actors.runtime.runtime import make_runtime
from actors.system import Routing, RoutingSettings
from switchboard.bench import register, report
from switchboard.config import RuntimeConfig

__all__ = ["rss_kb", "run"]

#: what the scale issue asks of the pool runtime
TARGET_ACTORS = 100_000
TARGET_KB_PER_ACTOR = 6.0
TARGET_START_S = 5.0

_PARKED_BY = "agent-bench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conversations", type=int, default=TARGET_ACTORS)
    parser.add_argument("--threads", type=int, default=2, help="dispatcher threads")
    parser.add_argument("--timeout", type=float, default=300.0)


def rss_kb() -> int:
    """This process's resident set size in KiB, from ``/proc/self/status``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    msg = "no VmRSS in /proc/self/status (the scale benchmark needs Linux)"
    raise RuntimeError(msg)


def _settled_rss_kb() -> int:
    gc.collect()
    return rss_kb()


def _parked(cid: str, i: int, now: float) -> ConversationState:
    return ConversationState(
        cid,
        f"customer-{i}",
        Channel.WHATSAPP,
        "bench",
        "default",
        status=ConversationStatus.PARKED,
        agent_id=_PARKED_BY,
        parked_by=_PARKED_BY,
        parked_at=now,
        created_at=now,
    )


def _open_all(routing: Routing, count: int, timeout: float) -> tuple[list[Address], float, float]:
    """Open ``count`` parked conversations; return them, the open time and the start time."""
    now = routing.runtime.clock.now()
    conversations = routing.conversations
    started = time.perf_counter()
    addresses = []
    for i in range(count):
        cid = f"c{i}"
        addresses.append(conversations.open(cid, _parked(cid, i, now)))
        if i and i % 20_000 == 0:
            report.progress(f"opened {i:,} conversations")
    opened = time.perf_counter() - started
    # The run queue is FIFO: once the last actor has answered, every actor opened before
    # it has been run (``on_start`` included).
    if addresses:
        addresses[-1].ask(Describe(), timeout=timeout)
    return addresses, opened, time.perf_counter() - started


def _fan_out(addresses: list[Address], timeout: float) -> tuple[float, int]:
    """Ask every actor ``Describe()`` at once; return the time and how many say parked."""
    started = time.perf_counter()
    futures = [address.ask_future(Describe()) for address in addresses]
    replies: list[dict[str, Any]] = [future.get(timeout=timeout) for future in futures]
    elapsed = time.perf_counter() - started
    parked = sum(1 for reply in replies if reply["status"] == ConversationStatus.PARKED.value)
    return elapsed, parked


@register(
    "scale",
    help="live conversation actors: memory per actor, start and fan-out time (pool)",
    add_arguments=add_arguments,
)
def run(args: argparse.Namespace) -> dict[str, object]:
    # the process set up as ``switchboard serve`` sets it up (actors.runtime.heap)
    heap.collect_less_often(RuntimeConfig().gc_young_threshold)
    count: int = args.conversations
    runtime = make_runtime("pool", threads=args.threads)
    routing = Routing(runtime, RoutingSettings(passivate_after_s=None))
    try:
        routing.add_queue(QueueConfig("default"))
        before_kb = _settled_rss_kb()
        report.progress(f"pool ({args.threads} threads): opening {count:,} parked conversations")
        addresses, open_s, start_s = _open_all(routing, count, args.timeout)
        after_kb = _settled_rss_kb()
        live = routing.conversations.stats().live
        growth_kb = after_kb - before_kb
        kb_per_actor = growth_kb / count if count else 0.0
        report.progress(
            f"{live:,} live in {start_s:.2f}s; RSS +{growth_kb / 1024:.1f} MB "
            f"({kb_per_actor:.2f} KB per actor); asking every one Describe()"
        )
        fanout_s, parked = _fan_out(addresses, args.timeout)
        if parked != count:
            msg = f"only {parked:,} of {count:,} conversations answered as parked"
            raise RuntimeError(msg)
        report.progress(f"{parked:,} answers in {fanout_s:.2f}s")
        return {
            "conversations": count,
            "dispatcher_threads": args.threads,
            "live_conversation_actors": live,
            "rss_mb": round(after_kb / 1024, 1),
            "rss_growth_mb": round(growth_kb / 1024, 1),
            "kb_per_actor": round(kb_per_actor, 2),
            "open_s": round(open_s, 3),
            "start_s": round(start_s, 3),
            "fanout_s": round(fanout_s, 3),
            "fanout_per_s": round(count / fanout_s, 1) if fanout_s else None,
            "targets_met": (
                live >= TARGET_ACTORS
                and kb_per_actor <= TARGET_KB_PER_ACTOR
                and start_s <= TARGET_START_S
            ),
        }
    finally:
        routing.stop()
        runtime.shutdown()
