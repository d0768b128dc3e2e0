"""REST ``/api/v1``: live state, conversations and their messages, customer history.

How it works: handlers authenticate (``server.auth``), then read live facts by
asking the actors that own them (through the trio bridge, never blocking the
loop) or archived ones from storage's indexes (in a worker thread).  Every
answer is scoped to the caller's workspace; an agent sees only conversations it
handled or was invited to.  Errors are ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import trio
from quart import Blueprint, Response, request

from actors.errors import BadRequest, NotFound, SwitchboardError
from actors.routing.model import Channel, ConversationState
from adapters.base import ChannelAdapter, MediaSource
from adapters.errors import ProviderError
from server.auth import current_user, error_body, require, sees_all
from server.catalog import Role, User
from server.live import snapshot
from server.services import Services
from storage.store import DIMENSIONS

__all__ = ["api_blueprint", "conversation_wire"]


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

    @bp.get("/conversations/<conversation_id>/media/<media_id>")
    @require(catalog)
    async def media(conversation_id: str, media_id: str) -> Any:
        state = await load(conversation_id)
        entries = await trio.to_thread.run_sync(storage.transcript, conversation_id)
        if not any(_mentions_media(e, media_id) for e in entries):
            raise NotFound(f"no media {media_id} in conversation {conversation_id}")
        account = catalog.accounts.get(state.account)
        source: object = channels.get(state.channel)
        if account is None or not isinstance(source, MediaSource):
            raise NotFound(f"media of {state.channel.value} is not kept by its provider")
        return await _stream_media(source, media_id, account.settings)

    _customer_routes(bp, services)
    return bp


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


def _mentions_media(entry: Mapping[str, Any], media_id: str) -> bool:
    content = entry.get("content")
    return isinstance(content, dict) and content.get("media_id") == media_id


async def _stream_media(source: MediaSource, media_id: str, settings: Mapping[str, str]) -> Any:
    """Stream the provider's file to the agent, chunk by chunk, never holding it whole."""
    http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
    opened = source.media(media_id, settings, http)
    try:
        stream = await opened.__aenter__()
    except ProviderError as error:
        await http.aclose()
        raise NotFound(f"media {media_id}: {error}") from None

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in stream.chunks:
                yield chunk
        finally:
            await opened.__aexit__(None, None, None)
            await http.aclose()

    headers = {"Cache-Control": "private, max-age=300"}
    if stream.size is not None:
        headers["Content-Length"] = str(stream.size)
    return Response(body(), status=200, content_type=stream.mime_type, headers=headers)


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
