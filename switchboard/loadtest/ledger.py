"""What the simulated parties saw, and the invariants checked from it alone.

How this works: customers write down each message they send and the server's answer
(``sent``, ``answered``); agents write down what reached their sockets (``delivered``,
``recovered`` from a transcript after a reconnect) and what they hold, in an
:class:`Holdings` each (``assigned``, ``unparked``, ``parked``, ``closed``, ``hello``).
Nothing is read from the server's own state, so a bug that made the server lie about
itself cannot hide a broken promise.  Times are whatever clock the caller passes
(``trio.current_time()`` in the run; plain numbers in the tests).

The invariants (all must be 0):

- **lost** — messages the webhook answered ``200`` for that never reached an agent;
- **duplicated** — extra live deliveries of a message already delivered (to any agent);
- **capacity_violations** — moments an agent held more active chats than its capacity,
  counted from the agent's own view: ``conversation.assigned`` and
  ``conversation.unparked`` add a chat, ``parked`` / ``resolved`` / ``transferred`` /
  ``requeued`` / ``removed`` take it away, and a ``hello`` after a reconnect replaces
  the view with the server's list;
- and, for the bad-signature webhooks: **bad_signature_accepted** (a ``2xx``) and
  **unsigned_delivered** (such a message reaching an agent).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Holdings", "Ledger", "Message", "percentiles", "waiting_over_time"]


@dataclass(slots=True)
class Message:
    """One customer message, from the customer's side and then the agents'."""

    pid: str  # the provider's message id
    customer: int
    channel: str
    scheduled: float
    sent_at: float = math.nan  # first attempt written
    answered_at: float = math.nan  # first 2xx read
    status: int = 0  # the first attempt's status (0: no answer)
    bad_signature: bool = False
    #: live deliveries: (agent, conversation, time)
    deliveries: list[tuple[str, str, float]] = field(default_factory=list)
    recovered: bool = False  # seen only in a transcript after a reconnect

    @property
    def accepted(self) -> bool:
        return not math.isnan(self.answered_at)

    @property
    def reached(self) -> bool:
        return bool(self.deliveries) or self.recovered


class Holdings:
    """One agent's chats as its own socket told it; counts moments above capacity."""

    def __init__(self, agent_id: str, capacity: int) -> None:
        self.agent_id = agent_id
        self.capacity = capacity
        self.active: set[str] = set()
        self.parked: set[str] = set()
        self.violations = 0
        self.peak = 0

    def _check(self) -> bool:
        self.peak = max(self.peak, len(self.active))
        if len(self.active) > self.capacity:
            self.violations += 1
            return True
        return False

    def assigned(self, conversation_id: str) -> bool:
        """A chat became active (``assigned`` or ``unparked``); True if now above capacity."""
        self.parked.discard(conversation_id)
        if conversation_id in self.active:  # announced twice (hello, then the event)
            return False
        self.active.add(conversation_id)
        return self._check()

    unparked = assigned

    def parked_chat(self, conversation_id: str) -> None:
        if conversation_id in self.active:
            self.active.discard(conversation_id)
            self.parked.add(conversation_id)

    def closed(self, conversation_id: str) -> None:
        """Resolved, transferred, requeued or removed: no longer this agent's."""
        self.active.discard(conversation_id)
        self.parked.discard(conversation_id)

    def hello(self, active: Iterable[str], parked: Iterable[str]) -> bool:
        """The server's list on (re)connect replaces the view; True if it is above capacity."""
        self.active = set(active)
        self.parked = set(parked) - self.active
        return self._check() if self.active else False


class Ledger:
    """Every message and every agent's holdings; the invariants and latencies from them."""

    def __init__(self) -> None:
        self.messages: dict[str, Message] = {}
        self.holdings: dict[str, Holdings] = {}
        #: conversation -> (agent, time) each time it became active with an agent
        self.activations: dict[str, list[tuple[str, float]]] = {}
        self.retries = 0
        self.retry_answers: dict[int, int] = {}
        self.dedupe_failures = 0  # a retried webhook the server took as new
        self.errors = 0  # requests without an answer (connection failures)
        self.statuses: dict[int, int] = {}
        self.unknown_deliveries = 0  # message ids this run never sent
        self.delivered_count = 0  # distinct messages delivered live
        self.accepted_count = 0
        self.duplicate_deliveries = 0
        self.violations = 0
        self.send_lags: list[float] = []
        #: (time, latency) of recent first deliveries, for the live view
        self.recent: deque[tuple[float, float]] = deque(maxlen=20_000)

    # -- customers -----------------------------------------------------------------------

    def planned(
        self, pid: str, customer: int, channel: str, scheduled: float, *, bad: bool = False
    ) -> Message:
        message = Message(pid, customer, channel, scheduled, bad_signature=bad)
        self.messages[pid] = message
        return message

    def sent(self, pid: str, at: float) -> None:
        message = self.messages[pid]
        if math.isnan(message.sent_at):
            message.sent_at = at
            self.send_lags.append(at - message.scheduled)

    def answered(self, pid: str, status: int, answer: Any, at: float) -> None:
        """The first attempt's answer (a retry goes to ``retried``)."""
        message = self.messages[pid]
        message.status = status
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if 200 <= status < 300 and not message.accepted:
            message.answered_at = at
            self.accepted_count += 1

    def retried(self, pid: str, status: int, answer: Any, at: float) -> None:
        """A provider's retry of a webhook already answered: must be taken as a repeat."""
        self.retries += 1
        self.retry_answers[status] = self.retry_answers.get(status, 0) + 1
        message = self.messages[pid]
        if 200 <= status < 300:
            if isinstance(answer, dict) and answer.get("accepted", 0) and message.accepted:
                self.dedupe_failures += 1
            if not message.accepted:
                message.answered_at = at
                self.accepted_count += 1

    def failed(self, pid: str) -> None:
        del pid
        self.errors += 1

    # -- agents --------------------------------------------------------------------------

    def agent(self, agent_id: str, capacity: int) -> Holdings:
        holdings = self.holdings.get(agent_id)
        if holdings is None:
            holdings = self.holdings[agent_id] = Holdings(agent_id, capacity)
        return holdings

    def activated(self, agent_id: str, conversation_id: str, at: float) -> bool:
        """``conversation.assigned`` / ``unparked``: True if that broke the agent's capacity."""
        self.activations.setdefault(conversation_id, []).append((agent_id, at))
        broke = self.holdings[agent_id].assigned(conversation_id)
        self.violations += broke
        return broke

    def hello(self, agent_id: str, active: Sequence[str], parked: Sequence[str], at: float) -> None:
        holdings = self.holdings[agent_id]
        for conversation_id in set(active) - holdings.active:
            self.activations.setdefault(conversation_id, []).append((agent_id, at))
        self.violations += holdings.hello(active, parked)

    def delivered(self, agent_id: str, conversation_id: str, pid: str, at: float) -> bool:
        """A customer message reached an agent's socket; True when it is news to the run."""
        message = self.messages.get(pid)
        if message is None:
            self.unknown_deliveries += 1
            return False
        if message.deliveries:
            self.duplicate_deliveries += 1
            message.deliveries.append((agent_id, conversation_id, at))
            return False
        message.deliveries.append((agent_id, conversation_id, at))
        if not message.recovered:
            self.delivered_count += 1
            if not math.isnan(message.sent_at):
                self.recent.append((at, at - message.sent_at))
        return True

    def recovered(self, pid: str) -> None:
        """Seen in a transcript an agent read after reconnecting (missed while away)."""
        message = self.messages.get(pid)
        if message is not None and not message.reached:
            message.recovered = True
            self.delivered_count += 1

    # -- results -------------------------------------------------------------------------

    def undelivered(self) -> list[Message]:
        return [m for m in self.messages.values() if m.accepted and not m.reached]

    def latencies(self) -> tuple[list[float], list[float]]:
        """(in-chat, routed) seconds from webhook written to the agent's socket.

        In-chat: the conversation was already active with the receiving agent when the
        webhook was written, so only the push path counts.  Routed: everything else —
        a first message waiting for an agent, a message that unparked its chat.
        """
        in_chat: list[float] = []
        routed: list[float] = []
        for m in self.messages.values():
            if not m.deliveries or m.bad_signature or math.isnan(m.sent_at):
                continue
            agent, conversation, at = m.deliveries[0]
            since = _active_since(self.activations.get(conversation, ()), agent, at)
            (in_chat if since is not None and since <= m.sent_at else routed).append(at - m.sent_at)
        return in_chat, routed

    def invariants(self) -> dict[str, int]:
        good = [m for m in self.messages.values() if not m.bad_signature]
        bad = [m for m in self.messages.values() if m.bad_signature]
        return {
            "sent": sum(1 for m in good if not math.isnan(m.sent_at)),
            "accepted": sum(1 for m in good if m.accepted),
            "delivered_to_agents": sum(1 for m in good if m.accepted and m.reached),
            "recovered_after_reconnect": sum(1 for m in good if m.recovered and not m.deliveries),
            "lost": sum(1 for m in good if m.accepted and not m.reached),
            "duplicated": self.duplicate_deliveries,
            "capacity_violations": self.violations,
            "bad_signatures_sent": sum(1 for m in bad if not math.isnan(m.sent_at)),
            "bad_signature_accepted": sum(1 for m in bad if m.accepted),
            "unsigned_delivered": sum(1 for m in bad if m.reached),
            "not_accepted": sum(1 for m in good if not math.isnan(m.sent_at) and not m.accepted),
            "retried_duplicates_sent": self.retries,
            "dedupe_failures": self.dedupe_failures,
        }


def _active_since(
    activations: Sequence[tuple[str, float]], agent: str, before: float
) -> float | None:
    """When the conversation last became active with ``agent`` before ``before``."""
    since = None
    for who, at in activations:
        if at > before:
            break
        since = at if who == agent else None
    return since


def percentiles(values: Sequence[float], scale: float = 1000.0) -> dict[str, float | None]:
    """p50 / p95 / p99 (nearest rank) of ``values`` times ``scale``; None when empty."""
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    ordered = sorted(values)
    out: dict[str, float | None] = {}
    for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        rank = max(1, math.ceil(q * len(ordered)))
        out[name] = round(ordered[rank - 1] * scale, 2)
    return out


def waiting_over_time(
    intervals: Iterable[tuple[float, float]], start: float, stop: float, step: float
) -> tuple[list[float], list[int]]:
    """How many (from, until) intervals covered each instant ``start, start+step, ...``."""
    changes: list[tuple[float, int]] = []
    for begin, end in intervals:
        changes.append((begin, 1))
        changes.append((end, -1))
    changes.sort()
    times: list[float] = []
    counts: list[int] = []
    level = 0
    i = 0
    t = start
    while t <= stop:
        while i < len(changes) and changes[i][0] <= t:
            level += changes[i][1]
            i += 1
        times.append(t - start)
        counts.append(level)
        t += step
    return times, counts
