"""The actor runtime: pykka actors on a dispatcher pool or on threads, with supervision.

See ``docs/architecture.md`` for how the pieces fit together.
"""

from actors.runtime.address import Address, Phase
from actors.runtime.clock import Clock, RealClock, Timer, VirtualClock
from actors.runtime.entity import EntityActor, PassivateIfIdle
from actors.runtime.pool import Dispatcher, PoolActor, PoolFuture
from actors.runtime.runtime import PoolRuntime, Runtime, ThreadRuntime, make_runtime
from actors.runtime.supervisor import DormantStore, MemoryDormantStore, Supervisor, SupervisorStats

__all__ = [
    "Address",
    "Clock",
    "Dispatcher",
    "DormantStore",
    "EntityActor",
    "MemoryDormantStore",
    "PassivateIfIdle",
    "Phase",
    "PoolActor",
    "PoolFuture",
    "PoolRuntime",
    "RealClock",
    "Runtime",
    "Supervisor",
    "SupervisorStats",
    "ThreadRuntime",
    "Timer",
    "VirtualClock",
    "make_runtime",
]
