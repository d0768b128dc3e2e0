"""The conversation lifecycle (SPEC §4) as one literal transition table.

How this works
--------------
A conversation is always in exactly one :class:`ConversationStatus`.  Something that
happens to it is an :class:`Event`; :data:`TRANSITIONS` says, for every allowed
``(status, event)`` pair, which status follows.  Any pair missing from the table is
refused with :class:`~actors.errors.InvalidTransition`.  The table is written out in
full, grouped by the status it leaves from, so it can be read (and reviewed) like
h11's ``EVENT_TRIGGERED_TRANSITIONS``.

Rules the table encodes:

* ``flow`` (a bot) hands off to ``queued``; ``queued`` is assigned to ``in_work``.
* The four slot-holding statuses (``in_work``, ``awaiting_customer``,
  ``in_development``, ``solution_proposed``) move freely among themselves, can be
  parked, requeued (agent dropped, transfer to a queue) or transferred to an agent.
* A customer message wakes ``awaiting_customer`` back to ``in_work`` and leaves the
  other open statuses where they are.  A customer message on a *parked* chat is an
  unpark: the conversation actor picks UNPARK_TO_AGENT / _QUEUE / _FLOW by the
  queue's post-park policy, so CUSTOMER_MESSAGE itself is refused while parked.
* ``parked`` leaves by an unpark or a park time-out (requeue or close).
* Every open status can be resolved; ``resolved`` is terminal.  A customer writing
  after resolution opens a NEW conversation — not this table's job.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from actors.errors import BadRequest, InvalidTransition
from actors.routing.model import HOLDS_SLOT, ConversationState, ConversationStatus, evolve

__all__ = [
    "TRANSITIONS",
    "Event",
    "allowed_events",
    "holds_slot",
    "is_open",
    "resolve",
    "transition",
]


class Event(enum.StrEnum):
    """Something that moves a conversation along its lifecycle."""

    HAND_OFF = "hand_off"  # the flow hands the chat to a queue
    ASSIGN = "assign"  # a queue gives it to an agent
    SET_IN_WORK = "set_in_work"
    AWAIT_CUSTOMER = "await_customer"
    IN_DEVELOPMENT = "in_development"
    PROPOSE_SOLUTION = "propose_solution"
    CUSTOMER_MESSAGE = "customer_message"
    PARK = "park"
    UNPARK_TO_AGENT = "unpark_to_agent"
    UNPARK_TO_QUEUE = "unpark_to_queue"
    UNPARK_TO_FLOW = "unpark_to_flow"
    REQUEUE = "requeue"  # agent dropped, or transfer to a queue
    TRANSFER_TO_AGENT = "transfer_to_agent"
    RESOLVE = "resolve"
    PARK_TIMEOUT_REQUEUE = "park_timeout_requeue"
    PARK_TIMEOUT_CLOSE = "park_timeout_close"


_FLOW = ConversationStatus.FLOW
_QUEUED = ConversationStatus.QUEUED
_IN_WORK = ConversationStatus.IN_WORK
_AWAITING = ConversationStatus.AWAITING_CUSTOMER
_PARKED = ConversationStatus.PARKED
_IN_DEV = ConversationStatus.IN_DEVELOPMENT
_PROPOSED = ConversationStatus.SOLUTION_PROPOSED
_RESOLVED = ConversationStatus.RESOLVED

#: (status, event) -> next status.  Anything missing is an invalid transition.
TRANSITIONS: Mapping[tuple[ConversationStatus, Event], ConversationStatus] = MappingProxyType(
    {
        # --- in a bot flow ---------------------------------------------------
        (_FLOW, Event.HAND_OFF): _QUEUED,
        (_FLOW, Event.CUSTOMER_MESSAGE): _FLOW,
        (_FLOW, Event.RESOLVE): _RESOLVED,
        # --- waiting in a queue ----------------------------------------------
        (_QUEUED, Event.ASSIGN): _IN_WORK,
        (_QUEUED, Event.TRANSFER_TO_AGENT): _IN_WORK,
        (_QUEUED, Event.REQUEUE): _QUEUED,  # moved to another queue while waiting
        (_QUEUED, Event.CUSTOMER_MESSAGE): _QUEUED,
        (_QUEUED, Event.RESOLVE): _RESOLVED,
        # --- in work -----------------------------------------------------------
        (_IN_WORK, Event.SET_IN_WORK): _IN_WORK,
        (_IN_WORK, Event.AWAIT_CUSTOMER): _AWAITING,
        (_IN_WORK, Event.IN_DEVELOPMENT): _IN_DEV,
        (_IN_WORK, Event.PROPOSE_SOLUTION): _PROPOSED,
        (_IN_WORK, Event.CUSTOMER_MESSAGE): _IN_WORK,
        (_IN_WORK, Event.PARK): _PARKED,
        (_IN_WORK, Event.REQUEUE): _QUEUED,
        (_IN_WORK, Event.TRANSFER_TO_AGENT): _IN_WORK,
        (_IN_WORK, Event.RESOLVE): _RESOLVED,
        # --- awaiting the customer --------------------------------------------
        (_AWAITING, Event.SET_IN_WORK): _IN_WORK,
        (_AWAITING, Event.AWAIT_CUSTOMER): _AWAITING,
        (_AWAITING, Event.IN_DEVELOPMENT): _IN_DEV,
        (_AWAITING, Event.PROPOSE_SOLUTION): _PROPOSED,
        (_AWAITING, Event.CUSTOMER_MESSAGE): _IN_WORK,
        (_AWAITING, Event.PARK): _PARKED,
        (_AWAITING, Event.REQUEUE): _QUEUED,
        (_AWAITING, Event.TRANSFER_TO_AGENT): _IN_WORK,
        (_AWAITING, Event.RESOLVE): _RESOLVED,
        # --- in development (e.g. waiting on another team) ---------------------
        (_IN_DEV, Event.SET_IN_WORK): _IN_WORK,
        (_IN_DEV, Event.AWAIT_CUSTOMER): _AWAITING,
        (_IN_DEV, Event.IN_DEVELOPMENT): _IN_DEV,
        (_IN_DEV, Event.PROPOSE_SOLUTION): _PROPOSED,
        (_IN_DEV, Event.CUSTOMER_MESSAGE): _IN_DEV,
        (_IN_DEV, Event.PARK): _PARKED,
        (_IN_DEV, Event.REQUEUE): _QUEUED,
        (_IN_DEV, Event.TRANSFER_TO_AGENT): _IN_WORK,
        (_IN_DEV, Event.RESOLVE): _RESOLVED,
        # --- solution proposed, waiting for confirmation -----------------------
        (_PROPOSED, Event.SET_IN_WORK): _IN_WORK,
        (_PROPOSED, Event.AWAIT_CUSTOMER): _AWAITING,
        (_PROPOSED, Event.IN_DEVELOPMENT): _IN_DEV,
        (_PROPOSED, Event.PROPOSE_SOLUTION): _PROPOSED,
        (_PROPOSED, Event.CUSTOMER_MESSAGE): _PROPOSED,
        (_PROPOSED, Event.PARK): _PARKED,
        (_PROPOSED, Event.REQUEUE): _QUEUED,
        (_PROPOSED, Event.TRANSFER_TO_AGENT): _IN_WORK,
        (_PROPOSED, Event.RESOLVE): _RESOLVED,
        # --- parked (postponed): holds no slot ---------------------------------
        (_PARKED, Event.UNPARK_TO_AGENT): _IN_WORK,
        (_PARKED, Event.UNPARK_TO_QUEUE): _QUEUED,
        (_PARKED, Event.UNPARK_TO_FLOW): _FLOW,
        (_PARKED, Event.PARK_TIMEOUT_REQUEUE): _QUEUED,
        (_PARKED, Event.PARK_TIMEOUT_CLOSE): _RESOLVED,
        (_PARKED, Event.RESOLVE): _RESOLVED,
        # --- resolved: terminal, nothing leaves it ------------------------------
    }
)

#: How each event reads in "cannot <verb> a conversation that is <status>".
_VERBS: Mapping[Event, str] = MappingProxyType(
    {
        Event.HAND_OFF: "hand off",
        Event.ASSIGN: "assign",
        Event.SET_IN_WORK: "set in work",
        Event.AWAIT_CUSTOMER: "set awaiting customer",
        Event.IN_DEVELOPMENT: "set in development",
        Event.PROPOSE_SOLUTION: "propose a solution for",
        Event.CUSTOMER_MESSAGE: "take a customer message on",
        Event.PARK: "park",
        Event.UNPARK_TO_AGENT: "unpark to its agent",
        Event.UNPARK_TO_QUEUE: "unpark to the queue",
        Event.UNPARK_TO_FLOW: "unpark into a flow",
        Event.REQUEUE: "requeue",
        Event.TRANSFER_TO_AGENT: "transfer to an agent",
        Event.RESOLVE: "resolve",
        Event.PARK_TIMEOUT_REQUEUE: "time out to the queue",
        Event.PARK_TIMEOUT_CLOSE: "time out and close",
    }
)


def transition(status: ConversationStatus, event: Event) -> ConversationStatus:
    """The status after ``event``; raises ``InvalidTransition`` if the table does not allow it."""
    try:
        return TRANSITIONS[status, event]
    except KeyError:
        shown = ConversationStatus(status).value.replace("_", " ")
        raise InvalidTransition(
            f"cannot {_VERBS[Event(event)]} a conversation that is {shown}"
        ) from None


def allowed_events(status: ConversationStatus) -> frozenset[Event]:
    """The events a conversation in ``status`` accepts."""
    return frozenset(event for (source, event) in TRANSITIONS if source == status)


def is_open(status: ConversationStatus) -> bool:
    """True until the conversation is resolved."""
    return status != ConversationStatus.RESOLVED


def holds_slot(status: ConversationStatus) -> bool:
    """True when a conversation in ``status`` counts against its agent's capacity."""
    return status in HOLDS_SLOT


def resolve(state: ConversationState, topic: str | None, now: float) -> ConversationState:
    """Close the conversation under ``topic``; a topic is required (SPEC §4).

    The status check comes first: resolving a resolved conversation is an invalid
    transition whatever the topic.  As with every change of status, the time in
    status restarts and the SLA level goes back to normal.
    """
    status = transition(state.status, Event.RESOLVE)
    cleaned = (topic or "").strip()
    if not cleaned:
        raise BadRequest(
            f"resolving {state.conversation_id} requires a topic", code="topic_required"
        )
    return evolve(
        state,
        status=status,
        topic=cleaned,
        resolved_at=now,
        parked_by=None,
        parked_at=None,
        status_since=now,
        sla_level="normal",
    )
