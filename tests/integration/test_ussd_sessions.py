"""USSD sessions in real Redis (shared by two gateway apps, with a time to live), Redis
going away, and paying a renewal by M-Pesa STK push from the menu (queued, then the
real result callback credits and renews)."""
from __future__ import annotations

import asyncio
import socket
import uuid

import pytest
import redis.asyncio as aioredis

from billing_core import subscriptions
from billing_core.db import outbox_store
from gateway.keys import BILLING
from tests.integration.test_mpesa_stk import ACK, mpesa
from tests.integration.test_ussd_flows import CARD, MSISDN, Phone, subscriber
from tests.peers.fake_daraja import FakeDaraja

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_prefix():
    prefix = f"tvtopup-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = aioredis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.mark.redis
async def test_sessions_live_in_redis_with_a_ttl_and_any_process_continues_them(gateway_client, redis_prefix):
    settings = {"redis.url": REDIS_URL, "redis.key_prefix": redis_prefix, "ussd.session_ttl_s": 120}
    one = await gateway_client(**settings)
    two = await gateway_client(**settings)
    billing = one.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic bouquet", 30, 100, ("101",))
    await subscriber(one, "en", wallet=150)
    phone = Phone(one)
    await phone.dial()
    phone.client = two  # the load balancer sends the next hop to another gateway process
    assert "Wallet: 50 TVU" in await phone.send("1")

    redis = aioredis.from_url(REDIS_URL)
    try:
        key = f"{redis_prefix}ussd:s:{phone.sid}"
        assert 100 <= await redis.ttl(key) <= 120
        stored = (await redis.get(key)).decode()
        assert '"node":"balance"' in stored and MSISDN in stored
        # The session expires; the aggregator goes on with the old text: read from the start,
        # so the confirmation it carries is refused and nothing moves.
        await redis.pexpire(key, 1)
        await asyncio.sleep(0.05)
        phone.client = one
        assert (await phone.post("1*0*3*1*1*1")).startswith("END ")
    finally:
        await redis.aclose()
    view = await subscriptions.show_subscriber(billing, CARD)
    assert view.wallet_tvu == 50


async def test_without_redis_the_menu_says_so_and_nothing_moves(gateway_client) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = await gateway_client(**{"redis.url": f"redis://127.0.0.1:{port}/0"})
    screen = await Phone(client).dial()
    assert screen.startswith("END ") and "Service busy" in screen


@pytest.fixture
async def daraja(aiohttp_server):
    fake = FakeDaraja()
    server = await aiohttp_server(fake.app)
    fake.base_url = str(server.make_url(""))
    return fake


async def test_renewal_paid_by_stk_push_from_the_menu(gateway_client, daraja) -> None:
    client = await gateway_client(**mpesa(daraja), **{"ussd.pay_provider": "mpesa"})
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic bouquet", 30, 100, ("101",))
    await subscriber(client, "en", wallet=40)  # not enough for Basic: 60 TVU short
    phone = Phone(client)
    await phone.dial()
    await phone.send("3")
    assert "2. M-Pesa KES 60.00" in await phone.send("1")
    assert "Pay KES 60.00 by M-Pesa from this phone for Basic bouquet" in await phone.send("2")
    screen = await phone.send("1")
    assert screen.startswith("END Approve the payment of KES 60.00")
    for _ in range(100):  # the push is queued, not awaited by the menu
        if daraja.pushes:
            break
        await asyncio.sleep(0.02)
    [(checkout, push)] = daraja.pushes.items()
    assert (push["Amount"], push["AccountReference"], push["PhoneNumber"]) == (60, CARD, "254712345678")
    assert await daraja.send_result(checkout, client.make_url("/")) == (200, ACK)
    view = await subscriptions.show_subscriber(billing, CARD)
    assert (view.status, view.wallet_tvu) == ("active", 0)
    events = await billing.db.read(lambda conn: outbox_store.list_events(conn, card=CARD, limit=20))
    assert any(e.kind == "sms.send" and "active until" in e.payload["text"] for e in events)


async def test_mobile_money_not_configured_is_refused_before_anyone_is_asked(gateway_client) -> None:
    client = await gateway_client(**{"ussd.pay_provider": "mpesa"})  # no Daraja credentials
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic bouquet", 30, 100, ("101",))
    await subscriber(client, "en")
    phone = Phone(client)
    await phone.dial()
    await phone.send("3")
    await phone.send("1")
    await phone.send("2")
    screen = await phone.send("1")
    assert screen.startswith("END ") and "Service busy" in screen
