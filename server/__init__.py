"""The outside world's way in: HTTP, webhooks, websockets and the bridge to the actors.

Only this package touches sockets.  ``server.bridge`` is the one place where actor threads
and the trio event loop meet; ``server.app`` builds the quart-trio application and serves
it with hypercorn.
"""

from __future__ import annotations

__all__: list[str] = []
