"""AirtelClient against a local Airtel Money peer (tests/peers/fake_airtel.py): no database needed."""
from __future__ import annotations

import time
import uuid

import aiohttp
import pytest

from billing_core.money import Money
from config.settings import load_settings
from gateway.providers.airtel.client import AirtelClient, AirtelRefused, AirtelUnavailable
from tests.peers import fake_airtel
from tests.peers.fake_airtel import FakeAirtel

PHONE = "+254733123456"
KES_300 = Money.of("300", "KES")


def airtel_settings(base_url: str, **overrides):
    values = {"airtel.base_url": base_url, "airtel.client_id": fake_airtel.CLIENT_ID,
              "airtel.client_secret": fake_airtel.CLIENT_SECRET, "airtel.timeout_s": 2.0}
    return load_settings(environ={}).replace(**{**values, **overrides}).airtel


@pytest.fixture
async def airtel(aiohttp_server):
    fake = FakeAirtel()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url(""))
    return fake


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


async def test_collect_and_enquire(airtel, session, clock):
    client = AirtelClient(session, airtel_settings(airtel.url), clock)
    ref = uuid.uuid4().hex
    await client.collect(ref, PHONE, KES_300, "TV card 10000001")
    assert airtel.collections[ref].body == {
        "reference": "TV card 10000001", "subscriber": {"country": "KE", "currency": "KES", "msisdn": "733123456"},
        "transaction": {"amount": 300, "country": "KE", "currency": "KES", "id": ref}}
    assert (await client.enquiry(ref)).status == "TIP"
    airtel.succeed(ref, "MP210603.1234.A12345")
    done = await client.enquiry(ref)
    assert (done.status, done.airtel_money_id) == ("TS", "MP210603.1234.A12345")
    assert airtel.calls["token"] == 1
    airtel.revoke_tokens()
    await client.enquiry(ref)
    assert airtel.calls["token"] == 2


async def test_refused_unknown_and_broken(airtel, session, clock):
    client = AirtelClient(session, airtel_settings(airtel.url), clock)
    airtel.refuse_next = ("DP00800001007", "Not enough balance")
    with pytest.raises(AirtelRefused) as refused:
        await client.collect(uuid.uuid4().hex, PHONE, KES_300, "x")
    assert refused.value.code == "DP00800001007"
    with pytest.raises(AirtelUnavailable):
        await client.enquiry(uuid.uuid4().hex)
    airtel.broken = True
    with pytest.raises(AirtelUnavailable):
        await client.collect(uuid.uuid4().hex, PHONE, KES_300, "x")
    bad = AirtelClient(session, airtel_settings(airtel.url, **{"airtel.client_secret": "nope"}), clock)
    with pytest.raises(AirtelRefused):
        await bad.token()


async def test_a_slow_airtel_is_cut_off_at_timeout_s(airtel, session, clock):
    client = AirtelClient(session, airtel_settings(airtel.url, **{"airtel.timeout_s": 0.2}), clock)
    airtel.delay_s["collect"] = 5
    started = time.monotonic()
    with pytest.raises(AirtelUnavailable):
        await client.collect(uuid.uuid4().hex, PHONE, KES_300, "x")
    assert time.monotonic() - started < 1.5
