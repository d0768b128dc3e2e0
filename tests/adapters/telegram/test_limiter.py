"""adapters.telegram.limiter in trio's virtual time: sends spaced per chat and overall."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from adapters.telegram.limiter import RateLimiter


async def start_times(limiter: RateLimiter, chats: list[str]) -> list[tuple[str, float]]:
    """Each chat's send started concurrently (in this order); when each was let through."""
    started: list[tuple[str, float]] = []

    async def send(chat: str) -> None:
        await limiter.acquire(chat)
        started.append((chat, trio.current_time()))

    async with trio.open_nursery() as nursery:
        for chat in chats:
            nursery.start_soon(send, chat)
            await trio.lowlevel.checkpoint()  # start in this order
    return started


async def test_one_chat_gets_at_most_one_message_a_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter()
    assert await start_times(limiter, ["a"] * 4) == [("a", 0.0), ("a", 1.0), ("a", 2.0), ("a", 3.0)]


async def test_other_chats_are_not_held_up_by_a_busy_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(overall=30.0)
    started = await start_times(limiter, ["a", "a", "b", "c"])
    assert [chat for chat, _ in started] == ["a", "b", "c", "a"]
    times = dict(started[:3])
    assert times["a"] == 0.0
    assert times["b"] == pytest.approx(1 / 30)
    assert times["c"] == pytest.approx(2 / 30)
    assert started[3] == ("a", 1.0)


async def test_all_chats_together_get_at_most_thirty_a_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter()
    started = await start_times(limiter, [f"chat{i}" for i in range(61)])
    times = [t for _, t in started]
    assert times == sorted(times)
    assert times[-1] == pytest.approx(2.0)  # 61 sends: 0 s, 1/30 s, ..., 60/30 s
    for second in range(2):  # in any window of one second, at most 30 sends
        assert sum(1 for t in times if second <= t < second + 1 - 1e-9) <= 30


async def test_a_quiet_chat_sends_at_once(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter()
    await limiter.acquire("a")
    await trio.sleep(5)
    assert limiter.reserve("a") == 0.0


async def test_telegram_s_retry_after_holds_every_send_to_the_chat(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter()
    limiter.hold("a", 7.0)
    started = await start_times(limiter, ["a", "b", "a"])
    assert started[0] == ("b", 0.0)
    assert started[1:] == [("a", 7.0), ("a", 8.0)]


async def test_a_cancelled_wait_only_makes_later_sends_later(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter()
    await limiter.acquire("a")
    with trio.move_on_after(0.5):
        await limiter.acquire("a")  # booked the slot at 1 s, gave up at 0.5 s
    await limiter.acquire("a")
    assert trio.current_time() == 2.0


def test_forgotten_chats_are_pruned_once_their_slot_has_passed() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0], prune_above=3)
    for chat in "abc":
        limiter.reserve(chat)
    now[0] = 10.0
    limiter.reserve("d")  # four chats booked: the three passed ones are forgotten
    assert list(limiter._next_chat) == ["d"]
    assert limiter.reserve("a") == pytest.approx(1 / 30)  # only the overall spacing is left
    assert limiter.reserve("d") == 1.0


@pytest.mark.parametrize(("per_chat", "overall"), [(-1.0, 30.0), (1.0, 0.0)])
def test_limits_must_make_sense(per_chat: float, overall: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(per_chat=per_chat, overall=overall)
