"""MTN MoMo and Airtel Money bodies as their providers document them
(tests/provider_fixtures/mtn_momo/ and airtel/, see each SOURCES.md), replayed through the
running gateway's callback handlers against the local peers, on SQLite and PostgreSQL.

Both providers' callbacks are hints: the gateway asks the provider (MoMo status, Airtel
enquiry), and here the peer answers that question with the documented body. Every
documented success is credited exactly once, however often the callback comes; failures
credit nothing; a pending answer leaves the request pending.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from billing_core import payments, subscriptions
from billing_core.db import payment_store as store
from billing_core.money import Money
from gateway.keys import BILLING
from gateway.providers.airtel import collection as airtel_collection
from gateway.providers.airtel.routes import AIRTEL
from gateway.providers.mtn_momo import collection as momo_collection
from gateway.providers.mtn_momo.routes import MOMO
from tests.peers import fake_airtel, fake_momo
from tests.peers.fake_airtel import FakeAirtel
from tests.peers.fake_momo import FakeMomo

HERE = Path(__file__).parent
CARD, TOKEN = "10000001", "cb-s3cret"


def fixture(provider: str, name: str) -> dict:
    return json.loads((HERE / provider / name).read_text())


def names(provider: str, prefix: str) -> list[str]:
    return sorted(p.name for p in (HERE / provider).glob(f"{prefix}*.json"))


@pytest.mark.parametrize("provider", ["mtn_momo", "airtel"])
def test_every_fixture_is_named_in_sources(provider):
    sources = (HERE / provider / "SOURCES.md").read_text()
    assert [n for n in names(provider, "") if n not in sources] == []


async def wallet(billing) -> int:
    return (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu


# ---- MTN MoMo ------------------------------------------------------------------------------

@pytest.fixture
async def momo(aiohttp_server):
    fake = FakeMomo()
    fake.server = await aiohttp_server(fake.app())
    return fake


@pytest.mark.parametrize("name, outcome", [
    ("status_successful_documented.json", "successful"), ("status_successful_php_sdk.json", "successful"),
    ("status_failed_not_enough_funds.json", "failed"), ("status_failed_internal_processing_error.json", "failed"),
    ("status_pending.json", "pending"),
])
async def test_documented_momo_status_settles_as_documented(gateway_client, momo, name, outcome):
    doc = fixture("mtn_momo", name)
    currency = doc["currency"]
    client = await gateway_client(**{
        "mtn.base_url": str(momo.server.make_url("")), "mtn.api_user": fake_momo.API_USER,
        "mtn.api_key": fake_momo.API_KEY, "mtn.subscription_key": fake_momo.SUBSCRIPTION_KEY,
        "mtn.currency": currency, f"currencies.{currency}": 1, "mtn.callback_token": TOKEN,
        "mtn.callback_url": "https://gateway.example/mobile-money/mtn/callback", "mtn.timeout_s": 2.0})
    billing = client.app[BILLING]
    await subscriptions.add_subscriber(billing, CARD, "+254712345678")
    amount = Money.of(str(doc["amount"]), currency)
    request = await momo_collection.start_request_to_pay(billing, client.app[MOMO], CARD, "+256772123456", amount)
    momo.requests[request.reference].status = doc  # MTN's status call now answers the documented body
    for method in ("PUT", "POST"):  # the callback body is the status body; delivered twice
        status, _ = await momo.send_callback(request.reference, client.make_url("/"), method=method, body=doc)
        assert status == 200
    settled = await payments.find_request(billing, reference=request.reference)
    assert settled.status == outcome
    if outcome == "successful":
        paid = await billing.db.read(store.by_txid, "mtn", str(doc["financialTransactionId"]))
        assert (paid.status, paid.amount, paid.tvu) == ("credited", amount, amount.minor)
        assert await wallet(billing) == amount.minor
    else:
        assert (settled.payment_id, await wallet(billing)) == (None, 0)


def test_fake_momo_status_has_the_documented_fields():
    """Our fake's pending status is MTN's documented body with status PENDING (FakeMomo._pending)."""
    body = fake_momo._pending({"amount": "500", "currency": "UGX", "externalId": "c1f4687688585858a173f12",
                               "payer": {"partyIdType": "MSISDN", "partyId": "25677000000"},
                               "payerMessage": "Debit RequesttoPay", "payeeNote": "Debit  RequesttoPay"})
    assert body == fixture("mtn_momo", "status_pending.json")


# ---- Airtel Money ----------------------------------------------------------------------------

@pytest.fixture
async def airtel(aiohttp_server):
    fake = FakeAirtel(country="UG", currency="UGX")
    fake.server = await aiohttp_server(fake.app())
    return fake


@pytest.mark.parametrize("callback, enquiry, outcome", [
    ("callback_ts.json", "enquiry_ts.json", "successful"),
    ("callback_ts_with_hash.json", "enquiry_ts.json", "successful"),
    ("callback_tf.json", "enquiry_tf.json", "failed"),
    ("callback_ts.json", "enquiry_tip.json", "pending"),  # a callback is a hint: the enquiry decides
])
async def test_documented_airtel_callback_and_enquiry(gateway_client, airtel, callback, enquiry, outcome):
    client = await gateway_client(**{
        "airtel.base_url": str(airtel.server.make_url("")), "airtel.client_id": fake_airtel.CLIENT_ID,
        "airtel.client_secret": fake_airtel.CLIENT_SECRET, "airtel.callback_token": TOKEN,
        "airtel.country": "UG", "airtel.currency": "UGX", "currencies.UGX": 50, "airtel.timeout_s": 2.0})
    billing = client.app[BILLING]
    await subscriptions.add_subscriber(billing, CARD, "+254712345678")
    amount = Money.of("5000", "UGX")  # the documented message: "Paid UGX 5,000"
    request = await airtel_collection.start_collection(billing, client.app[AIRTEL], CARD, "+256752604392", amount,
                                                       new_reference=lambda: "BBZMiscxy")
    airtel.answers["BBZMiscxy"] = fixture("airtel", enquiry)
    url = client.make_url("/mobile-money/airtel/callback").with_query(token=TOKEN)
    for _ in range(2):
        status, _ = await airtel.send_callback("BBZMiscxy", url, body=fixture("airtel", callback))
        assert status == 200
    settled = await payments.find_request(billing, reference=request.reference)
    assert settled.status == outcome
    if outcome == "successful":
        paid = await billing.db.read(store.by_txid, "airtel", "C36xxxxxxx67")
        assert (paid.status, paid.tvu, await wallet(billing)) == ("credited", 100, 100)
    else:
        assert (settled.payment_id, await wallet(billing)) == (None, 0)
