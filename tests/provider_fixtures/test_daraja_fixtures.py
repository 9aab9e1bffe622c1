"""Daraja's own documented payloads (tests/provider_fixtures/daraja/, see SOURCES.md) replayed
through the running gateway's real handlers and client, on SQLite and PostgreSQL.

The one change made to a C2B payload is its ``BillRefNumber``, set to a card we registered
(the documents use "invoice008" and "Sample Transaction", which are not smartcard numbers).
Every documented payment form is credited exactly once, however often it is delivered;
every documented failure credits nothing.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web

from billing_core import payments, subscriptions
from billing_core.db import payment_store as store
from billing_core.money import Money
from gateway.keys import BILLING
from gateway.providers.http import ProviderRefused
from gateway.providers.mpesa import stk_query, wire
from gateway.providers.mpesa.client import DARAJA, QUERY_PATH, REGISTER_PATH
from tests.peers.fake_daraja import FakeDaraja

HERE = Path(__file__).parent / "daraja"
CARD, PHONE = "10000001", "+254712345678"
ACK = {"ResultCode": 0, "ResultDesc": "Success"}


def fixture(name: str) -> dict:
    return json.loads((HERE / name).read_text())


def names(prefix: str) -> list[str]:
    return sorted(p.name for p in HERE.glob(f"{prefix}*.json"))


async def started(gateway_client, **settings):
    client = await gateway_client(**settings)
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic bouquet", 30, 300, ("p1",))
    await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC")
    return client, billing


def test_every_fixture_is_named_in_sources():
    sources = (HERE / "SOURCES.md").read_text()
    assert [n for n in names("") if n not in sources] == []


# ---- C2B validation and confirmation --------------------------------------------------------

@pytest.mark.parametrize("name", names("c2b_"))
async def test_documented_c2b_payment_is_accepted_and_credited_exactly_once(gateway_client, name):
    client, billing = await started(gateway_client)
    doc = {**fixture(name), "BillRefNumber": CARD}
    resp = await client.post("/mobile-money/daraja/c2b/validation", json=doc)
    assert (resp.status, await resp.json()) == (200, {"ResultCode": "0", "ResultDesc": "Accepted"})
    for _ in range(3):  # Daraja may deliver a confirmation more than once
        resp = await client.post("/mobile-money/daraja/c2b/confirmation", json=doc)
        assert (resp.status, await resp.json()) == (200, ACK)
    paid = await billing.db.read(store.by_txid, "mpesa", doc["TransID"])
    amount = Money.of(str(doc["TransAmount"]), "KES")
    assert (paid.status, paid.card, paid.amount, paid.tvu) == ("credited", CARD, amount, amount.minor // 100)
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == amount.minor // 100


# ---- STK push result callbacks --------------------------------------------------------------

async def pending_push(billing, checkout_id: str, amount: Money):
    request = await payments.open_request(billing, "mpesa", CARD, PHONE, amount, reference="r-" + checkout_id[-8:])
    await payments.set_provider_ref(billing, request.reference, checkout_id)
    return request


@pytest.mark.parametrize("name", names("stk_callback_"))
async def test_documented_stk_callback_credits_once_on_success_and_nothing_on_failure(gateway_client, name):
    client, billing = await started(gateway_client)
    doc = fixture(name)
    callback = doc["Body"]["stkCallback"]
    request = await pending_push(billing, callback["CheckoutRequestID"], Money(100, "KES"))
    for _ in range(2):
        resp = await client.post("/mobile-money/daraja/stk/callback", json=doc)
        assert (resp.status, await resp.json()) == (200, ACK)
    settled = await payments.find_request(billing, reference=request.reference)
    wallet = (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu
    if callback["ResultCode"] == 0:
        receipt = next(i["Value"] for i in callback["CallbackMetadata"]["Item"] if i["Name"] == "MpesaReceiptNumber")
        paid = await billing.db.read(store.by_txid, "mpesa", receipt)
        assert (settled.status, paid.status, paid.tvu, wallet) == ("successful", "credited", 1, 1)
    else:
        assert (settled.status, settled.result_code, settled.payment_id, wallet) == (
            "failed", str(callback["ResultCode"]), None, 0)


# ---- STK query and registerurl answers, served as documented to our real client ----------------

def documented_daraja(answers: dict[str, tuple[int, dict]]) -> web.Application:
    """A Daraja that hands out a token and answers each path with one documented body."""
    async def token(_request):
        return web.json_response({"access_token": "c9SQxWWhmdVRlyh0zh8gZDTkubVF", "expires_in": "3599"})

    def answer(path):
        async def handler(_request):
            status, body = answers[path]
            return web.json_response(body, status=status)
        return handler

    app = web.Application()
    app.router.add_get("/oauth/v1/generate", token)
    for path in answers:
        app.router.add_post(path, answer(path))
    return app


def settings_for(server, **more) -> dict:
    return {"mpesa.base_url": str(server.make_url("")), "mpesa.consumer_key": "ck", "mpesa.consumer_secret": "cs",
            "mpesa.shortcode": "174379", "mpesa.passkey": "pk", "mpesa.timeout_s": 2.0,
            "mpesa.query_after_s": 1.0, **more}


@pytest.mark.parametrize("name, status, outcome", [
    ("stk_query_success.json", 200, "successful"),
    ("stk_query_mpesakit_numeric_codes.json", 200, "successful"),
    ("stk_query_cancelled_1032.json", 200, "failed"),
    ("stk_query_being_processed.json", 500, "pending"),
])
async def test_documented_stk_query_answers_settle_as_documented(gateway_client, aiohttp_server, clock, name,
                                                                 status, outcome):
    server = await aiohttp_server(documented_daraja({QUERY_PATH: (status, fixture(name))}))
    client, billing = await started(gateway_client, **settings_for(server))
    request = await pending_push(billing, "ws_CO_13012021093521236557", Money(100, "KES"))
    clock.advance(60)
    poller = stk_query.poller(billing, client.app[DARAJA])
    for _ in range(2):
        await poller.run_once()
        clock.advance(3600)
    settled = await payments.find_request(billing, reference=request.reference)
    assert settled.status == outcome
    wallet = (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu
    assert wallet == (1 if outcome == "successful" else 0)


async def test_documented_registerurl_answers(gateway_client, aiohttp_server):
    urls = {"mpesa.confirmation_url": "https://pay.example.com/mobile-money/daraja/c2b/confirmation",
            "mpesa.validation_url": "https://pay.example.com/mobile-money/daraja/c2b/validation"}
    server = await aiohttp_server(documented_daraja({REGISTER_PATH: (200, fixture("registerurl_success.json"))}))
    client, _ = await started(gateway_client, **settings_for(server, **urls))
    assert await client.app[DARAJA].register_urls() == "7619-37765134-1"
    server = await aiohttp_server(documented_daraja({REGISTER_PATH: (500, fixture("registerurl_already_registered.json"))}))
    client = await gateway_client(**settings_for(server, **urls))
    with pytest.raises(ProviderRefused) as refused:
        await client.app[DARAJA].register_urls()
    assert (refused.value.code, refused.value.message) == ("500.003.1001", "Urls are already registered.")


# ---- our fake Daraja answers in the documents' shapes ---------------------------------------------

def shape(doc: dict) -> dict:
    return {k: type(v).__name__ for k, v in doc.items()}


async def test_fake_daraja_query_and_registerurl_answers_have_the_documented_shapes(aiohttp_client):
    fake = FakeDaraja()
    http = await aiohttp_client(fake.app)
    token = (await (await http.get("/oauth/v1/generate", params={"grant_type": "client_credentials"},
                                   headers={"Authorization": "Basic Y2stdGVzdDpjcy10ZXN0"})).json())["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    fake.pushes["ws_CO_13012021093521236557"] = {}
    query = wire.stk_query_body(fake.shortcode, fake.passkey, "20160216165627", "ws_CO_13012021093521236557")
    pending = await http.post(QUERY_PATH, json=query, headers=auth)
    assert (pending.status, shape(await pending.json())) == (500, shape(fixture("stk_query_being_processed.json")))
    fake.finish("ws_CO_13012021093521236557", 0)
    done = await http.post(QUERY_PATH, json=query, headers=auth)
    assert shape(await done.json()) == shape(fixture("stk_query_success.json"))
    body = {"ShortCode": fake.shortcode, "ResponseType": "Completed", "ConfirmationURL": "https://a.example/c",
            "ValidationURL": "https://a.example/v"}
    registered = await http.post(REGISTER_PATH, json=body, headers=auth)
    assert shape(await registered.json()) == shape(fixture("registerurl_success.json"))
