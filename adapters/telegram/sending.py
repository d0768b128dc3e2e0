"""Moved to ``adapters.http`` (it was never Telegram's alone); re-exported for old imports.

Provider-named errors are ``ProviderError(..., provider=...)`` / ``adapters.http.Provider``.
"""

from __future__ import annotations

from adapters.http import (
    NOT_SENT_FINAL,
    NOT_SENT_RETRY,
    OnceByKey,
    retry_after_header,
    retry_status,
)

__all__ = ["NOT_SENT_FINAL", "NOT_SENT_RETRY", "OnceByKey", "retry_after_header", "retry_status"]
