"""Telegram's flood limits, kept by the sender instead of learnt from 429s.

How this works: Telegram asks bots to send at most about one message per second to one
chat and about 30 per second overall; past that it answers 429 with a ``retry_after``
that can reach minutes.  Each send *books* a start time before it goes out: the
earliest moment that is (a) now or later, (b) at least ``per_chat`` seconds after the
chat's last booking, and (c) at least ``1 / overall`` seconds away from every other
booked start, of any chat.  (c) looks for a free gap among the booked starts rather
than queueing behind the last one, so a chat with a backlog (its next slot seconds
away) never holds up the other chats.  Booking is synchronous — no lock, no await
between reading and writing the bookings — so concurrent trio tasks simply get
consecutive slots, in the order they asked.  The caller then sleeps until its slot.

A 429 names how long Telegram wants the bot to wait: ``hold(chat, seconds)`` pushes the
chat's next slot that far, so every send queued for the chat waits, not just the one
that was refused.

A booked slot that is not used (the task was cancelled while waiting) is simply lost:
the limiter errs on the side of sending later, never sooner.  Bookings in the past are
forgotten as time goes on, so memory follows the sends waiting, not the chats seen.
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable

import trio

__all__ = ["RateLimiter"]


class RateLimiter:
    """Spaces one bot's sends: per chat and overall (see the module's docstring).

    ``clock`` (seconds, monotonic; trio's clock by default, so ``MockClock`` drives it in
    tests) and ``sleep`` are injectable.
    """

    def __init__(
        self,
        *,
        per_chat: float = 1.0,
        overall: float = 30.0,
        clock: Callable[[], float] = trio.current_time,
        sleep: Callable[[float], Awaitable[None]] = trio.sleep,
        prune_above: int = 4096,
    ) -> None:
        if per_chat < 0.0:
            raise ValueError("per_chat must be at least 0 seconds")
        if overall <= 0.0:
            raise ValueError("overall must be more than 0 messages per second")
        self._per_chat = per_chat
        self._spacing = 1.0 / overall
        self._clock = clock
        self._sleep = sleep
        self._prune_above = prune_above
        self._booked: list[float] = []  # start times of every chat, sorted
        self._next_chat: dict[str, float] = {}

    def reserve(self, chat: str) -> float:
        """Book the next slot for ``chat``; the seconds to wait for it (0: go now)."""
        now = self._clock()
        del self._booked[: bisect.bisect_left(self._booked, now - self._spacing)]
        start = self._free_slot(max(now, self._next_chat.get(chat, now)))
        bisect.insort(self._booked, start)
        self._next_chat[chat] = start + self._per_chat
        if len(self._next_chat) > self._prune_above:
            self._prune(now)
        return start - now

    async def acquire(self, chat: str) -> None:
        """Wait for this chat's next slot (a checkpoint even when it is now)."""
        wait = self.reserve(chat)
        if wait > 0.0:
            await self._sleep(wait)
        else:
            await trio.lowlevel.checkpoint()

    def hold(self, chat: str, seconds: float) -> None:
        """Nothing goes to ``chat`` for ``seconds`` from now (Telegram's ``retry_after``)."""
        until = self._clock() + max(0.0, seconds)
        self._next_chat[chat] = max(self._next_chat.get(chat, until), until)

    def _free_slot(self, earliest: float) -> float:
        """The first start from ``earliest`` on that is ``spacing`` away from every booking."""
        start = earliest
        i = bisect.bisect_right(self._booked, start - self._spacing)
        while i < len(self._booked) and self._booked[i] < start + self._spacing:
            start = max(start, self._booked[i] + self._spacing)
            i += 1
        return start

    def _prune(self, now: float) -> None:
        """Forget chats whose last booking is over: they constrain nothing any more."""
        for chat in [c for c, t in self._next_chat.items() if t <= now]:
            del self._next_chat[chat]
