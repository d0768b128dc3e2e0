"""What the end-to-end benchmarks share: a server process, a workspace, signed webhooks.

``ServerProcess`` runs ``switchboard serve`` on a data directory (embedded storage
server) and reads its log for the bound URL; ``seed`` writes a workspace (one
WhatsApp account, one queue, agents with tokens ``bench-agent-N``, a supervisor
``bench-supervisor``); ``webhook`` builds a signed Cloud API text message.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from actors.routing.model import AgentState, Capacity, Channel, QueueConfig
from adapters.meta import sign
from server.catalog import Account, Catalog, Role, User
from storage.embedded import EmbeddedRedis
from storage.store import Storage

__all__ = ["ACCOUNT", "SECRET", "WORKSPACE", "ServerProcess", "seed", "webhook"]

SECRET = "bench-secret"
ACCOUNT = "bench-wa"
WORKSPACE = "bench"


class ServerProcess:
    """One ``switchboard serve`` process on ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        env: dict[str, str] | None = None,
        config: str | None = "",
    ) -> None:
        """``config``: the TOML text to run with; None runs without one (demo workspace)."""
        self.data_dir = data_dir
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        clean.update(env or {})
        command = [sys.executable, "-m", "switchboard.cli", "serve", "--port", "0",
                   "--data-dir", str(data_dir)]  # fmt: skip
        if config is not None:
            config_file = data_dir.parent / "bench.toml"
            config_file.write_text(config)
            command += ["--config", str(config_file)]
        self.spawned = time.perf_counter()
        self.proc = subprocess.Popen(
            command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=clean
        )
        self.url: str | None = None
        self.lines: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            found = re.search(r"Running on (http://\S+)", line)
            if found and self.url is None:
                self.url = found.group(1)
                self._ready.set()
        self._ready.set()

    def wait_url(self, timeout: float = 60) -> str:
        self._ready.wait(timeout)
        if self.url is None:
            raise RuntimeError("server did not start:\n" + "".join(self.lines[-20:]))
        return self.url

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def seed(data_dir: Path, agents: int, capacity: int) -> None:
    """Write the benchmark workspace into a fresh data directory."""
    with EmbeddedRedis(data_dir) as server:
        storage = Storage(server.url)
        try:
            catalog = Catalog(storage)
            catalog.put_queue(QueueConfig("bench-q", workspace=WORKSPACE))
            secret = {"app_secret": SECRET}
            account = Account(ACCOUNT, WORKSPACE, Channel.WHATSAPP, "bench-q", settings=secret)
            catalog.put_account(account)
            supervisor = User("bench-supervisor", WORKSPACE, Role.SUPERVISOR)
            catalog.put_user(supervisor)
            catalog.add_token(supervisor, "bench-supervisor")
            for i in range(agents):
                agent_id = f"agent-{i}"
                catalog.put_agent(AgentState(agent_id, workspace=WORKSPACE,
                                             queues=frozenset({"bench-q"}),
                                             capacity=Capacity(capacity)))  # fmt: skip
                user = User(agent_id, WORKSPACE, Role.AGENT)
                catalog.put_user(user)
                catalog.add_token(user, f"bench-{agent_id}")
        finally:
            storage.close()


def webhook(n: int, *, customer: int | None = None, text: str = "") -> tuple[str, bytes, str]:
    """(wamid, body, X-Hub-Signature-256) of a text message from customer ``customer``."""
    wa_id = f"9053{n if customer is None else customer:08d}"
    wamid = f"wamid.bench.{n}"
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "905550000000", "phone_number_id": "1"},
            "contacts": [{"profile": {"name": "Müşteri"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": "1763900000",
                          "type": "text", "text": {"body": text or f"merhaba {n}"}}],
        }}]}],
    }  # fmt: skip
    raw = json.dumps(body).encode()
    return wamid, raw, sign(SECRET.encode(), raw)
