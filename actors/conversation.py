"""The conversation actor: the one owner of a conversation's lifecycle.

How this works: every command (park, resolve, transfer, a customer message...)
is checked against the literal lifecycle table (``routing.lifecycle``) and the
right to act (only the assigned agent parks or resolves; invited colleagues may
write).  The conversation then tells the agent and queue actors what changed;
they own capacity and waiting order.  Park frees the agent's slot at once (the
agent moves the chat to its parked set).  A customer message on a parked chat
unparks it by the queue's post-park policy: the same agent if *that agent*
accepts (it alone knows whether it is online with room), else the queue; or
the queue; or a flow.  While the agent decides, further customer messages are
held and handed over after.  A resolved conversation is closed for good: a later
customer message goes back to the directory, which opens a new, linked one.
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import Any

from actors import events
from actors.base import RoutingActor
from actors.errors import BadRequest, Forbidden, InvalidTransition
from actors.messages import (
    AgentMessage,
    Assigned,
    ChatClosed,
    ChatEnded,
    ChatUpdate,
    CustomerMessage,
    DeliveryUpdate,
    Describe,
    Enqueue,
    Inbound,
    Invite,
    Offer,
    Park,
    ParkTimedOut,
    Remove,
    Requeue,
    Reroute,
    Resolve,
    ServedBy,
    SetWorkStatus,
    SiblingsSilent,
    SlaDue,
    Transfer,
    TransferAnswer,
    UnparkAnswer,
    UnparkRequest,
    WhoServes,
    Withdraw,
)
from actors.routing import affinity, lifecycle
from actors.routing.lifecycle import Event
from actors.routing.model import (
    HOLDS_SLOT,
    AgentId,
    ConversationState,
    ConversationStatus,
    PostParkPolicy,
    QueueConfig,
    QueueEntry,
    evolve,
)

__all__ = ["ConversationActor"]

_WORK_EVENTS = {
    ConversationStatus.IN_WORK: Event.SET_IN_WORK,
    ConversationStatus.AWAITING_CUSTOMER: Event.AWAIT_CUSTOMER,
    ConversationStatus.IN_DEVELOPMENT: Event.IN_DEVELOPMENT,
    ConversationStatus.SOLUTION_PROPOSED: Event.PROPOSE_SOLUTION,
}
_PASSIVE = frozenset(
    {ConversationStatus.PARKED, ConversationStatus.AWAITING_CUSTOMER, ConversationStatus.RESOLVED}
)
_offer_ids = itertools.count(1)
_SLA_RANK = {"normal": 0, "bad": 1, "unsatisfactory": 2}
#: customer messages kept for the next agent; the full transcript is in storage
_HOLD_LIMIT = 50
#: seconds a new chat waits for the customer's other open chats to say who serves them
#: (they answer within microseconds unless their actor is down)
_SIBLINGS_WAIT_S = 1.0


class ConversationActor(RoutingActor[ConversationState]):
    """Owns one conversation: its status, its agent, its participants."""

    def on_start(self) -> None:
        # customer messages no agent has seen yet (waiting in the queue, or for an unpark
        # decision), with what arrived, so a resolve that overtakes them can pass them on
        self._held: list[tuple[object, Inbound]] = []
        self._unparking = False
        self._transfer: tuple[int, AgentId | None] | None = None
        #: answers of the customer's other open chats, while asking them (affinity)
        self._answers: dict[str, ServedBy | None] | None = None
        state = self.state
        if state.status is ConversationStatus.QUEUED and state.siblings:
            self._ask_siblings()  # after a restart too: the question is asked again
        elif state.status is ConversationStatus.QUEUED:
            self._enqueue(resume=True)  # idempotent: a restart re-announces a waiting chat
        elif state.status is ConversationStatus.PARKED and state.parked_at is not None:
            self._arm_park_timeout(state.parked_at)  # after a restart or a wake-up
        elif state.status is ConversationStatus.FLOW:
            self.routing.flows.start(self)
        self._arm_sla()

    @property
    def queue_config(self) -> QueueConfig:
        return self.routing.queue_config(self.state.queue_id)

    def can_passivate(self) -> bool:
        return self.state.status in _PASSIVE and not self._unparking and self._transfer is None

    def handle(self, message: Any) -> Any:
        match message:
            case CustomerMessage():
                self._customer_message(message)
            case Assigned(agent_id, queue_id):
                self._assigned(agent_id, queue_id)
            case UnparkAnswer(agent_id, accepted, _reason):
                self._unpark_answer(agent_id, accepted)
            case ParkTimedOut(parked_at):
                self._park_timed_out(parked_at)
            case TransferAnswer():
                self._transfer_answer(message)
            case Requeue(agent_id, reason):
                self._requeue(agent_id, reason)
            case AgentMessage(agent_id, content):
                return self._agent_message(agent_id, content)
            case DeliveryUpdate():
                self._delivery(message)
            case SlaDue(status, since, level):
                self._sla_due(status, since, level)
            case WhoServes(asker):
                self._who_serves(asker)
            case ServedBy():
                self._served_by(message)
            case SiblingsSilent():
                self._siblings_answered()
            case Describe():
                return self.describe()
            case _:
                return self._command(message)
        return None

    def _command(self, message: Any) -> Any:
        """A client's command: carried out, then answered with the conversation's state."""
        match message:
            case Park(agent_id):
                self._park(agent_id)
            case SetWorkStatus(agent_id, status):
                self._set_work_status(agent_id, status)
            case Resolve(agent_id, topic):
                self._resolve(agent_id, topic)
            case Transfer():
                self._transfer_to(message)
            case Invite(agent_id, colleague):
                self._invite(agent_id, colleague)
            case Remove(agent_id, colleague):
                self._remove(agent_id, colleague)
            case _:
                return super().handle(message)
        return self.describe()

    # -- customer side ----------------------------------------------------------

    def _customer_message(self, message: CustomerMessage) -> None:
        state = self.state
        inbound = message.inbound
        if state.status is ConversationStatus.RESOLVED:
            self.routing.directory.tell(Reroute(inbound, state.conversation_id))
            return
        now = self.clock.now()
        status: ConversationStatus = state.status
        if status is not ConversationStatus.PARKED:
            status = lifecycle.transition(status, Event.CUSTOMER_MESSAGE)
        if self.durable:
            self._log(
                "message",
                direction="in",
                provider_message_id=inbound.provider_message_id,
                timestamp=inbound.timestamp,
                content=dict(inbound.content),
            )
            if inbound.inbox_id is not None:
                self.record(("ack", inbound.inbox_id))
        thread = inbound.content.get("thread")
        self.state = evolve(
            state,
            status=status,
            status_since=now if status is not state.status else state.status_since,
            sla_level="normal" if status is not state.status else state.sla_level,
            messages=state.messages + 1,
            customer_messages=state.customer_messages + 1,
            last_customer_message_at=now,
            last_customer_message_id=inbound.provider_message_id,
            thread=thread if isinstance(thread, dict) else state.thread,
        )
        event = events.ConversationMessage(
            state.conversation_id,
            {
                "direction": "in",
                "provider_message_id": inbound.provider_message_id,
                "timestamp": inbound.timestamp,
                "content": dict(inbound.content),
            },
        )
        if state.status is ConversationStatus.PARKED:
            self._hold(event, inbound)
            self._unpark()
        elif state.agent_id is not None:
            self._tell_participants(event)
        else:
            self._hold(event, inbound)  # queued or in a flow: the agent who takes it gets them

    def _flush_held(self) -> None:
        held, self._held = self._held, []
        for event, _inbound in held:
            self._tell_participants(event)

    def _hold(self, event: object, inbound: Inbound) -> None:
        if len(self._held) < _HOLD_LIMIT:
            self._held.append((event, inbound))

    def _pass_on_unseen(self) -> None:
        """Resolved with customer messages no agent saw (the customer wrote while the agent
        closed the chat): they go back to the directory, which opens a new conversation."""
        held, self._held = self._held, []
        for _event, inbound in held:
            self._log("rerouted", provider_message_id=inbound.provider_message_id)
            self.routing.directory.tell(Reroute(inbound, self.state.conversation_id))

    def _unpark(self) -> None:
        if self._unparking:
            return
        state = self.state
        policy = self.queue_config.post_park
        if policy is PostParkPolicy.SAME_AGENT and state.parked_by is not None:
            agent = self.routing.agents.get(state.parked_by)
            if agent is not None:
                self._unparking = True
                agent.tell(UnparkRequest(state.conversation_id))
                return
        self._release_parked("unparked to " + policy.value)
        if policy is PostParkPolicy.FLOW:
            self._commit(Event.UNPARK_TO_FLOW, agent_id=None, parked_by=None, parked_at=None)
            self.routing.flows.start(self)
        else:
            self._commit(Event.UNPARK_TO_QUEUE, agent_id=None, parked_by=None, parked_at=None)
            self._enqueue()

    def _unpark_answer(self, agent_id: AgentId, accepted: bool) -> None:
        state = self.state
        self._unparking = False
        if state.status is not ConversationStatus.PARKED or state.parked_by != agent_id:
            if accepted:  # we moved on meanwhile (resolved, timed out): give the slot back
                self._tell_agent(agent_id, ChatClosed(state.conversation_id, "no longer parked"))
            return
        if accepted:
            self._commit(Event.UNPARK_TO_AGENT, agent_id=agent_id, parked_by=None, parked_at=None)
            unparked = events.ConversationUnparked(state.conversation_id)
            self._push(agent_id, unparked)
            self._flush_held()
        else:
            # the agent is not eligible: it dropped the chat; the queue takes it, and
            # still prefers this agent should they be free when it is routed
            self._commit(
                Event.UNPARK_TO_QUEUE,
                agent_id=None,
                parked_by=None,
                parked_at=None,
                preferred_agent=agent_id,
            )
            self._enqueue()

    def hand_off(self) -> None:
        """The flow is done: the conversation joins its queue."""
        self._commit(Event.HAND_OFF)
        self._enqueue()

    # -- queue and agent side -------------------------------------------------------

    def _assigned(self, agent_id: AgentId, queue_id: str) -> None:
        state = self.state
        if state.status is not ConversationStatus.QUEUED or queue_id != state.queue_id:
            self._tell_agent(agent_id, ChatClosed(state.conversation_id, "not waiting any more"))
            return
        self._commit(
            Event.ASSIGN,
            agent_id=agent_id,
            preferred_agent=None,
            preferred_wait=0.0,
            invited=state.invited - {agent_id} if agent_id in state.invited else state.invited,
            assigned_at=self.clock.now(),
        )
        self._announce_assigned(agent_id)
        self._flush_held()

    # -- cross-channel affinity: the customer's other open chats say who serves them --

    def _ask_siblings(self) -> None:
        """Ask the customer's other open chats who holds them, before joining the queue."""
        conversations = self.routing.conversations
        self._answers = {}
        for sibling in self.state.siblings:
            address = conversations.get(sibling)
            if address is not None:
                self._answers[sibling] = None
                address.tell(WhoServes(self.state.conversation_id))
        if not self._answers:
            self._siblings_answered()
            return
        address = self.address
        self.clock.call_later(_SIBLINGS_WAIT_S, lambda: address.tell(SiblingsSilent()))

    def _who_serves(self, asker: str) -> None:
        state = self.state
        if state.status in HOLDS_SLOT:
            holder = state.agent_id
        elif state.status is ConversationStatus.PARKED:
            holder = state.parked_by
        else:
            holder = None
        address = self.routing.conversations.get(asker)
        if address is not None:
            address.tell(ServedBy(state.conversation_id, holder, state.assigned_at))

    def _served_by(self, answer: ServedBy) -> None:
        answers = self._answers
        if answers is None or answer.conversation_id not in answers:
            return  # late: the time to wait was up
        answers[answer.conversation_id] = answer
        if all(a is not None for a in answers.values()):
            self._siblings_answered()

    def _siblings_answered(self) -> None:
        """Prefer the agent of the most recently assigned open chat, then join the queue."""
        answers, self._answers = self._answers, None
        if answers is None:
            return  # already decided (all answered before the time was up)
        engagement = affinity.Engagement()
        for answer in answers.values():
            if answer is not None and answer.agent_id is not None:
                since = answer.since if answer.since is not None else 0.0
                engagement = affinity.with_chat(
                    engagement, answer.conversation_id, answer.agent_id, since
                )
        state = self.state
        preferred, _engaged = affinity.preferred_agent(engagement, self.clock.now(), 0.0)
        if preferred is not None:  # an open chat outranks a call or a returning customer
            wait = self.queue_config.affinity_wait
            state = evolve(state, preferred_agent=preferred, preferred_wait=wait, siblings=())
        else:
            state = evolve(state, siblings=())
        self.state = state
        if state.status is ConversationStatus.QUEUED:
            self._enqueue(resume=True)

    def _agent_message(self, agent_id: AgentId, content: Any) -> dict[str, Any]:
        state = self.state
        self._check_participant(agent_id)
        if not lifecycle.is_open(state.status):
            raise InvalidTransition(f"conversation {state.conversation_id} is resolved")
        if not isinstance(content, dict) or not isinstance(content.get("kind"), str):
            raise BadRequest("content must be an object with a 'kind'", code="invalid_content")
        check = self.routing.outbound_checks.get(state.channel)
        if check is not None:  # channel rules (WhatsApp's 24-hour window...) refuse early
            check(state, content, self.clock.now())
        self.state = evolve(
            state, last_agent_message_at=self.clock.now(), messages=state.messages + 1
        )
        message_id = f"msg_{self.routing.ids.next_id('message')}"
        message = {
            "direction": "out",
            "message_id": message_id,
            "agent_id": agent_id,
            "content": content,
            "status": "pending",
        }
        self._log("message", **message)
        if self.durable:
            self.record(("outbox", {
                "message_id": message_id,
                "conversation_id": state.conversation_id,
                "channel": state.channel.value,
                "account": state.account,
                "to": state.contact,
                "reply_to": state.last_customer_message_id,
                "thread": dict(state.thread),
                "content": content,
                "queued_at": self.clock.wall(),
                "last_customer_message_at": state.last_customer_message_at,
            }))  # fmt: skip
        self._tell_participants(
            events.ConversationMessage(state.conversation_id, message), skip=agent_id
        )
        return message

    # -- SLA norms and supervisors ---------------------------------------------------------

    def _arm_sla(self) -> None:
        """Timers for the queue's norms of the current status (from when it began)."""
        state = self.state
        norms = self.queue_config.sla.get(state.status) if lifecycle.is_open(state.status) else None
        if not norms:
            return
        now = self.clock.now()
        status, since = state.status, state.status_since or state.created_at
        address = self.address
        for level, after in (("bad", norms[0]), ("unsatisfactory", norms[1])):
            if _SLA_RANK[level] > _SLA_RANK[state.sla_level]:
                left = max(0.0, since + after - now)
                self.clock.call_later(left, partial(address.tell, SlaDue(status, since, level)))

    def _sla_due(self, status: ConversationStatus, since: float, level: str) -> None:
        state = self.state
        if state.status is not status or (state.status_since or state.created_at) != since:
            return  # moved on meanwhile
        if _SLA_RANK[level] <= _SLA_RANK[state.sla_level]:
            return
        self.state = evolve(state, sla_level=level)
        seconds = self.clock.now() - since
        holder = state.agent_id or state.parked_by
        self._log("sla", status=status.value, level=level, seconds=seconds, agent_id=holder)
        alert = events.SlaAlert(
            state.conversation_id, state.queue_id, status.value, level, seconds, holder
        )
        if holder is not None:
            self._push(holder, alert)
        self.routing.watch(state.workspace, alert)
        self._changed()

    def _changed(self) -> None:
        """Tell the workspace's supervisors, if any watch."""
        state = self.state
        if state.workspace in self.routing.watchers:
            self.routing.watch(state.workspace, events.ConversationChanged(self.describe()))

    def _delivery(self, update: DeliveryUpdate) -> None:
        """A delivery receipt: logged (unless the ingress did) and shown to the participants."""
        fields = {
            "message_id": update.message_id,
            "status": update.status,
            "provider_message_id": update.provider_message_id,
            "error": dict(update.error) if update.error else None,
        }
        if not update.recorded:
            self._log("delivery", **fields)
        event = events.ConversationMessage(
            self.state.conversation_id, {"direction": "out", "delivery": True, **fields}
        )
        self._tell_participants(event)

    def _park(self, agent_id: AgentId) -> None:
        state = self.state
        self._check_assignee(agent_id)
        now = self.clock.now()
        self._commit(Event.PARK, parked_by=agent_id, parked_at=now)
        parked = events.ConversationParked(state.conversation_id)
        self._push(agent_id, parked)
        self._tell_agent(agent_id, ChatUpdate(state.conversation_id, None, parked=True))
        self._arm_park_timeout(now)

    def _arm_park_timeout(self, parked_at: float) -> None:
        timeout = self.queue_config.park_timeout
        if timeout is not None:
            left = parked_at + timeout - self.clock.now()
            self.clock.call_later(left, lambda: self.address.tell(ParkTimedOut(parked_at)))

    def _park_timed_out(self, parked_at: float) -> None:
        state = self.state
        if state.status is not ConversationStatus.PARKED or state.parked_at != parked_at:
            return
        if self._unparking:
            return  # the customer wrote; the unpark decides
        config = self.queue_config
        if config.park_timeout_closes:
            holder = state.parked_by
            self._commit(
                Event.PARK_TIMEOUT_CLOSE,
                topic=config.park_timeout_topic,
                resolved_at=self.clock.now(),
                parked_at=None,
            )
            resolved = events.ConversationResolved(state.conversation_id, config.park_timeout_topic)
            if holder is not None:
                self._push(holder, resolved)
                self._tell_agent(holder, ChatClosed(state.conversation_id, "park timed out"))
            self._report_closed(holder)
            return
        holder = state.parked_by
        if holder is not None:
            requeued = events.ConversationRequeued(state.conversation_id, "park timed out")
            self._push(holder, requeued)
            self._tell_agent(holder, ChatClosed(state.conversation_id, "park timed out"))
        self._commit(Event.PARK_TIMEOUT_REQUEUE, agent_id=None, parked_by=None, parked_at=None)
        self._enqueue()

    def _set_work_status(self, agent_id: AgentId, status: ConversationStatus) -> None:
        event = _WORK_EVENTS.get(status)
        if event is None:
            raise BadRequest(f"an agent cannot set status {status.value!r}", code="invalid_status")
        self._check_assignee(agent_id)
        self._commit(event)

    def _resolve(self, agent_id: AgentId | None, topic: str | None) -> None:
        state = self.state
        if agent_id is not None:
            self._check_assignee(agent_id)
        resolved = lifecycle.resolve(state, topic, self.clock.now())
        self.state = resolved
        self._changed()
        self._log("resolved", agent_id=agent_id, topic=resolved.topic)
        event = events.ConversationResolved(state.conversation_id, resolved.topic or "")
        if state.status is ConversationStatus.QUEUED:
            self._tell_queue(Withdraw(state.conversation_id))
        holder = state.agent_id or state.parked_by
        if holder is not None:
            for participant in (holder, *state.invited):
                self._push(participant, event)
            self._tell_agent(holder, ChatClosed(state.conversation_id, "resolved"))
        self._report_closed(holder)
        self._pass_on_unseen()  # after the closing notice: the new one links to this one

    def _requeue(self, agent_id: AgentId, reason: str) -> None:
        state = self.state
        if state.agent_id != agent_id or state.status not in HOLDS_SLOT:
            return
        self._commit(Event.REQUEUE, agent_id=None)
        self._enqueue(at=state.created_at)
        requeued = events.ConversationRequeued(state.conversation_id, reason)
        for colleague in state.invited:
            self._push(colleague, requeued)

    # -- transfers and colleagues ---------------------------------------------------------

    def _transfer_to(self, transfer: Transfer) -> None:
        state = self.state
        if transfer.agent_id is not None and state.status is not ConversationStatus.QUEUED:
            self._check_assignee(transfer.agent_id)
        if (transfer.to_agent is None) == (transfer.to_queue is None):
            raise BadRequest("give exactly one of to_agent and to_queue", code="invalid_transfer")
        if transfer.to_queue is not None:
            self.routing.queue_config(transfer.to_queue)  # NotFound if unknown
            lifecycle.transition(state.status, Event.REQUEUE)  # refuse before anyone hears
            moved = events.ConversationTransferred(
                state.conversation_id, state.agent_id, None, transfer.to_queue
            )
            self._leave_current_place(moved)
            self._commit(Event.REQUEUE, agent_id=None, queue_id=transfer.to_queue)
            self._enqueue()
            return
        target = transfer.to_agent
        assert target is not None
        if target == state.agent_id:
            raise BadRequest("the conversation is already with that agent", code="same_agent")
        lifecycle.transition(state.status, Event.TRANSFER_TO_AGENT)  # refuse early if invalid
        if self.routing.agents.get(target) is None:
            raise BadRequest(f"no agent {target}", code="unknown_agent")
        offer_id = next(_offer_ids)
        self._transfer = (offer_id, transfer.agent_id)
        self._tell_agent(
            target,
            Offer(
                offer_id,
                state.conversation_id,
                state.channel,
                {},
                state.queue_id,
                transfer=True,
            ),
        )

    def _transfer_answer(self, answer: TransferAnswer) -> None:
        state = self.state
        pending, self._transfer = self._transfer, None
        valid = pending is not None and pending[0] == answer.offer_id
        if not answer.accepted:
            if valid and pending is not None and pending[1] is not None:
                failed = events.ConversationTransferred(
                    state.conversation_id, state.agent_id, None, None
                )
                self._push(pending[1], failed)
            return
        if not valid or Event.TRANSFER_TO_AGENT not in lifecycle.allowed_events(state.status):
            self._tell_agent(answer.agent_id, ChatClosed(state.conversation_id, "transfer void"))
            return
        moved = events.ConversationTransferred(
            state.conversation_id, state.agent_id, answer.agent_id, None
        )
        self._leave_current_place(moved)
        self._commit(
            Event.TRANSFER_TO_AGENT,
            agent_id=answer.agent_id,
            preferred_agent=None,
            invited=state.invited - {answer.agent_id},
            assigned_at=self.clock.now(),
        )
        self._announce_assigned(answer.agent_id)
        self._flush_held()

    def _leave_current_place(self, event: events.Event) -> None:
        state = self.state
        if state.status is ConversationStatus.QUEUED:
            self._tell_queue(Withdraw(state.conversation_id))
        elif state.agent_id is not None:
            self._push(state.agent_id, event)
            self._tell_agent(state.agent_id, ChatClosed(state.conversation_id, "transferred"))

    def _invite(self, agent_id: AgentId, colleague: AgentId) -> None:
        state = self.state
        self._check_assignee(agent_id)
        if colleague == state.agent_id or colleague in state.invited:
            return
        if self.routing.agents.get(colleague) is None:
            raise BadRequest(f"no agent {colleague}", code="unknown_agent")
        self.state = evolve(state, invited=state.invited | {colleague})
        self._log("invited", agent_id=agent_id, colleague=colleague)
        invited = events.ConversationInvited(state.conversation_id, agent_id, self.summary())
        self._push(colleague, invited)

    def _remove(self, agent_id: AgentId | None, colleague: AgentId) -> None:
        state = self.state
        if agent_id is not None and agent_id != colleague:
            self._check_assignee(agent_id)
        if colleague not in state.invited:
            return
        self.state = evolve(state, invited=state.invited - {colleague})
        self._log("removed", agent_id=agent_id, colleague=colleague)
        removed = events.ConversationRemoved(state.conversation_id, agent_id)
        self._push(colleague, removed)

    # -- helpers ----------------------------------------------------------------------

    def _commit(self, event: Event, **changes: Any) -> None:
        state = self.state
        status = lifecycle.transition(state.status, event)
        if status is not state.status:
            changes.setdefault("status_since", self.clock.now())
            changes.setdefault("sla_level", "normal")
        new = evolve(state, status=status, **changes)
        self.state = new
        if status is not state.status:
            self._arm_sla()
        self._changed()
        if self.durable:
            self._log(
                "status",
                event=event.value,
                status=new.status.value,
                agent_id=new.agent_id or new.parked_by,
                queue_id=new.queue_id,
            )

    def _log(self, kind: str, **fields: Any) -> None:
        """Add an entry to the conversation's event log (kept if this step succeeds)."""
        if self.durable:
            self.record(("log", {"type": kind, "at": self.clock.wall(), **fields}))

    def _check_assignee(self, agent_id: AgentId) -> None:
        state = self.state
        if agent_id not in (state.agent_id, state.parked_by):
            raise Forbidden(f"conversation {state.conversation_id} is not assigned to {agent_id}")

    def _check_participant(self, agent_id: AgentId) -> None:
        if agent_id != self.state.agent_id and agent_id not in self.state.invited:
            raise Forbidden(f"{agent_id} is not in conversation {self.state.conversation_id}")

    def _enqueue(self, at: float | None = None, *, resume: bool = False) -> None:
        """Join the queue; ``resume`` re-announces the place the state already holds."""
        state = self.state
        now = self.clock.now()
        if not resume or state.queued_at is None:
            queued_at = now if at is None else at
            state = evolve(state, queued_at=queued_at, queue_seq=self.routing.next_seq())
            self.state = state
        preferred_until = now + state.preferred_wait if state.preferred_agent is not None else now
        assert state.queued_at is not None
        entry = QueueEntry(
            conversation_id=state.conversation_id,
            channel=state.channel,
            priority=state.priority,
            enqueued_at=state.queued_at,
            seq=state.queue_seq,
            preferred_agent=state.preferred_agent,
            preferred_until=preferred_until,
        )
        self._tell_queue(Enqueue(entry))

    def _announce_assigned(self, agent_id: AgentId) -> None:
        """Tell the agent's connections, now that this conversation accepts their commands."""
        conversation_id = self.state.conversation_id
        assigned = events.ConversationAssigned(conversation_id, self.summary())
        self._push(agent_id, assigned)

    def _release_parked(self, reason: str) -> None:
        holder = self.state.parked_by
        if holder is not None:
            self._tell_agent(holder, ChatClosed(self.state.conversation_id, reason))

    def _report_closed(self, holder: AgentId | None) -> None:
        """Tell the directory the chat closed, and who held it last (its next preference)."""
        state = self.state
        self.routing.directory.tell(
            ChatEnded(
                state.customer_id,
                state.conversation_id,
                state.channel,
                state.account,
                holder,
                state.customer_messages,
            )
        )

    def _tell_agent(self, agent_id: AgentId, message: object) -> None:
        agent = self.routing.agents.get(agent_id)
        if agent is not None:
            agent.tell(message)

    def _tell_queue(self, message: object) -> None:
        queue = self.routing.queues.get(self.state.queue_id)
        if queue is not None:
            queue.tell(message)

    def _tell_participants(self, event: object, skip: AgentId | None = None) -> None:
        state = self.state
        for agent_id in (state.agent_id, *state.invited):
            if agent_id is not None and agent_id != skip:
                self._push(agent_id, event)

    def _push(self, agent_id: AgentId, event: object) -> None:
        """Show an event about this conversation on the agent's connections.

        The conversation owns these facts, so it tells the connections itself; the
        agent actor keeps the list of connections and hears only of what changes its
        capacity.  Events of one conversation thus reach a connection in order.
        """
        for sink in tuple(self.routing.agent_sinks.get(agent_id, ())):
            sink.push(event)

    def summary(self) -> dict[str, Any]:
        state = self.state
        clock = self.clock
        return {
            "conversation_id": state.conversation_id,
            "customer_id": state.customer_id,
            "channel": state.channel.value,
            "account": state.account,
            "queue_id": state.queue_id,
            "priority": state.priority,
            "created_at": clock.wall() - (clock.now() - state.created_at),
            "previous_conversation_id": state.previous_conversation_id,
        }

    def describe(self) -> dict[str, Any]:
        state = self.state
        return {
            **self.summary(),
            "status": state.status.value,
            "agent_id": state.agent_id,
            "parked_by": state.parked_by,
            "invited": sorted(state.invited),
            "topic": state.topic,
            "messages": state.messages,
            "status_since": state.status_since,
            "sla_level": state.sla_level,
        }
