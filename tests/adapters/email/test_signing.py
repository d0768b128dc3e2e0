"""Mailgun's signature on inbound POSTs: good, bad, missing, stale, replayed."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.email.adapter import EmailAdapter
from adapters.email.form import Form
from adapters.email.signing import TokenCache, check_signature, sign
from adapters.errors import SignatureError
from tests.adapters.email.mailgun import (
    NOW,
    SIGNING_KEY,
    TOKEN,
    content_type,
    forward_fields,
    multipart,
    signed,
    urlencoded,
)

SETTINGS = {"signing_key": SIGNING_KEY}


def test_the_signature_is_mailguns_hmac_of_timestamp_and_token() -> None:
    expected = hmac.new(SIGNING_KEY.encode(), f"1714564800{TOKEN}".encode(), hashlib.sha256)
    assert sign(SIGNING_KEY, "1714564800", TOKEN) == expected.hexdigest()


@pytest.mark.parametrize("encode", [multipart, urlencoded])
def test_a_signed_post_is_accepted_in_either_encoding(encode: object) -> None:
    body, ctype = encode(forward_fields())  # type: ignore[operator]
    EmailAdapter(clock=lambda: NOW + 60).verify(body, content_type(ctype), SETTINGS)


@pytest.mark.parametrize(
    ("fields", "settings", "reason"),
    [
        (forward_fields(signature=None), SETTINGS, "signature: missing"),
        (forward_fields(token=None, timestamp=None), SETTINGS, "timestamp, token: missing"),
        (forward_fields(signature="abc"), SETTINGS, "signature: not a hex SHA-256 HMAC"),
        (forward_fields(**signed(key="another-key")), SETTINGS, "signature: does not match"),
        (forward_fields(token="forged" + TOKEN[6:]), SETTINGS, "signature: does not match"),
        (forward_fields(), {"signing_key": ""}, "no signing_key is configured"),
        (forward_fields(), {}, "no signing_key is configured"),
        (forward_fields(**signed(timestamp=NOW - 901)), SETTINGS,
         "timestamp: 961 s old, more than 900 s"),
        (forward_fields(**signed(timestamp=NOW + 1000)), SETTINGS,
         "timestamp: 940 s ahead of our clock"),
        (forward_fields(**signed(timestamp=NOW - 200)),
         {**SETTINGS, "max_age_s": "120"}, "more than 120 s"),
        (forward_fields(), {**SETTINGS, "max_age_s": "soon"}, "max_age_s setting: 'soon'"),
    ],
)  # fmt: skip
def test_unsigned_forged_or_stale_posts_are_refused(
    fields: dict[str, str], settings: dict[str, str], reason: str
) -> None:
    body, ctype = multipart(fields)
    with pytest.raises(SignatureError, match=reason):
        EmailAdapter(clock=lambda: NOW + 60).verify(body, content_type(ctype), settings)


def test_a_timestamp_that_is_not_a_number_is_refused_even_when_signed() -> None:
    stamp = "yesterday"
    form = Form({"timestamp": stamp, "token": TOKEN, "signature": sign(SIGNING_KEY, stamp, TOKEN)})
    with pytest.raises(SignatureError, match="timestamp: not a number"):
        check_signature(form, SIGNING_KEY, now=NOW)


@pytest.mark.parametrize(
    ("raw", "ctype"),
    [(b"not a form", "text/plain"), (b"x", None), (b"--b\r\n", "multipart/form-data; boundary=b")],
)
def test_a_body_that_is_not_a_form_has_no_signature(raw: bytes, ctype: str | None) -> None:
    headers = content_type(ctype) if ctype else content_type("")
    with pytest.raises(SignatureError, match="no signed form in the body"):
        EmailAdapter(clock=lambda: NOW).verify(raw, headers, SETTINGS)


def test_a_signing_field_posted_twice_is_refused() -> None:
    body = urlencoded(forward_fields())[0] + b"&signature=" + signed()["signature"].encode()
    with pytest.raises(SignatureError, match="signature: the field appears more than once"):
        EmailAdapter(clock=lambda: NOW).verify(
            body, content_type("application/x-www-form-urlencoded"), SETTINGS
        )


def test_a_replayed_token_is_refused_even_with_another_body() -> None:
    adapter = EmailAdapter(clock=lambda: NOW + 60)
    body, ctype = multipart(forward_fields())
    adapter.verify(body, content_type(ctype), SETTINGS)
    forged, ctype = multipart(forward_fields(subject="Şifrenizi sıfırlayın"))
    with pytest.raises(SignatureError, match="token: already used"):
        adapter.verify(forged, content_type(ctype), SETTINGS)
    fresh, ctype = multipart(forward_fields(**signed(token="f" * 50)))
    adapter.verify(fresh, content_type(ctype), SETTINGS)  # Mailgun's retry: a new token


def test_the_token_cache_forgets_tokens_once_their_timestamp_is_stale() -> None:
    cache = TokenCache(limit=2)
    assert cache.first_use("a", 1000.0, now=1000.0, max_age_s=10, body="x")
    assert cache.first_use("a", 1000.0, now=1003.0, max_age_s=10, body="x")  # a retry, same bytes
    assert not cache.first_use("a", 1000.0, now=1005.0, max_age_s=10, body="y")
    assert cache.first_use("b", 1005.0, now=1005.0, max_age_s=10)
    assert cache.first_use("c", 1005.0, now=1005.0, max_age_s=10)  # over the limit: "a" goes
    assert len(cache._expiry) == 2
    assert cache.first_use("a", 1000.0, now=1011.0, max_age_s=10)  # (its age refuses it anyway)


@given(
    key=st.text(min_size=1, max_size=64),
    timestamp=st.integers(min_value=0, max_value=4_102_444_800),
    token=st.text(alphabet="0123456789abcdef", min_size=1, max_size=64),
)
def test_whatever_mailgun_signs_verifies(key: str, timestamp: int, token: str) -> None:
    stamp = str(timestamp)
    form = Form({"timestamp": stamp, "token": token, "signature": sign(key, stamp, token)})
    assert check_signature(form, key, now=float(timestamp)) == (token, float(timestamp))
    wrong = Form({**form.fields, "token": token + "0"})
    with pytest.raises(SignatureError):
        check_signature(wrong, key, now=float(timestamp))
