"""``switchboard loadtest``: flags, the server under test, the live view, the report.

How it works: ``main(argv)`` parses the flags into a :class:`Scenario`, then in one trio
run starts the stand-in provider (agents' replies go there), finds the server — the one
at ``--url`` (its REST API, with ``--admin-token``), or one it starts itself on a free
port from a fresh data directory — creates the run's workspace over REST, plays the
simulation with a live view on stderr, and stops what it started.  The result is
printed like the benchmarks' (``switchboard.bench.report``): with ``--json`` the last
line of stdout is one JSON object.  Exit code 0 when every invariant held, 1 when one
did not (or the run failed), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio

from switchboard.bench import report
from switchboard.loadtest import workspace
from switchboard.loadtest.channels import CHANNELS, parse_channels
from switchboard.loadtest.provider import FakeProvider
from switchboard.loadtest.scenario import Scenario, Simulation
from switchboard.loadtest.view import LiveView

__all__ = ["build_parser", "main", "scenario_from"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
TOKEN_ENV = "SWITCHBOARD_LOADTEST_ADMIN_TOKEN"

#: defaults that differ between the normal and the Erlang scenario
_NORMAL = {"seconds": 30.0, "rate": 50.0, "agents": 20, "capacity": 5, "handle_time": 20.0}
_ERLANG = {"seconds": 300.0, "rate": 10.0, "agents": 24, "capacity": 1, "handle_time": 2.0}


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number ≥ 0, not {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {text}")
    return value


def _channels(text: str) -> tuple[str, ...]:
    try:
        return parse_channels(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _setting(text: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq or not name.startswith("SWITCHBOARD_"):
        raise argparse.ArgumentTypeError(f"expected SWITCHBOARD_NAME=VALUE, not {text!r}")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    d = Scenario()
    p = argparse.ArgumentParser(
        prog="switchboard loadtest",
        description="Simulated customers (signed provider webhooks) and agents (/ws/agent) "
        "against a server; checks that nothing is lost, duplicated or over capacity.",
    )
    add = p.add_argument
    where = p.add_argument_group("server")
    where.add_argument("--url", help="a running server (default: start one on a free port)")
    where.add_argument(
        "--admin-token", metavar="TOKEN", help=f"an admin's token for --url (default: ${TOKEN_ENV})"
    )
    where.add_argument(
        "--provider-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address of the stand-in provider, reachable by the server",
    )
    where.add_argument(
        "--server-log", type=Path, metavar="FILE", help="self-started server: write its log here"
    )
    where.add_argument(
        "--server-data",
        type=Path,
        metavar="DIR",
        help="self-started server: keep its data (embedded Redis files) here, for inspection",
    )
    where.add_argument(
        "--server-env",
        action="append",
        default=[],
        type=_setting,
        metavar="NAME=VALUE",
        help="self-started server: an environment setting (docs/configuration.md), "
        "e.g. SWITCHBOARD_RUNTIME_SWITCH_INTERVAL_S=0.0005; repeatable",
    )
    where.add_argument(
        "--keep", action="store_true", help="with --url: keep the run's queue, agents and accounts"
    )
    add("--json", action="store_true", help="print one JSON object as the last line of stdout")
    add("--plot", type=Path, metavar="FILE.png", help="latency histogram and waiting line")
    add(
        "--raw",
        type=Path,
        metavar="FILE.jsonl",
        help="every message as a JSON line (times in seconds from the start), for analysis",
    )
    add(
        "--erlang",
        action="store_true",
        help="Erlang C mode: capacity 1, one message per new customer, exponential handle "
        "times; compares measured P_wait and ASA with the prediction",
    )
    add("--seconds", type=_positive, help="how long customers arrive (30; Erlang 300)")
    add(
        "--rate",
        type=_positive,
        help="customer messages per second (50; Erlang: new customers per second, 10)",
    )
    add("--agents", type=_count, help="simulated agents (20; Erlang 24)")
    add("--capacity", type=_count, help="chats per agent (5; Erlang: always 1)")
    add(
        "--handle-time",
        type=_positive,
        metavar="S",
        help="mean handle time, exponential (20 s; Erlang 2 s)",
    )
    add(
        "--think-time",
        type=_non_negative,
        default=d.think_time_s,
        metavar="S",
        help="mean seconds before an agent replies, exponential",
    )
    add(
        "--messages",
        type=_positive,
        default=d.messages,
        metavar="N",
        help="mean messages per customer and channel, geometric",
    )
    add(
        "--gap",
        type=_positive,
        default=d.gap_s,
        metavar="S",
        help="mean seconds between a customer's messages",
    )
    add(
        "--park-share",
        type=_share,
        default=d.park_share,
        help="share of chats an agent parks after the first reply",
    )
    add(
        "--return-after",
        type=_positive,
        default=d.return_after_s,
        metavar="S",
        help="mean seconds before a parked customer writes again",
    )
    add(
        "--duplicate-share",
        type=_share,
        default=d.duplicate_share,
        help="share of webhooks the provider sends again (a retry)",
    )
    add(
        "--bad-signature-share",
        type=_share,
        default=d.bad_signature_share,
        help="forged webhooks (wrong secret) per message",
    )
    add(
        "--two-channel-share",
        type=_share,
        default=d.two_channel_share,
        help="share of customers writing on two channels at once",
    )
    add(
        "--channels",
        type=_channels,
        default=d.channels,
        help=f"comma-separated, from: {', '.join(CHANNELS)} (default: all)",
    )
    add(
        "--away-every",
        type=_non_negative,
        default=d.away_every_s,
        metavar="S",
        help="mean seconds between an agent's breaks (0: never)",
    )
    add(
        "--away-for",
        type=_positive,
        default=d.away_for_s,
        metavar="S",
        help="mean length of a break",
    )
    add(
        "--drop-every",
        type=_non_negative,
        default=d.drop_every_s,
        metavar="S",
        help="mean seconds between an agent's dropped connections (0: never)",
    )
    add("--connections", type=_count, default=d.connections, help="webhook connections")
    add(
        "--drain",
        type=_non_negative,
        default=d.drain_s,
        metavar="S",
        help="at most this long for the last messages to reach agents",
    )
    add(
        "--warmup",
        type=_non_negative,
        metavar="S",
        help="Erlang: arrivals not measured at the start (default: 10 handle times, ≤ 1/5 run)",
    )
    add("--seed", type=int, default=d.seed, help="random seed (arrivals, handle times, choices)")
    return p


def scenario_from(args: argparse.Namespace) -> Scenario:
    """The flags as a :class:`Scenario` (mode-dependent defaults filled in)."""
    defaults = _ERLANG if args.erlang else _NORMAL

    def pick(name: str) -> Any:
        value = getattr(args, name)
        return defaults[name] if value is None else value

    scenario = Scenario(
        seconds=pick("seconds"),
        rate=pick("rate"),
        agents=pick("agents"),
        capacity=pick("capacity"),
        handle_time_s=pick("handle_time"),
        think_time_s=args.think_time,
        messages=args.messages,
        gap_s=args.gap,
        park_share=args.park_share,
        return_after_s=args.return_after,
        duplicate_share=args.duplicate_share,
        bad_signature_share=args.bad_signature_share,
        two_channel_share=args.two_channel_share,
        away_every_s=args.away_every,
        away_for_s=args.away_for,
        drop_every_s=args.drop_every,
        channels=args.channels,
        connections=args.connections,
        drain_s=args.drain,
        warmup_s=args.warmup,
        seed=args.seed,
    )
    return scenario.for_erlang() if args.erlang else scenario


async def _play(args: argparse.Namespace, scenario: Scenario, view: LiveView) -> dict[str, Any]:
    provider = FakeProvider()
    async with trio.open_nursery() as nursery:
        await nursery.start(provider.serve, args.provider_host)
        view.message(f"stand-in provider at {provider.url}")
        if args.url:
            result = await _against(
                args.url, args.admin_token, scenario, provider, view, cleanup=not args.keep
            )
            result["server"] = {"url": args.url, "self_started": False}
        else:
            result = await _self_started(
                scenario,
                provider,
                view,
                args.server_log,
                args.server_data,
                dict(args.server_env),
            )
        result["replies_reached_customers"] = sum(provider.replies.values())
        nursery.cancel_scope.cancel()
    return result


async def _self_started(
    scenario: Scenario,
    provider: FakeProvider,
    view: LiveView,
    log: Path | None,
    keep_data: Path | None = None,
    server_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    from switchboard.bench.harness import ServerProcess  # noqa: PLC0415 -- server imports

    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="switchboard-loadtest-") as tmp:
        data_dir = keep_data if keep_data is not None else Path(tmp) / "data"
        await trio.to_thread.run_sync(workspace.seed_admin, data_dir, token)
        env = {"SWITCHBOARD_LIMITS_WS_SEND_BUFFER": "100000", **(server_env or {})}
        server = ServerProcess(data_dir, env=env)
        try:
            url = await trio.to_thread.run_sync(server.wait_url)
            view.message(f"server started at {url}")
            result = await _against(url, token, scenario, provider, view, cleanup=False)
            result["server"] = {"url": url, "self_started": True}
            return result
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(server.stop)
            if log is not None:
                log.write_text("".join(server.lines))


async def _against(
    url: str,
    admin_token: str,
    scenario: Scenario,
    provider: FakeProvider,
    view: LiveView,
    *,
    cleanup: bool,
) -> dict[str, Any]:
    url = url.rstrip("/")
    target = await trio.to_thread.run_sync(
        lambda: workspace.create(
            url,
            admin_token,
            channels=scenario.channels,
            agents=scenario.agents,
            capacity=scenario.capacity,
            provider_url=provider.url,
        )
    )
    view.message(
        f"workspace ready: queue {target.queue_id}, {len(target.agents)} agents, "
        f"accounts {', '.join(a.account_id for a in target.accounts.values())}"
    )
    sim = Simulation(scenario, target, on_tick=view.update)
    await sim.run()
    result = sim.result()
    result["simulation"] = sim
    try:
        live = await trio.to_thread.run_sync(workspace.live, target)
        result["server_waiting_at_end"] = sum(q.get("waiting", 0) for q in live.get("queues", ()))
    except (workspace.SetupError, OSError) as error:
        result["server_waiting_at_end"] = f"unknown ({error})"
    if cleanup:
        refused = await trio.to_thread.run_sync(workspace.cleanup, target)
        if refused:
            result["cleanup_refused"] = refused
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load test; the exit code (0 invariants held, 1 broken or failed, 2 usage)."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.url and not args.admin_token:
        args.admin_token = os.environ.get(TOKEN_ENV)
        if not args.admin_token:
            parser.print_usage(sys.stderr)
            print(
                f"switchboard loadtest: --url needs --admin-token (or ${TOKEN_ENV})",
                file=sys.stderr,
            )
            return EXIT_USAGE
    scenario = scenario_from(args)
    with LiveView() as view:
        _warn_capacity(scenario, view)
        try:
            result = trio.run(_play, args, scenario, view)
        except workspace.SetupError as error:
            view.message(f"switchboard loadtest: set-up failed: {error}")
            return EXIT_FAILURE
        except (OSError, RuntimeError, trio.TooSlowError) as error:
            view.message(f"switchboard loadtest: {type(error).__name__}: {error}")
            return EXIT_FAILURE
    sim: Simulation = result.pop("simulation")
    if args.plot is not None:
        from switchboard.loadtest.plot import PlotUnavailable, plot  # noqa: PLC0415

        in_chat, routed = sim.ledger.latencies()
        start = sim.started
        try:
            plot(
                args.plot,
                in_chat_s=in_chat,
                routed_s=routed,
                waiting=sim.waiting_series(),
                title=_title(scenario, result),
                sending=(sim.sending[0] - start, sim.sending[1] - start),
            )
            result["plot"] = str(args.plot)
        except PlotUnavailable as error:
            print(f"switchboard loadtest: {error}", file=sys.stderr)
    if args.raw is not None:
        _write_raw(args.raw, sim)
        result["raw"] = str(args.raw)
    report.emit(result, as_json=args.json, title="switchboard loadtest")
    return EXIT_OK if result["ok"] else EXIT_FAILURE


def _write_raw(path: Path, sim: Simulation) -> None:
    """One line per message: what its customer and the agents saw, relative times."""
    start = sim.started

    def rel(t: float) -> float | None:
        return None if math.isnan(t) else round(t - start, 6)

    with path.open("w") as out:
        for m in sim.ledger.messages.values():
            line = {
                "pid": m.pid, "customer": m.customer, "channel": m.channel,
                "forged": m.bad_signature, "scheduled": rel(m.scheduled), "sent": rel(m.sent_at),
                "answered": rel(m.answered_at), "status": m.status, "recovered": m.recovered,
                "deliveries": [[a, c, rel(t)] for a, c, t in m.deliveries],
            }  # fmt: skip
            out.write(json.dumps(line) + "\n")
        for at, agent, what, conversation, detail in sim.journal:
            event = {"at": rel(at), "agent": agent, "event": what,
                     "conversation": conversation, "detail": detail}  # fmt: skip
            out.write(json.dumps(event) + "\n")


def _title(scenario: Scenario, result: dict[str, Any]) -> str:
    head = (
        f"{result['msgs_per_s']} msgs/s, {scenario.agents} agents x {scenario.capacity}, lost "
        f"{result['lost']}, duplicated {result['duplicated']}, capacity violations "
        f"{result['capacity_violations']}"
    )
    erlang = result.get("erlang_c")
    if erlang is not None:
        return (
            f"Erlang C: P_wait {erlang['measured_p_wait']} (predicted "
            f"{erlang['predicted_p_wait']}), ASA {erlang['measured_asa_s']} s (predicted "
            f"{erlang['predicted_asa_s']} s)\n{head}"
        )
    return f"switchboard load test: {head}, p99 {result['latency_ms'].get('p99')} ms"


def _warn_capacity(scenario: Scenario, view: LiveView) -> None:
    """Say so up front when the agents cannot keep up with the offered chats."""
    if scenario.erlang:
        load = scenario.rate * scenario.handle_time_s
        if load >= scenario.agents:
            view.message(
                f"warning: offered load {load:.1f} erlangs ≥ {scenario.agents} agents: "
                "the line grows without end and Erlang C has no steady state"
            )
        return
    per_customer = scenario.messages * (1 + scenario.two_channel_share)
    chats = scenario.rate / per_customer * scenario.handle_time_s
    room = scenario.agents * scenario.capacity
    if chats > 0.9 * room:
        view.message(
            f"warning: about {chats:.0f} chats at once for {room} slots "
            f"({scenario.agents} agents x {scenario.capacity}): chats will queue"
        )
