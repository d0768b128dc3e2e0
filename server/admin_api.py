"""REST ``/api/v1`` administration: CRUD of workspace objects, login, OpenAPI (being written)."""

from __future__ import annotations

from quart import Blueprint

from server.services import Services

__all__ = ["admin_blueprint"]


def admin_blueprint(services: Services) -> Blueprint:
    del services
    return Blueprint("admin_api", __name__, url_prefix="/api/v1")
