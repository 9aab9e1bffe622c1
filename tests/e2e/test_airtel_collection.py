"""Airtel Money collection end to end: the real app, a local Airtel peer, SQLite and PostgreSQL.

A callback is only a hint: every credit here follows Airtel's authenticated enquiry.
"""
from __future__ import annotations

import pytest

from billing_core import payments, subscriptions
from billing_core.db import payment_store
from billing_core.errors import InvalidAmount, InvalidMsisdn
from billing_core.money import Money
from gateway.keys import BILLING
from gateway.providers.airtel import collection
from gateway.providers.airtel.routes import AIRTEL
from tests.peers import fake_airtel
from tests.peers.fake_airtel import FakeAirtel

CARD = "10000001"
PAYER = "+254733123456"
KES_300 = Money.of("300", "KES")  # 300 TVU
TOKEN = "cb-s3cret"


@pytest.fixture
async def airtel(aiohttp_server):
    fake = FakeAirtel()
    fake.server = await aiohttp_server(fake.app())
    return fake


@pytest.fixture
def start(gateway_client, airtel):
    async def start(**overrides):
        client = await gateway_client(**{
            "airtel.base_url": str(airtel.server.make_url("")), "airtel.client_id": fake_airtel.CLIENT_ID,
            "airtel.client_secret": fake_airtel.CLIENT_SECRET, "airtel.callback_token": TOKEN,
            "airtel.timeout_s": 2.0, "airtel.poll_s": 30.0, "airtel.polls_max": 3, **overrides})
        await subscriptions.add_subscriber(client.app[BILLING], CARD, "+254712345678")
        return client

    return start


def callback_url(client, token: str = TOKEN):
    return client.make_url("/mobile-money/airtel/callback").with_query(token=token)


async def collect(client, amount: Money = KES_300, payer: str = PAYER):
    return await collection.start_collection(client.app[BILLING], client.app[AIRTEL], CARD, payer, amount)


async def wallet(client) -> int:
    return (await subscriptions.show_subscriber(client.app[BILLING], CARD)).wallet_tvu


async def test_ts_callback_confirmed_by_enquiry_credits_once(start, airtel):
    client = await start()
    request = await collect(client)
    assert request.status == "pending"
    assert airtel.collections[request.reference].body["subscriber"]["msisdn"] == "733123456"
    forged = airtel.callback_body(request.reference, status_code="TS")
    assert await airtel.send_callback(request.reference, callback_url(client), body=forged) == \
        (200, {"status": "pending"})  # Airtel still says TIP: nothing credited
    assert await wallet(client) == 0
    airtel.succeed(request.reference, "MP210603.1234.A12345")
    for _ in range(2):
        assert await airtel.send_callback(request.reference, callback_url(client)) == \
            (200, {"status": "successful"})
    assert await wallet(client) == 300
    [payment] = await client.app[BILLING].db.read(payment_store.for_card, CARD)
    assert (payment.provider, payment.txid, payment.amount) == ("airtel", "MP210603.1234.A12345", KES_300)
    assert airtel.calls["enquiry"] == 3


async def test_tf_fails_the_request_and_refusals(start, airtel):
    client = await start()
    request = await collect(client)
    airtel.fail(request.reference)
    forged = airtel.callback_body(request.reference, status_code="TS")
    assert (await airtel.send_callback(request.reference, callback_url(client, "wrong"), body=forged))[0] == 403
    assert airtel.calls["enquiry"] == 0
    assert await airtel.send_callback(request.reference, callback_url(client), body=forged) == \
        (200, {"status": "failed"})
    failed = await payments.find_request(client.app[BILLING], reference=request.reference)
    assert (failed.status, failed.result_code, failed.result_desc) == ("failed", "DP00800001007", "Insufficient funds")
    assert await wallet(client) == 0
    resp = await client.post("/mobile-money/airtel/callback", params={"token": TOKEN},
                             json={"transaction": {"status_code": "TS"}})
    assert resp.status == 400
    airtel.refuse_next = ("DP00800001007", "Not enough balance")
    assert (await collect(client)).status == "failed"
    with pytest.raises(InvalidAmount):
        await collect(client, Money.of("300.50", "KES"))
    with pytest.raises(InvalidMsisdn):
        await collect(client, payer="+256752123456")


async def test_polling_settles_and_polls_max_gives_up(start, airtel, clock):
    client = await start()
    paid, silent = await collect(client), await collect(client)
    airtel.succeed(paid.reference, "MP210603.1234.A12346")
    poller = collection.poller(client.app[BILLING], client.app[AIRTEL])
    clock.advance(30)
    report = await poller.run_once()
    assert (report.settled, report.pending) == (1, 1)
    assert await wallet(client) == 300
    for _ in range(2):
        clock.advance(30)
        await poller.run_once()
    given_up = await payments.find_request(client.app[BILLING], reference=silent.reference)
    assert (given_up.status, given_up.result_code) == ("failed", "timeout")
    airtel.succeed(silent.reference, "MP210603.1234.A12347")
    assert await airtel.send_callback(silent.reference, callback_url(client)) == (200, {"status": "successful"})
    assert await wallet(client) == 600
