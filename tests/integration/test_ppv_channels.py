"""Pay-per-view and package changes through the subscribers' channels, as transcripts: USSD
(POST /ussd/africastalking) and SMS (``handle_inbound``) on the real app, SQLite and PostgreSQL,
in every language; the grant at purchase and the revoke at the event's end by the scheduler."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from billing_core import ledger, ppv, subscriptions
from billing_core.db import ledger_store, outbox_store
from billing_core.db.schema import outbox
from billing_core.renewal import DAY_S, iso
from gateway.keys import BILLING
from gateway.sms.inbound import handle_inbound
from tests.integration.test_ussd_flows import Phone
from tv_notify.events import GRANT, REVOKE
from tv_notify.scheduler import Scheduler

CARD, MSISDN = "40000001", "+254712345678"
STRANGER = "+254733000111"
HOUR = 3600
WORDS = {
    "en": {"ppv": "7. Pay-per-view", "list": "Pay-per-view (UTC)", "confirm": "from the wallet of card",
           "bought": "bought for card", "not_own": "Only the phone registered", "none": "No pay-per-view event",
           "twice": "has bought this event already", "sms": "TVU paid", "switch": "Switch now",
           "later": "at the next renewal", "renewed": "is active on card"},
    "fr": {"ppv": "7. Evenements payants", "list": "Evenements payants (UTC)", "confirm": "du solde de la carte",
           "bought": "achete pour la carte", "not_own": "Seul le telephone", "none": "Aucun evenement payant",
           "twice": "a deja achete cet evenement", "sms": "TVU payes", "switch": "Changer maintenant",
           "later": "au prochain renouvellement", "renewed": "est actif sur"},
    "sw": {"ppv": "7. Matukio", "list": "Matukio ya kulipia (UTC)", "confirm": "kutoka salio la kadi",
           "bought": "imenunuliwa kwa kadi", "not_own": "Ni simu iliyosajiliwa", "none": "Hakuna tukio",
           "twice": "imeshanunua tukio hili", "sms": "zimelipwa", "switch": "Badili sasa",
           "later": "itachukua nafasi", "renewed": "iko hai kwa kadi"},
}
SMS_WORD = {"en": "PPV", "fr": "EVENEMENT", "sw": "TUKIO"}


@pytest.fixture
async def gw(gateway_client):
    client = await gateway_client(**{"ussd.steps_per_minute": 1000})
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic bouquet", 30, 100, ("101",))
    await subscriptions.add_package(billing, "PREMIUM", "Premium", 30, 250, ("101", "102"))
    await subscriptions.add_package(billing, "LITE", "Lite", 30, 50, ("100",))
    return client


async def subscriber(client, lang: str, wallet: int = 0, card: str = CARD, msisdn: str = MSISDN) -> None:
    billing = client.app[BILLING]
    await subscriptions.add_subscriber(billing, card, msisdn, package="BASIC", lang=lang)
    if wallet:
        await subscriptions.credit_tvu(billing, card, wallet, source=ledger.TVU_OPENING, ref="t", kind="opening")


async def events(client, starts_in: int = 2 * HOUR):
    billing = client.app[BILLING]
    now = billing.now()
    await ppv.add_event(billing, "DERBY", "Derby day", now + starts_in, now + starts_in + 2 * HOUR, 30, "901")
    return await ppv.add_event(billing, "FIGHT", "Title fight", now + starts_in + DAY_S,
                               now + starts_in + DAY_S + 3 * HOUR, 40, "902")


async def card_events(client, card: str = CARD):
    return list(reversed(await client.app[BILLING].db.read(outbox_store.for_card, card, 100)))


async def ledger_is_zero(client) -> None:
    trial = await client.app[BILLING].db.read(ledger_store.trial_balance)
    sums: dict[str, int] = {}
    for _account, unit, balance in trial:
        sums[unit] = sums.get(unit, 0) + balance
    assert set(sums.values()) <= {0}, sums


@pytest.mark.parametrize("lang", ["en", "fr", "sw"])
async def test_buy_an_event_by_ussd_granted_then_revoked_on_time(gw, clock, lang) -> None:
    w = WORDS[lang]
    billing = gw.app[BILLING]
    await subscriber(gw, lang, wallet=100 + 50)  # renews BASIC at once: 50 left
    fight = await events(gw)
    phone = Phone(gw)
    assert w["ppv"] in await phone.dial()
    screen = await phone.send("7")
    assert w["list"] in screen and "1. Derby day" in screen and "2. Title fight" in screen and "40 TVU" in screen
    assert w["confirm"] in await phone.send("2")
    screen = await phone.send("1")
    assert screen.startswith("END ") and w["bought"] in screen and "10 TVU" in screen
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 10
    grant = [e for e in await card_events(gw) if e.kind == GRANT][-1]
    assert grant.payload["products"] == ["902"] and grant.payload["until"] == iso(fight.ends_at)
    assert grant.payload["starts"] == iso(fight.starts_at)

    phone = Phone(gw)  # again: refused, nothing moved
    await phone.dial()
    await phone.send("7")
    await phone.send("2")
    assert w["twice"] in await phone.send("1")
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 10

    scheduler = Scheduler(billing, interval_s=60, batch_size=50)
    clock.advance(fight.ends_at - billing.now() - 1)
    await scheduler.work()
    assert not [e for e in await card_events(gw) if e.kind == REVOKE and e.payload["products"] == ["902"]]
    clock.advance(1)
    await scheduler.work()
    await scheduler.work()
    revokes = [e for e in await card_events(gw) if e.kind == REVOKE and e.payload["products"] == ["902"]]
    assert len(revokes) == 1
    await ledger_is_zero(gw)


async def test_ussd_refusals_for_ppv(gw, clock) -> None:
    await subscriber(gw, "en", wallet=100 + 20)
    phone = Phone(gw)
    await phone.dial()
    assert WORDS["en"]["none"] in await phone.send("7")  # nothing on sale yet
    await events(gw)
    phone = Phone(gw)
    await phone.dial()
    await phone.send("7")
    await phone.send("2")
    assert "Not enough TVU" in await phone.send("1")  # 40 > 20
    stranger = Phone(gw, msisdn=STRANGER)
    await stranger.dial()
    await stranger.send(CARD)
    await stranger.send("7")
    assert WORDS["en"]["not_own"] in await stranger.send("1")
    assert (await subscriptions.show_subscriber(gw.app[BILLING], CARD)).wallet_tvu == 20


@pytest.mark.parametrize("lang", ["en", "fr", "sw"])
async def test_ppv_by_sms(gw, clock, lang) -> None:
    w = WORDS[lang]
    await subscriber(gw, lang, wallet=100 + 50)
    await events(gw)
    reply = await handle_inbound(gw.app, MSISDN, f"{SMS_WORD[lang].lower()} derby", channel="africastalking",
                                 message_id=f"m1{lang}")
    assert w["sms"] in reply and "Derby day" in reply and CARD in reply
    assert (await subscriptions.show_subscriber(gw.app[BILLING], CARD)).wallet_tvu == 20
    reply = await handle_inbound(gw.app, MSISDN, f"{SMS_WORD[lang]} DERBY {CARD}", channel="africastalking",
                                 message_id=f"m2{lang}")
    assert w["twice"] in reply
    rows = await gw.app[BILLING].db.read(lambda c: c.execute(
        select(outbox.c.payload).where(outbox.c.kind == "sms.send").order_by(outbox.c.id)).scalars().all())
    texts = [json.loads(r)["text"] for r in rows]
    assert sum(w["sms"] in t for t in texts) == 1  # the purchase's notice is the reply: one SMS
    reply = await handle_inbound(gw.app, MSISDN, f"{SMS_WORD[lang]} NOPE", channel="africastalking",
                                 message_id=f"m3{lang}")
    assert reply and reply != texts[-1]
    await ledger_is_zero(gw)


async def test_ppv_by_sms_for_someone_elses_card_is_refused(gw, clock) -> None:
    await subscriber(gw, "en", wallet=200)
    await events(gw)
    reply = await handle_inbound(gw.app, STRANGER, f"PPV DERBY {CARD}", channel="africastalking", message_id="x1")
    assert "not registered to this phone" in reply
    assert (await subscriptions.show_subscriber(gw.app[BILLING], CARD)).wallet_tvu == 100


@pytest.mark.parametrize("lang", ["en", "fr", "sw"])
async def test_switch_now_upgrades_by_ussd_and_downgrades_at_renewal(gw, clock, lang) -> None:
    w = WORDS[lang]
    billing = gw.app[BILLING]
    await subscriber(gw, lang, wallet=100 + 200)  # BASIC now, 200 left
    clock.advance(15 * DAY_S)  # half of BASIC unused: 50 back
    phone = Phone(gw)
    await phone.dial()
    await phone.send("3")
    assert w["switch"] in await phone.send("3")  # PREMIUM: 1. wallet (stacked) 2. switch now
    await phone.send("2")
    screen = await phone.send("1")
    assert screen.startswith("END ") and w["renewed"] in screen
    view = await subscriptions.show_subscriber(billing, CARD)
    assert (view.package, view.wallet_tvu, view.expires_at) == ("PREMIUM", 200 + 50 - 250, billing.now() + 30 * DAY_S)

    phone = Phone(gw)
    await phone.dial()
    await phone.send("3")
    await phone.send("2")  # LITE, cheaper: at the next renewal
    await phone.send("2")
    screen = await phone.send("1")
    assert screen.startswith("END ") and w["later"] in screen
    after = await subscriptions.show_subscriber(billing, CARD)
    assert (after.package, after.wallet_tvu, after.expires_at) == ("LITE", 0, view.expires_at)
    await ledger_is_zero(gw)
