"""REST ``/api/v1`` administration: workspace objects (CRUD), password login, the OpenAPI document.

How it works: each collection of :data:`server.openapi.COLLECTIONS` (agents, queues,
channel accounts, topics, canned replies, users) is served by one :class:`Kind` — how
to find, show, build, store and remove that kind of object — through the same five
generic routes, so every collection answers alike: ``GET`` list, ``POST`` create
(``409`` if the id is taken anywhere), ``GET``/``PUT``/``PATCH``/``DELETE`` one.  Bodies
are checked by the collection's schema (``server.openapi``): unknown fields and bad
values are ``400 invalid_field`` naming the field.  A ``PATCH`` is the stored object's
fields with the given ones laid over, then checked like a ``PUT``.

Writes go through the :class:`~server.catalog.Catalog` (write-through to storage) in a
worker thread, one at a time under a lock, so a check (is the id free? does the queue
exist?) and the write it allows are never interleaved with another request's.  Then
the live effect: a queue is opened in routing or reconfigured, an agent added or sent
``UpdateProfile``, the routing settings' account map replaced whole.  Objects of other
workspaces do not exist for a caller (``404``).
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import trio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from quart import Blueprint, request

from actors.errors import BadRequest, Conflict, Forbidden, NotFound, SwitchboardError
from actors.messages import Describe, UpdateProfile
from actors.routing.model import (
    AgentState,
    Capacity,
    Channel,
    ConversationStatus,
    PostParkPolicy,
    QueueConfig,
    Strategy,
)
from server import openapi
from server.auth import Unauthorized, current_user, error_body, require
from server.bridge import Bridge
from server.catalog import Account, CannedReply, Role, Topic, User
from server.openapi import Collection, MapOf, Nullable, invalid, is_secret
from server.services import Services

__all__ = ["admin_blueprint"]

T = TypeVar("T")

_ASK_TIMEOUT_S = 10.0
_HASHER = PasswordHasher()
_LOGIN_FAILED = "wrong workspace, user or password"


class Busy(SwitchboardError):
    status = 503
    code = "unavailable"


class Admin:
    """What every kind shares: the services, the write lock, and the ways to use them."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.catalog = services.catalog
        self.routing = services.routing
        self.lock = trio.Lock()
        self._dummy_hash: str | None = None

    async def write(self, step: Callable[[], T]) -> T:
        """Run catalog writes (blocking Redis calls) in a worker thread."""
        return await trio.to_thread.run_sync(step)

    async def ask(self, address: Any, message: Any) -> Any:
        try:
            return await Bridge.current().ask(address, message, timeout=_ASK_TIMEOUT_S)
        except trio.TooSlowError:
            raise Busy("routing did not answer in time; try again") from None

    def queue(self, workspace: str, queue_id: str) -> QueueConfig | None:
        queue = self.catalog.queues.get(queue_id)
        return queue if queue is not None and queue.workspace == workspace else None

    def sync_accounts(self) -> None:
        """Routing reads account -> queue from its settings, which are replaced whole."""
        routing = self.routing
        routing.settings = replace(routing.settings, accounts=self.catalog.routing_accounts())

    async def verify(self, user: User | None, password: str) -> bool:
        """Whether ``password`` is ``user``'s; as slow for a missing user as for a wrong one."""

        def check() -> bool:
            stored = user.password_hash if user is not None else None
            if stored is None:
                if self._dummy_hash is None:
                    self._dummy_hash = _HASHER.hash(secrets.token_hex(16))
                stored = self._dummy_hash
            try:
                _HASHER.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return False
            return user is not None

        return await trio.to_thread.run_sync(check)


class Kind(Generic[T]):
    """How one collection's objects are found, shown, built, stored and removed."""

    collection: Collection

    def __init__(self, admin: Admin) -> None:
        self.admin = admin
        self.catalog = admin.catalog

    # -- reading ------------------------------------------------------------------------

    def find(self, workspace: str, object_id: str) -> T | None:
        raise NotImplementedError

    def all(self, workspace: str, args: Mapping[str, str]) -> list[T]:
        raise NotImplementedError

    def wire(self, obj: T) -> dict[str, Any]:
        raise NotImplementedError

    def form(self, obj: T) -> dict[str, Any]:
        """The object as a full request body would give it (for ``PATCH``)."""
        return self.wire(obj)

    def need(self, workspace: str, object_id: str) -> T:
        obj = self.find(workspace, object_id)
        if obj is None:
            raise NotFound(f"no {self.collection.noun} {object_id}")
        return obj

    # -- writing ------------------------------------------------------------------------

    def taken(self, workspace: str, object_id: str) -> bool:
        return self.find(workspace, object_id) is not None

    def new_id(self, workspace: str) -> str:
        del workspace
        raise invalid("id", "is required")

    def merge(self, current: dict[str, Any], body: Any) -> dict[str, Any]:
        return {**current, **self.collection.schema.check(body, mode="patch")}

    def build(self, workspace: str, object_id: str, fields: dict[str, Any], current: T | None) -> T:
        raise NotImplementedError

    async def store(self, obj: T, current: T | None) -> dict[str, Any]:
        """Write ``obj`` and apply it live; extra fields for the answer."""
        raise NotImplementedError

    async def remove(self, obj: T) -> None:
        raise NotImplementedError

    async def create(self, workspace: str, fields: dict[str, Any]) -> dict[str, Any]:
        object_id = fields.pop("id", None) or self.new_id(workspace)
        if self.taken(workspace, object_id):
            msg = f"{self.collection.noun} id {object_id!r} is already taken"
            raise Conflict(msg, code="id_taken")
        obj = self.build(workspace, object_id, fields, None)
        extra = await self.store(obj, None)
        return {**self.wire(obj), **extra}


# -- queues ------------------------------------------------------------------------------------


class Queues(Kind[QueueConfig]):
    collection = openapi.QUEUES

    def find(self, workspace: str, object_id: str) -> QueueConfig | None:
        return self.admin.queue(workspace, object_id)

    def all(self, workspace: str, args: Mapping[str, str]) -> list[QueueConfig]:
        return [q for _, q in sorted(self.catalog.queues.items()) if q.workspace == workspace]

    def wire(self, obj: QueueConfig) -> dict[str, Any]:
        return {
            "id": obj.queue_id,
            "strategy": obj.strategy.value,
            "required_skills": dict(obj.required_skills),
            "post_park": obj.post_park.value,
            "post_park_flow": obj.post_park_flow,
            "park_timeout": obj.park_timeout,
            "park_timeout_closes": obj.park_timeout_closes,
            "park_timeout_topic": obj.park_timeout_topic,
            "offer_timeout": obj.offer_timeout,
            "affinity_wait": obj.affinity_wait,
            "returning_window": obj.returning_window,
            "default_handle_time": obj.default_handle_time,
            "sla": {
                status.value: {"bad": bad, "unsatisfactory": unsatisfactory}
                for status, (bad, unsatisfactory) in obj.sla.items()
            },
        }

    def taken(self, workspace: str, object_id: str) -> bool:
        return object_id in self.catalog.queues or object_id in self.admin.routing.queues

    def build(
        self, workspace: str, object_id: str, fields: dict[str, Any], current: QueueConfig | None
    ) -> QueueConfig:
        post_park = PostParkPolicy(fields["post_park"])
        if post_park is PostParkPolicy.FLOW and fields["post_park_flow"] is None:
            raise invalid("post_park_flow", 'is required when post_park is "flow"')
        sla = {}
        for status, norm in fields["sla"].items():
            if norm["unsatisfactory"] < norm["bad"]:
                raise invalid(f"sla.{status}.unsatisfactory", "must not be less than bad")
            sla[ConversationStatus(status)] = (norm["bad"], norm["unsatisfactory"])
        settings = {
            "strategy": Strategy(fields["strategy"]),
            "required_skills": fields["required_skills"],
            "post_park": post_park,
            "post_park_flow": fields["post_park_flow"],
            "park_timeout": fields["park_timeout"],
            "park_timeout_closes": fields["park_timeout_closes"],
            "park_timeout_topic": fields["park_timeout_topic"],
            "offer_timeout": fields["offer_timeout"],
            "affinity_wait": fields["affinity_wait"],
            "returning_window": fields["returning_window"],
            "default_handle_time": fields["default_handle_time"],
            "sla": sla,
        }
        if current is None:
            return QueueConfig(object_id, workspace=workspace, **settings)
        return replace(current, **settings)  # what the API does not show is kept

    async def store(self, obj: QueueConfig, current: QueueConfig | None) -> dict[str, Any]:
        await self.admin.write(lambda: self.catalog.put_queue(obj))
        routing = self.admin.routing
        if current is None:
            routing.add_queue(obj)
        else:
            routing.update_queue(obj)
        return {}

    async def remove(self, obj: QueueConfig) -> None:
        ws, queue_id = obj.workspace, obj.queue_id
        users = {
            "agents": [
                a.agent_id
                for a in list(self.catalog.agents.values())
                if a.workspace == ws and queue_id in a.queues
            ],
            "accounts": [
                a.account_id
                for a in list(self.catalog.accounts.values())
                if a.workspace == ws and a.queue_id == queue_id
            ],
            "canned replies": [
                r.reply_id
                for r in list(self.catalog.canned_replies.values())
                if r.workspace == ws and r.queue_id == queue_id
            ],
        }
        routing = self.admin.routing
        if queue_id in routing.queues:
            waiting = (await self.admin.ask(routing.queue(queue_id), Describe()))["waiting"]
            if waiting:
                users["waiting conversations"] = [str(waiting)]
        used = "; ".join(f"{what} {', '.join(sorted(ids))}" for what, ids in users.items() if ids)
        if used:
            raise Conflict(f"queue {queue_id} is still used by {used}", code="in_use")
        await self.admin.write(lambda: self.catalog.delete_queue(obj))
        routing.queues.close(queue_id)
        if routing.settings.default_queue == queue_id and self.catalog.queues:
            routing.settings = replace(routing.settings, default_queue=min(self.catalog.queues))


# -- agents ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """An agent as the API shows it: the routing profile, and its user (the name)."""

    agent: AgentState
    user: User


class Agents(Kind[AgentProfile]):
    collection = openapi.AGENTS

    def find(self, workspace: str, object_id: str) -> AgentProfile | None:
        agent = self.catalog.agents.get(object_id)
        if agent is None or agent.workspace != workspace:
            return None
        user = self.catalog.users.get(object_id)
        if user is None or user.workspace != workspace:  # seeded without one
            user = User(object_id, workspace, Role.AGENT)
        return AgentProfile(agent, user)

    def all(self, workspace: str, args: Mapping[str, str]) -> list[AgentProfile]:
        found = (self.find(workspace, agent_id) for agent_id in sorted(self.catalog.agents))
        return [p for p in found if p is not None]

    def wire(self, obj: AgentProfile) -> dict[str, Any]:
        agent = obj.agent
        capacity = agent.capacity
        return {
            "id": agent.agent_id,
            "name": obj.user.name,
            "queues": sorted(agent.queues),
            "skills": dict(agent.skills),
            "capacity": {
                "total": capacity.total,
                "per_channel": {c.value: n for c, n in capacity.per_channel.items()},
            },
        }

    def taken(self, workspace: str, object_id: str) -> bool:
        books = (self.catalog.agents, self.catalog.users, self.admin.routing.agents)
        return any(object_id in book for book in books)

    def build(
        self, workspace: str, object_id: str, fields: dict[str, Any], current: AgentProfile | None
    ) -> AgentProfile:
        for i, queue_id in enumerate(fields["queues"]):
            if self.admin.queue(workspace, queue_id) is None:
                raise invalid(f"queues[{i}]", f"no queue {queue_id!r}")
        capacity = fields["capacity"]
        queues = frozenset(fields["queues"])
        skills = fields["skills"]
        limits = Capacity(
            capacity["total"], {Channel(c): n for c, n in capacity["per_channel"].items()}
        )
        if current is None:
            agent = AgentState(
                object_id, workspace=workspace, queues=queues, skills=skills, capacity=limits
            )
            return AgentProfile(agent, User(object_id, workspace, Role.AGENT, fields["name"]))
        agent = replace(current.agent, queues=queues, skills=skills, capacity=limits)
        return AgentProfile(agent, replace(current.user, name=fields["name"]))

    async def store(self, obj: AgentProfile, current: AgentProfile | None) -> dict[str, Any]:
        catalog = self.catalog
        agent, user = obj.agent, obj.user

        def write() -> str | None:
            catalog.put_agent(agent)
            catalog.put_user(user)
            return catalog.issue_token(user) if current is None else None

        token = await self.admin.write(write)
        routing = self.admin.routing
        if current is None:
            routing.add_agent(agent)
            return {"token": token}
        message = UpdateProfile(agent.queues, agent.skills, agent.capacity)
        await self.admin.ask(routing.agent(agent.agent_id), message)
        return {}

    async def remove(self, obj: AgentProfile) -> None:
        routing = self.admin.routing
        agent_id = obj.agent.agent_id
        if agent_id in routing.agents:
            live = await self.admin.ask(routing.agent(agent_id), Describe())
            held = sorted([*live["active"], *live["parked"]])
            if held:
                msg = (
                    f"agent {agent_id} holds {len(held)} chats ({', '.join(held)}): "
                    "transfer or resolve them first"
                )
                raise Conflict(msg, code="in_use")
            routing.agents.close(agent_id)
        await self.admin.write(lambda: self.catalog.delete_agent(obj.agent))


# -- channel accounts --------------------------------------------------------------------------

_SETTINGS_PATCH = MapOf(openapi.SETTING_NAME, Nullable(openapi.SETTING_VALUE))


class Accounts(Kind[Account]):
    collection = openapi.ACCOUNTS

    def find(self, workspace: str, object_id: str) -> Account | None:
        account = self.catalog.accounts.get(object_id)
        return account if account is not None and account.workspace == workspace else None

    def all(self, workspace: str, args: Mapping[str, str]) -> list[Account]:
        return [a for _, a in sorted(self.catalog.accounts.items()) if a.workspace == workspace]

    def wire(self, obj: Account) -> dict[str, Any]:
        settings = obj.settings
        return {
            "id": obj.account_id,
            "channel": obj.channel.value,
            "queue_id": obj.queue_id,
            "name": obj.name,
            "settings": {k: v for k, v in sorted(settings.items()) if not is_secret(k)},
            "secrets": sorted(k for k in settings if is_secret(k)),
        }

    def form(self, obj: Account) -> dict[str, Any]:
        return {
            "id": obj.account_id,
            "channel": obj.channel.value,
            "queue_id": obj.queue_id,
            "name": obj.name,
            "settings": dict(obj.settings),
        }

    def taken(self, workspace: str, object_id: str) -> bool:
        return object_id in self.catalog.accounts

    def merge(self, current: dict[str, Any], body: Any) -> dict[str, Any]:
        """Settings merge key by key (null removes one): secrets are never sent back."""
        if not isinstance(body, dict) or "settings" not in body:
            return super().merge(current, body)
        rest = {k: v for k, v in body.items() if k != "settings"}
        merged = super().merge(current, rest)
        changes = _SETTINGS_PATCH.check(body["settings"], "settings")
        settings = {**current["settings"], **changes}
        merged["settings"] = {k: v for k, v in settings.items() if v is not None}
        return merged

    def build(
        self, workspace: str, object_id: str, fields: dict[str, Any], current: Account | None
    ) -> Account:
        if self.admin.queue(workspace, fields["queue_id"]) is None:
            raise invalid("queue_id", f"no queue {fields['queue_id']!r}")
        return Account(
            object_id,
            workspace,
            Channel(fields["channel"]),
            fields["queue_id"],
            name=fields["name"],
            settings=fields["settings"],
        )

    async def store(self, obj: Account, current: Account | None) -> dict[str, Any]:
        await self.admin.write(lambda: self.catalog.put_account(obj))
        self.admin.sync_accounts()
        return {}

    async def remove(self, obj: Account) -> None:
        await self.admin.write(lambda: self.catalog.delete_account(obj))
        self.admin.sync_accounts()


# -- topics and canned replies -------------------------------------------------------------------


class Topics(Kind[Topic]):
    collection = openapi.TOPICS

    def find(self, workspace: str, object_id: str) -> Topic | None:
        return self.catalog.topics.get((workspace, object_id))

    def all(self, workspace: str, args: Mapping[str, str]) -> list[Topic]:
        active = _flag(args, "active")
        return [
            t
            for (ws, _), t in sorted(self.catalog.topics.items())
            if ws == workspace and active in (None, t.active)
        ]

    def wire(self, obj: Topic) -> dict[str, Any]:
        return {"id": obj.topic_id, "name": obj.name, "active": obj.active}

    def new_id(self, workspace: str) -> str:
        return _fresh_id("topic", lambda i: self.taken(workspace, i))

    def build(
        self, workspace: str, object_id: str, fields: dict[str, Any], current: Topic | None
    ) -> Topic:
        name = fields["name"]
        for other in list(self.catalog.topics.values()):
            same = other.workspace == workspace and other.name.casefold() == name.casefold()
            if same and other.topic_id != object_id:
                raise Conflict(
                    f"topic {other.topic_id} is already named {name!r}", code="name_taken"
                )
        return Topic(object_id, workspace, name, active=fields["active"])

    async def store(self, obj: Topic, current: Topic | None) -> dict[str, Any]:
        await self.admin.write(lambda: self.catalog.put_topic(obj))
        return {}

    async def remove(self, obj: Topic) -> None:
        await self.admin.write(lambda: self.catalog.delete_topic(obj))


class CannedReplies(Kind[CannedReply]):
    collection = openapi.CANNED_REPLIES

    def find(self, workspace: str, object_id: str) -> CannedReply | None:
        return self.catalog.canned_replies.get((workspace, object_id))

    def all(self, workspace: str, args: Mapping[str, str]) -> list[CannedReply]:
        queue_id = args.get("queue_id")
        if queue_id is not None and self.admin.queue(workspace, queue_id) is None:
            raise NotFound(f"no queue {queue_id}")
        return [
            r
            for (ws, _), r in sorted(self.catalog.canned_replies.items())
            if ws == workspace and (queue_id is None or r.queue_id in (None, queue_id))
        ]

    def wire(self, obj: CannedReply) -> dict[str, Any]:
        return {
            "id": obj.reply_id,
            "queue_id": obj.queue_id,
            "title": obj.title,
            "content": copy.deepcopy(obj.content),
            "shortcut": obj.shortcut,
        }

    def new_id(self, workspace: str) -> str:
        return _fresh_id("reply", lambda i: self.taken(workspace, i))

    def build(
        self, workspace: str, object_id: str, fields: dict[str, Any], current: CannedReply | None
    ) -> CannedReply:
        queue_id, shortcut = fields["queue_id"], fields["shortcut"]
        if queue_id is not None and self.admin.queue(workspace, queue_id) is None:
            raise invalid("queue_id", f"no queue {queue_id!r}")
        if shortcut is not None:
            for other in list(self.catalog.canned_replies.values()):
                if (other.workspace, other.queue_id, other.shortcut) == (
                    workspace,
                    queue_id,
                    shortcut,
                ) and other.reply_id != object_id:
                    msg = f"shortcut {shortcut!r} is taken by canned reply {other.reply_id}"
                    raise Conflict(msg, code="shortcut_taken")
        return CannedReply(
            object_id,
            workspace,
            fields["title"],
            fields["content"],
            queue_id=queue_id,
            shortcut=shortcut,
        )

    async def store(self, obj: CannedReply, current: CannedReply | None) -> dict[str, Any]:
        await self.admin.write(lambda: self.catalog.put_canned_reply(obj))
        return {}

    async def remove(self, obj: CannedReply) -> None:
        await self.admin.write(lambda: self.catalog.delete_canned_reply(obj))


# -- users ---------------------------------------------------------------------------------------


class Users(Kind[User]):
    collection = openapi.USERS

    def find(self, workspace: str, object_id: str) -> User | None:
        user = self.catalog.users.get(object_id)
        return user if user is not None and user.workspace == workspace else None

    def all(self, workspace: str, args: Mapping[str, str]) -> list[User]:
        return [u for _, u in sorted(self.catalog.users.items()) if u.workspace == workspace]

    def wire(self, obj: User) -> dict[str, Any]:
        return {**self.form(obj), "has_password": obj.password_hash is not None}

    def form(self, obj: User) -> dict[str, Any]:
        return {"id": obj.user_id, "name": obj.name, "role": obj.role.value, "email": obj.email}

    def taken(self, workspace: str, object_id: str) -> bool:
        books = (self.catalog.users, self.catalog.agents, self.admin.routing.agents)
        return any(object_id in book for book in books)

    def build(
        self, workspace: str, object_id: str, fields: dict[str, Any], current: User | None
    ) -> User:
        if current is not None:
            self._not_an_agent(current)
            if current.role is Role.ADMIN and fields["role"] != Role.ADMIN.value:
                self._not_the_last_admin(current)
        email = fields["email"]
        if email is not None:
            other = self.catalog.user_by_email(workspace, email)
            if other is not None and other.user_id != object_id:
                raise Conflict(f"email {email} belongs to another user", code="email_taken")
        if current is None:
            return User(object_id, workspace, Role(fields["role"]), fields["name"], email)
        return replace(current, role=Role(fields["role"]), name=fields["name"], email=email)

    async def store(self, obj: User, current: User | None) -> dict[str, Any]:
        await self.admin.write(lambda: self.catalog.put_user(obj))
        return {}

    async def remove(self, obj: User) -> None:
        self._not_an_agent(obj)
        if obj.role is Role.ADMIN:
            self._not_the_last_admin(obj)
        await self.admin.write(lambda: self.catalog.delete_user(obj))

    @staticmethod
    def _not_an_agent(user: User) -> None:
        if user.role is Role.AGENT:
            msg = f"user {user.user_id} is an agent: change it through /agents/{user.user_id}"
            raise Conflict(msg, code="agent_user")

    def _not_the_last_admin(self, user: User) -> None:
        admins = [
            u
            for u in list(self.catalog.users.values())
            if u.workspace == user.workspace and u.role is Role.ADMIN
        ]
        if admins == [user]:
            raise Conflict("the workspace needs at least one admin", code="last_admin")


# -- helpers ---------------------------------------------------------------------------------------


def _flag(args: Mapping[str, str], name: str) -> bool | None:
    raw = args.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false", code="invalid_query")
    return raw == "true"


def _fresh_id(prefix: str, taken: Callable[[str], bool]) -> str:
    while True:
        candidate = f"{prefix}_{secrets.token_hex(4)}"
        if not taken(candidate):
            return candidate


async def _body(*, optional: bool = False) -> Any:
    raw = await request.get_data()
    if not raw.strip() and optional:
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body must be JSON", code="invalid_json") from None


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


# -- routes ----------------------------------------------------------------------------------------


def _collection_routes(bp: Blueprint, admin: Admin, kind: Kind[Any]) -> None:
    """The five routes of one collection, with its roles."""
    c = kind.collection
    read, write = require(admin.catalog, c.read_role), require(admin.catalog, c.write_role)
    item = f"{c.path}/<{c.param}>"

    async def listing() -> Any:
        workspace = current_user().workspace
        return {c.key: [kind.wire(o) for o in kind.all(workspace, request.args)]}

    async def create() -> Any:
        fields = c.schema.check(await _body(), mode="create")
        async with admin.lock:
            return await kind.create(current_user().workspace, fields), 201

    async def get_one(**ids: str) -> Any:
        return kind.wire(kind.need(current_user().workspace, ids[c.param]))

    async def update(patch: bool, object_id: str) -> Any:
        workspace = current_user().workspace
        body = await _body()
        async with admin.lock:
            current = kind.need(workspace, object_id)
            raw = kind.merge(kind.form(current), body) if patch else body
            fields = c.schema.check(raw, mode="replace")
            if fields.pop("id", object_id) != object_id:
                raise invalid("id", "cannot change (it is the one in the URL)")
            obj = kind.build(workspace, object_id, fields, current)
            await kind.store(obj, current)
            return kind.wire(obj)

    async def put(**ids: str) -> Any:
        return await update(False, ids[c.param])

    async def patch(**ids: str) -> Any:
        return await update(True, ids[c.param])

    async def delete(**ids: str) -> Any:
        async with admin.lock:
            await kind.remove(kind.need(current_user().workspace, ids[c.param]))
        return "", 204

    name = c.key
    bp.add_url_rule(c.path, f"list_{name}", read(listing), methods=["GET"])
    bp.add_url_rule(c.path, f"create_{name}", write(create), methods=["POST"])
    bp.add_url_rule(item, f"get_{name}", read(get_one), methods=["GET"])
    bp.add_url_rule(item, f"put_{name}", write(put), methods=["PUT"])
    bp.add_url_rule(item, f"patch_{name}", write(patch), methods=["PATCH"])
    bp.add_url_rule(item, f"delete_{name}", write(delete), methods=["DELETE"])


def admin_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("admin_api", __name__, url_prefix="/api/v1")
    admin = Admin(services)
    agents, users = Agents(admin), Users(admin)
    for kind in (agents, Queues(admin), Accounts(admin), Topics(admin), CannedReplies(admin)):
        _collection_routes(bp, admin, kind)
    _collection_routes(bp, admin, users)
    _session_routes(bp, admin, users)
    _credential_routes(bp, admin, agents, users)

    @bp.errorhandler(SwitchboardError)
    async def refused(error: SwitchboardError) -> Any:
        return error_body(error)

    @bp.get("/openapi.json")
    async def openapi_document() -> Any:
        return openapi.document()

    return bp


def _session_routes(bp: Blueprint, admin: Admin, users: Users) -> None:
    """Password login, logout, and who the caller is."""
    catalog = admin.catalog

    @bp.post("/login")
    async def login() -> Any:
        fields = openapi.LOGIN.check(await _body())
        user_id, email = fields.get("user_id"), fields.get("email")
        if (user_id is None) == (email is None):
            raise invalid("user_id", "give either user_id or email")
        workspace = fields["workspace"]
        user = (
            users.find(workspace, user_id)
            if user_id is not None
            else catalog.user_by_email(workspace, email or "")
        )
        password = fields["password"]
        if not await admin.verify(user, password) or user is None:
            raise Unauthorized(_LOGIN_FAILED, code="invalid_credentials")
        stale = user.password_hash is not None and _HASHER.check_needs_rehash(user.password_hash)
        rehashed = await trio.to_thread.run_sync(_HASHER.hash, password) if stale else None

        def sign_in() -> str:
            if rehashed is not None:  # the hash's parameters are out of date: renew it
                catalog.set_password(user, rehashed)
            return catalog.issue_token(user)

        async with admin.lock:
            token = await admin.write(sign_in)
        return {"token": token, "user": users.wire(user)}

    @bp.post("/logout")
    @require(catalog)
    async def logout() -> Any:
        token = _bearer()
        async with admin.lock:
            await admin.write(lambda: catalog.revoke_token(token))
        return "", 204

    @bp.get("/me")
    @require(catalog)
    async def me() -> Any:
        return users.wire(current_user())


def _credential_routes(bp: Blueprint, admin: Admin, agents: Agents, users: Users) -> None:
    """New agent tokens and passwords."""
    catalog = admin.catalog

    @bp.post("/agents/<agent_id>/tokens")
    @require(catalog, Role.ADMIN)
    async def agent_token(agent_id: str) -> Any:
        fields = openapi.NEW_TOKEN.check(await _body(optional=True))
        async with admin.lock:
            user = agents.need(current_user().workspace, agent_id).user

            def issue() -> str:
                if fields["revoke_existing"]:
                    catalog.revoke_tokens(user)
                catalog.put_user(user)  # an agent seeded without a user gets one
                return catalog.issue_token(user)

            return {"token": await admin.write(issue)}, 201

    @bp.put("/users/<user_id>/password")
    @require(catalog)
    async def password(user_id: str) -> Any:
        caller = current_user()
        fields = openapi.PASSWORD.check(await _body())
        if caller.role is not Role.ADMIN and caller.user_id != user_id:
            raise Forbidden("only admins set other users' passwords")
        target = users.need(caller.workspace, user_id)
        if caller.role is not Role.ADMIN and target.password_hash is not None:
            current = fields.get("current_password")
            if current is None:
                raise invalid("current_password", "is required to change your own password")
            if not await admin.verify(target, current):
                raise Forbidden("current_password is wrong", code="wrong_password")
        hashed = await trio.to_thread.run_sync(_HASHER.hash, fields["password"])
        async with admin.lock:
            latest = users.need(caller.workspace, user_id)
            await admin.write(lambda: catalog.set_password(latest, hashed))
        return "", 204
