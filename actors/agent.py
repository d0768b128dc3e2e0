"""The agent actor: the one owner of an agent's status, capacity and chats.

How this works: queues and transfers *offer* chats; this actor alone decides
(``capacity.decide_offer``), so the concurrent-chat limit holds however many
queues offer at once.  After every change it pushes a fresh ``AgentView`` to
each queue it belongs to, which is how queues learn that a slot freed up or
that the agent came online.  Connections (websockets) register as event sinks;
when the last one drops, a grace period starts on the routing clock, and only
when it ends does the agent go offline and its chats follow the configured
policy (keep, or back to the queue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actors import events
from actors.base import RoutingActor
from actors.errors import NotFound
from actors.messages import (
    AgentChanged,
    AgentConnect,
    AgentDisconnect,
    ChatClosed,
    ChatUpdate,
    Describe,
    EventSink,
    GraceExpired,
    Offer,
    OfferAnswer,
    QueueDone,
    Requeue,
    SetStatus,
    TransferAnswer,
    UnparkAnswer,
    UnparkRequest,
    UpdateProfile,
)
from actors.routing import capacity
from actors.routing.model import AgentState, AgentStatus, AgentView, Capacity, QueueId, evolve
from actors.routing.ready import has_room

if TYPE_CHECKING:
    from actors.runtime.clock import Timer

__all__ = ["AgentActor"]


class _RoundCheck:
    """The agent's round timer: has the queue asked in the current round answered?"""

    __slots__ = ()


class AgentActor(RoutingActor[AgentState]):
    """Owns one agent: status, capacity, active and parked chats, connections."""

    def on_start(self) -> None:
        # connections outlive a restart of this actor, so they are kept by the system
        self._sinks: list[EventSink] = self.routing.agent_sinks.setdefault(self.state.agent_id, [])
        self._grace: Timer | None = None
        self._published = -1
        self._round = 0
        self._owed: list[str] = []  # queues not yet asked in this round
        self._asking: str | None = None  # the queue whose answer the round waits for
        self._asked_at = 0.0
        self._round_timer: Timer | None = None
        self._idle_queues: set[str] = set()  # queues that had nothing waiting when last asked
        self._told: dict[str, AgentView] = {}  # the view each queue last heard from us
        self._queues_of: frozenset[QueueId] | None = None  # the membership last sorted
        self._queue_order: list[QueueId] = []
        state = self.state
        if not state.status_since:  # a new agent: in its status (offline) from now on
            state = self.state = evolve(state, status_since=self.clock.now())
        if not self._sinks and not state.connected and state.disconnected_at is not None:
            # restored while its grace period runs (a restart of the server): the period
            # goes on from when it began
            self._start_grace(state.disconnected_at)
        self._publish()

    def handle(self, message: Any) -> Any:
        match message:
            case Offer():
                return self._offer(message)
            case UnparkRequest(conversation_id):
                return self._unpark(conversation_id)
            case ChatClosed(conversation_id, _reason):
                self._commit(capacity.release(self.state, conversation_id, self.clock.now()))
            case ChatUpdate(conversation_id, event, parked):
                if parked and conversation_id in self.state.active:
                    self._commit(capacity.park(self.state, conversation_id))
                if event is not None:
                    self._push(event)
            case SetStatus(status):
                return self._set_status(status)
            case UpdateProfile(queues, skills, capacity_):
                return self._update_profile(queues, skills, capacity_)
            case AgentConnect(sink):
                return self._connect(sink)
            case AgentDisconnect(sink):
                self._disconnect(sink)
            case GraceExpired(disconnected_at):
                self._grace_expired(disconnected_at)
            case QueueDone(queue_id, round_, empty):
                if empty:
                    self._idle_queues.add(queue_id)
                else:
                    self._idle_queues.discard(queue_id)
                if round_ == self._round and queue_id == self._asking:
                    self._next_in_round()
            case _RoundCheck():
                self._round_check()
            case Describe():
                return self.describe()
            case _:
                return super().handle(message)
        return None

    # -- decisions carried out ------------------------------------------------

    def _offer(self, offer: Offer) -> None:
        now = self.clock.now()
        if offer.transfer:
            pass  # a colleague's hand-over says nothing about the queue
        elif offer.line_empty:  # the queue's last chat: ask the others first next time
            self._idle_queues.add(offer.queue_id)
        else:
            self._idle_queues.discard(offer.queue_id)
        decline = capacity.decide_offer(
            self.state, offer.conversation_id, offer.channel, offer.required_skills
        )
        if decline is None:
            # the offering queue learns the new view from the answer; the others now
            state = capacity.take(self.state, offer.conversation_id, offer.channel, now)
            self.state = state
            self._watch()
            # other queues' copies may overstate the room left (costing at most a declined
            # offer); they must hear at once when none is left
            if capacity.free_slots(state, offer.channel) == 0 or offer.transfer:
                self._publish(skip=None if offer.transfer else offer.queue_id)
            # the connection hears "assigned" from the conversation, once it knows
        view = capacity.view_of(self.state)
        accepted = decline is None
        reason = None if decline is None else decline.value
        if offer.transfer:
            conversation = self.routing.conversations.get(offer.conversation_id)
            if conversation is not None:
                answer = TransferAnswer(offer.offer_id, self.state.agent_id, accepted, reason)
                conversation.tell(answer)
        else:
            queue = self.routing.queues.get(offer.queue_id)
            self._told[offer.queue_id] = view
            if queue is not None:
                queue.tell(
                    OfferAnswer(
                        offer.offer_id,
                        offer.conversation_id,
                        self.state.agent_id,
                        accepted,
                        reason,
                        view,
                    )
                )

    def _unpark(self, conversation_id: str) -> None:
        state, decline = capacity.unpark(self.state, conversation_id, self.clock.now())
        self._commit(state)
        conversation = self.routing.conversations.get(conversation_id)
        if conversation is not None:
            reason = None if decline is None else decline.value
            conversation.tell(UnparkAnswer(self.state.agent_id, decline is None, reason))

    def _set_status(self, status: AgentStatus) -> dict[str, Any]:
        state = capacity.set_status(self.state, status, self.clock.now())
        if state is not self.state:
            self._commit(state)
            self._push(events.StatusChanged(state.agent_id, state.status.value, self.since()))
        return self.describe()

    def _update_profile(
        self, queues: frozenset[QueueId], skills: Any, capacity_: Capacity
    ) -> dict[str, Any]:
        state = self.state
        left = state.queues - queues
        if left:  # queues it left must stop offering to it: they see it go offline
            gone = capacity.view_of(evolve(state, status=AgentStatus.OFFLINE))
            for queue_id in sorted(left):
                self._told.pop(queue_id, None)
                self._tell_queue(queue_id, AgentChanged(gone))
        if queues != state.queues:  # a round under way asks the old queues: start anew
            self._asking = None
            self._owed = []
        updated = evolve(
            state,
            queues=queues,
            skills=dict(skills),
            capacity=capacity_,
            version=state.version + 1,
        )
        self._commit(updated)
        return self.describe()

    def _connect(self, sink: EventSink) -> dict[str, Any]:
        if sink not in self._sinks:
            self._sinks.append(sink)
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        self._commit(capacity.reconnect(self.state, self.clock.now()))
        return self.describe()

    def _disconnect(self, sink: EventSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)
        if self._sinks or not self.state.connected:
            return
        now = self.clock.now()
        self._commit(capacity.disconnect(self.state, now))
        at = self.state.disconnected_at
        assert at is not None
        self._start_grace(at)

    def _start_grace(self, at: float) -> None:
        left = at + self.routing.settings.disconnect_grace_s - self.clock.now()
        self._grace = self.clock.call_later(left, lambda: self.address.tell(GraceExpired(at)))

    def _grace_expired(self, disconnected_at: float) -> None:
        settings = self.routing.settings
        state = self.state
        if state.disconnected_at != disconnected_at:
            return  # reconnected (and maybe dropped again) since
        if not capacity.grace_expired(state, self.clock.now(), settings.disconnect_grace_s):
            return
        self._grace = None
        state, requeue = capacity.go_offline_after_grace(
            state, self.clock.now(), settings.disconnect_policy
        )
        self._commit(state)
        for conversation_id in requeue:
            conversation = self.routing.conversations.get(conversation_id)
            if conversation is not None:
                conversation.tell(Requeue(state.agent_id, "agent offline"))

    # -- plumbing -------------------------------------------------------------------

    def _commit(self, state: AgentState) -> None:
        self.state = state
        self._publish()
        self._watch()

    def _watch(self) -> None:
        workspace = self.state.workspace
        if workspace in self.routing.watchers:
            self.routing.watch(workspace, events.AgentChanged(self.describe()))

    def _publish(self, skip: str | None = None) -> None:
        """Tell the queues what changed.

        With free slots and several queues, one queue at a time is asked to fill
        them (a *round*): each answers ``QueueDone`` when it has nothing more, and
        the next is asked.  Asking all at once would have every queue offer the
        same slot and all but one offer declined.  One round at a time: room that
        frees while a round is under way reaches the queue being asked with its next
        offer's answer, and the queues after it with their turn (a fresh view each
        time); a queue that does not answer within its offer time-out is passed over.
        Queues that said they had nothing at all waiting hear at once, outside the
        round (no answer expected): they learn of the room, so a chat arriving there
        is offered without delay, and the round does not wait on them.  Without free
        slots (or with one queue) every queue hears at once — except, while the agent
        stays online and full, queues whose last view already showed no room: nothing
        they decide changes.
        """
        state = self.state
        if state.version == self._published:
            return
        self._published = state.version
        view = capacity.view_of(state)
        if state.queues is not self._queues_of:  # a new membership: sort it once
            self._queues_of = state.queues
            self._queue_order = sorted(state.queues)
        queues = [q for q in self._queue_order if q != skip]
        if not has_room(view) or len(queues) <= 1:
            self._round += 1  # whatever round was under way is over
            self._owed = []
            self._asking = None
            for queue_id in queues:
                if self._stale(queue_id, view):
                    self._send_view(queue_id, view)
            return
        if self._asking is not None:
            # a round is under way: the queue asked hears the new room from its offer's
            # answer, the next ones when their turn comes (a fresh view each time)
            for queue_id in queues:
                if queue_id in self._idle_queues:
                    self._send_view(queue_id, view)
            return
        self._round += 1
        start = self._round % len(queues)  # rotate who is asked first
        asked = []
        for queue_id in queues[start:] + queues[:start]:
            if queue_id in self._idle_queues:
                self._send_view(queue_id, view)
            else:
                asked.append(queue_id)
        self._owed = asked
        self._next_in_round()

    def _stale(self, queue_id: str, view: AgentView) -> bool:
        """Whether the queue must hear of ``view`` (a view with room always must)."""
        told = self._told.get(queue_id)
        return (
            told is None
            or has_room(view)
            or has_room(told)
            or told.status is not view.status
            or told.capacity != view.capacity
            or told.skills != view.skills
        )

    def _send_view(self, queue_id: str, view: AgentView, round_: int | None = None) -> None:
        self._told[queue_id] = view
        self._tell_queue(queue_id, AgentChanged(view, round_))

    def _next_in_round(self) -> None:
        """Ask the next queue of the round, with a fresh view; or end the round."""
        view = capacity.view_of(self.state)
        if not self._owed or not has_room(view):
            self._owed = []
            self._asking = None
            return
        queue_id = self._asking = self._owed.pop(0)
        self._asked_at = self.clock.now()
        self._send_view(queue_id, view, self._round)
        if self._round_timer is None:
            self._arm_round_check(self._answer_within(queue_id))

    def _answer_within(self, queue_id: str) -> float:
        try:
            return self.routing.queue_config(queue_id).offer_timeout
        except NotFound:
            return 0.0

    def _arm_round_check(self, delay: float) -> None:
        # one timer per agent, not per round: queues answer within microseconds unless
        # their actor is down, when the round must not wait for ever
        address = self.address
        self._round_timer = self.clock.call_later(delay, lambda: address.tell(_RoundCheck()))

    def _round_check(self) -> None:
        self._round_timer = None
        if self._asking is None:
            return
        left = self._asked_at + self._answer_within(self._asking) - self.clock.now()
        if left > 0:
            self._arm_round_check(left)
        else:  # the queue asked did not answer: go on without it
            self._next_in_round()

    def _tell_queue(self, queue_id: str, message: object) -> None:
        queue = self.routing.queues.get(queue_id)
        if queue is not None:
            queue.tell(message)

    def _push(self, event: object) -> None:
        for sink in self._sinks:
            sink.push(event)

    def since(self) -> float:
        """Wall-clock time of the last status change."""
        return self.clock.wall() - (self.clock.now() - self.state.status_since)

    def describe(self) -> dict[str, Any]:
        state = self.state
        return {
            "agent_id": state.agent_id,
            "workspace": state.workspace,
            "status": state.status.value,
            "status_since": self.since(),
            "seconds_in_status": self.clock.now() - state.status_since,
            "connected": state.connected,
            "capacity": state.capacity.total,
            "active": sorted(state.active),
            "parked": sorted(state.parked),
            "queues": sorted(state.queues),
        }
