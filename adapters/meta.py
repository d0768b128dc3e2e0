"""Meta webhook security, shared by WhatsApp, Messenger and Instagram.

Meta signs every webhook POST with the app secret: ``X-Hub-Signature-256`` is
``"sha256=" + hex(HMAC-SHA256(app_secret, raw_body))``.  The HMAC must be computed over
the exact bytes received — re-serialising parsed JSON changes them — so the HTTP layer
passes the raw body here *before* parsing it.  Subscribing a webhook URL is a GET with
``hub.mode=subscribe``, ``hub.verify_token`` (a secret we chose) and ``hub.challenge``
(echoed back to prove we own the URL).

Both checks compare in constant time and fail closed: anything missing, malformed, or
checked against an empty secret is refused.

Media of Messenger and Instagram messages arrive as links to Meta's CDN;
:data:`MEDIA_HOSTS` are the hosts (and their subdomains) the server fetches them from
when an account sets no ``media_hosts`` of its own (``adapters.links``).
"""

from __future__ import annotations

import hashlib
import hmac
import string
from collections.abc import Mapping

__all__ = [
    "MEDIA_HOSTS",
    "SIGNATURE_HEADER",
    "sign",
    "verification_challenge",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Hub-Signature-256"
#: Meta's CDNs: scontent…fbcdn.net, video…fbcdn.net, cdn.fbsbx.com and lookaside.fbsbx.com
#: (Instagram's ig_messaging_cdn), scontent…cdninstagram.com
MEDIA_HOSTS = ("fbcdn.net", "fbsbx.com", "cdninstagram.com")
_PREFIX = "sha256="
_HEX = frozenset(string.hexdigits)


def sign(app_secret: bytes, raw_body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta would send for ``raw_body``.

    For load tests and tests that play Meta's part.
    """
    return _PREFIX + hmac.new(app_secret, raw_body, hashlib.sha256).hexdigest()


def verify_signature(app_secret: bytes, raw_body: bytes, header: str | None) -> bool:
    """True only when ``header`` is Meta's signature of exactly ``raw_body``.

    An empty ``app_secret`` is a configuration mistake, not "no check": it refuses
    everything, as anyone could sign with an empty key.
    """
    if not app_secret or header is None:
        return False
    value = header.strip()
    if not value.startswith(_PREFIX):
        return False
    digest = value[len(_PREFIX) :]
    if len(digest) != 64 or not _HEX.issuperset(digest):
        return False
    expected = hmac.new(app_secret, raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), digest.lower().encode())


def verification_challenge(query: Mapping[str, str], verify_token: str) -> str | None:
    """The ``hub.challenge`` to echo when Meta subscribes with our token, else None.

    None means "answer 403": wrong mode, wrong or missing token, or no challenge.
    """
    if not verify_token or query.get("hub.mode") != "subscribe":
        return None
    token = query.get("hub.verify_token")
    challenge = query.get("hub.challenge")
    if token is None or not challenge:
        return None
    if not hmac.compare_digest(_utf8(token), _utf8(verify_token)):
        return None
    return challenge


def _utf8(text: str) -> bytes:
    """Bytes for a constant-time compare; lone surrogates from odd query strings survive."""
    return text.encode("utf-8", "surrogatepass")
