"""The REST API's wire shapes, checked on the way in and described in the OpenAPI document.

How it works: each object of ``/api/v1`` (agent, queue, channel account, topic, canned
reply, user) is written once, as an :class:`Object` of :class:`Field` s whose schemas
both **check** a request body — a ``400 invalid_field`` whose message names the field,
``capacity.total: must be a positive integer`` — and **describe** themselves as JSON
Schema.  :data:`COLLECTIONS` says, for each CRUD collection, its path and who may read
and write it; ``server.admin_api`` registers its routes from the same table, and
:func:`document` builds the OpenAPI 3.1 document from it plus the read endpoints of
``server.api``.  So what is checked, what is served and what is documented cannot
drift apart (a test compares the document with the application's routes).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from actors.errors import BadRequest
from actors.routing.model import (
    Capacity,
    Channel,
    ConversationStatus,
    PostParkPolicy,
    QueueConfig,
    Strategy,
)
from adapters.content import KINDS, ContentError, content_from_wire
from server.catalog import Role
from storage.store import DIMENSIONS

__all__ = [
    "ACCOUNT",
    "AGENT",
    "CANNED_REPLY",
    "COLLECTIONS",
    "LOGIN",
    "NEW_TOKEN",
    "PASSWORD",
    "QUEUE",
    "TOPIC",
    "USER",
    "Collection",
    "Field",
    "Object",
    "document",
    "invalid",
    "is_secret",
]

JSON = dict[str, Any]
#: how much of an object a request gives: all (POST), all but the id (PUT), any (PATCH)
Mode = Literal["create", "replace", "patch"]


def invalid(path: str, problem: str) -> BadRequest:
    """The one error of a bad request body: ``{path}: {problem}``."""
    return BadRequest(f"{path}: {problem}" if path else problem, code="invalid_field")


def _at(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# -- the schema language -------------------------------------------------------------------


class Schema:
    """A JSON value's shape: ``check`` returns the value or raises :func:`invalid`."""

    __slots__ = ()

    def check(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    def json(self) -> JSON:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Text(Schema):
    min_length: int = 1
    max_length: int = 200
    pattern: str | None = None
    #: what ``pattern`` means, in words, for error messages
    hint: str = ""

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise invalid(path, "must be a string")
        if len(value) < self.min_length:
            raise invalid(path, "must not be empty")
        if len(value) > self.max_length:
            raise invalid(path, f"must be at most {self.max_length} characters")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise invalid(path, f"must be {self.hint}")
        return value

    def json(self) -> JSON:
        out: JSON = {"type": "string", "maxLength": self.max_length}
        if self.min_length:
            out["minLength"] = self.min_length
        if self.pattern is not None:
            out["pattern"] = self.pattern
        return out


@dataclass(frozen=True, slots=True)
class Choice(Schema):
    values: tuple[str, ...]

    def check(self, value: Any, path: str) -> Any:
        if value not in self.values:
            raise invalid(path, f"must be one of {', '.join(self.values)}")
        return value

    def json(self) -> JSON:
        return {"type": "string", "enum": list(self.values)}


@dataclass(frozen=True, slots=True)
class Integer(Schema):
    minimum: int = 0

    def check(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value < self.minimum:
            wanted = "a positive integer" if self.minimum == 1 else f"an integer ≥ {self.minimum}"
            raise invalid(path, f"must be {wanted}")
        return value

    def json(self) -> JSON:
        return {"type": "integer", "minimum": self.minimum}


@dataclass(frozen=True, slots=True)
class Number(Schema):
    """A finite number of seconds (or alike) above ``minimum`` (or at it, if not ``exclusive``)."""

    minimum: float = 0.0
    exclusive: bool = False

    def check(self, value: Any, path: str) -> Any:
        bound = f"> {self.minimum:g}" if self.exclusive else f"≥ {self.minimum:g}"
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < self.minimum
            or (self.exclusive and value == self.minimum)
        ):
            raise invalid(path, f"must be a number {bound}")
        return float(value)

    def json(self) -> JSON:
        key = "exclusiveMinimum" if self.exclusive else "minimum"
        return {"type": "number", key: self.minimum}


@dataclass(frozen=True, slots=True)
class Boolean(Schema):
    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, bool):
            raise invalid(path, "must be true or false")
        return value

    def json(self) -> JSON:
        return {"type": "boolean"}


@dataclass(frozen=True, slots=True)
class Nullable(Schema):
    inner: Schema

    def check(self, value: Any, path: str) -> Any:
        return None if value is None else self.inner.check(value, path)

    def json(self) -> JSON:
        return {"anyOf": [self.inner.json(), {"type": "null"}]}


@dataclass(frozen=True, slots=True)
class MapOf(Schema):
    keys: Schema
    values: Schema

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise invalid(path, "must be a JSON object")
        out = {}
        for key, item in value.items():
            self.keys.check(key, _at(path, key))
            out[key] = self.values.check(item, _at(path, key))
        return out

    def json(self) -> JSON:
        return {
            "type": "object",
            "propertyNames": self.keys.json(),
            "additionalProperties": self.values.json(),
        }


@dataclass(frozen=True, slots=True)
class ListOf(Schema):
    """A list of distinct items."""

    items: Schema

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            raise invalid(path, "must be a list")
        for i, item in enumerate(value):
            self.items.check(item, f"{path}[{i}]")
            if item in value[:i]:
                raise invalid(f"{path}[{i}]", f"{item!r} is listed twice")
        return list(value)

    def json(self) -> JSON:
        return {"type": "array", "items": self.items.json(), "uniqueItems": True}


@dataclass(frozen=True, slots=True)
class Custom(Schema):
    """A shape checked by a function of its own (message content), described by hand."""

    checker: Callable[[Any, str], Any]
    described: JSON

    def check(self, value: Any, path: str) -> Any:
        return self.checker(value, path)

    def json(self) -> JSON:
        return dict(self.described)


_NO_DEFAULT: Any = object()


@dataclass(frozen=True, slots=True)
class Field:
    """One property of an object on the wire."""

    name: str
    schema: Schema
    description: str = ""
    #: must be given when the object is created (``POST``) or replaced (``PUT``)
    required: bool = False
    #: only in answers (computed by the server); sending it is an error
    read_only: bool = False
    #: how it looks in answers, when that differs from what requests may send
    shown_as: Schema | None = None
    default: Any = _NO_DEFAULT

    def json(self, *, answer: bool) -> JSON:
        schema = self.shown_as if answer and self.shown_as is not None else self.schema
        out = schema.json()
        if self.description:
            out["description"] = self.description
        if self.default is not _NO_DEFAULT and not answer:
            out["default"] = self.default
        return out


@dataclass(frozen=True, slots=True)
class Object(Schema):
    """A JSON object with known fields; unknown ones are errors (a typo never passes)."""

    name: str
    fields: tuple[Field, ...]
    description: str = ""

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def check(self, value: Any, path: str = "", *, mode: Mode = "create") -> dict[str, Any]:
        """The checked fields given.

        ``create`` (``POST``) needs the required fields; ``replace`` (``PUT``) the same but
        ``id``, which the URL gives; ``patch`` none.
        """
        if not isinstance(value, dict):
            raise invalid(path, "must be a JSON object")
        known = {f.name: f for f in self.fields if not f.read_only}
        for name in value:
            if name not in known:
                if any(f.name == name for f in self.fields):
                    raise invalid(_at(path, name), "is read-only")
                raise invalid(_at(path, name), f"unknown field (expected {', '.join(known)})")
        out: dict[str, Any] = {}
        for f in known.values():
            if f.name in value:
                out[f.name] = f.schema.check(value[f.name], _at(path, f.name))
            elif f.name in self.required(mode):
                raise invalid(_at(path, f.name), "is required")
        return out

    def required(self, mode: Mode) -> list[str]:
        if mode == "patch":
            return []
        names = [f.name for f in self.fields if f.required and not f.read_only]
        return [n for n in names if n != "id"] if mode == "replace" else names

    def json(self) -> JSON:
        return self.request_json("create")

    def request_json(self, mode: Mode) -> JSON:
        fields = [f for f in self.fields if not f.read_only]
        out: JSON = {
            "type": "object",
            "properties": {f.name: f.json(answer=False) for f in fields},
            "additionalProperties": False,
        }
        required = self.required(mode)
        if required:
            out["required"] = required
        if self.description:
            out["description"] = self.description
        return out

    def answer_json(self) -> JSON:
        out: JSON = {
            "type": "object",
            "properties": {f.name: f.json(answer=True) for f in self.fields},
            "required": [f.name for f in self.fields],
        }
        if self.description:
            out["description"] = self.description
        return out


def _default(cls: type[Any], name: str) -> Any:
    """A model field's default, so the document says what the model does."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            return f.default
    raise KeyError(name)


# -- the objects ----------------------------------------------------------------------------

ID = Text(
    max_length=64,
    pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
    hint="letters, digits, '.', '_' or '-', starting with a letter or digit",
)
NAME = Text(min_length=0, max_length=200)
SKILL = Text(max_length=64, pattern=r"^\S+$", hint="a name without spaces")
SECONDS = Number(0.0)
POSITIVE_SECONDS = Number(0.0, exclusive=True)
EMAIL = Text(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$", hint="an e-mail address")
CHANNELS = tuple(c.value for c in Channel)

#: settings whose names end so are secrets: accepted, never shown again
_SECRET_SUFFIXES = ("secret", "token", "password", "key")


def is_secret(setting: str) -> bool:
    return setting.lower().endswith(_SECRET_SUFFIXES)


def _content(value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise invalid(path, "must be a JSON object")
    try:
        return content_from_wire(value).to_wire()
    except ContentError as error:
        raise BadRequest(error.within(path).message, code="invalid_field") from None


CONTENT = Custom(
    _content,
    {
        "type": "object",
        "description": "message content; each kind's fields are in docs/content.md",
        "required": ["kind"],
        "properties": {"kind": {"type": "string", "enum": sorted({k.kind for k in KINDS})}},
    },
)

CAPACITY = Object(
    "Capacity",
    (
        Field("total", Integer(1), "chats the agent may hold at once", required=True),
        Field(
            "per_channel",
            MapOf(Choice(CHANNELS), Integer(0)),
            "a lower limit on some channels (0: none of that channel)",
            default={},
        ),
    ),
)

AGENT = Object(
    "Agent",
    (
        Field("id", ID, "agent id, also its user id; unique on the server", required=True),
        Field("name", NAME, "display name (kept on the agent's user)", default=""),
        Field("queues", ListOf(ID), "queues the agent takes chats from", default=[]),
        Field("skills", MapOf(SKILL, Integer(0)), "skill name -> level", default={}),
        Field("capacity", CAPACITY, default={"total": Capacity().total, "per_channel": {}}),
    ),
    "An agent's profile; live status is in GET /live and on the agent websocket.",
)


def _queue_default(name: str) -> Any:
    return _default(QueueConfig, name)


QUEUE = Object(
    "Queue",
    (
        Field("id", ID, "queue id; unique on the server", required=True),
        Field(
            "strategy",
            Choice(tuple(s.value for s in Strategy)),
            "how the queue picks among eligible agents",
            default=_queue_default("strategy").value,
        ),
        Field(
            "required_skills",
            MapOf(SKILL, Integer(0)),
            "skill name -> minimum level an agent needs",
            default={},
        ),
        Field(
            "post_park",
            Choice(tuple(p.value for p in PostParkPolicy)),
            "where a parked chat goes when the customer writes again",
            default=_queue_default("post_park").value,
        ),
        Field(
            "post_park_flow",
            Nullable(ID),
            "the flow for post_park = flow",
            default=None,
        ),
        Field(
            "park_timeout",
            Nullable(POSITIVE_SECONDS),
            "seconds a chat may stay parked; null: no limit",
            default=None,
        ),
        Field(
            "park_timeout_closes",
            Boolean(),
            "a timed-out parked chat is closed (true) or requeued (false)",
            default=False,
        ),
        Field(
            "park_timeout_topic",
            Text(),
            "topic recorded on chats closed by the park time-out",
            default=_queue_default("park_timeout_topic"),
        ),
        Field(
            "offer_timeout",
            POSITIVE_SECONDS,
            "seconds an agent has to take an offered chat",
            default=_queue_default("offer_timeout"),
        ),
        Field(
            "affinity_wait",
            SECONDS,
            "seconds a chat waits for the agent already talking to the customer",
            default=_queue_default("affinity_wait"),
        ),
        Field(
            "returning_window",
            SECONDS,
            "seconds a customer counts as returning (prefers the previous agent)",
            default=_queue_default("returning_window"),
        ),
        Field(
            "default_handle_time",
            POSITIVE_SECONDS,
            "average handle time (s) for wait estimates until measured",
            default=_queue_default("default_handle_time"),
        ),
    ),
    "A queue's routing settings; changes apply to the live queue at once.",
)

ACCOUNT = Object(
    "Account",
    (
        Field("id", ID, "account id: the webhook is /webhooks/{channel}/{id}", required=True),
        Field("channel", Choice(CHANNELS), required=True),
        Field("queue_id", ID, "the queue new conversations go to", required=True),
        Field("name", NAME, default=""),
        Field(
            "settings",
            MapOf(Text(max_length=64), Text(min_length=0, max_length=4096)),
            "provider settings (app_secret, verify_token, access_token, phone_number_id, "
            "api_base_url, ...). Secrets (names ending in secret, token, password or key) "
            "are write-only: answers leave them out and list their names in `secrets`. "
            "PATCH merges settings (null removes one); PUT replaces them.",
            default={},
            shown_as=MapOf(Text(max_length=64), Text(min_length=0, max_length=4096)),
        ),
        Field("secrets", ListOf(Text()), "names of the secret settings that are set",
              read_only=True),  # fmt: skip
    ),
    "A channel account: one webhook URL, routed to one queue.",
)

TOPIC = Object(
    "Topic",
    (
        Field("id", ID, "given, or made by the server; unique in the workspace"),
        Field("name", Text(), required=True),
        Field("active", Boolean(), "inactive topics are kept for reports only", default=True),
    ),
    "What a conversation was about; resolving a conversation records a topic.",
)

CANNED_REPLY = Object(
    "CannedReply",
    (
        Field("id", ID, "given, or made by the server; unique in the workspace"),
        Field("queue_id", Nullable(ID), "the queue it belongs to; null: every queue",
              default=None),  # fmt: skip
        Field("title", Text(), required=True),
        Field("content", CONTENT, "what is sent", required=True),
        Field(
            "shortcut",
            Nullable(Text(max_length=32, pattern=r"^\S+$", hint="a word without spaces")),
            "what agents type to pick it; unique per queue (or among the workspace-wide)",
            default=None,
        ),
    ),
    "A prepared answer agents can send.",
)

USER = Object(
    "User",
    (
        Field("id", ID, "user id; unique on the server (an agent's is its agent id)",
              required=True),  # fmt: skip
        Field("name", NAME, default=""),
        Field(
            "role",
            Choice((Role.ADMIN.value, Role.SUPERVISOR.value)),
            "agents' users are made through /agents",
            required=True,
            shown_as=Choice(tuple(r.value for r in Role)),
        ),
        Field("email", Nullable(EMAIL), "for login; unique in the workspace", default=None),
        Field("has_password", Boolean(), "whether password login is set up", read_only=True),
    ),
    "Someone who signs in. Passwords are set with PUT /users/{user_id}/password.",
)

LOGIN = Object(
    "Login",
    (
        Field("workspace", Text(max_length=64), required=True),
        Field("user_id", ID, "the user id, or give email"),
        Field("email", EMAIL, "the e-mail address, or give user_id"),
        Field("password", Text(max_length=1024), required=True),
    ),
)

PASSWORD = Object(
    "Password",
    (
        Field("password", Text(min_length=8, max_length=1024), "at least 8 characters",
              required=True),  # fmt: skip
        Field("current_password", Text(max_length=1024),
              "needed when users change their own password"),  # fmt: skip
    ),
)

NEW_TOKEN = Object(
    "NewToken",
    (Field("revoke_existing", Boolean(), "revoke the agent's other tokens", default=False),),
)


@dataclass(frozen=True, slots=True)
class Collection:
    """One CRUD collection: ``GET``/``POST`` on ``path``, ``GET``/``PUT``/``PATCH``/``DELETE``
    on ``path/{id}``."""

    path: str  # "/agents"
    key: str  # the list's key in answers: {"agents": [...]}
    noun: str  # "agent"
    schema: Object
    read_role: Role
    write_role: Role
    #: query parameters of the list: name -> description
    filters: Mapping[str, str] = field(default_factory=dict)

    @property
    def param(self) -> str:
        return f"{self.noun.replace(' ', '_')}_id"


AGENTS = Collection("/agents", "agents", "agent", AGENT, Role.SUPERVISOR, Role.ADMIN)
QUEUES = Collection("/queues", "queues", "queue", QUEUE, Role.SUPERVISOR, Role.ADMIN)
ACCOUNTS = Collection("/accounts", "accounts", "account", ACCOUNT, Role.SUPERVISOR, Role.ADMIN)
TOPICS = Collection(
    "/topics", "topics", "topic", TOPIC, Role.AGENT, Role.SUPERVISOR,
    {"active": "true or false: only active (or inactive) topics"},
)  # fmt: skip
CANNED_REPLIES = Collection(
    "/canned-replies", "canned_replies", "canned reply", CANNED_REPLY, Role.AGENT,
    Role.SUPERVISOR,
    {"queue_id": "only this queue's replies and the workspace-wide ones"},
)  # fmt: skip
USERS = Collection("/users", "users", "user", USER, Role.SUPERVISOR, Role.ADMIN)

COLLECTIONS = (AGENTS, QUEUES, ACCOUNTS, TOPICS, CANNED_REPLIES, USERS)
