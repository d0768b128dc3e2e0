"""Property: whatever the mix of tells, failures and passivations, every count lands once."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.runtime import PassivateIfIdle, Runtime, Supervisor
from tests.actors.runtime.helpers import Add, Boom, Counter, Get

_names = itertools.count()

operations = st.lists(
    st.sampled_from(["tell", "tell", "tell", "fail", "passivate", "wait"]), max_size=60
)


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # the runtime is reusable
)
@given(ops=operations)
def test_no_count_is_lost_or_duplicated(runtime: Runtime, ops: list[str]) -> None:
    counters: Supervisor[Any] = Supervisor(
        f"prop{next(_names)}", runtime, Counter, max_restarts=1_000
    )
    try:
        counter = counters.open("c", ())
        sent = 0
        for op in ops:
            if op == "tell":
                counter.tell(Add(sent))
                sent += 1
            elif op == "fail":
                counter.tell(Boom())
            elif op == "passivate":
                counter.tell(PassivateIfIdle(0))
            else:
                runtime.wait_idle()

        assert counter.ask(Get()) == tuple(range(sent))
        stats = counters.stats()
        fails, naps = ops.count("fail"), ops.count("passivate")
        assert (stats.failures, stats.restarts, stats.escalations) == (fails, fails, 0)
        # offers to sleep queued behind one that was taken are void (it is asleep)
        assert min(naps, 1) <= stats.passivations <= naps
        assert stats.wakes == stats.passivations  # each sleep ended by the next message
    finally:
        counters.stop()
