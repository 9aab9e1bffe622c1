"""Add-ons through the subscribers' channels, as transcripts on the real app (SQLite and
PostgreSQL, every language): USSD (main menu -> add-ons -> confirm) and SMS (ADDON / OPTION /
ZIADA CODE); the wallet pays pro rata to the base package's end, the add-on's products are
granted, one notice is the reply, the ledger balances, and another phone's card is refused."""
from __future__ import annotations

import pytest

from billing_core import addons, subscriptions
from billing_core.db import ledger_store, outbox_store
from gateway.keys import BILLING
from gateway.sms.inbound import handle_inbound
from tests.integration.test_ppv_channels import MSISDN, STRANGER, subscriber
from tests.integration.test_ussd_flows import Phone
from tv_notify.events import GRANT
from tv_notify.texts import refusal

CARD = "40000001"
WORDS = {
    "en": {"item": "8. Add-ons", "title": "Choose an add-on", "confirm": "Up to 60 TVU", "added": "added to card",
           "not_own": "Only the phone registered", "sms": "ADDON", "notice": "added to card"},
    "fr": {"item": "8. Options", "title": "Choisissez une option", "confirm": "Jusqu'a 60 TVU",
           "added": "ajoute a la carte", "not_own": "Seul le telephone", "sms": "OPTION", "notice": "ajoute a la carte"},
    "sw": {"item": "8. Ziada", "title": "Chagua ziada", "confirm": "Hadi TVU 60", "added": "imeongezwa kwa kadi",
           "not_own": "Ni simu iliyosajiliwa", "sms": "ZIADA", "notice": "imeongezwa kwa kadi"},
}


def tvu(lang: str, n: int) -> str:
    return f"TVU {n}" if lang == "sw" else f"{n} TVU"


@pytest.fixture
async def gw(gateway_client):
    client = await gateway_client(**{"ussd.steps_per_minute": 1000})
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic bouquet", 30, 100, ("101",))
    await subscriptions.add_package(billing, "SPORTS", "Sports", 30, 60, ("301",), kind="addon")
    return client


async def balanced(billing) -> bool:
    totals: dict[str, int] = {}
    for _account, unit, balance in await billing.db.read(ledger_store.trial_balance):
        totals[unit] = totals.get(unit, 0) + balance
    return set(totals.values()) <= {0}


async def grants(billing) -> list[tuple[str, ...]]:
    found = await billing.db.read(lambda conn: outbox_store.list_events(conn, card=CARD, limit=50))
    return [tuple(e.payload["products"]) for e in found if e.kind == GRANT]


@pytest.mark.parametrize("lang", ["en", "fr", "sw"])
async def test_an_add_on_bought_by_ussd(gw, lang) -> None:
    w, billing = WORDS[lang], gw.app[BILLING]
    await subscriber(gw, lang, wallet=300)  # Basic renews at once: 200 left, 30 days to run
    phone = Phone(gw)
    assert w["item"] in await phone.dial()
    assert w["title"] in await phone.send("8") and "1. Sports 60 TVU" in phone.screen
    assert w["confirm"] in await phone.send("1")
    screen = await phone.send("1")
    assert screen.startswith("END ") and w["added"] in screen and tvu(lang, 60) in screen
    view = await subscriptions.show_subscriber(billing, CARD)
    assert view.wallet_tvu == 140  # the full 30 days left: the full price
    [bought] = await addons.addons_of(billing, CARD)
    assert (bought.package.code, bought.status, bought.expires_at) == ("SPORTS", "active", view.expires_at)
    assert ("301",) in await grants(billing)
    assert await balanced(billing)


@pytest.mark.parametrize("lang", ["en", "fr", "sw"])
async def test_an_add_on_bought_by_sms_half_way_through_the_package(gw, clock, lang) -> None:
    w, billing = WORDS[lang], gw.app[BILLING]
    await subscriber(gw, lang, wallet=300)
    clock.advance(15 * 86_400)  # half the base period left: half the price
    reply = await handle_inbound(gw.app, MSISDN, f"{w['sms'].lower()} sports", channel="africastalking",
                                 message_id=f"m-{lang}")
    assert w["notice"] in reply and tvu(lang, 30) in reply, reply
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 170
    sent = await billing.db.read(lambda conn: outbox_store.list_events(conn, card=CARD, limit=50))
    assert sum(e.kind == "sms.send" and w["notice"] in e.payload["text"] for e in sent) == 1  # the reply, once
    assert await balanced(billing)


async def test_another_phone_cannot_spend_a_wallet_on_add_ons(gw) -> None:
    billing = gw.app[BILLING]
    await subscriber(gw, "en", wallet=300)
    stranger = Phone(gw, msisdn=STRANGER)
    await stranger.dial()
    await stranger.send(CARD)  # links the card for this session
    await stranger.send("8")
    screen = await stranger.send("1")
    assert screen.startswith("END ") and WORDS["en"]["not_own"] in screen
    reply = await handle_inbound(gw.app, STRANGER, f"ADDON SPORTS {CARD}", channel="africastalking", message_id="x")
    assert reply == refusal("not_your_card", "en")
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 200
    assert await addons.addons_of(billing, CARD) == []
