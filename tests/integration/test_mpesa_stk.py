"""STK push (M-Pesa Express): DarajaClient against a local fake Daraja, then the whole round
trip through the running gateway (push, Safaricom's result callback, credit) on both backends."""
from __future__ import annotations

import asyncio
import base64
import time

import aiohttp
import pytest
from yarl import URL

from billing_core import payments, subscriptions
from billing_core.db import payment_store as store
from billing_core.errors import InvalidAmount, NotFound, UnknownCard
from billing_core.money import Money
from config.settings import load_settings
from gateway.keys import BILLING
from gateway.providers.mpesa import wire
from gateway.providers.mpesa.client import (
    DARAJA,
    DarajaClient,
    ProviderRefused,
    ProviderUnavailable,
    start_stk_push,
)
from tests.peers.fake_daraja import FakeDaraja

CARD, PHONE = "10000001", "+254712345678"
KES_500 = Money(50000, "KES")
CALLBACK_URL = "https://pay.example.com/mobile-money/daraja/stk/callback"
TOKEN = "cb-s3cret"
ACK = {"ResultCode": 0, "ResultDesc": "Success"}


@pytest.fixture
async def daraja(aiohttp_server):
    fake = FakeDaraja()
    server = await aiohttp_server(fake.app)
    fake.base_url = str(server.make_url(""))
    return fake


def mpesa(fake: FakeDaraja, **more) -> dict:
    return {"mpesa.base_url": fake.base_url, "mpesa.consumer_key": fake.consumer_key,
            "mpesa.consumer_secret": fake.consumer_secret, "mpesa.shortcode": fake.shortcode,
            "mpesa.passkey": fake.passkey, "mpesa.callback_url": CALLBACK_URL, "mpesa.callback_token": TOKEN,
            "mpesa.timeout_s": 2.0, **more}


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


def client_for(fake: FakeDaraja, session, clock, **more) -> DarajaClient:
    settings = load_settings(environ={}).replace(**mpesa(fake, **more))
    return DarajaClient(session, settings.mpesa, clock)


# ---- the client alone ----------------------------------------------------------------------------

async def test_token_is_fetched_once_cached_then_refreshed_after_expiry(daraja, session, clock):
    client = client_for(daraja, session, clock)
    first = await client.stk_push(CARD, PHONE, KES_500, "ref-1")
    second = await client.stk_push(CARD, PHONE, KES_500, "ref-2")
    assert first != second and daraja.token_requests == 1
    clock.advance(3599 - 61)
    await client.stk_push(CARD, PHONE, KES_500, "ref-3")
    assert daraja.token_requests == 1  # still within expires_in less the margin
    clock.advance(2)
    await client.stk_push(CARD, PHONE, KES_500, "ref-4")
    assert daraja.token_requests == 2 and len(daraja.pushes) == 4


async def test_concurrent_first_calls_fetch_one_token(daraja, session, clock):
    client = client_for(daraja, session, clock)
    ids = await asyncio.gather(*(client.stk_push(CARD, PHONE, KES_500, f"ref-{i}") for i in range(8)))
    assert len(set(ids)) == 8 and daraja.token_requests == 1


async def test_push_body_follows_darajas_formula(daraja, session, clock):
    client = client_for(daraja, session, clock)
    checkout = await client.stk_push(CARD, PHONE, KES_500, "ref-1")
    body = daraja.pushes[checkout]  # the fake already checked every field and the Password
    assert body["Timestamp"] == wire.timestamp(clock.now)
    assert base64.b64decode(body["Password"]).decode() == f"174379{daraja.passkey}{body['Timestamp']}"
    assert (body["Amount"], body["PartyA"], body["PhoneNumber"]) == (500, "254712345678", "254712345678")
    assert (body["AccountReference"], body["PartyB"]) == (CARD, "174379")
    callback = URL(body["CallBackURL"])
    assert callback.with_query(None) == URL(CALLBACK_URL)
    assert dict(callback.query) == {"ref": "ref-1", "token": TOKEN}


async def test_refused_token_is_refreshed_and_the_call_retried_once(daraja, session, clock):
    client = client_for(daraja, session, clock)
    await client.stk_push(CARD, PHONE, KES_500, "ref-1")
    daraja.revoke_tokens()
    await client.stk_push(CARD, PHONE, KES_500, "ref-2")
    assert (daraja.token_requests, daraja.push_requests, len(daraja.pushes)) == (2, 3, 2)
    daraja.refuse_tokens = True
    with pytest.raises(ProviderRefused) as refused:
        await client.stk_push(CARD, PHONE, KES_500, "ref-3")
    assert (refused.value.code, refused.value.status) == ("404.001.03", 401)
    assert (daraja.token_requests, daraja.push_requests) == (3, 5)  # one retry, not more


async def test_provider_errors_surface_as_provider_error(daraja, session, clock):
    client = client_for(daraja, session, clock)
    daraja.fail_next(500, "500.001.1001", "Unable to lock subscriber")
    with pytest.raises(ProviderRefused) as refused:
        await client.stk_push(CARD, PHONE, KES_500, "ref-1")
    assert (refused.value.code, refused.value.message, refused.value.status) == \
        ("500.001.1001", "Unable to lock subscriber", 500)
    daraja.fail_next(503, "")
    with pytest.raises(ProviderUnavailable) as unavailable:
        await client.stk_push(CARD, PHONE, KES_500, "ref-1")
    assert (unavailable.value.code, unavailable.value.status) == ("http_503", 503)
    wrong = client_for(daraja, session, clock, **{"mpesa.consumer_secret": "nope"})
    with pytest.raises(ProviderRefused) as refused:
        await wrong.stk_push(CARD, PHONE, KES_500, "ref-2")
    assert refused.value.code == "400.008.01"
    with pytest.raises(InvalidAmount):
        await client.stk_push(CARD, PHONE, Money(50050, "KES"), "ref-3")
    assert daraja.pushes == {}


async def test_timeout_is_honoured(daraja, session, clock):
    client = client_for(daraja, session, clock, **{"mpesa.timeout_s": 0.3})
    await client.token()
    daraja.delay_s = 5.0
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as unavailable:
        await client.stk_push(CARD, PHONE, KES_500, "ref-1")
    assert unavailable.value.code == "timeout"
    assert time.monotonic() - started < 1.0


async def test_unreachable_daraja_is_unavailable(session, clock):
    settings = load_settings(environ={}).replace(**mpesa(FakeDaraja(), **{"mpesa.base_url": "http://127.0.0.1:9"}))
    with pytest.raises(ProviderUnavailable) as unavailable:
        await DarajaClient(session, settings.mpesa, clock).token()
    assert unavailable.value.code == "network"


# ---- the round trip through the gateway ------------------------------------------------------------

async def gateway(gateway_client, fake: FakeDaraja, **more):
    client = await gateway_client(**mpesa(fake, **more))
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic bouquet", 30, 300, ("p1",))
    await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC")
    return client, billing


async def test_push_then_success_callback_credits_once(gateway_client, daraja):
    client, billing = await gateway(gateway_client, daraja)
    request = await start_stk_push(billing, client.app[DARAJA], CARD, "0712345678", KES_500)
    assert (request.status, request.msisdn, request.amount) == ("pending", PHONE, KES_500)
    assert request.provider_ref in daraja.pushes
    for _ in range(2):  # Safaricom may post the same result twice
        assert await daraja.send_result(request.provider_ref, client.make_url("/")) == (200, ACK)
    settled = await payments.find_request(billing, reference=request.reference)
    assert (settled.status, settled.result_code) == ("successful", "0")
    paid = await billing.db.read(store.by_txid, "mpesa", "NLJ7RT61SV")
    assert (paid.status, paid.card, paid.tvu, paid.id) == ("credited", CARD, 500, settled.payment_id)
    sub = await subscriptions.show_subscriber(billing, CARD)
    assert (sub.status, sub.wallet_tvu) == ("active", 200)


async def test_failed_results_fail_the_request_and_credit_nothing(gateway_client, daraja):
    client, billing = await gateway(gateway_client, daraja)
    for code in (1032, 1, 1037):  # cancelled by the user, insufficient funds, phone unreachable
        request = await start_stk_push(billing, client.app[DARAJA], CARD, PHONE, KES_500)
        assert await daraja.send_result(request.provider_ref, client.make_url("/"), code) == (200, ACK)
        settled = await payments.find_request(billing, reference=request.reference)
        assert (settled.status, settled.result_code, settled.payment_id) == ("failed", str(code), None)
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 0
    with pytest.raises(NotFound):
        await billing.db.read(store.by_txid, "mpesa", "NLJ7RT61SV")


async def test_refused_push_is_recorded_as_failed(gateway_client, daraja):
    client, billing = await gateway(gateway_client, daraja)
    daraja.fail_next(500, "500.001.1001", "Unable to lock subscriber")
    with pytest.raises(ProviderRefused):
        await start_stk_push(billing, client.app[DARAJA], CARD, PHONE, KES_500, new_reference=lambda: "ref-refused")
    failed = await payments.find_request(billing, reference="ref-refused")
    assert (failed.status, failed.result_code, failed.result_desc) == \
        ("failed", "500.001.1001", "Unable to lock subscriber")
    with pytest.raises(InvalidAmount):  # refused before anything is recorded
        await start_stk_push(billing, client.app[DARAJA], CARD, PHONE, Money(50050, "KES"),
                             new_reference=lambda: "ref-cents")
    with pytest.raises(UnknownCard):
        await start_stk_push(billing, client.app[DARAJA], "10000009", PHONE, KES_500, new_reference=lambda: "ref-who")
    for reference in ("ref-cents", "ref-who"):
        with pytest.raises(NotFound):
            await payments.find_request(billing, reference=reference)
    assert len(daraja.pushes) == 0


async def test_a_push_that_timed_out_is_still_credited_by_its_late_result(gateway_client, daraja):
    client, billing = await gateway(gateway_client, daraja, **{"mpesa.timeout_s": 0.2})
    await client.app[DARAJA].token()
    daraja.delay_s = 0.4  # Daraja takes the push, but answers after we gave up
    with pytest.raises(ProviderUnavailable):
        await start_stk_push(billing, client.app[DARAJA], CARD, PHONE, KES_500, new_reference=lambda: "ref-late")
    assert (await payments.find_request(billing, reference="ref-late")).status == "failed"
    for _ in range(50):
        if daraja.pushes:
            break
        await asyncio.sleep(0.02)
    [checkout] = daraja.pushes
    assert await daraja.send_result(checkout, client.make_url("/")) == (200, ACK)  # found by ?ref=
    settled = await payments.find_request(billing, reference="ref-late")
    assert (settled.status, settled.provider_ref) == ("successful", checkout)
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 200


async def test_result_for_an_unknown_request_is_acknowledged_and_changes_nothing(gateway_client, daraja):
    client, billing = await gateway(gateway_client, daraja)
    request = await start_stk_push(billing, client.app[DARAJA], CARD, PHONE, KES_500)
    body = daraja.callback_body(request.provider_ref)
    body["Body"]["stkCallback"]["CheckoutRequestID"] = "ws_CO_000000000000000000"
    path = "/mobile-money/daraja/stk/callback"
    resp = await client.post(path, json=body, params={"token": TOKEN})
    assert (resp.status, await resp.json()) == (200, ACK)
    resp = await client.post(path, json=body, params={"token": TOKEN, "ref": request.reference})
    assert (resp.status, await resp.json()) == (200, ACK)  # ref names a push with another CheckoutRequestID
    body["Body"]["stkCallback"].pop("CallbackMetadata")
    resp = await client.post(path, json=body, params={"token": TOKEN})
    malformed = {"ResultCode": 1, "ResultDesc": "CallbackMetadata must be an object"}
    assert (resp.status, await resp.json()) == (400, malformed)
    assert (await payments.find_request(billing, reference=request.reference)).status == "pending"
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 0
