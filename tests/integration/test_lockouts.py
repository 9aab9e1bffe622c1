"""Wrong-PIN lock-outs through the real app, on SQLite and PostgreSQL, with the in-process store and Redis.

- Parallel wrong PINs (USSD sessions at the PIN prompt, SMS TOPUP) are counted before the
  look-up, so no more PINs than ``security.lockout_failures`` are ever looked up.
- Strangers typing a card's number with wrong PINs lock the card for strangers only: the
  card's registered phone keeps its own limit and redeems.
- A lock-out lives in the database: a full in-process store does not drop it.
"""
from __future__ import annotations

import asyncio
import random
import uuid

import pytest

from billing_core import cards, subscriptions
from billing_core.pins import new_pin
from gateway.keys import BILLING, LOCKOUTS, STATE
from gateway.sms.inbound import handle_inbound
from tests.integration.test_sms_inbound import sent
from tests.integration.test_ussd_flows import Phone
from tv_notify.texts import refusal

PIN_KEY = "lockout-test-pin-key-0123456789ab"
CARD, OWNER = "40000001", "+254712345678"
LIMIT = 5
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
def store(request) -> dict:
    """Settings overrides for the state store: in-process, or the shared Redis under a fresh prefix."""
    if request.param == "memory":
        return {}
    return {"redis.url": REDIS_URL, "redis.key_prefix": f"tvtopup-test:{uuid.uuid4().hex[:12]}:"}


@pytest.fixture
async def gw(gateway_client, store):
    client = await gateway_client(**{"security.pin_key": PIN_KEY, "security.lockout_failures": LIMIT,
                                     "ussd.steps_per_minute": 10_000, "sms.inbound_per_hour": 10_000,
                                     "sms.replies_per_hour": 10_000, "security.pin_spike_per_minute": 100_000,
                                     **store})
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 1000, ("101",))
    await subscriptions.add_subscriber(billing, CARD, OWNER, package="BASIC")
    yield client
    if store:
        state = client.app[STATE]
        for key in await state.scan("", 100_000):
            await state.delete(key)


async def pins(client, count: int = 1) -> list[str]:
    rows: list[tuple[str, str]] = []
    name = f"L{uuid.uuid4().hex[:8]}"
    await cards.generate_batch(client.app[BILLING], name=name, count=count, tvu=100, sink=rows.extend)
    await cards.activate_cards(client.app[BILLING], name)
    return [pin for _serial, pin in rows]


def wrong_pin(seed: int) -> str:
    return new_pin(14, random.Random(seed).randrange)


class Lookups:
    """Counts the PIN look-ups the database is asked for (``card_store.redeem``)."""

    def __init__(self, monkeypatch):
        from billing_core.db import card_store

        self.count = 0
        real = card_store.redeem

        def counted(*args, **kwargs):
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(card_store, "redeem", counted)


async def test_parallel_ussd_sessions_of_one_phone_look_up_at_most_the_limit(gw, monkeypatch) -> None:
    phones = [Phone(gw, msisdn=OWNER) for _ in range(15)]
    for phone in phones:
        await phone.dial()
        assert "PIN" in await phone.send("2")
    lookups = Lookups(monkeypatch)
    screens = await asyncio.gather(*(phone.send(wrong_pin(n)) for n, phone in enumerate(phones)))
    assert lookups.count <= LIMIT, lookups.count
    assert sum("not valid" in s for s in screens) == LIMIT, screens
    assert all(s.startswith("END ") for s in screens)
    [good] = await pins(gw)
    phone = Phone(gw, msisdn=OWNER)
    await phone.dial()
    await phone.send("2")
    assert "not valid" not in await phone.send(good) and "TVU added" not in phone.screen  # locked out
    assert (await subscriptions.show_subscriber(gw.app[BILLING], CARD)).wallet_tvu == 0


async def test_parallel_ussd_sessions_of_many_strangers_look_up_at_most_the_limit_per_card(gw, monkeypatch) -> None:
    strangers = [Phone(gw, msisdn=f"+2547330{n:05d}") for n in range(50)]
    for phone in strangers:
        await phone.dial()  # no card of its own: it links one
        await phone.send(CARD)
        assert "PIN" in await phone.send("2")
    lookups = Lookups(monkeypatch)
    await asyncio.gather(*(phone.send(wrong_pin(n)) for n, phone in enumerate(strangers)))
    assert lookups.count <= LIMIT, lookups.count


async def test_parallel_sms_topups_of_one_phone_look_up_at_most_the_limit(gw, monkeypatch) -> None:
    """Through POST /sms/africastalking/inbound, Africa's Talking's inbound form (docs/sms.md)."""
    lookups = Lookups(monkeypatch)

    async def text(n: int) -> int:
        async with gw.post("/sms/africastalking/inbound", data={
                "from": OWNER, "to": "22384", "text": f"TOPUP {wrong_pin(n)}", "date": "2026-12-04 10:00:00",
                "id": f"ATXid_{n}"}) as resp:
            return resp.status

    assert await asyncio.gather(*(text(n) for n in range(15))) == [200] * 15
    assert lookups.count <= LIMIT, lookups.count
    replies = [reply for _card, _msisdn, _lang, reply in await sent(gw.app)]
    assert replies.count(refusal("pin_invalid", "en")) == LIMIT
    assert replies.count(refusal("locked_out", "en")) == 15 - LIMIT


async def test_a_correct_pin_gives_its_attempt_back(gw) -> None:
    good = await pins(gw, 3)
    say = lambda text, n: handle_inbound(gw.app, OWNER, text, channel="africastalking", to="22384",  # noqa: E731
                                         message_id=f"g{n}")
    for n in range(LIMIT - 1):
        assert await say(f"TOPUP {wrong_pin(n)}", n) == refusal("pin_invalid", "en")
    assert await say(f"TOPUP {good[0]}", 10) != refusal("pin_invalid", "en")
    assert await say(f"TOPUP {good[1]}", 11) != refusal("locked_out", "en")  # still one try left
    assert await say(f"TOPUP {wrong_pin(99)}", 12) == refusal("pin_invalid", "en")
    assert await say(f"TOPUP {good[2]}", 13) == refusal("locked_out", "en")


async def test_strangers_cannot_lock_the_owner_out_of_their_card(gw) -> None:
    [good] = await pins(gw)
    for n in range(10):  # ten unknown phones, two wrong PINs each, all for the owner's card
        for seed in range(2):
            assert await handle_inbound(gw.app, f"+2547330000{n:02d}", f"TOPUP {wrong_pin(10 * n + seed)} {CARD}",
                                        channel="africastalking", to="22384",
                                        message_id=f"s{n}.{seed}") in (refusal("pin_invalid", "en"),
                                                                       refusal("locked_out", "en"))
    stranger = await handle_inbound(gw.app, "+254733000099", f"TOPUP {good} {CARD}", channel="africastalking",
                                    to="22384", message_id="s99")
    assert stranger == refusal("locked_out", "en")  # the card is locked for strangers
    owner = await handle_inbound(gw.app, OWNER, f"TOPUP {good}", channel="africastalking", to="22384",
                                 message_id="o1")
    assert owner != refusal("locked_out", "en")
    assert (await subscriptions.show_subscriber(gw.app[BILLING], CARD)).wallet_tvu == 100


async def test_the_owner_keeps_the_limit_of_their_own_phone(gw) -> None:
    for n in range(LIMIT):
        assert await handle_inbound(gw.app, OWNER, f"TOPUP {wrong_pin(n)}", channel="africastalking", to="22384",
                                    message_id=f"w{n}") == refusal("pin_invalid", "en")
    [good] = await pins(gw)
    assert await handle_inbound(gw.app, OWNER, f"TOPUP {good}", channel="africastalking", to="22384",
                                message_id="w9") == refusal("locked_out", "en")
    found = {lock.key for lock in await cards.list_lockouts(gw.app[BILLING])}
    assert found == {f"msisdn:{OWNER}"}  # the owner's failures do not lock the card for others
    assert await gw.app[LOCKOUTS].locked(f"msisdn:{OWNER}")
