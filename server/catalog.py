"""A server's workspace objects: accounts, queues, agents, users, tokens, topics, canned replies.

How it works: the objects are data, kept in storage (``sb:cfg:{workspace}:{kind}``)
and managed over the REST API (``server.admin_api``); the :class:`Catalog` is the
server's in-memory view of them, loaded at start and written through on every change
(storage first, then memory, so what a caller saw succeed survives a restart).
Lookups the hot paths need — the account behind a webhook URL, the user behind a
token — are plain dict reads.  Tokens are never stored: only their SHA-256, so a copy
of the database does not let anyone in; passwords only as the hash the API computed
(argon2, ``server.admin_api``).

Ids of accounts, of queues and of agents and users are each one namespace for the
whole server (routing and webhooks address them by id alone; an agent's user id is its
agent id); topics and canned replies have ids per workspace.  Writes are blocking
Redis calls: the API makes them in a worker thread, one at a time.

A fresh server started without ``--config`` seeds the **demo workspace**
(:func:`demo_objects`): a WhatsApp account with documented test secrets, two queues
and a few agents, whose tokens the server prints.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from actors.routing.model import AgentState, Capacity, Channel, QueueConfig
from storage.store import Storage

__all__ = [
    "DEMO_ACCOUNT",
    "DEMO_APP_SECRET",
    "DEMO_VERIFY_TOKEN",
    "Account",
    "CannedReply",
    "Catalog",
    "Role",
    "Topic",
    "User",
    "demo_objects",
    "token_hash",
]

logger = logging.getLogger(__name__)


class Role(enum.StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"


@dataclass(frozen=True, slots=True)
class Account:
    """A channel account: one webhook URL (``/webhooks/{channel}/{account_id}``)."""

    account_id: str
    workspace: str
    channel: Channel
    queue_id: str
    name: str = ""
    #: provider secrets and settings (app_secret, verify_token, access_token,
    #: phone_number_id, api_base_url, ...), per channel; see docs/channels.md
    settings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class User:
    """Someone who signs in: an admin, a supervisor, or an agent (``user_id`` = agent id)."""

    user_id: str
    workspace: str
    role: Role
    name: str = ""
    email: str | None = None
    password_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    """What a conversation was about; resolving a conversation records one."""

    topic_id: str
    workspace: str
    name: str
    #: retired topics stay for reports but are not offered any more
    active: bool = True


@dataclass(frozen=True, slots=True)
class CannedReply:
    """A prepared answer agents send with a shortcut; ``queue_id`` None: every queue."""

    reply_id: str
    workspace: str
    title: str
    #: message content in its wire form (``adapters.content``), checked when written
    content: dict[str, Any]
    queue_id: str | None = None
    shortcut: str | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Catalog:
    """Every workspace's objects, in memory, written through to storage."""

    def __init__(self, storage: Storage | None = None) -> None:
        self.storage = storage
        self.accounts: dict[str, Account] = {}
        self.queues: dict[str, QueueConfig] = {}
        self.agents: dict[str, AgentState] = {}
        self.users: dict[str, User] = {}
        #: (workspace, topic id) -> topic; likewise canned replies
        self.topics: dict[tuple[str, str], Topic] = {}
        self.canned_replies: dict[tuple[str, str], CannedReply] = {}
        self._tokens: dict[str, str] = {}  # token hash -> user id

    # -- loading -------------------------------------------------------------------------

    def load(self) -> None:
        storage = self.storage
        if storage is None:
            return
        for ws in storage.workspaces():
            self.accounts.update(storage.list_config(ws, "accounts", Account))
            self.queues.update(storage.list_config(ws, "queues", QueueConfig))
            self.agents.update(storage.list_config(ws, "agents", AgentState))
            self.users.update(storage.list_config(ws, "users", User))
            for topic in storage.list_config(ws, "topics", Topic).values():
                self.topics[(ws, topic.topic_id)] = topic
            for reply in storage.list_config(ws, "canned_replies", CannedReply).values():
                self.canned_replies[(ws, reply.reply_id)] = reply
            for digest, user_id in storage.list_config(ws, "tokens", str).items():
                self._tokens[digest] = user_id

    def empty(self) -> bool:
        return not (self.accounts or self.queues or self.users)

    # -- changes (write-through) ---------------------------------------------------------

    def put_account(self, account: Account) -> None:
        self._put(account.workspace, "accounts", account.account_id, account)
        self.accounts[account.account_id] = account

    def put_queue(self, queue: QueueConfig) -> None:
        self._put(queue.workspace, "queues", queue.queue_id, queue)
        self.queues[queue.queue_id] = queue

    def put_agent(self, agent: AgentState) -> None:
        self._put(agent.workspace, "agents", agent.agent_id, agent)
        self.agents[agent.agent_id] = agent

    def put_user(self, user: User) -> None:
        self._put(user.workspace, "users", user.user_id, user)
        self.users[user.user_id] = user

    def put_topic(self, topic: Topic) -> None:
        self._put(topic.workspace, "topics", topic.topic_id, topic)
        self.topics[(topic.workspace, topic.topic_id)] = topic

    def put_canned_reply(self, reply: CannedReply) -> None:
        self._put(reply.workspace, "canned_replies", reply.reply_id, reply)
        self.canned_replies[(reply.workspace, reply.reply_id)] = reply

    def set_password(self, user: User, password_hash: str) -> User:
        """Keep ``password_hash`` (never a password) for ``user``; the updated user."""
        updated = replace(user, password_hash=password_hash)
        self.put_user(updated)
        return updated

    # -- deletions (write-through) -------------------------------------------------------

    def delete_account(self, account: Account) -> None:
        self._delete(account.workspace, "accounts", account.account_id)
        self.accounts.pop(account.account_id, None)

    def delete_queue(self, queue: QueueConfig) -> None:
        self._delete(queue.workspace, "queues", queue.queue_id)
        self.queues.pop(queue.queue_id, None)

    def delete_agent(self, agent: AgentState) -> None:
        """Forget the agent, its user and tokens, and its routing snapshot.

        The snapshot goes too (through the storage writer, after any step the agent
        actor queued), or a restart would bring the agent back from it.
        """
        self._delete(agent.workspace, "agents", agent.agent_id)
        self.agents.pop(agent.agent_id, None)
        user = self.users.get(agent.agent_id)
        if user is not None and user.workspace == agent.workspace:
            self.delete_user(user)
        if self.storage is not None:
            keys = self.storage.keys
            self.storage.writer.commit(
                [("SREM", keys.agents, agent.agent_id)], {keys.agent(agent.agent_id): None}
            )

    def delete_user(self, user: User) -> None:
        self.revoke_tokens(user)
        self._delete(user.workspace, "users", user.user_id)
        self.users.pop(user.user_id, None)

    def delete_topic(self, topic: Topic) -> None:
        self._delete(topic.workspace, "topics", topic.topic_id)
        self.topics.pop((topic.workspace, topic.topic_id), None)

    def delete_canned_reply(self, reply: CannedReply) -> None:
        self._delete(reply.workspace, "canned_replies", reply.reply_id)
        self.canned_replies.pop((reply.workspace, reply.reply_id), None)

    # -- tokens ----------------------------------------------------------------------------

    def issue_token(self, user: User) -> str:
        """A new bearer token for ``user`` (shown once; only its hash is kept)."""
        token = f"sbt_{secrets.token_urlsafe(24)}"
        digest = token_hash(token)
        self._put(user.workspace, "tokens", digest, user.user_id)
        self._tokens[digest] = user.user_id
        return token

    def add_token(self, user: User, token: str) -> None:
        """Register a known token (the demo's documented ones)."""
        digest = token_hash(token)
        self._put(user.workspace, "tokens", digest, user.user_id)
        self._tokens[digest] = user.user_id

    def revoke_token(self, token: str) -> bool:
        """Forget one token (logout); False if it was not known."""
        digest = token_hash(token)
        user_id = self._tokens.get(digest)
        user = None if user_id is None else self.users.get(user_id)
        if user is None:
            return False
        self._delete(user.workspace, "tokens", digest)
        self._tokens.pop(digest, None)
        return True

    def revoke_tokens(self, user: User) -> int:
        """Forget every token of ``user`` (a lost device, a deleted user); how many."""
        digests = [d for d, uid in list(self._tokens.items()) if uid == user.user_id]
        for digest in digests:
            self._delete(user.workspace, "tokens", digest)
            self._tokens.pop(digest, None)
        return len(digests)

    def user_for_token(self, token: str) -> User | None:
        user_id = self._tokens.get(token_hash(token))
        return None if user_id is None else self.users.get(user_id)

    # -- lookups -------------------------------------------------------------------------

    def user_by_email(self, workspace: str, email: str) -> User | None:
        wanted = email.casefold()
        for user in list(self.users.values()):
            if user.workspace == workspace and (user.email or "").casefold() == wanted:
                return user
        return None

    def account(self, channel: Channel, account_id: str) -> Account | None:
        account = self.accounts.get(account_id)
        return account if account is not None and account.channel is channel else None

    def _put(self, workspace: str, kind: str, object_id: str, record: object) -> None:
        if self.storage is not None:
            self.storage.put_config(workspace, kind, object_id, record)

    def _delete(self, workspace: str, kind: str, object_id: str) -> None:
        if self.storage is not None:
            self.storage.delete_config(workspace, kind, object_id)

    def routing_accounts(self) -> dict[str, str]:
        """Account -> queue, as the routing settings take it."""
        return {a.account_id: a.queue_id for a in self.accounts.values()}


# -- the demo workspace ------------------------------------------------------------------

DEMO_WORKSPACE = "demo"
DEMO_ACCOUNT = "demo-whatsapp"
#: documented test secrets of the demo's WhatsApp account (docs/configuration.md)
DEMO_APP_SECRET = "demo-app-secret"
DEMO_VERIFY_TOKEN = "demo-verify-token"


@dataclass(frozen=True, slots=True)
class DemoObjects:
    accounts: list[Account]
    queues: list[QueueConfig]
    agents: list[AgentState]
    users: list[tuple[User, str]]  # with their tokens


def demo_objects(graph_base_url: str = "https://graph.facebook.com/v21.0") -> DemoObjects:
    ws = DEMO_WORKSPACE
    queues = [QueueConfig("demo-sales", workspace=ws), QueueConfig("demo-support", workspace=ws)]
    account = Account(
        DEMO_ACCOUNT,
        ws,
        Channel.WHATSAPP,
        "demo-support",
        name="Demo WhatsApp number",
        settings={
            "app_secret": DEMO_APP_SECRET,
            "verify_token": DEMO_VERIFY_TOKEN,
            "access_token": "demo-access-token",
            "phone_number_id": "100000000000001",
            "api_base_url": graph_base_url,
        },
    )
    both = frozenset(q.queue_id for q in queues)
    support = frozenset({"demo-support"})
    agents = [
        AgentState("ayse", workspace=ws, queues=both, capacity=Capacity(3)),
        AgentState("mehmet", workspace=ws, queues=both, capacity=Capacity(3)),
        AgentState("zeynep", workspace=ws, queues=support, capacity=Capacity(2)),
    ]
    users = [(User(a.agent_id, ws, Role.AGENT, a.agent_id.title()), f"demo-{a.agent_id}")
             for a in agents]  # fmt: skip
    users.append((User("supervisor", ws, Role.SUPERVISOR, "Supervisor"), "demo-supervisor"))
    users.append((User("admin", ws, Role.ADMIN, "Admin"), "demo-admin"))
    return DemoObjects([account], queues, agents, users)


def seed(catalog: Catalog, objects: DemoObjects) -> None:
    for queue in objects.queues:
        catalog.put_queue(queue)
    for account in objects.accounts:
        catalog.put_account(account)
    for agent in objects.agents:
        catalog.put_agent(agent)
    for user, token in objects.users:
        catalog.put_user(user)
        catalog.add_token(user, token)


def users_with_tokens(objects: DemoObjects) -> Iterable[tuple[str, str, str]]:
    for user, token in objects.users:
        yield user.user_id, user.role.value, token
