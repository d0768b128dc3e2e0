"""The customer directory: who a customer is, and where their messages go.

How this works: every inbound message passes here first.  The directory turns
the sender's channel id and any phone / e-mail into one customer
(``IdentityIndex``), finds the customer's open conversation on that channel
account, and forwards the message to it — or opens a new conversation.  A new
conversation is routed with a preference: the agent the customer is engaged
with right now on any channel (an open chat, or a phone call reported by the
voice adapter), held for that agent for the queue's ``affinity_wait``; else the
agent of the customer's last resolved chat, if eligible at once.  Who holds an
open chat is the chat's own fact: the directory only knows which chats of the
customer are open, and hands them to the new conversation (``siblings``), which
asks them (``WhoServes``) before it joins the queue — so assignments cost no
message to the directory.  Closures come back (``ChatEnded``) with the
agent who held the chat, which becomes the customer's last agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actors.base import RoutingActor
from actors.messages import (
    CallEnded,
    CallStarted,
    ChatEnded,
    CustomerMessage,
    Describe,
    Inbound,
    MergeCustomers,
    Reroute,
)
from actors.routing import affinity
from actors.routing.affinity import Engagement, IdentityIndex
from actors.routing.model import (
    Channel,
    ConversationId,
    ConversationState,
    ConversationStatus,
    CustomerId,
)

__all__ = ["DirectoryActor", "DirectoryState"]

OpenKey = tuple[CustomerId, Channel, str]


@dataclass(slots=True)
class DirectoryState:
    """Identities, engagements and each customer's open conversation per channel account."""

    identities: IdentityIndex = field(default_factory=IdentityIndex)
    engagements: dict[CustomerId, Engagement] = field(default_factory=dict)
    open: dict[OpenKey, ConversationId] = field(default_factory=dict)
    #: each customer's open chats on every channel (the siblings of a new one)
    chats_of: dict[CustomerId, set[ConversationId]] = field(default_factory=dict)
    last_closed: dict[OpenKey, ConversationId] = field(default_factory=dict)
    #: customer messages sent to each open conversation
    forwarded: dict[ConversationId, int] = field(default_factory=dict)
    #: keys whose conversation closed with messages still on their way to it: those come
    #: back (Reroute) and must go first; newer messages for the key wait here meanwhile
    draining: dict[OpenKey, _Draining] = field(default_factory=dict)


#: seconds newer messages may wait for rerouted ones before going ahead anyway
_DRAIN_LIMIT_S = 5.0


@dataclass(frozen=True, slots=True)
class _DrainExpired:
    key: OpenKey
    closed: ConversationId


@dataclass(slots=True)
class _Draining:
    closed: ConversationId
    in_flight: int
    waiting: list[Inbound] = field(default_factory=list)


class DirectoryActor(RoutingActor[DirectoryState]):
    """Resolves customers and routes their messages to conversations."""

    def handle(self, message: Any) -> Any:
        match message:
            case Inbound():
                return self._inbound(message)
            case Reroute(inbound, closed):
                return self._reroute(inbound, closed)
            case _DrainExpired(key, closed):
                draining = self.state.draining.get(key)
                if draining is not None and draining.closed == closed:
                    self._drained(key)
            case ChatEnded():
                self._chat_ended(message)
            case CallStarted(call_id, phone, agent_id, ws):
                customer = self._phone_customer(phone)
                self._set_engagement(
                    customer, affinity.with_call(self._engaged(customer), call_id, agent_id)
                )
                call = {"phone": phone, "agent_id": agent_id, "customer_id": customer}
                self.record(("call", call_id, {**call, "workspace": ws}))
            case CallEnded(call_id, phone, _agent, _ws):
                customer = self._phone_customer(phone)
                self._set_engagement(
                    customer, affinity.without_call(self._engaged(customer), call_id)
                )
                self.record(("call", call_id, None))
            case MergeCustomers(keep, drop):
                moved = self.state.identities.merge(keep, drop)
                chats = self.state.chats_of
                dropped = chats.pop(drop, set())
                if dropped:
                    chats.setdefault(keep, set()).update(dropped)
                self._save_customer(keep)
                merged_into = self.state.identities.current_id(drop)
                self.record(("customer", drop, (), merged_into, None, None))
                return sorted(map(list, moved))
            case Describe():
                return {"customers": len(self.state.identities), "open": len(self.state.open)}
            case _:
                return super().handle(message)
        return None

    def _inbound(self, inbound: Inbound) -> dict[str, Any] | None:
        customer = self._customer(inbound)
        key = self._open_key(customer, inbound)
        draining = self.state.draining.get(key)
        if draining is not None:
            draining.waiting.append(inbound)  # after the rerouted ones, in order
            return None
        return self._route(inbound, customer, key)

    def _reroute(self, inbound: Inbound, closed: ConversationId) -> dict[str, Any] | None:
        state = self.state
        customer = self._customer(inbound)
        key = self._open_key(customer, inbound)
        if state.open.get(key) == closed:
            del state.open[key]
        routed = self._route(inbound, customer, key)
        draining = state.draining.get(key)
        if draining is not None and draining.closed == closed:
            draining.in_flight -= 1
            if draining.in_flight <= 0:
                self._drained(key)
        return routed

    def _drained(self, key: OpenKey) -> None:
        draining = self.state.draining.pop(key)
        for waiting in draining.waiting:
            self._inbound(waiting)

    def _route(self, inbound: Inbound, customer: CustomerId, key: OpenKey) -> dict[str, Any]:
        state = self.state
        conversation_id = state.open.get(key)
        created = conversation_id is None
        if conversation_id is None:
            conversation_id = self._open_conversation(customer, key, inbound)
        address = self.routing.conversations.adopt(conversation_id)
        state.forwarded[conversation_id] = state.forwarded.get(conversation_id, 0) + 1
        address.tell(CustomerMessage(inbound, customer))
        return {"customer_id": customer, "conversation_id": conversation_id, "created": created}

    def _open_conversation(self, customer: CustomerId, key: OpenKey, inbound: Inbound) -> str:
        routing = self.routing
        queue_id = routing.queue_for(inbound.channel, inbound.account)
        config = routing.queue_config(queue_id)
        now = self.clock.now()
        # calls and the last agent are known here; open chats answer for themselves
        preferred, engaged = affinity.preferred_agent(
            self._engaged(customer), now, config.returning_window
        )
        conversation_id = routing.new_conversation_id()
        chats = self.state.chats_of.setdefault(customer, set())
        siblings = tuple(sorted(chats))
        chats.add(conversation_id)
        state = ConversationState(
            conversation_id=conversation_id,
            customer_id=customer,
            channel=inbound.channel,
            account=inbound.account,
            queue_id=queue_id,
            workspace=inbound.workspace,
            status=ConversationStatus.QUEUED,
            created_at=now,
            status_since=now,
            queued_at=now,
            queue_seq=routing.next_seq(),
            contact=inbound.sender,
            previous_conversation_id=self.state.last_closed.get(key),
            preferred_agent=preferred,
            preferred_wait=config.affinity_wait if engaged else 0.0,
            siblings=siblings,
        )
        self.state.open[key] = conversation_id
        routing.conversations.open(conversation_id, state)
        return conversation_id

    def _chat_ended(self, change: ChatEnded) -> None:
        customer = self.state.identities.current_id(change.customer_id)
        now = self.clock.now()
        self._set_engagement(
            customer, affinity.chat_closed(self._engaged(customer), change.agent_id, now)
        )
        chats = self.state.chats_of.get(customer)
        if chats is not None:
            chats.discard(change.conversation_id)
            if not chats:
                del self.state.chats_of[customer]
        state = self.state
        key = (customer, change.channel, change.account)
        if state.open.get(key) == change.conversation_id:
            del state.open[key]
        state.last_closed[key] = change.conversation_id
        self.record(("last_closed", key, change.conversation_id))
        sent = state.forwarded.pop(change.conversation_id, 0)
        in_flight = sent - change.customer_messages
        if in_flight > 0:  # they will come back as Reroute, ahead of anything newer
            closed = change.conversation_id
            state.draining[key] = _Draining(closed, in_flight)
            # never wait for ever (a message lost to a failed actor does not come back)
            self.clock.call_later(
                _DRAIN_LIMIT_S, lambda: self.address.tell(_DrainExpired(key, closed))
            )

    # -- helpers -------------------------------------------------------------------

    def _customer(self, inbound: Inbound) -> CustomerId:
        keys = [(inbound.channel.value, f"{inbound.account}:{inbound.sender}"), *inbound.identities]
        return self._resolve(keys)

    def _resolve(self, keys: list[tuple[str, str]]) -> CustomerId:
        identities = self.state.identities
        known = len(identities)
        customer = identities.resolve(keys, self._new_customer_id)
        if len(identities) != known:  # a new customer, or new keys for one
            self._save_customer(customer)
        return customer

    def _save_customer(self, customer: CustomerId) -> None:
        if not self.durable:
            return
        engagement = self._engaged(customer)
        keys = tuple(sorted(self.state.identities.keys_of(customer)))
        # written at once: the conversation this message may open is written before
        # this step ends, and must never be on disk without its customer
        self.write_now(
            ("customer", customer, keys, None, engagement.last_agent, engagement.last_resolved_at)
        )

    def _open_key(self, customer: CustomerId, inbound: Inbound) -> OpenKey:
        return (customer, inbound.channel, inbound.account)

    def _phone_customer(self, phone: str) -> CustomerId:
        return self._resolve([("phone", phone)])

    def _new_customer_id(self) -> CustomerId:
        return self.routing.new_customer_id()

    def _engaged(self, customer: CustomerId) -> Engagement:
        return self.state.engagements.get(customer) or Engagement()

    def _set_engagement(self, customer: CustomerId, engagement: Engagement) -> None:
        before = self._engaged(customer)
        remembered = (engagement.last_agent, engagement.last_resolved_at)
        if remembered != (before.last_agent, before.last_resolved_at):
            self.state.engagements[customer] = engagement
            self._save_customer(customer)
        if engagement.chats or engagement.calls or engagement.last_agent is not None:
            self.state.engagements[customer] = engagement
        else:
            self.state.engagements.pop(customer, None)
