"""REST ``/api/v1``: live state, conversations and their messages, customer history.

How it works: handlers authenticate (``server.auth``), then read live facts by
asking the actors that own them (through the trio bridge, never blocking the
loop) or archived ones from storage's indexes (in a worker thread).  Every
answer is scoped to the caller's workspace; an agent sees only conversations it
handled or was invited to.  Errors are ``{"error": {"code", "message"}}``.

Media (``/conversations/{id}/media/{media_id}``): the id must name a media object of the
conversation's own messages (or an e-mail's ``attachments``); the bytes then come, never
held whole, from

1. the blob store (``storage.blobs``) when the id is a file kept on disk for this
   account — web chat uploads, e-mail attachments posted inline;
2. the URL the provider sent, when the object came *in* and the channel's adapter is a
   ``LinkMediaSource`` (Messenger, Instagram, Viber, Mailgun's stored mail): only URLs
   of this conversation's inbound messages, and only hosts the account allows
   (``adapters.links``) — never one a client names;
3. the provider's media API (a ``MediaSource``: WhatsApp, Telegram).

Answers: ``404 not_found`` (no such media in the conversation), ``404 media_gone`` (the
provider no longer has it: links expire), ``403 media_host_not_allowed``, ``502
provider_error`` / ``media_too_large``.  Files are served with ``nosniff``, a sandboxing
CSP and ``Content-Disposition`` (inline only for types a browser shows safely).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import trio
from quart import Blueprint, Response, current_app, request

from actors.errors import BadRequest, Forbidden, NotFound, SwitchboardError
from actors.routing.model import Channel, ConversationState
from adapters.base import ChannelAdapter, LinkMediaSource, MediaSource, MediaStream
from adapters.errors import ProviderError
from adapters.links import MediaGone, MediaRefused, MediaTooLarge, clean_mime
from adapters.webchat import INLINE_TYPES
from server.auth import current_user, error_body, require, sees_all
from server.catalog import Role, User
from server.live import snapshot
from server.services import Services
from storage.blobs import BlobStore, blob_root, is_blob_id, read_chunks
from storage.store import DIMENSIONS

__all__ = ["api_blueprint", "conversation_wire"]

logger = logging.getLogger(__name__)


class BadGateway(SwitchboardError):
    """The provider failed to hand over what was asked of it."""

    status = 502
    code = "provider_error"


def conversation_wire(state: ConversationState) -> dict[str, Any]:
    return {
        "conversation_id": state.conversation_id,
        "workspace": state.workspace,
        "customer_id": state.customer_id,
        "channel": state.channel.value,
        "account": state.account,
        "queue_id": state.queue_id,
        "status": state.status.value,
        "agent_id": state.agent_id,
        "parked_by": state.parked_by,
        "invited": sorted(state.invited),
        "topic": state.topic,
        "priority": state.priority,
        "created_at": state.created_at,
        "resolved_at": state.resolved_at,
        "messages": state.messages,
        "previous_conversation_id": state.previous_conversation_id,
    }


def _may_see(user: User, state: ConversationState) -> bool:
    if state.workspace != user.workspace:
        return False
    if sees_all(user):
        return True
    return user.user_id in {state.agent_id, state.parked_by, *state.invited}


def api_blueprint(services: Services, channels: Mapping[Channel, ChannelAdapter]) -> Blueprint:
    bp = Blueprint("api", __name__, url_prefix="/api/v1")
    catalog = services.catalog
    storage = services.storage

    @bp.errorhandler(SwitchboardError)
    async def refused(error: SwitchboardError) -> Any:
        return error_body(error)

    async def load(conversation_id: str) -> ConversationState:
        state = await trio.to_thread.run_sync(storage.conversation, conversation_id)
        if state is None or not _may_see(current_user(), state):
            raise NotFound(f"no conversation {conversation_id}")
        return state

    @bp.get("/live")
    @require(catalog, Role.SUPERVISOR)
    async def live() -> Any:
        return await snapshot(services, current_user().workspace)

    @bp.get("/conversations")
    @require(catalog)
    async def conversations() -> Any:
        user = current_user()
        args = request.args
        filters = {d: args[d] for d in DIMENSIONS if args.get(d)}
        if not sees_all(user):
            if filters.get("agent", user.user_id) != user.user_id:
                raise NotFound("agents see their own conversations only")
            filters["agent"] = user.user_id
        since, until = _number(args, "since"), _number(args, "until")
        offset = int(_number(args, "offset") or 0)
        limit = int(_number(args, "limit") or 50)
        if not 1 <= limit <= 500:
            raise BadRequest("limit must be between 1 and 500", code="invalid_limit")
        page = await trio.to_thread.run_sync(
            lambda: storage.archive(
                user.workspace, filters=filters, since=since, until=until,
                offset=offset, limit=limit,
            )
        )  # fmt: skip
        return {
            "conversations": [conversation_wire(s) for s in page.conversations],
            "total": page.total,
            "offset": page.offset,
            "limit": page.limit,
        }

    @bp.get("/conversations/<conversation_id>")
    @require(catalog)
    async def conversation(conversation_id: str) -> Any:
        return conversation_wire(await load(conversation_id))

    @bp.get("/conversations/<conversation_id>/messages")
    @require(catalog)
    async def messages(conversation_id: str) -> Any:
        await load(conversation_id)
        entries = await trio.to_thread.run_sync(storage.transcript, conversation_id)
        return {"conversation_id": conversation_id, "entries": entries}

    _media_route(bp, services, channels, load)
    _customer_routes(bp, services)
    return bp


def _media_route(
    bp: Blueprint,
    services: Services,
    channels: Mapping[Channel, ChannelAdapter],
    load: Callable[[str], Awaitable[ConversationState]],
) -> None:
    """``GET /conversations/{id}/media/{media_id}`` (see the module's docstring)."""
    catalog = services.catalog
    storage = services.storage
    blobs = BlobStore(blob_root(services.config.server.data_dir))
    own = _OwnHttp()

    @bp.after_app_serving
    async def close_http() -> None:
        await own.aclose()

    def http_client() -> httpx.AsyncClient:
        """The server's provider client (``server.app.serve``), else one of our own.

        Never one per request: adapters keep their provider clients bound to the HTTP
        client they were first given, and the outbox sends through them too.
        """
        shared = current_app.config.get("SWITCHBOARD_HTTP")
        if isinstance(shared, httpx.AsyncClient) and not shared.is_closed:
            return shared
        return own.get()

    @bp.get("/conversations/<conversation_id>/media/<media_id>")
    @require(catalog)
    async def media(conversation_id: str, media_id: str) -> Any:
        state = await load(conversation_id)
        entries = await trio.to_thread.run_sync(storage.transcript, conversation_id)
        found = _find_media(entries, media_id)
        if found is None:
            raise NotFound(f"no media {media_id} in conversation {conversation_id}")
        wire, inbound = found
        filename = wire.get("filename") if isinstance(wire.get("filename"), str) else None
        kept = await trio.to_thread.run_sync(_kept_blob, blobs, media_id)
        if kept is not None:
            record, path = kept
            if record.get("account") != state.account:  # another account's file, named by an agent
                raise NotFound(f"no media {media_id} in conversation {conversation_id}")
            if path is None:
                raise NotFound(f"media {media_id}: the file is gone", code="media_gone")
            return _blob_response(record, path, filename)
        account = catalog.accounts.get(state.account)
        source: object = channels.get(state.channel)
        url, hint = wire.get("url"), wire.get("mime_type")
        if account is None:
            raise NotFound(f"no account {state.account} for media {media_id}")
        if inbound and isinstance(source, LinkMediaSource) and isinstance(url, str) and url:
            link_source, settings = source, account.settings

            def by_link(http: httpx.AsyncClient) -> AbstractAsyncContextManager[MediaStream]:
                mime = hint if isinstance(hint, str) else None
                return link_source.media_link(url, settings, http, mime_type=mime)

            return await _stream_media(by_link, http_client(), media_id, filename)
        if isinstance(source, MediaSource):
            id_source, settings = source, account.settings

            def by_id(http: httpx.AsyncClient) -> AbstractAsyncContextManager[MediaStream]:
                return id_source.media(media_id, settings, http)

            return await _stream_media(by_id, http_client(), media_id, filename)
        raise NotFound(f"media {media_id}: {state.channel.value} keeps no such file")


def _customer_routes(bp: Blueprint, services: Services) -> None:
    """A customer's profile and history: for whoever serves (or served) the customer."""
    catalog = services.catalog
    storage = services.storage

    async def visible_customer(customer_id: str) -> list[ConversationState]:
        """The customer's conversations in the caller's workspace, if the caller may see them."""
        user = current_user()
        states = await trio.to_thread.run_sync(storage.history, user.workspace, customer_id)
        mine = [s for s in states if s.workspace == user.workspace]
        if not mine or not any(_may_see(user, s) for s in mine):
            raise NotFound(f"no customer {customer_id}")
        return mine

    @bp.get("/customers/<customer_id>")
    @require(catalog)
    async def customer(customer_id: str) -> Any:
        await visible_customer(customer_id)
        record = await trio.to_thread.run_sync(storage.customer, customer_id)
        profile = await trio.to_thread.run_sync(storage.profile, customer_id)
        identities = [] if record is None else [list(k) for k in record.identities]
        return {"customer_id": customer_id, "identities": identities, "profile": profile}

    @bp.patch("/customers/<customer_id>")
    @require(catalog)
    async def edit_customer(customer_id: str) -> Any:
        await visible_customer(customer_id)
        body = await request.get_json(silent=True)
        changes = _profile_changes(body)
        profile = await trio.to_thread.run_sync(storage.update_profile, customer_id, changes)
        return {"customer_id": customer_id, "profile": profile}

    @bp.get("/customers/<customer_id>/conversations")
    @require(catalog)
    async def history(customer_id: str) -> Any:
        # an agent who serves (or served) this customer sees all of their history
        mine = await visible_customer(customer_id)
        return {"customer_id": customer_id, "conversations": [conversation_wire(s) for s in mine]}


_PROFILE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "notes": str,
    "favourite": bool,
    "spam": bool,
}


def _profile_changes(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not body:
        raise BadRequest("send a JSON object of profile fields", code="invalid_body")
    for name, value in body.items():
        kind = _PROFILE_FIELDS.get(name)
        if kind is None:
            known = ", ".join(_PROFILE_FIELDS)
            raise BadRequest(f"{name}: not a profile field ({known})", code="invalid_field")
        if value is not None and not isinstance(value, kind):
            raise BadRequest(f"{name}: must be {kind.__name__} or null", code="invalid_field")  # type: ignore[union-attr]
        if isinstance(value, str) and len(value) > 10_000:
            raise BadRequest(f"{name}: at most 10000 characters", code="invalid_field")
    return dict(body)


def _find_media(entries: list[Any], media_id: str) -> tuple[Mapping[str, Any], bool] | None:
    """The media object named ``media_id`` in the conversation's messages, and whether it
    came in (a customer's message: the provider wrote it); inbound ones first."""
    outbound = None
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("type", "message") != "message":
            continue
        inbound = entry.get("direction") == "in"
        for wire in _media_objects(entry.get("content")):
            if wire.get("media_id") == media_id:
                if inbound:
                    return wire, True
                outbound = outbound or (wire, False)
    return outbound


def _media_objects(content: object) -> Iterator[Mapping[str, Any]]:
    """A message's content and, for e-mail, the files beside it (``attachments``)."""
    if not isinstance(content, dict):
        return
    yield content
    attachments = content.get("attachments")
    if isinstance(attachments, list):
        yield from (a for a in attachments if isinstance(a, dict))


def _kept_blob(blobs: BlobStore, media_id: str) -> tuple[dict[str, Any], Path | None] | None:
    """The record of the blob ``media_id`` and its file (None if gone), when the server
    keeps one of that id (blocking)."""
    if not is_blob_id(media_id):
        return None
    record = blobs.record(media_id)
    if record is None:
        return None
    path = blobs.path(media_id)
    return record, (path if path.is_file() else None)


def _blob_response(record: Mapping[str, Any], path: Path, filename: str | None) -> Response:
    name = record.get("filename") if isinstance(record.get("filename"), str) else filename
    mime = clean_mime(record.get("mime_type") if isinstance(record.get("mime_type"), str) else None)
    size = record.get("size")
    headers = _media_headers(mime, name, size if isinstance(size, int) else None)
    return Response(read_chunks(path), status=200, content_type=mime, headers=headers)


def _media_headers(mime: str, filename: str | None, size: int | None) -> dict[str, str]:
    """Served from our origin: never as something a browser would run."""
    inline = mime.split(";", 1)[0].strip().lower() in INLINE_TYPES
    disposition = "inline" if inline else "attachment"
    if filename:
        ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
                             for c in filename)[:200]  # fmt: skip
        disposition += f'; filename="{ascii_name}"'
        if ascii_name != filename:
            disposition += f"; filename*=UTF-8''{quote(filename[:200], safe='')}"
    headers = {
        "Cache-Control": "private, max-age=300",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Content-Disposition": disposition,
    }
    if size is not None:
        headers["Content-Length"] = str(size)
    return headers


def _media_error(media_id: str, error: ProviderError) -> SwitchboardError:
    """What the agent is told when the provider did not hand the file over."""
    text = f"media {media_id}: {error}"
    if isinstance(error, MediaRefused):
        return Forbidden(text, code="media_host_not_allowed")
    if isinstance(error, MediaTooLarge):
        return BadGateway(text, code="media_too_large")
    if isinstance(error, MediaGone) or error.http_status in (400, 403, 404, 410):
        return NotFound(text, code="media_gone")
    if error.http_status is None and error.permanent:
        return NotFound(text, code="media_gone")  # the provider's word: it has no such file
    return BadGateway(text)


class _OwnHttp:
    """An HTTP client for provider calls, made on first use and closed with the app."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    def get(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


async def _stream_media(
    open_media: Callable[[httpx.AsyncClient], AbstractAsyncContextManager[MediaStream]],
    http: httpx.AsyncClient,
    media_id: str,
    filename: str | None,
) -> Any:
    """Stream the provider's file to the agent, chunk by chunk, never holding it whole."""
    opened = open_media(http)
    try:
        stream = await opened.__aenter__()
    except ProviderError as error:
        raise _media_error(media_id, error) from None
    except httpx.HTTPError as error:
        message = f"media {media_id}: the provider could not be reached ({type(error).__name__})"
        raise BadGateway(message) from None

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in stream.chunks:
                yield chunk
        except (ProviderError, httpx.HTTPError) as error:
            # the answer has begun: all we can do is cut it off, so it is not taken whole
            logger.warning("media %s cut off: %s", media_id, error)
            raise
        finally:
            with trio.CancelScope(shield=True):
                await opened.__aexit__(None, None, None)

    mime = clean_mime(stream.mime_type)
    headers = _media_headers(mime, filename, stream.size)
    return Response(body(), status=200, content_type=mime, headers=headers)


def _number(args: Any, name: str) -> float | None:
    raw = args.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number", code="invalid_query") from None
    if not math.isfinite(value) or value < 0:
        raise BadRequest(f"{name} must be a finite number ≥ 0", code="invalid_query")
    return value
