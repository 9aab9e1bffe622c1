"""MTN MoMo collection end to end: the real app, a local MTN peer, SQLite and PostgreSQL.

A callback is only a hint: every credit here follows MTN's authenticated status call.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from billing_core import payments, subscriptions
from billing_core.db import payment_store
from billing_core.errors import InvalidAmount, UnknownCard
from billing_core.money import Money
from gateway.keys import BILLING
from gateway.providers.mtn_momo import collection
from gateway.providers.mtn_momo.routes import MOMO
from tests.peers import fake_momo
from tests.peers.fake_momo import FakeMomo

CARD = "10000001"
PAYER = "+256772123456"
UGX_15000 = Money.of("15000", "UGX")  # 300 TVU at 50 UGX a TVU
TOKEN = "cb-s3cret"


@pytest.fixture
async def momo(aiohttp_server):
    fake = FakeMomo()
    fake.server = await aiohttp_server(fake.app())
    return fake


@pytest.fixture
def start(gateway_client, momo):
    async def start(workers: bool = False, **overrides):
        client = await gateway_client(workers=workers, **{
            "mtn.base_url": str(momo.server.make_url("")), "mtn.api_user": fake_momo.API_USER,
            "mtn.api_key": fake_momo.API_KEY, "mtn.subscription_key": fake_momo.SUBSCRIPTION_KEY,
            "mtn.currency": "UGX", "currencies.UGX": 50, "mtn.callback_token": TOKEN,
            "mtn.callback_url": "https://gateway.example/mobile-money/mtn/callback",
            "mtn.timeout_s": 2.0, "mtn.poll_s": 30.0, "mtn.polls_max": 3, **overrides})
        await subscriptions.add_subscriber(client.app[BILLING], CARD, "+254712345678")
        return client

    return start


async def request_to_pay(client, amount: Money = UGX_15000):
    return await collection.start_request_to_pay(client.app[BILLING], client.app[MOMO], CARD, PAYER, amount)


async def wallet(client) -> int:
    return (await subscriptions.show_subscriber(client.app[BILLING], CARD)).wallet_tvu


async def card_payments(client) -> list:
    return await client.app[BILLING].db.read(payment_store.for_card, CARD)


async def test_callback_confirmed_by_status_credits_once(start, momo):
    client = await start()
    request = await request_to_pay(client)
    assert request.status == "pending" and request.reference in momo.requests
    assert momo.requests[request.reference].body["payer"]["partyId"] == "256772123456"
    momo.succeed(request.reference, "7300129913")
    for method in ("PUT", "POST"):  # delivered twice, as MTN may
        status, body = await momo.send_callback(request.reference, client.make_url("/"), method=method)
        assert (status, body) == (200, {"status": "successful"})
    assert momo.calls["status"] == 2
    assert await wallet(client) == 300
    [payment] = await card_payments(client)
    assert (payment.provider, payment.txid, payment.amount, payment.status) == \
        ("mtn", "7300129913", UGX_15000, "credited")
    settled = await payments.find_request(client.app[BILLING], reference=request.reference)
    assert (settled.status, settled.payment_id) == ("successful", payment.id)


async def test_a_forged_callback_credits_nothing(start, momo):
    client = await start()
    request = await request_to_pay(client)
    forged = {**momo.requests[request.reference].status, "status": "SUCCESSFUL", "financialTransactionId": "999"}
    status, body = await momo.send_callback(request.reference, client.make_url("/"), body=forged)
    assert (status, body) == (200, {"status": "pending"})  # MTN says PENDING
    momo.fail(request.reference)
    status, body = await momo.send_callback(request.reference, client.make_url("/"), body=forged)
    assert (status, body) == (200, {"status": "failed"})
    assert await wallet(client) == 0 and await card_payments(client) == []
    failed = await payments.find_request(client.app[BILLING], reference=request.reference)
    assert (failed.status, failed.result_code, failed.result_desc) == ("failed", "FAILED", "APPROVAL_REJECTED")


async def test_callback_refusals(start, momo):
    client = await start()
    request = await request_to_pay(client)
    momo.succeed(request.reference, "7300129913")
    path = "/mobile-money/mtn/callback"
    resp = await client.put(path, params={"ref": request.reference, "token": "wrong"}, json={})
    assert resp.status == 403
    resp = await client.put(path, params={"ref": request.reference}, json={})
    assert resp.status == 403
    resp = await client.put(path, params={"ref": "not-a-uuid", "token": TOKEN}, json={})
    assert resp.status == 400 and (await resp.json())["error"] == "bad_request"
    resp = await client.put(path, params={"ref": request.reference, "token": TOKEN}, data=b"{nope")
    assert resp.status == 400
    resp = await client.put(path, params={"ref": "0f2c1d6e-4b5a-4e3f-9a8b-7c6d5e4f3a2b", "token": TOKEN}, json={})
    assert resp.status == 404
    assert momo.calls["status"] == 0 and await wallet(client) == 0
    resp = await client.put(path, params={"token": TOKEN}, json={"externalId": request.reference})
    assert (resp.status, await resp.json()) == (200, {"status": "successful"})  # the id from the body


async def test_polling_settles_when_no_callback_comes(start, momo, clock):
    client = await start()
    request = await request_to_pay(client)
    momo.succeed(request.reference, "7300129914")
    poller = collection.poller(client.app[BILLING], client.app[MOMO])
    assert (await poller.run_once()).settled == 0  # not due before poll_s
    assert momo.calls["status"] == 0
    clock.advance(30)
    report = await poller.run_once()
    assert (report.settled, report.pending, report.errors) == (1, 0, 0)
    assert await wallet(client) == 300
    clock.advance(30)
    assert await poller.run_once() == type(report)()  # nothing left to ask about
    assert momo.calls["status"] == 1


async def test_polls_max_gives_up_and_a_later_success_still_credits(start, momo, clock):
    client = await start()
    request = await request_to_pay(client)
    poller = collection.poller(client.app[BILLING], client.app[MOMO])
    for _ in range(3):
        clock.advance(30)
        assert (await poller.run_once()).pending == 1
    given_up = await payments.find_request(client.app[BILLING], reference=request.reference)
    assert (given_up.status, given_up.result_code, given_up.polls) == ("failed", "timeout", 3)
    clock.advance(30)
    assert (await poller.run_once()).pending == 0 and momo.calls["status"] == 3
    momo.succeed(request.reference, "7300129915")
    status, body = await momo.send_callback(request.reference, client.make_url("/"))
    assert (status, body) == (200, {"status": "successful"})
    assert await wallet(client) == 300


async def test_unreachable_status_counts_a_poll_and_callbacks_wait_for_mtn(start, momo, clock):
    client = await start(**{"mtn.timeout_s": 0.2})
    request = await request_to_pay(client)
    momo.succeed(request.reference, "7300129916")
    momo.delay_s["status"] = 5
    started = time.monotonic()
    status, body = await momo.send_callback(request.reference, client.make_url("/"))
    assert (status, body) == (200, {"status": "pending"}) and time.monotonic() - started < 1.5
    clock.advance(30)
    report = await collection.poller(client.app[BILLING], client.app[MOMO]).run_once()
    assert (report.settled, report.errors) == (0, 1)
    assert (await payments.find_request(client.app[BILLING], reference=request.reference)).polls == 1
    assert await wallet(client) == 0


async def test_refused_or_unanswered_requests(start, momo):
    client = await start()
    momo.refuse_next = (400, {"code": "PAYER_NOT_FOUND", "message": "Payee does not exist"})
    refused = await request_to_pay(client)
    assert (refused.status, refused.result_code) == ("failed", "PAYER_NOT_FOUND")
    momo.broken = True
    unanswered = await request_to_pay(client)
    assert unanswered.status == "pending"  # MTN may have it: the poller will find out
    with pytest.raises(InvalidAmount):
        await request_to_pay(client, Money.of("300", "KES"))
    with pytest.raises(UnknownCard):
        await collection.start_request_to_pay(client.app[BILLING], client.app[MOMO], "19999999", PAYER, UGX_15000)


async def test_the_poller_runs_with_the_workers_and_stops(start, momo, clock):
    client = await start(workers=True, **{"mtn.poll_s": 0.05})
    request = await request_to_pay(client)
    momo.succeed(request.reference, "7300129917")
    clock.advance(1)
    for _ in range(100):
        if (await payments.find_request(client.app[BILLING], reference=request.reference)).status != "pending":
            break
        await asyncio.sleep(0.02)
    assert await wallet(client) == 300
    await client.close()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "poller-mtn"]


async def test_unconfigured_mtn_has_no_client_and_refuses_callbacks(gateway_client):
    client = await gateway_client(**{"mtn.callback_token": TOKEN})
    assert MOMO not in client.app
    resp = await client.put("/mobile-money/mtn/callback",
                            params={"ref": "0f2c1d6e-4b5a-4e3f-9a8b-7c6d5e4f3a2b", "token": TOKEN}, json={})
    assert resp.status == 404 and (await resp.json())["error"] == "not_configured"
