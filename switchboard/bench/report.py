"""How benchmarks and the load test report: progress on stderr, the result on stdout.

The contract: with ``--json`` the **last line of stdout is one JSON object**; everything
meant for people (progress, the table) goes to stderr.  Without ``--json`` the result is
printed as an aligned table on stdout.  Non-finite floats become ``null`` so the line is
always valid JSON.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Mapping
from typing import TextIO

__all__ = ["emit", "format_table", "progress", "to_json_line"]

_started = time.monotonic()


def progress(message: str, *, stream: TextIO | None = None) -> None:
    """Tell the person watching what is happening (stderr, with elapsed seconds)."""
    out = sys.stderr if stream is None else stream
    print(f"[{time.monotonic() - _started:7.1f}s] {message}", file=out, flush=True)


def _jsonable(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def to_json_line(result: Mapping[str, object]) -> str:
    """``result`` as one line of strict JSON."""
    return json.dumps(_jsonable(result), allow_nan=False, default=str, separators=(",", ":"))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.1f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return str(value)


def format_table(result: Mapping[str, object], *, title: str = "") -> str:
    """``result`` as aligned ``key  value`` lines for people."""
    width = max((len(str(key)) for key in result), default=0)
    lines = [title] if title else []
    lines += [f"{key!s:<{width}}  {_cell(value)}" for key, value in result.items()]
    return "\n".join(lines)


def emit(
    result: Mapping[str, object],
    *,
    as_json: bool,
    title: str = "",
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> None:
    """Print the final result: with ``as_json`` the table to stderr, then the JSON line last."""
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    table = format_table(result, title=title)
    if as_json:
        print(table, file=err, flush=True)
        print(to_json_line(result), file=out, flush=True)
    else:
        print(table, file=out, flush=True)
