"""Customer identity across channels, and the agent a customer is engaged with."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.routing.affinity import (
    ActiveChat,
    Engagement,
    IdentityIndex,
    IdentityKey,
    chat_closed,
    normalize_key,
    normalize_phone,
    preferred_agent,
    with_call,
    with_chat,
    without_call,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("+905321234567", "+905321234567", id="e164"),
        pytest.param("905321234567", "+905321234567", id="wa-id-without-plus"),
        pytest.param("+90 (532) 123-45-67", "+905321234567", id="punctuated"),
        pytest.param("0090 532 123 45 67", "+905321234567", id="double-zero-prefix"),
        pytest.param("  +44 20 7946 0958 ", "+442079460958", id="uk-landline-padded"),
        pytest.param("4915112345678", "+4915112345678", id="german-mobile-digits"),
        pytest.param("+1 415 555 2671", "+14155552671", id="us"),
        pytest.param("0532 123 45 67", None, id="national-form-refused"),
        pytest.param("1234567", None, id="too-short"),
        pytest.param("1234567890123456", None, id="too-long"),
        pytest.param("+999123456789", None, id="no-such-country"),
        pytest.param("+90 123", None, id="invalid-for-country"),
        pytest.param("hello", None, id="text"),
        pytest.param("", None, id="empty"),
    ],
)
def test_normalize_phone(raw: str, expected: str | None) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param(("email", " Ayse@Example.COM "), ("email", "ayse@example.com"), id="email"),
        pytest.param(("PHONE", "905321234567"), ("phone", "+905321234567"), id="phone"),
        pytest.param(("phone", "nope"), None, id="bad-phone"),
        pytest.param(("whatsapp", "acc1:905321234567"), ("whatsapp", "acc1:905321234567"), id="wa"),
        pytest.param(("telegram", "  "), None, id="blank"),
        pytest.param(("", "x"), None, id="no-kind"),
    ],
)
def test_normalize_key(key: IdentityKey, expected: IdentityKey | None) -> None:
    assert normalize_key(key) == expected


def counter(prefix: str = "u") -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"{prefix}{next(numbers)}"


PHONE = ("phone", "+905321234567")
WA_ID = ("whatsapp", "acc1:905321234567")
EMAIL = ("email", "ayse@example.com")


def test_resolve_creates_then_finds() -> None:
    index = IdentityIndex()
    new_id = counter()
    first = index.resolve([WA_ID, PHONE], new_id)
    assert first == "u1"
    # the same person on e-mail, known by phone: same customer, e-mail attached
    assert index.resolve([("email", "AYSE@example.com"), ("phone", "905321234567")], new_id) == "u1"
    assert index.keys_of("u1") == {WA_ID, PHONE, EMAIL}
    assert index.customer_of(("email", "ayse@EXAMPLE.com")) == "u1"
    assert index.customer_of(("email", "other@example.com")) is None
    assert len(index) == 3


def test_resolve_does_not_merge_two_known_customers() -> None:
    index = IdentityIndex()
    new_id = counter()
    a = index.resolve([PHONE], new_id)
    b = index.resolve([EMAIL], new_id)
    unknown = ("telegram", "acc:42")
    assert index.resolve([EMAIL, PHONE, unknown], new_id) == b  # first known key wins
    assert index.customer_of(PHONE) == a  # still a's
    assert index.customer_of(unknown) == b  # unknown keys join the winner
    assert index.keys_of(a) == {PHONE}


def test_resolve_without_usable_keys_makes_a_new_customer() -> None:
    index = IdentityIndex()
    new_id = counter()
    assert index.resolve([("phone", "garbage")], new_id) == "u1"
    assert index.resolve([], new_id) == "u2"
    assert len(index) == 0


def test_merge_moves_keys_and_the_old_id() -> None:
    index = IdentityIndex()
    new_id = counter()
    a = index.resolve([PHONE], new_id)
    b = index.resolve([EMAIL, WA_ID], new_id)
    assert index.merge(a, b) == {EMAIL, WA_ID}
    assert index.keys_of(a) == {PHONE, EMAIL, WA_ID}
    assert index.keys_of(b) == {PHONE, EMAIL, WA_ID}  # the old id leads to the survivor
    assert index.current_id(b) == a
    assert index.customer_of(EMAIL) == a
    assert index.merge(a, b) == frozenset()  # already one customer
    assert index.merge(b, a) == frozenset()
    # later resolves through any key land on the survivor
    assert index.resolve([WA_ID, ("telegram", "acc:1")], new_id) == a


def test_link() -> None:
    index = IdentityIndex()
    a = index.resolve([PHONE], counter("a"))
    b = index.resolve([EMAIL], counter("b"))
    assert index.link(a, ("telegram", "acc:7"))
    assert index.link(a, PHONE)  # already a's
    assert not index.link(a, EMAIL)  # b's: no implicit merge
    assert not index.link(a, ("phone", "123"))
    assert index.customer_of(EMAIL) == b


def constant(value: str) -> Callable[[], str]:
    return lambda: value


ids = st.sampled_from([f"u{i}" for i in range(6)])


@settings(max_examples=200, deadline=None)
@given(
    owners=st.lists(ids, min_size=1, max_size=12),
    merges=st.lists(st.tuples(ids, ids), max_size=10),
)
def test_merges_are_transitive(owners: list[str], merges: list[tuple[str, str]]) -> None:
    index = IdentityIndex()
    for n, owner in enumerate(owners):
        assert index.resolve([("telegram", f"acc:{n}")], constant(owner)) == owner
    # reference: a plain partition of customer ids
    group = {f"u{i}": {f"u{i}"} for i in range(6)}
    for keep, drop in merges:
        before = index.keys_of(keep) | index.keys_of(drop)
        index.merge(keep, drop)
        joined = group[keep] | group[drop]
        for member in joined:
            group[member] = joined
        assert index.keys_of(keep) == before
        assert index.current_id(drop) == index.current_id(keep)
    for n, owner in enumerate(owners):
        key = ("telegram", f"acc:{n}")
        survivor = index.customer_of(key)
        assert survivor is not None
        assert survivor in group[owner]
        assert key in index.keys_of(owner)
        for other in group[owner]:
            assert index.current_id(other) == survivor
            assert index.keys_of(other) == index.keys_of(owner)
    # every key belongs to exactly one surviving customer
    survivors = {index.current_id(u) for u in group}
    all_keys = [k for s in survivors for k in index.keys_of(s)]
    assert len(all_keys) == len(set(all_keys)) == len(owners)


# ----------------------------------------------------------------------------- engagement

WEEK = 7 * 24 * 3600.0


def test_chat_bookkeeping() -> None:
    e = with_chat(Engagement(), "c1", "a1", now=10.0)
    e = with_chat(e, "c2", "a2", now=20.0)
    assert e.chats == {"c1": ActiveChat("a1", 10.0), "c2": ActiveChat("a2", 20.0)}
    e = with_chat(e, "c1", "a3", now=30.0)  # transfer
    assert e.chats["c1"] == ActiveChat("a3", 30.0)
    done = chat_closed(e, "a2", now=40.0)
    assert (done.last_agent, done.last_resolved_at) == ("a2", 40.0)
    assert chat_closed(done, None, now=50.0) is done  # closed while nobody held it
    assert e.last_agent is None  # the old value is untouched


def test_call_bookkeeping() -> None:
    e = with_call(Engagement(), "call-1", "a1")
    assert e.calls == {"call-1": "a1"}
    assert without_call(e, "call-1").calls == {}
    assert without_call(e, "nope") is e


@pytest.mark.parametrize(
    ("engagement", "now", "expected"),
    [
        pytest.param(Engagement(), 0.0, (None, False), id="stranger"),
        pytest.param(
            Engagement(chats={"c1": ActiveChat("a1", 5.0), "c2": ActiveChat("a2", 9.0)}),
            10.0,
            ("a2", True),
            id="most-recent-chat",
        ),
        pytest.param(
            Engagement(
                chats={"c1": ActiveChat("a1", 5.0)},
                calls={"k": "a9"},
                last_agent="a7",
                last_resolved_at=9.0,
            ),
            10.0,
            ("a1", True),
            id="chat-beats-call",
        ),
        pytest.param(
            Engagement(calls={"k1": "a8", "k2": "a9"}, last_agent="a7", last_resolved_at=9.0),
            10.0,
            ("a9", True),
            id="latest-call-beats-returning",
        ),
        pytest.param(
            Engagement(last_agent="a7", last_resolved_at=100.0),
            100.0 + WEEK,
            ("a7", False),
            id="returning-at-window-edge",
        ),
        pytest.param(
            Engagement(last_agent="a7", last_resolved_at=100.0),
            100.5 + WEEK,
            (None, False),
            id="too-long-ago",
        ),
    ],
)
def test_preferred_agent(
    engagement: Engagement, now: float, expected: tuple[str | None, bool]
) -> None:
    assert preferred_agent(engagement, now, returning_window=WEEK) == expected


def test_preference_follows_the_engagement_story() -> None:
    e = with_chat(Engagement(), "wa-1", "a1", now=0.0)
    assert preferred_agent(e, 1.0, WEEK) == ("a1", True)
    e = with_call(e, "call-1", "a2")
    assert preferred_agent(e, 2.0, WEEK) == ("a1", True)  # the chat is still open
    e = chat_closed(Engagement(calls=e.calls), "a1", now=3.0)
    assert preferred_agent(e, 4.0, WEEK) == ("a2", True)  # only the call is left
    e = without_call(e, "call-1")
    assert preferred_agent(e, 5.0, WEEK) == ("a1", False)  # returning: last chat was a1's
