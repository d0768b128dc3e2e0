"""Simulated customers: Poisson arrivals writing signed webhooks on their channels.

How this works: one scheduler task keeps a heap of webhooks due (and the next arrival,
drawn from an exponential gap, so arrivals form a Poisson process); what is due goes to
a pool of keep-alive connections that write it and record the answer.  A request is
recorded as *sent* when it is written, and its answer when read, so the latency starts
where the provider's would.

A customer (normal mode) arrives on one channel, on two at once with probability
``two_channel_share``, and writes a geometric number of messages (mean ``messages``)
separated by exponential gaps (mean ``gap_s``).  Providers' habits are played too: with
probability ``duplicate_share`` a webhook is sent again after its answer (a retry the
server must recognise as a repeat), and with probability ``bad_signature_share`` a
forged one (wrong secret, a message id of its own) goes alongside, which must be refused
with 401 and never reach an agent.  A customer whose chat an agent parked writes again a
little later (``return_after_s``).

The run starts in steady state: customers who would have arrived before it (as if the
center had been open for a while) write their remaining messages from the start on, so
the message rate does not ramp up.  Erlang mode starts empty instead, and its first
arrivals are left out of the measurement (``warmup_s``).

Erlang mode: every arrival is a new customer with one message and a handle time drawn
now, in arrival order, from its own random stream: the sample is fixed by the seed.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import h11
import trio

from switchboard.loadtest.channels import CHANNELS, Webhook
from switchboard.loadtest.client import Connection, host_port

if TYPE_CHECKING:
    from switchboard.loadtest.scenario import Simulation

__all__ = ["Customers"]


@dataclass(frozen=True, slots=True)
class _Due:
    """A webhook to write at its time."""

    webhook: Webhook
    customer: int
    channel: str
    retry: bool = False  # a provider's retry of a webhook already answered


class Customers:
    """Every simulated customer, their plans, and the connections that carry them."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        scenario = sim.scenario
        seed = scenario.seed
        self.arrivals = random.Random(f"{seed}:arrivals")
        self.choices = random.Random(f"{seed}:customers")
        self.handles = random.Random(f"{seed}:handle-times")
        self.returns = random.Random(f"{seed}:returns")
        self.channels = scenario.channels
        self._heap: list[tuple[float, int, _Due]] = []
        self._order = itertools.count()
        self._numbers = itertools.count(1)
        self._customers = itertools.count()
        self._wake = trio.Event()
        self.handle_times: dict[int, float] = {}  # erlang mode: customer -> seconds
        self.arrived = 0
        self.came_back = 0
        self.begin = -math.inf  # messages before this are not sent (steady-state start)
        self.end = math.inf
        # customers per second, so that customer messages come at ``rate`` per second;
        # customers writing again after a park come on top (how many depends on the agents)
        per_customer = 1.0 if scenario.erlang else scenario.messages * (
            1 + (scenario.two_channel_share if len(self.channels) > 1 else 0)
        )  # fmt: skip
        self.customer_rate = scenario.rate / per_customer

    # -- plans -----------------------------------------------------------------------------

    def _push(self, at: float, due: _Due) -> None:
        heapq.heappush(self._heap, (at, next(self._order), due))
        self._wake.set()

    def _message(self, customer: int, channel: str, at: float, *, bad: bool = False) -> None:
        """Plan one message of ``customer`` on ``channel`` at ``at``."""
        if not self.begin <= at < self.end:
            return
        sim = self.sim
        n = next(self._numbers)
        account = sim.target.accounts[channel]
        webhook = CHANNELS[channel].build(
            account.account_id, account.secret, run=sim.target.run, customer=customer, n=n,
            text=f"Merhaba, mesaj {n}", now=sim.wall(at), page_id=account.page_id,
            bad_signature=bad,
        )  # fmt: skip
        sim.ledger.planned(webhook.provider_message_id, customer, channel, at, bad=bad)
        self._push(at, _Due(webhook, customer, channel))

    def _arrive(self, at: float) -> None:
        scenario = self.sim.scenario
        customer = next(self._customers)
        self.arrived += 1
        rng = self.choices
        first = self.channels[customer % len(self.channels)] if scenario.erlang else (
            rng.choice(self.channels))  # fmt: skip
        if scenario.erlang:
            self.handle_times[customer] = self.handles.expovariate(1 / scenario.handle_time_s)
            self._message(customer, first, at)
            return
        channels = [first]
        if len(self.channels) > 1 and rng.random() < scenario.two_channel_share:
            channels.append(rng.choice([c for c in self.channels if c != first]))
        for channel in channels:
            count = _geometric(rng, scenario.messages)
            t = at + (rng.uniform(0, scenario.gap_s) if channel != first else 0.0)
            for _ in range(count):
                self._message(customer, channel, t)
                if rng.random() < scenario.bad_signature_share:
                    self._message(customer, channel, t + rng.uniform(0, 0.5), bad=True)
                t += rng.expovariate(1 / scenario.gap_s)

    def come_back(self, customer: int, channel: str) -> None:
        """The agent parked the chat and asked the customer to write again later."""
        scenario = self.sim.scenario
        at = trio.current_time() + self.returns.expovariate(1 / scenario.return_after_s)
        if at < self.end:
            self.came_back += 1
            self._message(customer, channel, at)

    # -- the run ---------------------------------------------------------------------------

    async def run(self, seconds: float) -> None:
        """Arrivals for ``seconds``; returns when every webhook due by then was answered."""
        start = trio.current_time()
        self.begin = start
        self.end = start + seconds
        send, receive = trio.open_memory_channel[_Due](math.inf)
        async with trio.open_nursery() as nursery:
            for i in range(self.sim.scenario.connections):
                nursery.start_soon(self._worker, receive.clone(), i)
            receive.close()
            async with send:
                await self._schedule(start, send)

    async def _schedule(self, start: float, send: trio.MemorySendChannel[_Due]) -> None:
        scenario = self.sim.scenario
        # start in steady state: customers who "arrived" before the start write their
        # remaining messages from the start on, so the message rate does not ramp up
        ramp = 0.0 if scenario.erlang else 5 * scenario.messages * scenario.gap_s
        next_arrival = start - ramp + self.arrivals.expovariate(self.customer_rate)
        heap = self._heap
        while True:
            now = trio.current_time()
            while next_arrival <= now and next_arrival < self.end:
                self._arrive(next_arrival)
                next_arrival += self.arrivals.expovariate(self.customer_rate)
            while heap and heap[0][0] <= now:
                send.send_nowait(heapq.heappop(heap)[2])
            if now >= self.end and not heap and self.sim.retries_pending == 0:
                return
            wake_at = min(
                next_arrival if next_arrival < self.end else math.inf,
                heap[0][0] if heap else math.inf,
                self.end if now < self.end else math.inf,
            )
            self._wake = trio.Event()
            with trio.move_on_at(wake_at):
                await self._wake.wait()

    async def _worker(self, receive: trio.MemoryReceiveChannel[_Due], i: int) -> None:
        sim = self.sim
        ledger = sim.ledger
        host, port = host_port(sim.target.url)
        conn = Connection(host, port)
        rng = random.Random(f"{sim.scenario.seed}:retries:{i}")
        try:
            async with receive:
                async for due in receive:
                    webhook = due.webhook
                    pid = webhook.provider_message_id
                    if not due.retry:
                        ledger.sent(pid, trio.current_time())
                    try:
                        answer = await conn.post(webhook.path, webhook.body, webhook.headers)
                    except (OSError, ConnectionError, trio.BrokenResourceError, h11.ProtocolError):
                        ledger.failed(pid)
                        if due.retry:
                            self._retry_done()
                        continue
                    now = trio.current_time()
                    if due.retry:
                        self._retry_done()
                        ledger.retried(pid, answer.status, answer.json(), now)
                        continue
                    ledger.answered(pid, answer.status, answer.json(), now)
                    message = ledger.messages[pid]
                    if (answer.status == 200 and not message.bad_signature
                            and rng.random() < sim.scenario.duplicate_share):  # fmt: skip
                        sim.retries_pending += 1
                        retry = _Due(webhook, due.customer, due.channel, retry=True)
                        self._push(now + rng.uniform(0.05, 1.0), retry)
        finally:
            await conn.aclose()

    def _retry_done(self) -> None:
        self.sim.retries_pending -= 1
        self._wake.set()


def _geometric(rng: random.Random, mean: float) -> int:
    """1, 2, 3... with the given mean (a customer's number of messages)."""
    if mean <= 1:
        return 1
    p = 1 / mean
    return 1 + int(math.log(1 - rng.random()) / math.log(1 - p))
