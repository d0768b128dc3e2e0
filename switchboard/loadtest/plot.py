"""``--plot FILE.png``: the latency distribution and the waiting line over the run.

matplotlib is an optional dependency (``pip install 'switchboard[loadtest]'``), imported
only here and only when a plot is asked for, with the non-interactive Agg backend (no
display needed on a server).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["PlotUnavailable", "plot"]


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def plot(
    path: Path,
    *,
    in_chat_s: list[float],
    routed_s: list[float],
    waiting: tuple[list[float], list[int]],
    title: str,
    sending: tuple[float, float] | None = None,
) -> None:
    """Write a two-panel PNG: latency histogram (log scale), conversations waiting."""
    try:
        import matplotlib as mpl  # noqa: PLC0415 -- optional, heavy

        mpl.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError as error:
        msg = "--plot needs matplotlib: pip install 'switchboard[loadtest]'"
        raise PlotUnavailable(msg) from error
    fig: Any
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8), constrained_layout=True)
    fig.suptitle(title)
    in_chat_ms = [v * 1000 for v in in_chat_s if v > 0]
    routed_ms = [v * 1000 for v in routed_s if v > 0]
    values = in_chat_ms + routed_ms
    if values:
        low, high = max(min(values), 0.1), max(values)
        edges = _log_edges(low, high)
        if in_chat_ms:
            top.hist(in_chat_ms, bins=edges, alpha=0.7, label="message to a chat with an agent")
        if routed_ms:
            top.hist(routed_ms, bins=edges, alpha=0.5, label="routed (queued or unparked)")
        for q, style in ((0.50, "--"), (0.99, ":")):
            if in_chat_ms:
                ordered = sorted(in_chat_ms)
                at = ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]
                top.axvline(
                    at, color="black", linestyle=style, label=f"p{int(q * 100)} {at:.1f} ms"
                )
        top.set_xscale("log")
        top.legend()
    top.set_xlabel("webhook written → agent's socket (ms)")
    top.set_ylabel("messages")
    times, counts = waiting
    bottom.step(times, counts, where="post")
    if sending is not None:
        bottom.axvspan(sending[0], sending[1], color="grey", alpha=0.1, label="customers writing")
        bottom.legend()
    bottom.set_xlabel("seconds since start")
    bottom.set_ylabel("conversations waiting for an agent")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _log_edges(low: float, high: float, bins: int = 60) -> list[float]:
    if high <= low:
        high = low * 10
    ratio = (high / low) ** (1 / bins)
    return [low * ratio**i for i in range(bins + 1)]
