"""The web chat widget and in-app chat: ``/ws/webchat/{account}`` and its HTTP helpers.

How it works: a customer's page (``widget.js``) or app opens the socket and says
``hello``, with the resume token of an earlier visit if it has one.  A token is random,
kept hashed in Redis with a time to live, and names a stable *customer ref*: the sender
id of every message, so a reload or a second tab is the same customer in the same
conversation.  The answer is ``welcome``: the token and the transcript of the open
conversation.  Then:

* ``message.send`` goes the webhooks' way (``server.webhooks.Ingress``): written to the
  durable inbox with the customer's ``client_id`` as the dedupe key, acknowledged only
  then, and handed to routing (the directory's answer tells us the conversation);
* agents' replies come from the outbox through ``WebchatAdapter.send``, which offers
  them to this customer's sockets (``LiveSessions``); each socket queues its frames in
  a bounded channel and a writer task sends them, so the outbox never waits for a
  browser; a socket that falls ``limits.ws_send_buffer`` frames behind is closed (1008)
  and its customer catches up from the transcript on reconnect;
* ``typing`` is shown to the conversation's agents (``conversation.typing``).

Files are uploaded with ``POST /webchat/{account}/uploads`` (session token in
``X-Webchat-Session``) and kept under the data directory, never in Redis; the message
then references them by ``media_id``.  ``GET /webchat/{account}`` serves a demo page
with the widget, ``GET /webchat/widget.js`` the widget.  docs/channels/webchat.md has
the protocol with examples.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import prometheus_client
import trio
from quart import Blueprint, Response, abort, current_app, request, websocket
from werkzeug.exceptions import RequestEntityTooLarge

from actors.errors import BadRequest, SwitchboardError
from actors.events import Event
from actors.messages import Describe, Inbound
from actors.routing.model import Channel, ConversationStatus
from adapters.base import ChannelAdapter
from adapters.content import content_from_wire
from adapters.webchat import (
    DEFAULT_SESSION_TTL_DAYS,
    DEFAULT_UPLOAD_MAX_BYTES,
    FrameError,
    Hello,
    LiveSessions,
    Upload,
    UploadStore,
    UploadTooLarge,
    WebchatAdapter,
    client_id_of,
    customer_content,
    identities,
    provider_message_id,
    read_hello,
    transcript_messages,
)
from server.agent_ws import CONNECTIONS, Frames
from server.bridge import Bridge, TrioFuture
from server.catalog import Account
from server.services import Services
from server.webhooks import Ingress, WebhookRejected
from storage.blobs import blob_root, read_chunks
from storage.keys import Keys

__all__ = ["ChatCustomer", "ChatStore", "ConversationTyping", "webchat_blueprint"]

logger = logging.getLogger(__name__)

MESSAGES = prometheus_client.Counter(
    "switchboard_webchat_messages_total",
    "Customer messages taken in over the web chat socket, by outcome",
    ["outcome"],
)

STATIC = Path(__file__).parent / "static" / "webchat"
CHANNELS = (Channel.WEBCHAT, Channel.INAPP)
SESSION_HEADER = "X-Webchat-Session"
#: seconds a frame may wait for an actor before the customer hears "timeout"
_ASK_TIMEOUT_S = 10.0
#: an unchanged "typing: on" is passed on to agents at most this often
_TYPING_REPEAT_S = 2.0
#: messages one socket may send within the window
_RATE_LIMIT = 20
_RATE_WINDOW_S = 10.0
_MIME = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")


@dataclass(frozen=True, slots=True)
class ConversationTyping(Event):
    """The customer is typing (``on``) or stopped, shown to the conversation's agents."""

    type: ClassVar[str] = "conversation.typing"
    conversation_id: str
    on: bool


# -- sessions in Redis ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatCustomer:
    """A web chat customer as a resume token names them."""

    customer_ref: str
    account: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    #: identity keys that link them to other channels (checked at hello)
    identities: tuple[tuple[str, str], ...] = ()
    #: the conversation their last message went to, and their customer id
    conversation_id: str | None = None
    customer_id: str | None = None


class ChatStore:
    """Resume tokens (hashed) and customers, with a time to live (blocking Redis calls).

    Their keys are ``storage.keys.Keys.webchat_session`` and ``webchat_customer``.
    """

    def __init__(self, client: Any, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    def token_key(self, token: str) -> str:
        """String with a TTL: ``account|customer_ref`` of a resume token's SHA-256."""
        return self.keys.webchat_session(hashlib.sha256(token.encode()).hexdigest())

    def customer_key(self, customer_ref: str) -> str:
        """String with a TTL: the customer as JSON (``ChatCustomer``)."""
        return self.keys.webchat_customer(customer_ref)

    def resume(self, token: str, account: str, ttl_s: int) -> ChatCustomer | None:
        """The customer of ``token`` on ``account`` (their TTL renewed), if it is valid."""
        raw = self.client.get(self.token_key(token))
        if raw is None:
            return None
        token_account, _, ref = raw.decode().partition("|")
        if token_account != account or not ref:
            return None
        self.client.expire(self.token_key(token), ttl_s)
        record = self.client.get(self.customer_key(ref))
        if record is None:  # the token outlived its record: the same customer, anew
            customer = ChatCustomer(ref, account)
            self.save(customer, ttl_s)
            return customer
        # renewed, not rewritten: a socket of this customer may be saving it meanwhile
        self.client.expire(self.customer_key(ref), ttl_s)
        return _customer(record)

    def create(self, account: str, ttl_s: int) -> tuple[str, ChatCustomer]:
        token = f"wct_{secrets.token_urlsafe(32)}"
        customer = ChatCustomer(f"wc_{secrets.token_urlsafe(12)}", account)
        self.client.set(self.token_key(token), f"{account}|{customer.customer_ref}", ex=ttl_s)
        self.save(customer, ttl_s)
        return token, customer

    def save(self, customer: ChatCustomer, ttl_s: int) -> None:
        record = json.dumps(dataclasses.asdict(customer))
        self.client.set(self.customer_key(customer.customer_ref), record, ex=ttl_s)


def _customer(raw: bytes) -> ChatCustomer:
    data = json.loads(raw)
    data["identities"] = tuple((str(k), str(v)) for k, v in data.get("identities") or ())
    return ChatCustomer(**data)


def _greeted(customer: ChatCustomer, hello: Hello, settings: Mapping[str, str]) -> ChatCustomer:
    """What a hello adds: a name, an e-mail, a phone, and the identity keys they make.

    Keys taken once stay (a page that signed them need not sign them on every visit).
    """
    keys = identities(hello, settings)
    return dataclasses.replace(
        customer,
        name=hello.name or customer.name,
        email=hello.email or customer.email,
        phone=hello.phone or customer.phone,
        identities=tuple(dict.fromkeys((*customer.identities, *keys))),
    )


def _ttl_s(account: Account) -> int:
    return int(_setting(account, "session_ttl_days", DEFAULT_SESSION_TTL_DAYS) * 86400)


def _setting(account: Account, name: str, default: float) -> float:
    try:
        value = float(account.settings.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


# -- one customer socket -------------------------------------------------------------------


class ChatContext:
    """What every customer socket of this server shares."""

    def __init__(self, services: Services, adapters: Mapping[Channel, ChannelAdapter]) -> None:
        self.services = services
        self.ingress = Ingress(services, adapters)
        self.store = ChatStore(services.storage.client, services.storage.keys)
        self.uploads = UploadStore(blob_root(services.config.server.data_dir))
        self.adapters: dict[Channel, WebchatAdapter] = {}
        for channel in CHANNELS:
            adapter = adapters.get(channel)
            if not isinstance(adapter, WebchatAdapter):
                logger.error("no WebchatAdapter for %s in server.channels: replies to its "
                             "customers fail in the outbox", channel.value)  # fmt: skip
                adapter = WebchatAdapter()
            adapter.uploads = self.uploads
            self.adapters[channel] = adapter

    def account(self, account_id: str) -> Account | None:
        account = self.services.catalog.accounts.get(account_id)
        return account if account is not None and account.channel in CHANNELS else None

    def sessions(self, account: Account) -> LiveSessions:
        return self.adapters[account.channel].sessions

    async def session_customer(self, account: Account) -> ChatCustomer | None:
        """The customer whose token the current HTTP request carries (``X-Webchat-Session``)."""
        token = request.headers.get(SESSION_HEADER, "").strip()
        if not token or len(token) > 200:
            return None
        resume = partial(self.store.resume, token, account.account_id, _ttl_s(account))
        return await trio.to_thread.run_sync(resume)

    def agent_name(self, agent_id: str) -> str:
        user = self.services.catalog.users.get(agent_id)
        return (user.name if user is not None else "") or agent_id


class CustomerSocket:
    """One open ``/ws/webchat/{account}`` connection."""

    def __init__(self, chat: ChatContext, account: Account, bridge: Bridge) -> None:
        self.chat = chat
        self.account = account
        self.bridge = bridge
        self.frames = Frames()
        self.customer: ChatCustomer | None = None
        limit = chat.services.config.limits.ws_send_buffer
        self._out, self._queued = trio.open_memory_channel[dict[str, Any]](limit)
        self._overflowed = False
        self._send_lock = trio.Lock()
        self._typing: tuple[bool, float] = (False, 0.0)
        self._recent: collections.deque[float] = collections.deque()
        self._commands: dict[str, Callable[[dict[str, Any]], Any]] = {
            "hello": self._hello,
            "message.send": self._message_send,
            "typing": self._typing_frame,
            "ping": self._ping,
        }

    def offer(self, frame: Mapping[str, Any]) -> bool:
        """Queue a frame for this customer (``LiveSessions``); never waits."""
        try:
            self._out.send_nowait(dict(frame))
        except trio.WouldBlock:
            self._overflowed = True
            self._out.close()  # the writer hangs up: the transcript catches them up
            return False
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return False  # the socket is closing: the transcript shows it on the next visit
        return True

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self._read_frames()
        finally:
            self._out.close()
            self._queued.close()
            if self.customer is not None:
                self.chat.sessions(self.account).detach(self.customer.customer_ref, self)
                if self._typing[0]:  # the agent must not see "typing…" for ever
                    with trio.CancelScope(shield=True, deadline=trio.current_time() + 2):
                        await self._tell_typing(False)

    async def _read_frames(self) -> None:
        while True:
            data = await websocket.receive()
            ref = None
            try:
                frame = self.frames.decode(data)
                ref = frame.get("ref")
                kind = frame["type"]
                handler = self._commands.get(kind)
                if handler is None:
                    raise BadRequest(f"unknown frame type {kind!r}", code="unknown_type")
                if self.customer is None and kind not in ("hello", "ping"):
                    raise BadRequest("say hello first", code="hello_first")
                result = await handler(frame)
                if result is not _ANSWERED:
                    await self._send({"type": "ack", "ref": ref, **({"result": result} if result
                                      is not None else {})})  # fmt: skip
            except FrameError as error:
                await self._send(_error_frame(ref, error.code, error.message))
            except SwitchboardError as error:
                await self._send({"type": "error", "ref": ref, **error.to_dict()})
            except trio.TooSlowError:
                await self._send(_error_frame(ref, "timeout", "no answer in time; send again"))

    async def _send(self, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            await websocket.send(self.frames.encode(frame))

    async def _write(self, shown: frozenset[str]) -> None:
        """Send what agents (and the customer's other tabs) sent, in order."""
        async with self._queued:
            async for frame in self._queued:
                if self._overflowed:
                    break  # behind already: the transcript on reconnect is quicker
                if frame.get("message_id") in shown:
                    continue  # already in the welcome's transcript
                agent = None
                if frame.get("direction") == "out" and "agent" not in frame:
                    agent = await self._agent_of(str(frame.get("message_id")))
                await self._send({**frame, "agent": agent} if agent else frame)
        if self._overflowed:
            reason = "too many messages pending; reconnect to catch up"
            await websocket.close(1008, reason)
            self._nursery.cancel_scope.cancel()

    async def _agent_of(self, message_id: str) -> str | None:
        """The name of the agent who wrote ``message_id`` (from the conversation's log)."""
        cid = self.customer.conversation_id if self.customer is not None else None
        if cid is None:
            return None
        storage = self.chat.services.storage
        entries = await trio.to_thread.run_sync(storage.transcript, cid, -50, -1)
        for entry in entries:
            if entry.get("message_id") == message_id and isinstance(entry.get("agent_id"), str):
                return self.chat.agent_name(entry["agent_id"])
        return None

    # -- frames ------------------------------------------------------------------------------

    async def _ping(self, frame: dict[str, Any]) -> Any:
        del frame
        return {"pong": True}

    async def _hello(self, frame: dict[str, Any]) -> Any:
        if self.customer is not None:
            raise BadRequest("hello was said already on this connection", code="already_greeted")
        hello = read_hello(frame, self.account.settings)
        customer, token, resumed = await trio.to_thread.run_sync(self._open_session, hello)
        self.customer = customer
        # attached before the transcript is read: nothing sent meanwhile is missed
        self.chat.sessions(self.account).attach(customer.customer_ref, self)
        messages = await trio.to_thread.run_sync(self._transcript, customer.conversation_id)
        session = {"token": token, "customer_ref": customer.customer_ref}
        await self._send({"type": "welcome", "ref": frame.get("ref"), "session": session,
                          "resumed": resumed, "messages": messages})  # fmt: skip
        shown = frozenset(str(m["message_id"]) for m in messages)
        self._nursery.start_soon(self._write, shown)
        return _ANSWERED

    def _open_session(self, hello: Hello) -> tuple[ChatCustomer, str, bool]:
        store, account, ttl = self.chat.store, self.account, _ttl_s(self.account)
        found = store.resume(hello.resume, account.account_id, ttl) if hello.resume else None
        if found is not None and hello.resume is not None:
            token, customer, resumed = hello.resume, found, True
        else:
            token, customer = store.create(account.account_id, ttl)
            resumed = False
        greeted = _greeted(customer, hello, account.settings)
        if greeted != customer:
            store.save(greeted, ttl)
        return greeted, token, resumed

    def _transcript(self, conversation_id: str | None) -> list[dict[str, Any]]:
        if conversation_id is None:
            return []
        storage = self.chat.services.storage
        state = storage.conversation(conversation_id)
        if state is None or state.status is ConversationStatus.RESOLVED:
            return []  # the next message opens a new conversation
        return transcript_messages(storage.transcript(conversation_id), self.chat.agent_name)

    async def _message_send(self, frame: dict[str, Any]) -> Any:
        customer = self._need_customer()
        self._rate_limit()
        client_id = client_id_of(frame)
        content = customer_content(frame.get("content")).to_wire()
        media_id = content.get("media_id")
        if isinstance(media_id, str):
            content = await self._uploaded(media_id, content.get("caption"))
        pid = provider_message_id(customer.customer_ref, client_id)
        at = time.time()
        inbound = Inbound(
            channel=self.account.channel,
            account=self.account.account_id,
            sender=customer.customer_ref,
            provider_message_id=pid,
            timestamp=at,
            content=content,
            identities=customer.identities,
            profile_name=customer.name,
            workspace=self.account.workspace,
        )
        # A customer who leaves now does not cut the written message off from routing (a
        # resend would be a repeat): the write's completion hands it to the directory.
        routed: list[TrioFuture[Any]] = []
        try:
            fresh = await self.chat.ingress.accept([inbound], route=partial(self._deliver, routed))
        except WebhookRejected as rejected:
            MESSAGES.labels("storage_unavailable").inc()
            raise FrameError(rejected.code, rejected.message) from None
        result = {"client_id": client_id, "message_id": pid, "duplicate": not fresh}
        await self._send({"type": "ack", "ref": frame.get("ref"), "result": result})
        MESSAGES.labels("duplicate" if not fresh else "accepted").inc()
        if fresh:  # the other tabs show it too
            echo = {"type": "message", "message_id": pid, "client_id": client_id,
                    "direction": "in", "content": content, "at": at}  # fmt: skip
            self.chat.sessions(self.account).push(customer.customer_ref, echo, skip=self)
        for answer in routed:
            await self._learn_conversation(answer)
        return _ANSWERED

    def _deliver(self, routed: list[TrioFuture[Any]], message: Inbound) -> None:
        """``routing.deliver``, asking: the directory's answer names the conversation
        (called by the write's completion, on the storage writer's thread)."""
        future: TrioFuture[Any] = self.bridge.future()
        routed.append(future)
        self.chat.services.routing.directory.ask_into(message, future)

    async def _learn_conversation(self, answer: TrioFuture[Any]) -> None:
        try:
            routed = await answer.wait(timeout=_ASK_TIMEOUT_S)
        except Exception as error:  # routed or not, it is written: recovery delivers it
            logger.warning("webchat: the directory did not answer: %r", error)
            return  # we learn the conversation with the next message
        customer = self.customer
        if not isinstance(routed, dict) or customer is None:
            return  # held while an earlier conversation closes (a rare race)
        cid, customer_id = routed.get("conversation_id"), routed.get("customer_id")
        if (cid, customer_id) == (customer.conversation_id, customer.customer_id):
            return
        for tab in self.chat.sessions(self.account).sockets(customer.customer_ref):
            if isinstance(tab, CustomerSocket) and tab.customer is not None:  # the other tabs
                tab.customer = dataclasses.replace(
                    tab.customer, conversation_id=cid, customer_id=customer_id
                )
        self.customer = dataclasses.replace(customer, conversation_id=cid, customer_id=customer_id)
        ttl = _ttl_s(self.account)
        await trio.to_thread.run_sync(self.chat.store.save, self.customer, ttl)

    async def _uploaded(self, media_id: str, caption: object) -> dict[str, Any]:
        """The content of an upload of this customer's, from what the server recorded."""
        upload = await trio.to_thread.run_sync(self.chat.uploads.find, media_id)
        customer = self._need_customer()
        if upload is None or (upload.account, upload.customer_ref) != (
            self.account.account_id, customer.customer_ref
        ):  # fmt: skip
            raise FrameError("unknown_upload", f"media_id: no upload {media_id} of yours")
        return content_from_wire(upload.content(caption if isinstance(caption, str) else None)
                                 ).to_wire()  # fmt: skip

    async def _typing_frame(self, frame: dict[str, Any]) -> Any:
        on = frame.get("on")
        if not isinstance(on, bool):
            raise BadRequest("on must be true or false", code="invalid_field")
        was, at = self._typing
        now = trio.current_time()
        if on == was and (not on or now - at < _TYPING_REPEAT_S):
            return {"forwarded": 0}
        self._typing = (on, now)
        return {"forwarded": await self._tell_typing(on)}

    async def _tell_typing(self, on: bool) -> int:
        """Show the customer's typing to the conversation's agents; on how many sockets."""
        cid = self.customer.conversation_id if self.customer is not None else None
        if cid is None:
            return 0
        # the conversation actor, not storage: its participants right now (a snapshot in
        # storage may lag the assignment the agent has already been told of)
        address = self.chat.services.routing.conversations.get(cid)
        if address is None:
            return 0
        try:
            state = await Bridge.current().ask(address, Describe(), timeout=5.0)
        except (trio.TooSlowError, SwitchboardError):
            return 0
        if state["status"] == ConversationStatus.RESOLVED.value:
            return 0
        sinks = self.chat.services.routing.agent_sinks
        event = ConversationTyping(cid, on)
        pushed = 0
        for agent_id in {state["agent_id"], *state["invited"]} - {None}:
            for sink in tuple(sinks.get(str(agent_id), ())):
                sink.push(event)
                pushed += 1
        return pushed

    def _rate_limit(self) -> None:
        """A person types a few messages a second at most; a script flooding agents stops."""
        now, recent = trio.current_time(), self._recent
        while recent and recent[0] <= now - _RATE_WINDOW_S:
            recent.popleft()
        if len(recent) >= _RATE_LIMIT:
            MESSAGES.labels("rate_limited").inc()
            wait = f"at most {_RATE_LIMIT} messages in {_RATE_WINDOW_S:g} s; wait a moment"
            raise FrameError("rate_limited", wait)
        recent.append(now)

    def _need_customer(self) -> ChatCustomer:
        if self.customer is None:
            raise BadRequest("say hello first", code="hello_first")
        return self.customer


_ANSWERED = object()


def _error_frame(ref: Any, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "ref": ref, "code": code, "message": message}


# -- HTTP: uploads, the widget, the demo page ------------------------------------------------


def _json_error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = json.dumps({"error": {"code": code, "message": message}})
    return Response(body, status=status, content_type="application/json",
                    headers=dict(headers or {}))  # fmt: skip


def _allowed_origins(account: Account | None) -> list[str]:
    raw = account.settings.get("allowed_origins", "") if account is not None else ""
    return [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]


def _origin_allowed(account: Account | None, origin: str | None, host: str) -> bool:
    """Pages of other sites may not use the chat when the account lists its origins.

    Native apps send no ``Origin`` (and any script could forge one): this guards against
    other web pages embedding the chat, not against clients of our own protocol.  The
    server's own pages (the demo page) are always allowed.
    """
    allowed = _allowed_origins(account)
    if not allowed or origin is None:
        return True
    return origin in allowed or origin.partition("://")[2] == host


def _cors(account: Account | None) -> dict[str, str]:
    """Widgets live on the business's site: let its pages call us (no cookies involved)."""
    origin = request.headers.get("Origin")
    headers = {"Access-Control-Allow-Headers": f"{SESSION_HEADER}, Content-Type",
               "Access-Control-Allow-Methods": "GET, POST, OPTIONS", "Vary": "Origin"}  # fmt: skip
    if not _allowed_origins(account):
        headers["Access-Control-Allow-Origin"] = "*"
    elif origin is not None and _origin_allowed(account, origin, request.host):
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def _too_large(limit: int, cors: Mapping[str, str]) -> Response:
    # a body refused unread leaves the connection unusable: the client must not reuse it
    return _json_error(413, "too_large", f"files up to {limit} bytes",
                       {**cors, "Connection": "close"})  # fmt: skip


def _no_session(cors: Mapping[str, str]) -> Response:
    return _json_error(401, "bad_session", f"send the session token in {SESSION_HEADER}", cors)


def _upload_routes(bp: Blueprint, chat: ChatContext) -> None:
    """``POST /webchat/{account}/uploads`` and the customer's own ``GET`` of an upload."""

    @bp.route("/webchat/<account_id>/uploads", methods=["OPTIONS"])
    @bp.route("/webchat/<account_id>/uploads/<media_id>", methods=["OPTIONS"])
    async def preflight(account_id: str, media_id: str | None = None) -> Response:
        del media_id
        return Response(b"", status=204, headers=_cors(chat.account(account_id)))

    @bp.post("/webchat/<account_id>/uploads")
    async def upload(account_id: str) -> Response:
        account = chat.account(account_id)
        cors = _cors(account)
        if account is None:
            await request.get_data(cache=False)
            return _json_error(404, "unknown_account", f"no web chat {account_id!r}", cors)
        server_limit = current_app.config["MAX_CONTENT_LENGTH"] or DEFAULT_UPLOAD_MAX_BYTES
        limit = min(int(_setting(account, "upload_max_bytes", DEFAULT_UPLOAD_MAX_BYTES)),
                    int(server_limit))  # fmt: skip
        length = request.content_length
        if length is not None and length > limit + _MULTIPART_SLACK:
            return _too_large(limit, cors)
        customer = await chat.session_customer(account)
        if customer is None:
            await request.get_data(cache=False)
            return _no_session(cors)
        try:
            files = await request.files
        except RequestEntityTooLarge:
            return _too_large(limit, cors)
        file = files.get("file")
        if file is None:
            return _json_error(400, "missing_file", "send the file as the form field 'file'", cors)
        mime = (file.mimetype or "").lower()
        mime = mime if _MIME.match(mime) else "application/octet-stream"
        save = partial(
            chat.uploads.save, file.stream, account=account.account_id,
            customer_ref=customer.customer_ref, filename=file.filename or "file",
            mime_type=mime, limit=limit,
        )  # fmt: skip
        try:
            kept: Upload = await trio.to_thread.run_sync(save)
        except UploadTooLarge:
            return _too_large(limit, cors)
        except OSError as error:
            logger.error("webchat upload not kept: %s", error)
            message = "this server cannot keep uploaded files: its data directory is not writable"
            return _json_error(501, "uploads_unavailable", message, cors)
        finally:
            file.close()
        body = {"upload": {**dataclasses.asdict(kept), "kind": kept.kind},
                "content": kept.content()}  # fmt: skip
        return Response(json.dumps(body), status=201, content_type="application/json",
                        headers=cors)  # fmt: skip


def _download_route(bp: Blueprint, chat: ChatContext) -> None:
    """A customer's own upload, for the widget to show (agents use the REST media route)."""

    @bp.get("/webchat/<account_id>/uploads/<media_id>")
    async def download(account_id: str, media_id: str) -> Response:
        account = chat.account(account_id)
        cors = _cors(account)
        if account is None:
            return _json_error(404, "unknown_account", f"no web chat {account_id!r}", cors)
        customer = await chat.session_customer(account)
        if customer is None:
            return _no_session(cors)
        found = await trio.to_thread.run_sync(chat.uploads.find, media_id)
        if found is None or found.customer_ref != customer.customer_ref:
            return _json_error(404, "not_found", f"no upload {media_id} of yours", cors)
        path = chat.uploads.path(found)

        # served from our origin: never as something a browser would run
        disposition = "inline" if found.inline else "attachment"
        headers = {**cors, "X-Content-Type-Options": "nosniff",
                   "Content-Security-Policy": "sandbox; default-src 'none'",
                   "Content-Disposition": f'{disposition}; filename="{found.filename}"',
                   "Content-Length": str(found.size),
                   "Cache-Control": "private, max-age=300"}  # fmt: skip
        mime = found.mime_type if found.inline else "application/octet-stream"
        return Response(read_chunks(path), status=200, content_type=mime, headers=headers)


#: room for the multipart envelope around an uploaded file
_MULTIPART_SLACK = 16 * 1024
_PAGE_CSP = "; ".join((
    "default-src 'self'", "connect-src 'self' ws: wss:", "img-src 'self' blob: data: https:",
    "media-src 'self' blob: https:", "style-src 'self' 'unsafe-inline'",
))  # fmt: skip


def _page_routes(bp: Blueprint, chat: ChatContext) -> None:
    """The widget script and a demo page that embeds it (static files, no build step)."""

    @bp.get("/webchat/widget.js")
    async def widget() -> Response:
        data = await trio.Path(STATIC / "widget.js").read_bytes()
        headers = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}
        return Response(data, status=200, content_type="text/javascript; charset=utf-8",
                        headers=headers)  # fmt: skip

    @bp.get("/webchat/<account_id>")
    async def page(account_id: str) -> Response:
        if chat.account(account_id) is None:
            return _json_error(404, "unknown_account", f"no web chat {account_id!r}")
        data = await trio.Path(STATIC / "index.html").read_bytes()
        headers = {"Content-Security-Policy": _PAGE_CSP, "X-Content-Type-Options": "nosniff"}
        return Response(data, status=200, content_type="text/html; charset=utf-8",
                        headers=headers)  # fmt: skip


def webchat_blueprint(services: Services, adapters: Mapping[Channel, ChannelAdapter]) -> Blueprint:
    """The customer socket, uploads, the widget and its demo page."""
    bp = Blueprint("webchat", __name__)
    chat = ChatContext(services, adapters)

    @bp.websocket("/ws/webchat/<account_id>")
    async def customer_socket(account_id: str) -> None:
        account = chat.account(account_id)
        if account is None:
            abort(404)
        if not _origin_allowed(account, websocket.headers.get("Origin"), websocket.host):
            abort(403)
        await websocket.accept()
        CONNECTIONS.labels("webchat").inc()
        try:
            await CustomerSocket(chat, account, Bridge.current()).run()
        finally:
            CONNECTIONS.labels("webchat").dec()

    _upload_routes(bp, chat)
    _download_route(bp, chat)
    _page_routes(bp, chat)
    return bp
