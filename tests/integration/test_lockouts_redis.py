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


async def test_the_lock_cache_in_redis(redis_state) -> None:
    lockouts = StateLockouts(redis_state, failures=3, window_s=600, lockout_s=3600)
    key, now = "msisdn:+254712345678", int(time.time())
    assert not await lockouts.locked(key)
    await lockouts.remember(key, now + 3600, now)
    assert await lockouts.locked(key) and not await lockouts.locked("msisdn:+254700000000")
    assert 55 <= await redis_state.ttl("lockout:lock:" + key) <= 60  # an unlock elsewhere reaches it soon
    await lockouts.remember("card:12345678", now + 10, now)
    assert 5 <= await redis_state.ttl("lockout:lock:card:12345678") <= 10
    await lockouts.forget(key, "card:12345678")
    assert not await lockouts.locked(key) and not await lockouts.locked("card:12345678")
    assert [await lockouts.tally("pin_failures", 60) for _ in range(3)] == [1, 2, 3]
    assert 55 <= await redis_state.ttl("lockout:tally:pin_failures") <= 60


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


async def test_a_lockout_survives_a_restart_of_a_redis_without_persistence(gateway_client) -> None:
    """A throwaway ``redis-server --save "" --appendonly no``: lock a phone, restart Redis, still locked."""
    from billing_core import subscriptions
    from gateway.keys import BILLING
    from gateway.sms.inbound import handle_inbound
    from tests.resilience.test_peers_down import PrivateRedis
    from tv_notify.texts import refusal

    redis = PrivateRedis()
    redis.start()
    try:
        client = await gateway_client(**{"security.pin_key": "restart-test-pin-key-0123456789",
                                         "security.lockout_failures": 3,
                                         "redis.url": f"redis://127.0.0.1:{redis.port}/0"})
        billing = client.app[BILLING]
        await subscriptions.add_package(billing, "BASIC", "Basic", 30, 100, ("101",))
        await subscriptions.add_subscriber(billing, "40000001", "+254712345678", package="BASIC")
        rows: list[tuple[str, str]] = []
        await cards.generate_batch(billing, name="R1", count=1, tvu=100, sink=rows.extend)
        await cards.activate_cards(billing, "R1")

        def say(text: str, n: int):
            return handle_inbound(client.app, "+254712345678", text, channel="africastalking", message_id=f"r{n}")

        for n in range(3):
            assert await say(f"TOPUP {new_pin(14, __import__('random').Random(n).randrange)}", n) == refusal(
                "pin_invalid", "en")
        assert await say(f"TOPUP {rows[0][1]}", 10) == refusal("locked_out", "en")
        redis.kill()
        redis.start()  # empty: nothing was saved
        for n in range(11, 60):  # the first calls may find the old connection gone
            reply = await say(f"TOPUP {rows[0][1]}", n)
            if reply != refusal("lockouts_unavailable", "en"):
                break
            await asyncio.sleep(0.1)
        assert reply == refusal("locked_out", "en")
        assert (await subscriptions.show_subscriber(billing, "40000001")).wallet_tvu == 0
        assert [lock.key for lock in await cards.list_lockouts(billing)] == ["msisdn:+254712345678"]
    finally:
        redis.kill()
