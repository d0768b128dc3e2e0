"""Viber webhook security: every callback is signed with the bot's auth token.

``X-Viber-Content-Signature`` is ``hex(HMAC-SHA256(auth_token, raw_body))``.  The HMAC is
computed over the exact bytes received — re-serialising parsed JSON changes them — so
the HTTP layer passes the raw body here *before* parsing it.  The compare is constant
time and fails closed: anything missing, malformed, or checked against an empty token
is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import string

__all__ = ["SIGNATURE_HEADER", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-Viber-Content-Signature"
_HEX = frozenset(string.hexdigits)


def sign(auth_token: str, raw_body: bytes) -> str:
    """The ``X-Viber-Content-Signature`` Viber would send for ``raw_body``.

    For load tests and tests that play Viber's part.
    """
    return hmac.new(auth_token.encode(), raw_body, hashlib.sha256).hexdigest()


def verify_signature(auth_token: str, raw_body: bytes, header: str | None) -> bool:
    """True only when ``header`` is Viber's signature of exactly ``raw_body``.

    An empty ``auth_token`` is a configuration mistake, not "no check": it refuses
    everything, as anyone could sign with an empty key.
    """
    if not auth_token or header is None:
        return False
    digest = header.strip()
    if len(digest) != 64 or not _HEX.issuperset(digest):
        return False
    return hmac.compare_digest(sign(auth_token, raw_body).encode(), digest.lower().encode())
