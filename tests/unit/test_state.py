"""In-process state and lockouts on it, with a clock moved by hand (``clock``: conftest's FakeClock)."""
from __future__ import annotations

import pytest

from config.settings import load_settings
from gateway.state import MemoryState, RedisState, StateLockouts, lockouts_from_settings, open_state
from gateway.state.memory import StateFull


async def test_counters_live_for_a_fixed_window_from_the_first_event(clock) -> None:
    state = MemoryState(clock=clock)
    assert [await state.incr("c", 60) for _ in range(3)] == [1, 2, 3]
    clock.advance(59)
    assert await state.incr("c", 60) == 4 and await state.ttl("c") == 1  # later events keep the deadline
    clock.advance(1)
    assert await state.get("c") is None and await state.ttl("c") is None
    assert await state.incr("c", 60) == 1


async def test_set_if_absent_with_a_ttl(clock) -> None:
    state = MemoryState(clock=clock)
    assert await state.set_nx("k", "a", 10)
    assert not await state.set_nx("k", "b", 10) and await state.get("k") == "a"
    clock.advance(10)
    assert await state.set_nx("k", "c", 10) and await state.get("k") == "c"
    await state.set("k", "d", 5)
    assert await state.get("k") == "d" and await state.ttl("k") == 5
    assert await state.delete("k", "nope") == 1 and await state.get("k") is None


async def test_the_store_is_bounded_and_drops_expired_keys_first(clock) -> None:
    state = MemoryState(clock=clock, max_keys=100, namespace_max=100)
    for i in range(50):
        await state.set(f"short:{i}", "x", 1)
    for i in range(50):
        await state.set(f"long:{i}", "x", 1000)
    clock.advance(2)
    for i in range(50):
        await state.set(f"new:{i}", "x", 1000)
    assert len(state) == 100
    assert len(await state.scan("long:", 1000)) == 50  # the expired ones made room
    for i in range(500):
        with pytest.raises(StateFull):  # nothing live is evicted for a newcomer
            await state.set(f"flood:{i}", "x", 1000)
    assert len(state) == 100 and len(await state.scan("long:", 1000)) == 50


def lockouts_on(clock, failures: int = 3) -> StateLockouts:
    return StateLockouts(MemoryState(clock=clock), failures=failures, window_s=600, lockout_s=3600, clock=clock)


async def test_the_lock_cache_holds_a_lock_for_at_most_a_minute(clock) -> None:
    lockouts = lockouts_on(clock)
    assert not await lockouts.locked("msisdn:+254712345678")
    await lockouts.remember("msisdn:+254712345678", clock.now + 3600, clock.now)
    await lockouts.remember("card:12345678", clock.now + 10, clock.now)
    assert await lockouts.locked("msisdn:+254712345678") and await lockouts.locked("card:12345678")
    assert not await lockouts.locked("msisdn:+254700000000")  # other phones are not concerned
    clock.advance(10)
    assert not await lockouts.locked("card:12345678")  # its lock ended
    clock.advance(50)
    assert not await lockouts.locked("msisdn:+254712345678")  # the database is asked again
    await lockouts.remember("msisdn:+254712345678", clock.now + 3600, clock.now)
    await lockouts.forget("msisdn:+254712345678")
    assert not await lockouts.locked("msisdn:+254712345678")


async def test_a_full_store_does_not_break_the_lock_cache(clock) -> None:
    lockouts = StateLockouts(MemoryState(clock=clock, max_keys=1), failures=3, window_s=600, lockout_s=3600,
                             clock=clock)
    await lockouts.remember("msisdn:+254712345678", clock.now + 3600, clock.now)
    await lockouts.remember("msisdn:+254700000000", clock.now + 3600, clock.now)  # no room: not cached, no error
    assert await lockouts.locked("msisdn:+254712345678") and not await lockouts.locked("msisdn:+254700000000")


async def test_tally_counts_across_keys_in_its_window(clock) -> None:
    lockouts = lockouts_on(clock)
    assert [await lockouts.tally("pin_failures", 60) for _ in range(3)] == [1, 2, 3]
    clock.advance(60)
    assert await lockouts.tally("pin_failures", 60) == 1


async def test_factory_chooses_the_store_from_settings(clock) -> None:
    plain = load_settings(environ={})
    state = open_state(plain, clock=clock)
    assert isinstance(state, MemoryState)
    lockouts = lockouts_from_settings(plain, state, clock=clock)
    assert (lockouts.policy.failures, lockouts.policy.window_s, lockouts.policy.lockout_s) == (5, 3600, 3600)
    shared = open_state(plain.replace(**{"redis.url": "redis://127.0.0.1:6379/0", "redis.key_prefix": "p:"}))
    assert isinstance(shared, RedisState)
    await shared.close()


def _timed_sets(state: MemoryState, prefix: str, count: int) -> float:
    import asyncio as _asyncio
    import time as _time

    async def run() -> None:
        for i in range(count):
            try:
                await state.set(f"{prefix}:{i}", "x", 1000)
            except StateFull:
                pass

    started = _time.perf_counter()
    _asyncio.get_event_loop_policy().new_event_loop().run_until_complete(run())
    return _time.perf_counter() - started


def test_a_full_store_stays_fast(clock) -> None:
    """New keys past the cap cost about what they cost in an empty store (no sweep of the whole store)."""
    state = MemoryState(clock=clock, max_keys=30_000, namespace_max=30_000)
    empty = _timed_sets(state, "first", 2_000)
    _timed_sets(state, "fill", 30_000)
    full = _timed_sets(state, "past", 2_000)
    assert full < 10 * empty + 0.05, (empty, full)


async def test_a_full_store_refuses_new_keys_and_keeps_what_it_has(clock) -> None:
    state = MemoryState(clock=clock, max_keys=100, namespace_max=100)
    await state.set("lockout:lock:msisdn:+254712345678", "x", 3600)
    for i in range(99):
        await state.incr(f"rate:ussd:{i}", 60)
    refused = 0
    for i in range(1000):  # a flood of new senders
        try:
            await state.incr(f"rate:sms:{i}", 3600)
        except StateFull as full:
            refused += 1
            assert "full" in str(full)
    assert refused == 1000 and len(state) == 100
    clock.advance(7 * 60)
    assert await state.get("lockout:lock:msisdn:+254712345678") == "x"  # nothing evicted before its time
    assert await state.incr("rate:ussd:0", 60) == 1  # expired keys make room again
    assert await state.incr("rate:sms:1", 3600) == 1


async def test_expired_keys_are_dropped_without_a_sweep(clock) -> None:
    state = MemoryState(clock=clock, max_keys=1_000, namespace_max=1_000)
    for i in range(1_000):
        await state.set(f"old:{i}", "x", 10 + i % 7)
    clock.advance(20)
    for i in range(1_000):
        await state.set(f"new:{i}", "x", 60)
    assert len(state) == 1_000 and await state.scan("old:", 10) == []


async def test_a_flood_in_one_namespace_leaves_room_for_the_others(clock) -> None:
    """33k SMS from made-up senders filled the store; USSD sessions must still find room."""
    state = MemoryState(clock=clock, max_keys=1_000)  # 250 keys per namespace
    refused = 0
    for n in range(2_000):
        for key in (f"sms:seen:africastalking:ATXid_{n}", f"rate:sms_inbound:+2547{n:08d}",
                    f"rate:sms_replies:+2547{n:08d}"):
            try:
                await state.incr(key, 3600)
            except StateFull:
                refused += 1
    assert len(state) == 750 and refused == 6_000 - 750
    for n in range(120):
        await state.set(f"ussd:s:ATUid_{n}", "{}", 300)
        assert await state.incr(f"rate:ussd:+25471200{n:04d}", 60) == 1
    assert await state.delete("rate:sms_inbound:+254700000000") == 1
    assert await state.incr("rate:sms_inbound:+254799999999", 3600) == 1  # its namespace has room again
    clock.advance(3600)
    assert await state.incr("rate:sms_inbound:+254788888888", 3600) == 1 and len(state) == 1
