"""``switchboard loadtest``: simulated customers and agents against a real server.

Modules: ``erlang`` (Erlang B/C, pure), ``channels`` (signed provider webhooks, pure),
``ledger`` (what the parties saw; the invariants, pure), ``customers`` and ``agents``
(the simulated parties, trio), ``scenario`` (one run), ``workspace`` (the run's queue,
agents and accounts over REST), ``provider`` (stand-in for Meta's send APIs),
``client`` (lean HTTP/1.1), ``view`` (live progress), ``plot``, and ``run`` (the
command line).  See docs/loadtest.md.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """The ``switchboard loadtest`` command (flags parsed here); returns the exit code."""
    from switchboard.loadtest.run import main as run_main  # noqa: PLC0415 -- trio etc. on use

    return run_main(argv)
