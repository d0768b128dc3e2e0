"""What the person running the load test watches, on stderr.

On a terminal: a ``rich`` live panel redrawn a few times a second (phase, time left,
throughput, recent latency, agents, invariants so far).  Otherwise (CI logs, a pipe) or
without ``rich``: one plain progress line every few seconds.  stdout is never touched,
so ``--json``'s last line stays the result.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, TextIO

from switchboard.bench import report
from switchboard.loadtest.scenario import Tick

__all__ = ["LiveView"]

_PLAIN_EVERY_S = 5.0


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


class LiveView:
    """A context manager; ``update(tick)`` is the simulation's ``on_tick``."""

    def __init__(self, stream: TextIO | None = None, *, rich: bool | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        wanted = self.stream.isatty() if rich is None else rich
        self._live: Any = None
        self._last_plain = -_PLAIN_EVERY_S
        self._last_phase = ""
        if wanted:
            try:
                from rich.console import Console  # noqa: PLC0415 -- optional dependency
                from rich.live import Live  # noqa: PLC0415
            except ImportError:
                return
            console = Console(file=self.stream)
            self._live = Live(console=console, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveView:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(kind, error, tb)

    def message(self, text: str) -> None:
        """A line for people (set-up steps, warnings)."""
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
        else:
            report.progress(text, stream=self.stream)

    def update(self, tick: Tick) -> None:
        if self._live is not None:
            self._live.update(self._panel(tick))
            return
        if tick.phase != self._last_phase or tick.elapsed_s - self._last_plain >= _PLAIN_EVERY_S:
            self._last_plain = tick.elapsed_s
            self._last_phase = tick.phase
            report.progress(_line(tick), stream=self.stream)

    @staticmethod
    def _panel(tick: Tick) -> Any:
        from rich.panel import Panel  # noqa: PLC0415
        from rich.table import Table  # noqa: PLC0415

        table = Table.grid(padding=(0, 2))
        table.add_column(justify="right", style="bold")
        table.add_column()
        table.add_column(justify="right", style="bold")
        table.add_column()
        bad = tick.duplicated or tick.capacity_violations
        table.add_row("phase", tick.phase, "elapsed", f"{tick.elapsed_s:,.1f} s")
        table.add_row("msgs/s", f"{tick.msgs_per_s:,.0f}", "sent", f"{tick.sent:,}")
        table.add_row("accepted", f"{tick.accepted:,}", "at agents", f"{tick.delivered:,}")
        table.add_row("in flight", f"{tick.in_flight:,}", "request errors", f"{tick.errors:,}")
        table.add_row("p50 (5 s)", _ms(tick.recent_p50_ms), "p99 (5 s)", _ms(tick.recent_p99_ms))
        table.add_row(
            "agents",
            f"{tick.agents_online} online, {tick.agents_away} away, "
            f"{tick.agents_disconnected} disconnected",
            "chats",
            f"{tick.active_chats:,} active, {tick.parked_chats:,} parked",
        )
        table.add_row(
            "duplicated",
            f"[red]{tick.duplicated}[/]" if tick.duplicated else "0",
            "capacity violations",
            f"[red]{tick.capacity_violations}[/]" if tick.capacity_violations else "0",
        )
        title = "switchboard loadtest" + (" — [red]invariant broken[/]" if bad else "")
        return Panel(table, title=title, expand=False)


def _line(tick: Tick) -> str:
    return (
        f"{tick.phase}: {tick.msgs_per_s:,.0f} msgs/s, sent {tick.sent:,}, accepted "
        f"{tick.accepted:,}, at agents {tick.delivered:,}, in flight {tick.in_flight:,}, "
        f"p99 {_ms(tick.recent_p99_ms)}; agents {tick.agents_online} online "
        f"{tick.agents_away} away {tick.agents_disconnected} disconnected; chats "
        f"{tick.active_chats:,} active {tick.parked_chats:,} parked; duplicated "
        f"{tick.duplicated}, capacity violations {tick.capacity_violations}"
    )
