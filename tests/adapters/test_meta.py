"""adapters.meta: who may post webhooks, and the subscription handshake."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.meta import sign, verification_challenge, verify_signature

FIXTURES = Path(__file__).parent / "fixtures" / "whatsapp"
SECRET = b"3f1b6c0e9d2a4b7c8e5f6a1b2c3d4e5f"


def meta_signature(secret: bytes, body: bytes) -> str:
    """Computed independently of the code under test, as Meta documents it."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("name", ["message", "message_status", "callback_button"])
def test_real_bodies_signed_by_meta_are_accepted_and_any_change_refused(name: str) -> None:
    body = (FIXTURES / f"{name}.json").read_bytes()
    header = meta_signature(SECRET, body)
    assert verify_signature(SECRET, body, header)
    # Re-serialising the JSON (as a framework might) changes the bytes: refused.
    assert not verify_signature(SECRET, body.replace(b": ", b":"), header)
    assert not verify_signature(SECRET, body + b"\n", header)
    assert not verify_signature(b"another app's secret", body, header)


@given(st.binary(min_size=1, max_size=64), st.binary(max_size=512))
def test_sign_and_verify_agree_with_meta(secret: bytes, body: bytes) -> None:
    assert sign(secret, body) == meta_signature(secret, body)
    assert verify_signature(secret, body, sign(secret, body))
    assert verify_signature(secret, body, sign(secret, body).upper().replace("SHA256=", "sha256="))


@given(st.binary(min_size=1, max_size=64), st.binary(max_size=256), st.binary(max_size=256))
def test_another_body_is_refused(secret: bytes, body: bytes, other: bytes) -> None:
    if other != body:
        assert not verify_signature(secret, other, sign(secret, body))


@given(st.binary(min_size=1, max_size=64), st.binary(max_size=256), st.integers(0, 63))
def test_one_wrong_hex_digit_is_refused(secret: bytes, body: bytes, at: int) -> None:
    header = sign(secret, body)
    position = len("sha256=") + at
    flipped = "0" if header[position] != "0" else "1"
    assert not verify_signature(secret, body, header[:position] + flipped + header[position + 1 :])


BODY = b'{"object":"whatsapp_business_account","entry":[]}'
GOOD = meta_signature(SECRET, BODY)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        GOOD[len("sha256=") :],  # no prefix
        "sha1=" + GOOD[len("sha256=") :],
        GOOD[:-1],  # too short
        GOOD + "0",  # too long
        GOOD[:-1] + "g",  # not hex
        GOOD[:-1] + "é",  # not ASCII
        "sha256=" + hmac.new(SECRET, BODY, hashlib.sha1).hexdigest(),
    ],
    ids=[
        "missing",
        "empty",
        "prefix-only",
        "no-prefix",
        "sha1",
        "short",
        "long",
        "not-hex",
        "not-ascii",
        "sha1-digest",
    ],
)
def test_missing_or_malformed_signatures_are_refused(header: str | None) -> None:
    assert not verify_signature(SECRET, BODY, header)


def test_an_empty_app_secret_refuses_everything() -> None:
    assert not verify_signature(b"", BODY, meta_signature(b"", BODY))


def test_surrounding_whitespace_in_the_header_is_tolerated() -> None:
    assert verify_signature(SECRET, BODY, f"  {GOOD} ")


SUBSCRIBE = {"hub.mode": "subscribe", "hub.verify_token": "s3cret", "hub.challenge": "1158201444"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (SUBSCRIBE, "1158201444"),
        ({**SUBSCRIBE, "hub.verify_token": "guess"}, None),
        ({**SUBSCRIBE, "hub.verify_token": "s3cret "}, None),
        ({**SUBSCRIBE, "hub.mode": "unsubscribe"}, None),
        ({k: v for k, v in SUBSCRIBE.items() if k != "hub.verify_token"}, None),
        ({k: v for k, v in SUBSCRIBE.items() if k != "hub.challenge"}, None),
        ({**SUBSCRIBE, "hub.challenge": ""}, None),
        ({k: v for k, v in SUBSCRIBE.items() if k != "hub.mode"}, None),
        ({**SUBSCRIBE, "hub.verify_token": "\udcff"}, None),
    ],
    ids=[
        "ok",
        "wrong-token",
        "token-with-space",
        "wrong-mode",
        "no-token",
        "no-challenge",
        "empty-challenge",
        "no-mode",
        "undecodable-token",
    ],
)
def test_verification_challenge(query: dict[str, str], expected: str | None) -> None:
    assert verification_challenge(query, "s3cret") == expected


def test_no_configured_verify_token_never_subscribes() -> None:
    assert verification_challenge({**SUBSCRIBE, "hub.verify_token": ""}, "") is None
