"""The load test's own workspace: a queue, agents and one account per channel, over REST.

Both ways of running go through the same door a real administrator uses, the REST API
(``/api/v1``, an admin token): against ``--url`` with ``--admin-token``, or against a
server the load test starts itself, whose fresh data directory is seeded with just an
admin (:func:`seed_admin`).  Ids carry the run's id (``lt<run>-...``) because ids of
queues, agents and accounts are unique on the whole server and a running server may be
load-tested again.  Each account's ``app_secret`` is made up per run, and its
``api_base_url`` points at the load test's stand-in provider, so replies never reach Meta.

Blocking code (httpx, the embedded storage server): the trio side runs it in a thread.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from switchboard.loadtest.channels import CHANNELS, account_settings

__all__ = ["AccountInfo", "SetupError", "Target", "cleanup", "create", "seed_admin"]

#: the workspace a self-started server gets (its only one)
WORKSPACE = "loadtest"
ADMIN_ID = "loadtest-admin"


class SetupError(RuntimeError):
    """The server refused to set up the load test's workspace (message says why)."""


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """One channel account: where its webhooks go and how they are signed."""

    channel: str
    account_id: str
    secret: str
    page_id: str


@dataclass(frozen=True, slots=True)
class Target:
    """What the simulated parties need to know about the server under test."""

    url: str
    run: str  # the run's id (hex), in every id it creates
    queue_id: str
    accounts: dict[str, AccountInfo]
    #: (agent id, token, capacity)
    agents: list[tuple[str, str, int]]
    admin_token: str
    created: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return "ws://" + self.url.split("://", 1)[1]


def seed_admin(data_dir: Path, token: str) -> None:
    """A fresh data directory with one admin user holding ``token`` (nothing else)."""
    # storage and catalog only here: the CLI must not import them just to parse flags
    from server.catalog import Catalog, Role, User  # noqa: PLC0415
    from storage.embedded import EmbeddedRedis  # noqa: PLC0415
    from storage.store import Storage  # noqa: PLC0415

    with EmbeddedRedis(data_dir) as server:
        storage = Storage(server.url)
        try:
            catalog = Catalog(storage)
            admin = User(ADMIN_ID, WORKSPACE, Role.ADMIN, "Load test")
            catalog.put_user(admin)
            catalog.add_token(admin, token)
        finally:
            storage.close()


def _check(answer: httpx.Response, what: str) -> Any:
    if answer.status_code >= 300:
        try:
            error = answer.json()["error"]
            reason = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            reason = answer.text[:200]
        raise SetupError(f"{what}: HTTP {answer.status_code} {reason}")
    return answer.json() if answer.content else None


def create(
    url: str,
    admin_token: str,
    *,
    channels: tuple[str, ...],
    agents: int,
    capacity: int,
    provider_url: str,
    run: str | None = None,
) -> Target:
    """Create the queue, the agents (one token each) and one account per channel."""
    run = run or secrets.token_hex(4)
    prefix = f"lt{run}"
    queue_id = f"{prefix}-q"
    created: dict[str, list[str]] = {"queues": [], "agents": [], "accounts": []}
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=url.rstrip("/") + "/api/v1", headers=headers, timeout=30) as http:
        # a queue that never holds a chat for an engaged agent: the load test's customers
        # on two channels are two people as far as routing knows, and waits are measured
        queue = {"id": queue_id, "strategy": "longest_idle", "affinity_wait": 0}
        _check(http.post("/queues", json=queue), f"creating queue {queue_id}")
        created["queues"].append(queue_id)
        team = []
        for i in range(agents):
            agent_id = f"{prefix}-agent-{i}"
            body = {"id": agent_id, "name": f"Agent {i}", "queues": [queue_id],
                    "capacity": {"total": capacity}}  # fmt: skip
            answer = _check(http.post("/agents", json=body), f"creating agent {agent_id}")
            created["agents"].append(agent_id)
            team.append((agent_id, str(answer["token"]), capacity))
        accounts = {}
        for n, channel in enumerate(channels):
            kind = CHANNELS[channel]
            account_id = f"{prefix}-{channel}"
            page_id = f"{int(run, 16) % 10**9}{n}"
            secret = secrets.token_hex(16)
            body = {"id": account_id, "channel": channel, "queue_id": queue_id,
                    "settings": account_settings(kind, secret, provider_url, page_id)}  # fmt: skip
            _check(http.post("/accounts", json=body), f"creating {channel} account")
            created["accounts"].append(account_id)
            accounts[channel] = AccountInfo(channel, account_id, secret, page_id)
    return Target(url, run, queue_id, accounts, team, admin_token, created)


def cleanup(target: Target) -> list[str]:
    """Delete what ``create`` made (accounts, agents, then the queue); what was refused."""
    refused = []
    headers = {"Authorization": f"Bearer {target.admin_token}"}
    base = target.url.rstrip("/") + "/api/v1"
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        for kind in ("accounts", "agents", "queues"):
            for object_id in target.created.get(kind, []):
                answer = http.delete(f"/{kind}/{object_id}")
                if answer.status_code not in (204, 404):
                    refused.append(f"{kind}/{object_id}: HTTP {answer.status_code}")
    return refused


def live(target: Target) -> dict[str, Any]:
    """The server's live state of the workspace (``GET /api/v1/live``), for the report."""
    headers = {"Authorization": f"Bearer {target.admin_token}"}
    with httpx.Client(base_url=target.url.rstrip("/"), headers=headers, timeout=30) as http:
        answer = _check(http.get("/api/v1/live"), "reading live state")
    return answer if isinstance(answer, dict) else {}
