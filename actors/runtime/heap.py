"""The garbage collector, set for a process that holds many long-lived actors.

CPython runs a young-generation collection every 700 net allocations, and every
tenth of those a middle one that counts towards a full collection of the whole
heap.  Routing allocates a few hundred short-lived objects per assignment
(messages, envelopes, new state values) while the heap holds every conversation,
agent and queue, so at the default threshold the collector took about a tenth of
the routing benchmark's time, most of it in full collections over objects that
live for hours.  Two settings, applied by ``switchboard serve`` and by the
benchmarks alike:

* :func:`collect_less_often` raises the young threshold (``runtime.gc_young_threshold``):
  the same garbage is found, in fewer, larger passes;
* :func:`freeze_heap`, once start-up (recovery from storage) is done, moves every
  object alive at that point out of the collector's sight (``gc.freeze``): full
  collections no longer walk the recovered conversations.
"""

from __future__ import annotations

import gc

__all__ = ["collect_less_often", "freeze_heap"]


def collect_less_often(young_threshold: int) -> None:
    """Set the young generation's threshold, keeping the older generations' ratios."""
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)


def freeze_heap() -> None:
    """Collect once, then keep everything alive now out of later collections."""
    gc.collect()
    gc.freeze()
