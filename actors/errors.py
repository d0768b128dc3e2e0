"""Errors that carry meaning: each maps to an HTTP status and a websocket error code.

Actors raise these when a command is refused; the server turns them into
``{"error": {"code", "message"}}`` (REST) or ``{"type": "error", "code", ...}``
(websockets).  Anything else escaping a handler is a bug and is counted as one.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "InvalidTransition",
    "NotFound",
    "SwitchboardError",
    "Unavailable",
]


class SwitchboardError(Exception):
    """A refusal a client can understand and act on."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class BadRequest(SwitchboardError):
    """The request is malformed or a required field is missing."""

    status = 400
    code = "bad_request"


class Forbidden(SwitchboardError):
    """The caller may not do this (e.g. an agent acting on a colleague's chat)."""

    status = 403
    code = "forbidden"


class NotFound(SwitchboardError):
    """No such object, or not one the caller may see."""

    status = 404
    code = "not_found"


class Conflict(SwitchboardError):
    """The object exists but its current state refuses the command."""

    status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    """A conversation lifecycle step that its current status does not allow."""

    code = "invalid_transition"


class Unavailable(SwitchboardError):
    """The target cannot take the command right now (e.g. an agent at capacity)."""

    status = 409
    code = "unavailable"
