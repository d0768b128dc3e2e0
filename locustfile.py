"""Switchboard's load-test scenarios for locust (``switchboard loadtest`` is the reference).

Customers post signed provider webhooks (WhatsApp, Messenger, Instagram — the same
bodies and signatures as ``switchboard loadtest``, from ``switchboard.loadtest.channels``);
agents work over ``/ws/agent``: online, reply after a think time, park some chats,
resolve after an exponential handle time with a topic.  Locust shows webhook response
times and, as ``WS webhook→agent``, the time from a webhook's request to the agent's
socket.  At the end the invariants are checked from what the users saw (lost,
duplicated, capacity violations, forged webhooks accepted) and a broken one makes locust
exit with code 1.

Run against a server (local mode: one locust process)::

    SWITCHBOARD_LOADTEST_ADMIN_TOKEN=demo-admin locust -f locustfile.py \\
        --host http://127.0.0.1:8080 --users 220 --spawn-rate 50 --run-time 2m --headless

The run's queue, agents and accounts are created over REST at the start (the admin
token's workspace) and deleted at the end; agents' replies go to a stand-in provider
this process serves.  Settings come from the environment (``LOADTEST_*``, see
docs/loadtest.md).  Needs the ``loadtest`` extra (``pip install 'switchboard[loadtest]'``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import time
from typing import Any, ClassVar

import gevent
import gevent.event
from gevent.pywsgi import WSGIServer
from locust import HttpUser, User, between, events, task
from locust.runners import WorkerRunner
from websocket import WebSocketConnectionClosedException, create_connection

from switchboard.loadtest import workspace
from switchboard.loadtest.channels import CHANNELS, parse_channels
from switchboard.loadtest.ledger import Ledger

TOKEN = os.environ.get("SWITCHBOARD_LOADTEST_ADMIN_TOKEN", "")
CHANNEL_NAMES = parse_channels(os.environ.get("LOADTEST_CHANNELS", ",".join(CHANNELS)))
AGENTS = int(os.environ.get("LOADTEST_AGENTS", "20"))
CAPACITY = int(os.environ.get("LOADTEST_CAPACITY", "5"))
HANDLE_TIME_S = float(os.environ.get("LOADTEST_HANDLE_TIME", "20"))
THINK_TIME_S = float(os.environ.get("LOADTEST_THINK_TIME", "2"))
MESSAGES = float(os.environ.get("LOADTEST_MESSAGES", "4"))
GAP_S = float(os.environ.get("LOADTEST_GAP", "2"))
PARK_SHARE = float(os.environ.get("LOADTEST_PARK_SHARE", "0.1"))
DUPLICATE_SHARE = float(os.environ.get("LOADTEST_DUPLICATE_SHARE", "0.02"))
BAD_SIGNATURE_SHARE = float(os.environ.get("LOADTEST_BAD_SIGNATURE_SHARE", "0.01"))
DRAIN_S = float(os.environ.get("LOADTEST_DRAIN", "30"))
TOPICS = ("billing", "delivery", "returns", "account", "technical", "other")


class _Run:
    """What every user of this process shares: the workspace, the ledger, the provider."""

    target: workspace.Target | None = None
    ledger = Ledger()
    tokens: ClassVar[list[tuple[str, str, int]]] = []
    numbers = itertools.count(1)
    customers = itertools.count()
    replies = 0
    provider: WSGIServer | None = None
    agents: ClassVar[list[Agent]] = []
    #: set when the test stops: agents resolve what they hold at once, customers are gone
    closing = gevent.event.Event()


def _provider_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Meta's send APIs, answered at once (WhatsApp and Messenger read different keys)."""
    _Run.replies += 1
    n = _Run.replies
    body = json.dumps({"messages": [{"id": f"wamid.out{n}"}], "message_id": f"m_out{n}",
                       "recipient_id": "0", "contacts": []}).encode()  # fmt: skip
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


@events.test_start.add_listener
def _set_up(environment: Any, **_kwargs: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        raise RuntimeError("run this locustfile in local mode (the workspace is per process)")
    if not TOKEN:
        raise RuntimeError("set SWITCHBOARD_LOADTEST_ADMIN_TOKEN to an admin's token")
    provider = WSGIServer(("127.0.0.1", 0), _provider_app, log=None)
    provider.start()
    _Run.provider = provider
    url = f"http://127.0.0.1:{provider.server_port}/v21.0"
    target = workspace.create(environment.host, TOKEN, channels=CHANNEL_NAMES, agents=AGENTS,
                              capacity=CAPACITY, provider_url=url)  # fmt: skip
    _Run.target = target
    _Run.tokens = list(target.agents)
    for agent_id, _, capacity in target.agents:
        _Run.ledger.agent(agent_id, capacity)


@events.test_stop.add_listener
def _check(environment: Any, **_kwargs: Any) -> None:
    """Customers are gone; agents' sockets still read (their greenlets outlive the users):
    they resolve everything until each accepted message has reached one, then the check."""
    _Run.closing.set()
    ledger = _Run.ledger
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline:
        held = 0
        for agent in _Run.agents:
            held += agent.resolve_all()
        if not held and not ledger.undelivered():
            break
        gevent.sleep(0.2)
    for agent in _Run.agents:
        agent.close()
    counts = ledger.invariants()
    keys = ("lost", "duplicated", "capacity_violations", "bad_signature_accepted",
            "unsigned_delivered", "dedupe_failures")  # fmt: skip
    broken = {k: counts[k] for k in keys if counts[k]}
    print(f"switchboard invariants: {json.dumps(counts)}")
    if broken:
        print(f"switchboard invariants BROKEN: {broken}")
        environment.process_exit_code = 1
    if _Run.target is not None:
        refused = workspace.cleanup(_Run.target)
        if refused:
            print(f"clean-up refused: {refused}")
    if _Run.provider is not None:
        _Run.provider.stop()


class Customer(HttpUser):
    """One customer after another: a few messages each, on one channel, like the providers."""

    wait_time = between(0.5 * GAP_S, 1.5 * GAP_S)

    def on_start(self) -> None:
        self._new_customer()

    def _new_customer(self) -> None:
        self.customer = next(_Run.customers)
        self.channel = random.choice(CHANNEL_NAMES)
        self.left = 1 + int(random.expovariate(1 / max(MESSAGES - 1, 1e-9))) if MESSAGES > 1 else 1

    @task
    def write(self) -> None:
        target = _Run.target
        if target is None:
            return
        account = target.accounts[self.channel]
        forged = random.random() < BAD_SIGNATURE_SHARE
        n = next(_Run.numbers)
        hook = CHANNELS[self.channel].build(
            account.account_id, account.secret, run=target.run, customer=self.customer, n=n,
            text=f"Merhaba, mesaj {n}", now=time.time(), page_id=account.page_id,
            bad_signature=forged,
        )  # fmt: skip
        ledger = _Run.ledger
        pid = hook.provider_message_id
        ledger.planned(pid, self.customer, self.channel, time.monotonic(), bad=forged)
        ledger.sent(pid, time.monotonic())
        name = f"webhook {self.channel}" + (" (forged)" if forged else "")
        with self.client.post(hook.path, data=hook.body, headers=dict(hook.headers), name=name,
                              catch_response=True) as answer:  # fmt: skip
            ledger.answered(pid, answer.status_code, _json(answer), time.monotonic())
            expected = 401 if forged else 200
            if answer.status_code == expected:
                answer.success()  # a forged webhook refused is what should happen
            else:
                answer.failure(f"HTTP {answer.status_code}, expected {expected}")
        if not forged and random.random() < DUPLICATE_SHARE:
            with self.client.post(hook.path, data=hook.body, headers=dict(hook.headers),
                                  name="webhook retry", catch_response=True) as answer:  # fmt: skip
                body = _json(answer)
                ledger.retried(pid, answer.status_code, body, time.monotonic())
                if answer.status_code != 200 or (body or {}).get("duplicates") != 1:
                    answer.failure("a retried webhook was not taken as a repeat")
        if not forged:
            self.left -= 1
            if self.left <= 0:
                self._new_customer()


def _json(answer: Any) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


class Agent(User):
    """One of the run's agents on ``/ws/agent``; as many as ``LOADTEST_AGENTS``."""

    fixed_count = AGENTS
    wait_time = between(1, 2)

    def on_start(self) -> None:
        self.ws: Any = None
        self.resolving: set[str] = set()
        if not _Run.tokens or _Run.target is None:
            return
        self.agent_id, token, self.capacity = _Run.tokens.pop()
        url = f"{_Run.target.ws_url}/ws/agent?token={token}"
        self.ws = create_connection(url)
        self.hello = json.loads(self.ws.recv())
        self.refs = itertools.count(1)
        self.resolves: dict[str, str] = {}  # ref -> conversation
        self._send("status.set", status="online")
        self.reader = gevent.spawn(self._read)
        _Run.agents.append(self)

    def resolve_all(self) -> int:
        """Closing time: resolve every chat held (once each); how many are still held."""
        if self.ws is None:
            return 0
        holdings = _Run.ledger.holdings[self.agent_id]
        for cid in (holdings.active | holdings.parked) - self.resolving:
            self.resolving.add(cid)
            self._send("conversation.resolve", conversation_id=cid, topic=random.choice(TOPICS))
        return len(holdings.active) + len(holdings.parked)

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None

    @task
    def work(self) -> None:
        """Chats are handled by their own greenlets; the task only keeps the user alive."""

    def _send(self, kind: str, **fields: Any) -> None:
        with contextlib.suppress(WebSocketConnectionClosedException, OSError):
            self.ws.send(json.dumps({"type": kind, "ref": str(next(self.refs)), **fields}))

    def _read(self) -> None:
        ledger = _Run.ledger
        while True:
            ws = self.ws
            if ws is None:
                return
            try:
                frame = json.loads(ws.recv())
            except (WebSocketConnectionClosedException, OSError, ValueError, AttributeError):
                return
            kind = frame.get("type")
            cid = str(frame.get("conversation_id", ""))
            now = time.monotonic()
            if kind == "conversation.message":
                message = frame.get("message") or {}
                pid = message.get("provider_message_id")
                if message.get("direction") == "in" and isinstance(pid, str):
                    sent = ledger.messages[pid].sent_at if pid in ledger.messages else now
                    if ledger.delivered(self.agent_id, cid, pid, now):
                        latency_ms = (now - sent) * 1000
                        events.request.fire(request_type="WS", name="webhook→agent",
                                            response_time=latency_ms, response_length=0,
                                            exception=None, context={})  # fmt: skip
            elif kind in ("conversation.assigned", "conversation.unparked"):
                if ledger.activated(self.agent_id, cid, now):
                    events.request.fire(request_type="WS", name="capacity", response_time=0,
                                        response_length=0, context={},
                                        exception=RuntimeError("above capacity"))  # fmt: skip
                if kind == "conversation.assigned":
                    gevent.spawn(self._chat, cid)
            elif kind in ("ack", "error") and str(frame.get("ref")) in self.resolves:
                # resolved, or refused: not (any more) this agent's chat either way
                ledger.holdings[self.agent_id].closed(self.resolves.pop(str(frame.get("ref"))))
            elif kind == "conversation.parked":
                ledger.holdings[self.agent_id].parked_chat(cid)
            elif kind in ("conversation.resolved", "conversation.transferred",
                          "conversation.requeued", "conversation.removed"):  # fmt: skip
                ledger.holdings[self.agent_id].closed(cid)

    def _chat(self, cid: str) -> None:
        """Reply after a think time, maybe park, resolve after the handle time."""
        deadline = time.monotonic() + random.expovariate(1 / HANDLE_TIME_S)
        think = random.expovariate(1 / THINK_TIME_S) if THINK_TIME_S else 0
        _Run.closing.wait(min(think, max(0.0, deadline - time.monotonic())))
        if time.monotonic() < deadline and not _Run.closing.is_set():
            self._send("message.send", conversation_id=cid,
                       content={"kind": "text", "body": "We are looking into it."})  # fmt: skip
            if random.random() < PARK_SHARE:
                self._send("conversation.park", conversation_id=cid)
        _Run.closing.wait(max(0.0, deadline - time.monotonic()))
        if cid not in self.resolving:
            self.resolving.add(cid)
            self._send("conversation.resolve", conversation_id=cid, topic=random.choice(TOPICS))
