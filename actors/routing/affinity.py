"""Who the customer is across channels, and which agent they are engaged with.

How this works
--------------
*Identity.*  Every channel gives us some handle on the customer: a phone number, an
e-mail address, a WhatsApp ``wa_id`` on one of our accounts, a Telegram user id...
Each handle is a key ``(kind, value)``.  :class:`IdentityIndex` maps keys to
customer ids.  :meth:`IdentityIndex.resolve` finds the customer behind a set of keys
(or creates one) and attaches the keys it did not know.  Keys that point at two
*different* customers are never merged implicitly: a supervisor (or a verified
login) calls :meth:`IdentityIndex.merge`.  Merges are kept in a union-find over
customer ids, so an id that was merged away (even through a chain of merges) still
resolves to the surviving customer.

*Engagement.*  :class:`Engagement` is the routing-relevant part of a customer's
present: their open chats and phone calls (with the agent on each) and the last
agent who resolved a chat with them.  :func:`preferred_agent` turns it into the
agent a new conversation should prefer, and whether the customer is *engaged*
(wait for that agent) or merely *returning* (prefer them only if eligible now).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import phonenumbers

from actors.routing.model import AgentId, ConversationId, CustomerId, evolve

__all__ = [
    "ActiveChat",
    "Engagement",
    "IdentityIndex",
    "IdentityKey",
    "chat_closed",
    "normalize_key",
    "normalize_phone",
    "preferred_agent",
    "with_call",
    "with_chat",
    "without_call",
]

#: (kind, value), e.g. ("phone", "+905321234567"), ("email", "a@b.c"),
#: ("whatsapp", "<account>:<wa_id>"), ("telegram", "<account>:<user id>").
IdentityKey = tuple[str, str]

_PHONE_PUNCTUATION = re.compile(r"[\s\-().\u00a0/]")
_DIGITS = re.compile(r"\d{8,15}")


@functools.lru_cache(maxsize=65_536)
def normalize_phone(raw: str) -> str | None:
    """E.164 form (``+905321234567``) of a phone number, or None if it is not a valid one.

    Bare digit strings of 8-15 digits (WhatsApp ``wa_id``, Viber) are read as
    international numbers without the plus; a leading ``00`` counts as ``+``.
    Numbers without a country code cannot be told apart from foreign ones and are
    refused rather than guessed.  Every WhatsApp message names its sender's number
    and checking one against the numbering plans is the costliest step of routing a
    message, so the answers for recent senders are kept (a pure function of the text).
    """
    text = _PHONE_PUNCTUATION.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        if not _DIGITS.fullmatch(text):
            return None
        text = "+" + text
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_key(key: IdentityKey) -> IdentityKey | None:
    """The canonical form of an identity key, or None when its value is unusable."""
    kind, value = key
    kind = kind.strip().lower()
    if kind == "phone":
        phone = normalize_phone(value)
        return None if phone is None else (kind, phone)
    cleaned = value.strip()
    if kind == "email":
        cleaned = cleaned.lower()
    if not kind or not cleaned:
        return None
    return kind, cleaned


class IdentityIndex:
    """Identity keys -> customer ids, with explicit, transitive merges."""

    __slots__ = ("_customer_by_key", "_keys_by_customer", "_merged_into")

    def __init__(self) -> None:
        self._customer_by_key: dict[IdentityKey, CustomerId] = {}
        self._keys_by_customer: dict[CustomerId, set[IdentityKey]] = {}
        #: union-find parent links: a merged-away id -> the id it was merged into
        self._merged_into: dict[CustomerId, CustomerId] = {}

    def current_id(self, customer: CustomerId) -> CustomerId:
        """The surviving id of ``customer`` after any merges (itself if never merged)."""
        root = customer
        while root in self._merged_into:
            root = self._merged_into[root]
        while customer != root:  # path compression
            parent = self._merged_into[customer]
            self._merged_into[customer] = root
            customer = parent
        return root

    def customer_of(self, key: IdentityKey) -> CustomerId | None:
        """The customer a key belongs to, or None."""
        normal = normalize_key(key)
        if normal is None:
            return None
        customer = self._customer_by_key.get(normal)
        return None if customer is None else self.current_id(customer)

    def keys_of(self, customer: CustomerId) -> frozenset[IdentityKey]:
        """Every key that leads to the customer (after merges)."""
        return frozenset(self._keys_by_customer.get(self.current_id(customer), ()))

    def link(self, customer: CustomerId, key: IdentityKey) -> bool:
        """Attach a key to the customer; False if the key is unusable or someone else's."""
        normal = normalize_key(key)
        if normal is None:
            return False
        customer = self.current_id(customer)
        owner = self._customer_by_key.get(normal)
        if owner is not None:
            return self.current_id(owner) == customer
        self._customer_by_key[normal] = customer
        self._keys_by_customer.setdefault(customer, set()).add(normal)
        return True

    def resolve(self, keys: Iterable[IdentityKey], new_id: Callable[[], CustomerId]) -> CustomerId:
        """The customer behind ``keys`` (first known key wins), created if none is known.

        Unknown keys are attached to that customer.  Keys of *other* customers stay
        where they are: merging people is an explicit decision (:meth:`merge`).
        """
        normal = [k for k in (normalize_key(key) for key in keys) if k is not None]
        customer: CustomerId | None = None
        for key in normal:
            owner = self._customer_by_key.get(key)
            if owner is not None:
                customer = self.current_id(owner)
                break
        if customer is None:
            customer = self.current_id(new_id())
        for key in normal:
            if key not in self._customer_by_key:
                self._customer_by_key[key] = customer
                self._keys_by_customer.setdefault(customer, set()).add(key)
        return customer

    def merge(self, keep: CustomerId, drop: CustomerId) -> frozenset[IdentityKey]:
        """Fold ``drop`` into ``keep``: its keys (and its id) now lead to ``keep``.

        Returns the keys that moved; merging a customer into itself moves nothing.
        """
        keep, drop = self.current_id(keep), self.current_id(drop)
        if keep == drop:
            return frozenset()
        moved = self._keys_by_customer.pop(drop, set())
        for key in moved:
            self._customer_by_key[key] = keep
        if moved:
            self._keys_by_customer.setdefault(keep, set()).update(moved)
        self._merged_into[drop] = keep
        return frozenset(moved)

    def restore(
        self, customer: CustomerId, keys: Iterable[IdentityKey], merged_into: CustomerId | None
    ) -> None:
        """Put back what :meth:`keys_of` and :meth:`current_id` said before (recovery)."""
        if merged_into is not None:
            self._merged_into[customer] = merged_into
        for key in keys:
            self._customer_by_key[key] = customer
            self._keys_by_customer.setdefault(customer, set()).add(key)

    def __len__(self) -> int:
        """How many keys are known."""
        return len(self._customer_by_key)


@dataclass(frozen=True, slots=True)
class ActiveChat:
    """An open chat of the customer: who has it, since when."""

    agent_id: AgentId
    since: float


@dataclass(frozen=True, slots=True)
class Engagement:
    """A customer's open chats and calls, and the last agent who closed a chat with them."""

    chats: Mapping[ConversationId, ActiveChat] = field(default_factory=dict)
    calls: Mapping[str, AgentId] = field(default_factory=dict)  # call id -> agent
    last_agent: AgentId | None = None
    last_resolved_at: float | None = None


def with_chat(
    engagement: Engagement, conversation_id: ConversationId, agent_id: AgentId, now: float
) -> Engagement:
    """Record that ``agent_id`` now has the chat (assignment or transfer)."""
    chats = {k: v for k, v in engagement.chats.items() if k != conversation_id}
    chats[conversation_id] = ActiveChat(agent_id, now)
    return evolve(engagement, chats=chats)


def chat_closed(engagement: Engagement, agent_id: AgentId | None, now: float) -> Engagement:
    """A chat of the customer closed: the agent who held it is now their last agent."""
    if agent_id is None:
        return engagement
    return evolve(engagement, last_agent=agent_id, last_resolved_at=now)


def with_call(engagement: Engagement, call_id: str, agent_id: AgentId) -> Engagement:
    """Record a phone call with ``agent_id`` (reported by the voice adapter)."""
    calls = {k: v for k, v in engagement.calls.items() if k != call_id}
    calls[call_id] = agent_id
    return evolve(engagement, calls=calls)


def without_call(engagement: Engagement, call_id: str) -> Engagement:
    """The call ended."""
    if call_id not in engagement.calls:
        return engagement
    return evolve(engagement, calls={k: v for k, v in engagement.calls.items() if k != call_id})


def preferred_agent(
    engagement: Engagement, now: float, returning_window: float
) -> tuple[AgentId | None, bool]:
    """The agent a new conversation should prefer, and whether the customer is engaged.

    Precedence: the agent of the most recently started open chat; else the agent on
    the most recently started call; else the last agent when the last chat closed at
    most ``returning_window`` seconds ago.  The flag is True for an open chat or call
    (wait for that agent) and False for a returning customer (prefer only if eligible).
    """
    if engagement.chats:
        # latest start wins; on a tie the later-recorded chat (dict order) wins
        order = {cid: i for i, cid in enumerate(engagement.chats)}
        latest = max(engagement.chats, key=lambda cid: (engagement.chats[cid].since, order[cid]))
        return engagement.chats[latest].agent_id, True
    if engagement.calls:
        return list(engagement.calls.values())[-1], True
    if (
        engagement.last_agent is not None
        and engagement.last_resolved_at is not None
        and now - engagement.last_resolved_at <= returning_window
    ):
        return engagement.last_agent, False
    return None, False
