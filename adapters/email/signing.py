"""Mailgun's webhook signature, and the replay checks its design calls for.

Mailgun signs every inbound-parse POST with the domain's *HTTP webhook signing key*:
the form carries ``timestamp`` (epoch seconds), ``token`` (50 random characters) and
``signature`` = hex HMAC-SHA256 of ``timestamp + token`` under that key.  The signature
does **not** cover the rest of the form, so a signed triple seen once (in a log, by a
proxy) would sign any other body.  Two checks close that gap, as Mailgun advises:

- the timestamp must be recent (``max_age_s``, 15 minutes by default) — in either
  direction, since a clock far ahead is as suspect as one far behind;
- a token is accepted once (:class:`TokenCache`, per process, for as long as its
  timestamp is recent): Mailgun signs each delivery attempt afresh, so only a replay
  repeats a token.

Comparisons are constant-time; anything missing or malformed fails closed.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import string
from collections import OrderedDict
from dataclasses import dataclass, field

from adapters.email.form import Form
from adapters.errors import SignatureError

__all__ = ["DEFAULT_MAX_AGE_S", "TokenCache", "check_signature", "sign"]

#: how old (or how far ahead) a signed timestamp may be
DEFAULT_MAX_AGE_S = 15 * 60.0

_HEX = frozenset(string.hexdigits)


def sign(signing_key: str, timestamp: str, token: str) -> str:
    """The ``signature`` Mailgun would post for this timestamp and token (tests, load tests)."""
    message = (timestamp + token).encode()
    return hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()


def check_signature(
    form: Form, signing_key: str, *, now: float, max_age_s: float = DEFAULT_MAX_AGE_S
) -> tuple[str, float]:
    """The form's ``(token, timestamp)`` when Mailgun signed it recently; else ``SignatureError``.

    An empty ``signing_key`` is a configuration mistake, not "no check": anyone can sign
    with an empty key, so everything is refused.
    """
    if not signing_key:
        raise SignatureError("no signing_key is configured for this e-mail account")
    timestamp, token, signature = form.get("timestamp"), form.get("token"), form.get("signature")
    if not timestamp or not token or not signature:
        missing = [n for n, v in (("timestamp", timestamp), ("token", token),
                                  ("signature", signature)) if not v]  # fmt: skip
        raise SignatureError(f"{', '.join(missing)}: missing from the form")
    digest = signature.strip().lower()
    if len(digest) != 64 or not _HEX.issuperset(digest):
        raise SignatureError("signature: not a hex SHA-256 HMAC")
    expected = sign(signing_key, timestamp, token)
    if not hmac.compare_digest(expected.encode(), digest.encode()):
        raise SignatureError("signature: does not match timestamp and token")
    try:
        stamped = float(timestamp.strip())
    except ValueError:
        stamped = math.nan
    if not math.isfinite(stamped):
        raise SignatureError("timestamp: not a number of seconds")
    age = now - stamped
    if abs(age) > max_age_s:
        when = f"{age:.0f} s old" if age > 0 else f"{-age:.0f} s ahead of our clock"
        raise SignatureError(
            f"timestamp: {when}, more than {max_age_s:g} s (a replayed or delayed webhook)"
        )
    return token, stamped


@dataclass(slots=True)
class TokenCache:
    """Tokens accepted lately, each until its timestamp is no longer recent.

    ``limit`` bounds memory under a flood of validly signed POSTs (only signed ones are
    remembered); past it the oldest token is forgotten — still refused by its age soon.
    """

    limit: int = 100_000
    _expiry: OrderedDict[str, tuple[float, str]] = field(default_factory=OrderedDict)

    def first_use(
        self, token: str, stamped: float, *, now: float, max_age_s: float, body: str = ""
    ) -> bool:
        """Record ``token``; False when it was already used, within its lifetime, by another body.

        The same token with the same body (``body``: a digest of the POST) is the provider
        retrying a delivery we did not answer 2xx — let through, as the message's dedupe
        key makes a repeat of it harmless.  Only a *different* body under a used token is a
        replay: the signature covers the token, not the body.
        """
        while self._expiry:
            oldest, (until, _body) = next(iter(self._expiry.items()))
            if until >= now and len(self._expiry) < self.limit:
                break
            del self._expiry[oldest]
        seen = self._expiry.get(token)
        if seen is not None and seen[0] >= now:
            return seen[1] == body
        self._expiry[token] = (stamped + max_age_s, body)
        self._expiry.move_to_end(token)
        return True
