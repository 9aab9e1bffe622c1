"""MomoClient against a local MTN MoMo peer (tests/peers/fake_momo.py): no database needed."""
from __future__ import annotations

import time
import uuid

import aiohttp
import pytest

from billing_core.money import Money
from config.settings import load_settings
from gateway.providers.mtn_momo.client import MomoClient, MomoRefused, MomoUnavailable
from tests.peers import fake_momo
from tests.peers.fake_momo import FakeMomo

PHONE = "+256772123456"
UGX_15000 = Money.of("15000", "UGX")


def mtn_settings(base_url: str, **overrides):
    values = {"mtn.base_url": base_url, "mtn.api_user": fake_momo.API_USER, "mtn.api_key": fake_momo.API_KEY,
              "mtn.subscription_key": fake_momo.SUBSCRIPTION_KEY, "mtn.currency": "UGX",
              "mtn.callback_url": "https://pay.example.com/mobile-money/mtn/callback?v=1",
              "mtn.callback_token": "s3cret", "mtn.timeout_s": 2.0}
    return load_settings(environ={}).replace(**{**values, **overrides}).mtn


@pytest.fixture
async def momo(aiohttp_server):
    fake = FakeMomo()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url(""))
    return fake


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


async def test_request_to_pay_sends_mtns_headers_and_body(momo, session, clock):
    client = MomoClient(session, mtn_settings(momo.url), clock)
    ref = str(uuid.uuid4())
    await client.request_to_pay(ref, PHONE, UGX_15000, external_id=ref, note="TV card 10000001")
    sent = momo.requests[ref]
    assert sent.body["amount"] == "15000" and sent.body["payer"]["partyId"] == "256772123456"
    assert sent.callback_url == \
        f"https://pay.example.com/mobile-money/mtn/callback?v=1&ref={ref}&token=s3cret"
    status = await client.status(ref)
    assert status.status == "PENDING"
    momo.succeed(ref, "7300129913")
    assert (await client.status(ref)).financial_transaction_id == "7300129913"


async def test_a_reused_reference_counts_as_sent(momo, session, clock):
    client = MomoClient(session, mtn_settings(momo.url), clock)
    ref = str(uuid.uuid4())
    await client.request_to_pay(ref, PHONE, UGX_15000, external_id=ref, note="n")
    await client.request_to_pay(ref, PHONE, UGX_15000, external_id=ref, note="n")  # MTN: 409
    assert momo.calls["requesttopay"] == 2 and len(momo.requests) == 1


async def test_token_is_cached_until_it_expires_and_renewed_after_a_401(momo, session, clock):
    client = MomoClient(session, mtn_settings(momo.url), clock)
    ref = str(uuid.uuid4())
    await client.request_to_pay(ref, PHONE, UGX_15000, external_id=ref, note="n")
    await client.status(ref)
    assert momo.calls["token"] == 1
    clock.advance(3600)
    await client.status(ref)
    assert momo.calls["token"] == 2
    momo.revoke_tokens()
    await client.status(ref)
    assert momo.calls["token"] == 3 and momo.calls["status"] == 4


async def test_refusals_and_failures_are_told_apart(momo, session, clock):
    client = MomoClient(session, mtn_settings(momo.url), clock)
    momo.refuse_next = (400, {"code": "PAYER_NOT_FOUND", "message": "Payee does not exist"})
    with pytest.raises(MomoRefused) as refused:
        await client.request_to_pay(str(uuid.uuid4()), PHONE, UGX_15000, external_id="x", note="n")
    assert refused.value.code == "PAYER_NOT_FOUND"
    with pytest.raises(MomoUnavailable):
        await client.status(str(uuid.uuid4()))  # 404: MTN does not know it (yet)
    momo.broken = True
    with pytest.raises(MomoUnavailable):
        await client.request_to_pay(str(uuid.uuid4()), PHONE, UGX_15000, external_id="x", note="n")


async def test_wrong_credentials_are_a_refusal(momo, session, clock):
    client = MomoClient(session, mtn_settings(momo.url, **{"mtn.api_key": "wrong"}), clock)
    with pytest.raises(MomoRefused):
        await client.status(str(uuid.uuid4()))


async def test_a_slow_mtn_is_cut_off_at_timeout_s(momo, session, clock):
    client = MomoClient(session, mtn_settings(momo.url, **{"mtn.timeout_s": 0.2}), clock)
    ref = str(uuid.uuid4())
    await client.request_to_pay(ref, PHONE, UGX_15000, external_id=ref, note="n")
    momo.delay_s["status"] = 5
    started = time.monotonic()
    with pytest.raises(MomoUnavailable):
        await client.status(ref)
    assert time.monotonic() - started < 1.5
    momo.delay_s = {"token": 5}
    clock.advance(7200)
    started = time.monotonic()
    with pytest.raises(MomoUnavailable):
        await client.request_to_pay(str(uuid.uuid4()), PHONE, UGX_15000, external_id="x", note="n")
    assert time.monotonic() - started < 1.5
