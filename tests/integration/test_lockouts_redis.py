"""Lockouts in the real Redis (127.0.0.1:6379), and what happens when Redis is away.

Each test works under its own key prefix and deletes its keys afterwards.
"""
from __future__ import annotations

import asyncio
import socket
import time
import uuid

import pytest

from billing_core import cards
from billing_core.context import Billing
from billing_core.lockouts import LockoutsUnavailable
from billing_core.money import Rates
from billing_core.pins import PinKey, PinPolicy, new_pin
from gateway.state import RedisState, StateLockouts, StateUnavailable

pytestmark = pytest.mark.redis
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_state():
    prefix = f"tvtopup-test:{uuid.uuid4().hex[:12]}:"
    state = RedisState.from_url(REDIS_URL, prefix=prefix, timeout_s=2.0)
    yield state
    for key in await state.scan("", 10_000):
        await state.delete(key)
    assert await state.scan("", 10) == []
    await state.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nobody listens once it is closed


async def test_lockouts_in_redis(redis_state) -> None:
    lockouts = StateLockouts(redis_state, failures=3, window_s=600, lockout_s=3600)
    key = "msisdn:+254712345678"
    assert [await lockouts.failure(key) for _ in range(2)] == [1, 2]
    assert 590 <= await redis_state.ttl("lockout:fail:" + key) <= 600  # the window runs from the first failure
    assert not await lockouts.locked(key)
    assert await lockouts.failure(key) == 3
    assert await lockouts.locked(key) and not await lockouts.locked("msisdn:+254700000000")
    [lock] = await lockouts.list()
    assert lock.key == key and 3590 <= lock.remaining_s <= 3600 and abs(lock.locked_at - time.time()) < 60
    assert await redis_state.get("lockout:fail:" + key) is None  # the count starts over after the lockout
    assert await lockouts.clear(key) and not await lockouts.locked(key) and await lockouts.list() == []
    assert [await lockouts.tally("pin_failures", 60) for _ in range(3)] == [1, 2, 3]
    assert 55 <= await redis_state.ttl("lockout:tally:pin_failures") <= 60


async def test_concurrent_failures_all_count_and_lock_once(redis_state) -> None:
    lockouts = StateLockouts(redis_state, failures=25, window_s=600, lockout_s=600)
    counts = await asyncio.gather(*(lockouts.failure("card:12345678") for _ in range(20)))
    assert sorted(counts) == list(range(1, 21))  # INCR is atomic: no failure is lost
    assert not await lockouts.locked("card:12345678")
    await asyncio.gather(*(lockouts.failure("card:12345678") for _ in range(10)))
    assert await lockouts.locked("card:12345678")
    assert [lock.key for lock in await lockouts.list()] == ["card:12345678"]


async def test_redis_down_refuses_redemption_fast() -> None:
    state = RedisState.from_url(f"redis://127.0.0.1:{closed_port()}/0", prefix="x:", timeout_s=1.0)
    lockouts = StateLockouts(state, failures=5, window_s=600, lockout_s=600)
    # no database: the refusal comes before any lookup
    shop = Billing(db=None, rates=Rates({"KES": 100}), pins=PinPolicy(current=PinKey(1, b"k" * 32)))
    started = time.monotonic()
    with pytest.raises(LockoutsUnavailable) as refused:
        await cards.redeem_card(shop, lockouts, pin=new_pin(14), msisdn="+254712345678", channel="ussd",
                                card="40000001")
    assert refused.value.code == "lockouts_unavailable" and refused.value.http_status == 503
    assert time.monotonic() - started < 5
    await state.close()


async def test_a_silent_redis_times_out_instead_of_hanging() -> None:
    async def accept_and_ignore(reader, writer):
        await asyncio.sleep(30)

    server = await asyncio.start_server(accept_and_ignore, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state = RedisState.from_url(f"redis://127.0.0.1:{port}/0", prefix="x:", timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(StateUnavailable):
        await state.incr("lockout:fail:x", 60)
    assert time.monotonic() - started < 5
    await state.close()
    server.close()
