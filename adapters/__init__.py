"""Channel adapters: provider payloads (WhatsApp, Messenger, Telegram, ...) in and out.

Each adapter parses a provider's webhook into the normalized message vocabulary and
renders outbound content back into the provider's format.  Parsing is pure: no sockets,
no actors, no storage.
"""

from __future__ import annotations

__all__: list[str] = []
