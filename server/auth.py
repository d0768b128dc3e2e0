"""Who is calling: bearer tokens to users, roles, and the workspace they may see.

Every REST request carries ``Authorization: Bearer <token>``.  The token's user
fixes the workspace: objects of other workspaces do not exist for it (``404``,
never ``403``, so ids cannot be probed).  Roles rank admin > supervisor > agent;
an agent further sees only its own conversations and those it was invited to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from quart import g, request

from actors.errors import SwitchboardError
from server.catalog import Catalog, Role, User

__all__ = ["Unauthorized", "current_user", "require"]

P = ParamSpec("P")
R = TypeVar("R")

_RANK = {Role.AGENT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}


class Unauthorized(SwitchboardError):
    status = 401
    code = "unauthorized"


class Forbidden(SwitchboardError):
    status = 403
    code = "forbidden"


def authenticate(catalog: Catalog) -> User:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        raise Unauthorized("send Authorization: Bearer <token>")
    user = catalog.user_for_token(header[7:].strip())
    if user is None:
        raise Unauthorized("unknown or revoked token")
    return user


def current_user() -> User:
    user: User = g.user
    return user


def require(
    catalog: Catalog, role: Role = Role.AGENT
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate a route: authenticate, check the role, keep the user in ``g.user``."""

    def decorate(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @wraps(handler)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            user = authenticate(catalog)
            if _RANK[user.role] < _RANK[role]:
                raise Forbidden(f"needs the {role.value} role")
            g.user = user
            return await handler(*args, **kwargs)

        return wrapper

    return decorate


def sees_all(user: User) -> bool:
    return user.role is not Role.AGENT


def error_body(error: SwitchboardError) -> tuple[dict[str, Any], int]:
    return {"error": error.to_dict()}, error.status
