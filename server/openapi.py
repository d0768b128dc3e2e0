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

import copy
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
    "SETTING_NAME",
    "SETTING_VALUE",
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
            short = "must not be empty" if self.min_length == 1 else "is too short"
            raise invalid(path, f"{short} (at least {self.min_length} characters)")
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
        """The checked fields given, and the defaults of those missing (but in a ``patch``).

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
            elif mode != "patch" and f.default is not _NO_DEFAULT:
                out[f.name] = copy.deepcopy(f.default)
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
SETTING_NAME = Text(max_length=64)
SETTING_VALUE = Text(min_length=0, max_length=4096)

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


OPEN_STATUSES = tuple(s.value for s in ConversationStatus if s is not ConversationStatus.RESOLVED)
SLA_NORM = Object(
    "SlaNorm",
    (
        Field("bad", POSITIVE_SECONDS, "seconds until the first alert level", required=True),
        Field(
            "unsatisfactory", POSITIVE_SECONDS, "seconds until the second (≥ bad)", required=True
        ),
    ),
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
        Field(
            "sla",
            MapOf(Choice(OPEN_STATUSES), SLA_NORM),
            "SLA norms: conversation status -> seconds in it until each alert level",
            default={},
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
            MapOf(SETTING_NAME, SETTING_VALUE),
            "provider settings (app_secret, verify_token, access_token, phone_number_id, "
            "api_base_url, ...). Secrets (names ending in secret, token, password or key) "
            "are write-only: answers leave them out and list their names in `secrets`. "
            "PATCH merges settings (null removes one); PUT replaces them.",
            default={},
        ),
        Field(
            "secrets", ListOf(Text()), "names of the secret settings that are set", read_only=True
        ),
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
        Field("queue_id", Nullable(ID), "the queue it belongs to; null: every queue", default=None),
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
        Field(
            "id", ID, "user id; unique on the server (an agent's is its agent id)", required=True
        ),
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
        Field(
            "password", Text(min_length=8, max_length=1024), "at least 8 characters", required=True
        ),
        Field(
            "current_password", Text(max_length=1024), "needed when users change their own password"
        ),
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
    "/topics",
    "topics",
    "topic",
    TOPIC,
    Role.AGENT,
    Role.SUPERVISOR,
    {"active": "true or false: only active (or inactive) topics"},
)
CANNED_REPLIES = Collection(
    "/canned-replies",
    "canned_replies",
    "canned reply",
    CANNED_REPLY,
    Role.AGENT,
    Role.SUPERVISOR,
    {"queue_id": "only this queue's replies and the workspace-wide ones"},
)
USERS = Collection("/users", "users", "user", USER, Role.SUPERVISOR, Role.ADMIN)

COLLECTIONS = (AGENTS, QUEUES, ACCOUNTS, TOPICS, CANNED_REPLIES, USERS)


# -- the document -----------------------------------------------------------------------------

_ERRORS = {
    400: ("BadRequest", "the request is malformed; the message names the field"),
    401: ("Unauthorized", "no token, an unknown or revoked one, or wrong credentials"),
    403: ("Forbidden", "the caller's role may not do this"),
    404: ("NotFound", "no such object in the caller's workspace"),
    409: ("Conflict", "the id is taken, or the object is still in use"),
    502: ("BadGateway", "the provider failed to hand over what was asked (the message says why)"),
}


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: JSON) -> JSON:
    return {"content": {"application/json": {"schema": schema}}}


def _path_param(name: str) -> JSON:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, description: str, schema: JSON | None = None) -> JSON:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _op(
    op_id: str,
    summary: str,
    role: Role | None,
    tag: str,
    answer: tuple[int, JSON | None],
    *,
    params: tuple[JSON, ...] = (),
    body: JSON | None = None,
    body_required: bool = True,
    errors: tuple[int, ...] = (),
) -> JSON:
    """One operation; ``role`` None: no token needed."""
    status, schema = answer
    ok: JSON = {"description": "done" if schema is None else "the answer"}
    if schema is not None:
        ok.update(_json_body(schema))
    op: JSON = {"operationId": op_id, "summary": summary, "tags": [tag]}
    codes = set(errors)
    if role is None:
        op["security"] = []
    else:
        above = "" if role is Role.ADMIN else " or above"
        op["description"] = f"Role: {role.value}{above}."
        op["x-role"] = role.value
        codes.add(401)
        if role is not Role.AGENT:
            codes.add(403)
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = {"required": body_required, **_json_body(body)}
        codes.add(400)
    op["responses"] = {str(status): ok} | {
        str(code): {"$ref": f"#/components/responses/{_ERRORS[code][0]}"} for code in sorted(codes)
    }
    return op


def _collection_paths(c: Collection) -> dict[str, JSON]:
    name = c.schema.name
    one = {"$ref": f"#/components/schemas/{name}"}
    item = _path_param(c.param)
    op = name[0].lower() + name[1:]
    created = _ref("AgentCreated") if c is AGENTS else one
    filters = tuple(_query(k, v) for k, v in c.filters.items())
    listing = {
        "type": "object",
        "required": [c.key],
        "properties": {c.key: {"type": "array", "items": one}},
    }
    tag = c.key
    return {
        c.path: {
            "get": _op(
                f"list_{c.key}",
                f"List the workspace's {c.key.replace('_', ' ')}",
                c.read_role,
                tag,
                (200, listing),
                params=filters,
                errors=(400, 404) if filters else (),
            ),
            "post": _op(
                f"create_{op}",
                f"Create a {c.noun}",
                c.write_role,
                tag,
                (201, created),
                body=_ref(f"{name}Create"),
                errors=(409,),
            ),
        },
        f"{c.path}/{{{c.param}}}": {
            "get": _op(
                f"get_{op}",
                f"Get a {c.noun}",
                c.read_role,
                tag,
                (200, one),
                params=(item,),
                errors=(404,),
            ),
            "put": _op(
                f"replace_{op}",
                f"Replace a {c.noun}",
                c.write_role,
                tag,
                (200, one),
                params=(item,),
                body=_ref(f"{name}Replace"),
                errors=(404, 409),
            ),
            "patch": _op(
                f"update_{op}",
                f"Change some fields of a {c.noun}",
                c.write_role,
                tag,
                (200, one),
                params=(item,),
                body=_ref(f"{name}Patch"),
                errors=(404, 409),
            ),
            "delete": _op(
                f"delete_{op}",
                f"Delete a {c.noun}",
                c.write_role,
                tag,
                (204, None),
                params=(item,),
                errors=(404, 409),
            ),
        },
    }


def _other_admin_paths() -> dict[str, JSON]:
    token = {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}
    return {
        "/login": {
            "post": _op(
                "login",
                "Sign in with a password; answers a new bearer token",
                None,
                "auth",
                (200, _ref("LoginAnswer")),
                body=_ref("Login"),
                errors=(401,),
            ),
        },
        "/logout": {
            "post": _op(
                "logout", "Revoke the token of this request", Role.AGENT, "auth", (204, None)
            ),
        },
        "/me": {
            "get": _op("me", "The caller's user", Role.AGENT, "auth", (200, _ref("User"))),
        },
        "/openapi.json": {
            "get": _op("openapi", "This document", None, "meta", (200, {"type": "object"})),
        },
        "/agents/{agent_id}/tokens": {
            "post": _op(
                "issue_agent_token",
                "Issue a new token for an agent (shown once)",
                Role.ADMIN,
                "agents",
                (201, token),
                params=(_path_param("agent_id"),),
                body=_ref("NewToken"),
                body_required=False,
                errors=(404,),
            ),
        },
        "/users/{user_id}/password": {
            "put": _op(
                "set_password",
                "Set a user's password (admins: anyone's; users: their own, with "
                "current_password when one is set)",
                Role.AGENT,
                "users",
                (204, None),
                params=(_path_param("user_id"),),
                body=_ref("Password"),
                errors=(403, 404),
            ),
        },
    }


def _read_paths() -> dict[str, JSON]:
    conversation = _path_param("conversation_id")
    dimensions = {
        "queue": "queue id",
        "agent": "agent id (agents: only their own)",
        "topic": "topic recorded at resolution",
        "channel": "channel name",
        "status": "conversation status",
        "customer": "customer id",
    }
    filters = tuple(_query(d, f"only conversations of this {dimensions[d]}") for d in DIMENSIONS)
    number = {"type": "number", "minimum": 0}
    page = (
        _query("since", "created at or after (epoch seconds)", number),
        _query("until", "created at or before (epoch seconds)", number),
        _query("offset", "skip this many (newest first)", {"type": "integer", "minimum": 0}),
        _query(
            "limit",
            "at most this many (1-500, default 50)",
            {"type": "integer", "minimum": 1, "maximum": 500},
        ),
    )
    return {
        "/live": {
            "get": _op(
                "live",
                "Live state of the workspace's queues and agents",
                Role.SUPERVISOR,
                "live",
                (200, _ref("Live")),
            ),
        },
        "/conversations": {
            "get": _op(
                "list_conversations",
                "Conversations, newest first, filtered (agents: their own)",
                Role.AGENT,
                "conversations",
                (200, _ref("ConversationPage")),
                params=filters + page,
                errors=(400, 404),
            ),
        },
        "/conversations/{conversation_id}": {
            "get": _op(
                "get_conversation",
                "One conversation",
                Role.AGENT,
                "conversations",
                (200, _ref("Conversation")),
                params=(conversation,),
                errors=(404,),
            ),
        },
        "/conversations/{conversation_id}/messages": {
            "get": _op(
                "get_transcript",
                "A conversation's log: messages and events, oldest first",
                Role.AGENT,
                "conversations",
                (200, _ref("Transcript")),
                params=(conversation,),
                errors=(404,),
            ),
        },
        "/customers/{customer_id}": {
            "get": _op(
                "customer_get",
                "A customer's identities across channels and profile",
                Role.AGENT,
                "customers",
                (200, _ref("Customer")),
                params=(_path_param("customer_id"),),
                errors=(404,),
            ),
            "patch": _op(
                "customer_update",
                "Edit the customer's profile (name, notes, favourite, spam; null clears)",
                Role.AGENT,
                "customers",
                (200, _ref("Customer")),
                params=(_path_param("customer_id"),),
                body=_ref("ProfileChanges"),
                errors=(404,),
            ),
        },
        "/conversations/{conversation_id}/media/{media_id}": {
            "get": _op(
                "conversation_media",
                "Stream a media file of the conversation from its provider or the server's "
                "disk (404 media_gone: expired at the provider; 403 media_host_not_allowed: "
                "a link outside the account's media_hosts)",
                Role.AGENT,
                "conversations",
                (200, {"type": "string", "format": "binary"}),
                params=(_path_param("conversation_id"), _path_param("media_id")),
                errors=(403, 404, 502),
            ),
        },
        "/customers/{customer_id}/conversations": {
            "get": _op(
                "customer_history",
                "A customer's conversations on every channel",
                Role.AGENT,
                "conversations",
                (200, _ref("CustomerHistory")),
                params=(_path_param("customer_id"),),
                errors=(404,),
            ),
        },
    }


def _nullable(schema: JSON) -> JSON:
    return {"anyOf": [schema, {"type": "null"}]}


def _read_schemas() -> dict[str, JSON]:
    text = {"type": "string"}
    number = {"type": "number"}
    conversation = {
        "type": "object",
        "properties": {
            "conversation_id": text,
            "workspace": text,
            "customer_id": text,
            "channel": {"type": "string", "enum": list(CHANNELS)},
            "account": text,
            "queue_id": text,
            "status": {"type": "string", "enum": [s.value for s in ConversationStatus]},
            "agent_id": _nullable(text),
            "parked_by": _nullable(text),
            "invited": {"type": "array", "items": text},
            "topic": _nullable(text),
            "priority": {"type": "integer"},
            "created_at": number,
            "resolved_at": _nullable(number),
            "messages": {"type": "integer"},
            "previous_conversation_id": _nullable(text),
        },
    }
    conversation["required"] = list(conversation["properties"])
    conversations = {"type": "array", "items": _ref("Conversation")}
    counts = {"type": "integer", "minimum": 0}
    return {
        "Conversation": conversation,
        "ConversationPage": {
            "type": "object",
            "required": ["conversations", "total", "offset", "limit"],
            "properties": {
                "conversations": conversations,
                "total": counts,
                "offset": counts,
                "limit": counts,
            },
        },
        "Transcript": {
            "type": "object",
            "required": ["conversation_id", "entries"],
            "properties": {
                "conversation_id": text,
                "entries": {
                    "type": "array",
                    "items": {"type": "object"},
                    "description": "log entries (messages both ways, status changes, "
                    "assignments, transfers), oldest first",
                },
            },
        },
        "Customer": {
            "type": "object",
            "required": ["customer_id", "profile"],
            "properties": {
                "customer_id": text,
                "identities": {
                    "type": "array",
                    "items": {"type": "array", "items": text, "minItems": 2, "maxItems": 2},
                    "description": "[kind, value] pairs: phone, email, per-channel ids",
                },
                "profile": {"$ref": "#/components/schemas/ProfileChanges"},
            },
        },
        "ProfileChanges": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": _nullable(text),
                "notes": _nullable(text),
                "favourite": _nullable({"type": "boolean"}),
                "spam": _nullable({"type": "boolean"}),
            },
        },
        "CustomerHistory": {
            "type": "object",
            "required": ["customer_id", "conversations"],
            "properties": {"customer_id": text, "conversations": conversations},
        },
        "Live": {
            "type": "object",
            "required": ["queues", "agents", "conversations"],
            "properties": {
                "queues": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "description": "queue_id, waiting, offering, longest_wait_s, "
                        "online_agents, ready_agents, assigned, average_wait_s, ...",
                        "required": ["queue_id", "waiting"],
                        "properties": {"queue_id": text, "waiting": counts},
                    },
                },
                "agents": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "description": "agent_id, status, status_since, seconds_in_status, "
                        "connected, capacity, active, parked, queues",
                        "required": ["agent_id", "status", "active", "parked"],
                        "properties": {
                            "agent_id": text,
                            "status": text,
                            "active": {"type": "array", "items": text},
                            "parked": {"type": "array", "items": text},
                        },
                    },
                },
                "conversations": {
                    "type": "object",
                    "required": ["waiting", "active", "parked"],
                    "properties": {"waiting": counts, "active": counts, "parked": counts},
                },
            },
        },
    }


def _admin_schemas() -> dict[str, JSON]:
    schemas: dict[str, JSON] = {}
    for c in COLLECTIONS:
        name = c.schema.name
        schemas[name] = c.schema.answer_json()
        schemas[f"{name}Create"] = c.schema.request_json("create")
        schemas[f"{name}Replace"] = c.schema.request_json("replace")
        schemas[f"{name}Patch"] = c.schema.request_json("patch")
    schemas["AgentCreated"] = {
        "allOf": [
            _ref("Agent"),
            {
                "type": "object",
                "required": ["token"],
                "properties": {
                    "token": {
                        "type": "string",
                        "description": "the agent's bearer token, shown once",
                    }
                },
            },
        ]
    }
    login = LOGIN.request_json("create")
    login["oneOf"] = [{"required": ["user_id"]}, {"required": ["email"]}]
    schemas["Login"] = login
    schemas["LoginAnswer"] = {
        "type": "object",
        "required": ["token", "user"],
        "properties": {"token": {"type": "string"}, "user": _ref("User")},
    }
    schemas["Password"] = PASSWORD.request_json("create")
    schemas["NewToken"] = NEW_TOKEN.request_json("create")
    return schemas


@cache
def document() -> JSON:
    """The OpenAPI 3.1 document of every ``/api/v1`` endpoint (built once)."""
    paths: dict[str, JSON] = {}
    for c in COLLECTIONS:
        paths.update(_collection_paths(c))
    paths.update(_other_admin_paths())
    paths.update(_read_paths())
    error = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    }
    responses = {
        name: {"description": description, **_json_body(_ref("Error"))}
        for name, description in _ERRORS.values()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Switchboard REST API",
            "version": "1",
            "description": "Workspace administration and conversation reads. Every request "
            "but login and this document carries Authorization: Bearer <token>; the token's "
            "user fixes the workspace (objects of other workspaces answer 404). Roles rank "
            'admin > supervisor > agent. Errors are {"error": {"code", "message"}}. '
            "See docs/api.md.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": error} | _admin_schemas() | _read_schemas(),
            "responses": responses,
        },
    }
