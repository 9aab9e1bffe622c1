"""USSD journeys as transcripts, through POST /ussd/africastalking on the real app.

Each transcript is the inputs a phone sends and what each screen must say, in every
language; redemption, renewal and refresh run the real use cases on both databases.
"""
from __future__ import annotations

import itertools
import random

import pytest

from billing_core import cards, subscriptions
from billing_core.db import ledger_store, outbox_store, ussd_store
from billing_core.pins import new_pin
from gateway.keys import BILLING

PIN_KEY = "test-pin-key-0123456789abcdef"
CARD, MSISDN = "40000001", "+254712345678"
CARD2 = "40000009"
STRANGER = "+254733000111"
_ids = itertools.count(1)


class Phone:
    """A handset on the aggregator: one session, the growing ``text``."""

    def __init__(self, client, msisdn: str = MSISDN, sid: str | None = None):
        self.client, self.msisdn = client, msisdn
        self.sid = sid or f"ATUid_{next(_ids)}"
        self.inputs: list[str] = []
        self.screen = ""

    async def post(self, text: str, status: int = 200) -> str:
        resp = await self.client.post("/ussd/africastalking", data={
            "sessionId": self.sid, "serviceCode": "*123#", "phoneNumber": self.msisdn,
            "networkCode": "63902", "text": text})
        assert resp.status == status, await resp.text()
        assert resp.content_type == "text/plain"
        self.screen = await resp.text()
        assert len(self.screen) <= 182 and self.screen.isascii(), self.screen
        return self.screen

    async def dial(self) -> str:
        return await self.post("")

    async def send(self, value: str) -> str:
        self.inputs.append(value)
        return await self.post("*".join(self.inputs))


# What each screen says, per language: literal words, not the catalogue itself.
WORDS = {
    "en": {"main": "1. Balance\n", "wallet": "Wallet: ", "pin": "Enter the PIN", "added": "TVU added to card",
           "pkgs": "Choose a package", "pay": "Pay with:", "confirm": "from the wallet?", "renewed": "is active on card",
           "refresh": "Send the rights", "refreshed": "Sent.", "bad_pin": "This PIN is not valid",
           "lang": "Language / Langue / Lugha", "help": "SMS: BAL", "link": "Enter your smartcard number",
           "too_soon": "Already sent", "poor": "Not enough TVU"},
    "fr": {"main": "1. Solde\n", "wallet": "Solde: ", "pin": "Entrez le code PIN", "added": "TVU ajoutes",
           "pkgs": "Choisissez un bouquet", "pay": "Payer par:", "confirm": "du solde?", "renewed": "est actif sur",
           "refresh": "Renvoyer les droits", "refreshed": "Envoye.", "bad_pin": "n'est pas valide",
           "lang": "Language / Langue / Lugha", "help": "SMS: SOLDE", "link": "Entrez votre numero de carte",
           "too_soon": "Deja envoye", "poor": "Solde TVU insuffisant"},
    "sw": {"main": "1. Salio\n", "wallet": "Salio: ", "pin": "Weka PIN", "added": "zimeongezwa kwa kadi",
           "pkgs": "Chagua kifurushi", "pay": "Lipa kwa:", "confirm": "kutoka salio?", "renewed": "iko hai kwa kadi",
           "refresh": "Tuma tena haki", "refreshed": "Imetumwa.", "bad_pin": "PIN hii si sahihi",
           "lang": "Language / Langue / Lugha", "help": "SMS: SALIO", "link": "Weka namba ya kadi yako",
           "too_soon": "Imeshatumwa", "poor": "TVU hazitoshi"},
}


@pytest.fixture
async def gw(gateway_client):
    client = await gateway_client(**{"security.pin_key": PIN_KEY, "ussd.steps_per_minute": 1000})
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic bouquet", 30, 100, ("101",))
    await subscriptions.add_package(billing, "PREMIUM", "Premium", 30, 250, ("101", "102"))
    return client


async def subscriber(client, lang: str, card: str = CARD, msisdn: str = MSISDN, wallet: int = 0):
    billing = client.app[BILLING]
    await subscriptions.add_subscriber(billing, card, msisdn, package="BASIC", lang=lang)
    if wallet:
        await subscriptions.credit_tvu(billing, card, wallet, source="tvu:opening", ref="t", kind="opening")


async def scratch_pins(client, count: int = 2, tvu: int = 400) -> list[str]:
    billing = client.app[BILLING]
    rows: list[tuple[str, str]] = []
    name = f"U{next(_ids)}"
    await cards.generate_batch(billing, name=name, count=count, tvu=tvu, sink=rows.extend)
    await cards.activate_cards(billing, name)
    return [pin for _, pin in rows]


async def ledger_is_zero(client) -> None:
    trial = await client.app[BILLING].db.read(ledger_store.trial_balance)
    sums: dict[str, int] = {}
    for _account, unit, balance in trial:
        sums[unit] = sums.get(unit, 0) + balance
    assert set(sums.values()) <= {0}, sums


@pytest.mark.parametrize("lang", ["en", "fr", "sw"])
async def test_redeem_then_renew_to_another_package(gw, lang) -> None:
    w = WORDS[lang]
    await subscriber(gw, lang)
    pin = (await scratch_pins(gw))[0]
    phone = Phone(gw)
    assert (await phone.dial()).startswith("CON ") and w["main"] in phone.screen
    assert CARD in phone.screen
    assert w["pin"] in await phone.send("2")
    screen = await phone.send(pin)
    assert screen.startswith("END ") and w["added"] in screen and "400" in screen

    phone = Phone(gw)
    await phone.dial()
    assert w["pkgs"] in await phone.send("3")
    assert w["pay"] in await phone.send("2")  # Premium
    assert w["confirm"] in await phone.send("1")  # from the wallet
    screen = await phone.send("1")
    assert screen.startswith("END ") and w["renewed"] in screen and "Premium" in screen
    view = await subscriptions.show_subscriber(gw.app[BILLING], CARD)
    assert (view.package, view.status, view.wallet_tvu) == ("PREMIUM", "active", 50)
    await ledger_is_zero(gw)


@pytest.mark.parametrize("lang", ["en", "fr", "sw"])
async def test_balance_refresh_language_and_help(gw, lang) -> None:
    w = WORDS[lang]
    await subscriber(gw, lang, wallet=120)  # renews BASIC at once: 20 left
    phone = Phone(gw)
    await phone.dial()
    screen = await phone.send("1")
    assert w["wallet"] + "20 TVU" in screen and "Basic bouquet" in screen
    assert w["main"] in await phone.send("0")
    assert w["refresh"] in await phone.send("4")
    assert w["refreshed"] in await phone.send("1")
    events = await gw.app[BILLING].db.read(lambda conn: outbox_store.list_events(conn, card=CARD, limit=50))
    assert sum(e.kind == "entitlement.grant" for e in events) == 2  # the renewal's and the refresh's

    phone = Phone(gw)
    await phone.dial()
    await phone.send("4")
    assert w["too_soon"] in await phone.send("1")

    phone = Phone(gw)
    await phone.dial()
    assert w["help"] in await phone.send("6")
    phone = Phone(gw)
    await phone.dial()
    assert w["lang"] in await phone.send("5")
    other = {"en": "fr", "fr": "sw", "sw": "en"}[lang]
    screen = await phone.send(str(["en", "fr", "sw"].index(other) + 1))
    assert WORDS[other]["main"] in screen
    assert (await subscriptions.show_subscriber(gw.app[BILLING], CARD)).lang == other


@pytest.mark.parametrize("lang", ["en", "fr", "sw"])
async def test_refusals_are_shown_in_the_language(gw, lang) -> None:
    w = WORDS[lang]
    await subscriber(gw, lang)
    phone = Phone(gw)
    await phone.dial()
    await phone.send("2")
    assert w["bad_pin"] in await phone.send(new_pin(14, random.Random(7).randrange))  # well formed, no such card
    phone = Phone(gw)
    await phone.dial()
    await phone.send("3")
    await phone.send("1")
    await phone.send("1")
    assert w["poor"] in await phone.send("1")  # empty wallet


async def test_several_cards_pick_one_and_unknown_phone_links_a_card(gw) -> None:
    await subscriber(gw, "en")
    await subscriber(gw, "en", card=CARD2)
    phone = Phone(gw)
    screen = await phone.dial()
    assert "Choose a card" in screen and f"1. {CARD}" in screen and f"2. {CARD2}" in screen
    assert CARD2 in await phone.send("2") and "Other card" in phone.screen

    stranger = Phone(gw, msisdn=STRANGER)
    assert WORDS["en"]["link"] in await stranger.dial()
    assert "No subscription" in await stranger.send("49999999")
    screen = await stranger.send(CARD)
    assert CARD in screen and "1. Balance" in screen
    screen = await stranger.send("1")
    assert "Wallet" not in screen  # not the stranger's card: no wallet shown
    await stranger.send("0")
    await stranger.send("3")
    await stranger.send("1")
    assert "Top up this card" in stranger.screen  # no wallet, no mobile money configured


async def test_navigation_back_home_and_invalid_choice(gw) -> None:
    await subscriber(gw, "en")
    phone = Phone(gw)
    await phone.dial()
    await phone.send("3")
    assert "Pay with" in await phone.send("1")
    assert "Choose a package" in await phone.send("0")
    assert "Invalid choice" in await phone.send("7")
    assert "1. Balance" in await phone.send("00")
    assert "Invalid choice" in await phone.send("9")


async def test_a_crafted_text_cannot_skip_the_confirmation_or_the_pin(gw) -> None:
    await subscriber(gw, "en", wallet=220)  # 120 left after the first renewal
    before = await subscriptions.show_subscriber(gw.app[BILLING], CARD)
    phone = Phone(gw)
    await phone.dial()
    await phone.send("3")
    assert "Pay with" in await phone.send("1")
    # Choose the wallet and answer the confirmation it has not seen, in one hop: refused.
    assert (await phone.post("3*1*1*1")).startswith("END ")
    assert (await phone.post("3*1*1")).startswith("END ")  # and the session is over

    phone = Phone(gw)
    await phone.dial()
    for value in ("3", "1", "1"):
        await phone.send(value)
    assert "from the wallet?" in phone.screen
    assert (await phone.post("3*2*1*1")).startswith("END ")  # rewrites history: refused
    after = await subscriptions.show_subscriber(gw.app[BILLING], CARD)
    assert (after.expires_at, after.wallet_tvu) == (before.expires_at, before.wallet_tvu)

    pin = (await scratch_pins(gw))[0]
    phone = Phone(gw)
    assert "Invalid choice" in await phone.post(pin)  # a PIN is read where the phone is: the main menu
    phone = Phone(gw)
    assert (await phone.post(f"2*{pin}")).startswith("END ")  # menu and PIN in one hop: refused
    phone = Phone(gw)
    assert "Enter the PIN" in await phone.post("2")  # a shortcut may navigate
    assert (await subscriptions.show_subscriber(gw.app[BILLING], CARD)).wallet_tvu == before.wallet_tvu


async def test_a_session_belongs_to_its_phone_and_a_retry_gets_the_same_screen(gw) -> None:
    await subscriber(gw, "en")
    phone = Phone(gw)
    await phone.dial()
    first = await phone.send("1")
    again = await phone.post("1")
    assert again == first
    thief = Phone(gw, msisdn=STRANGER, sid=phone.sid)
    assert (await thief.post("1*0")).startswith("END ")


async def test_bad_forms_get_400_and_change_nothing(gw) -> None:
    resp = await gw.post("/ussd/africastalking", data={"sessionId": "x", "phoneNumber": MSISDN})
    assert resp.status == 400
    for field, value in (("phoneNumber", "not a phone"), ("sessionId", "bad id!"), ("text", "caf\u00e9")):
        data = {"sessionId": "s1", "serviceCode": "*123#", "phoneNumber": MSISDN, "text": "", field: value}
        assert (await gw.post("/ussd/africastalking", data=data)).status == 400


async def test_the_session_log_shows_each_step_without_the_pin(gw) -> None:
    await subscriber(gw, "en")
    pin = (await scratch_pins(gw))[0]
    phone = Phone(gw)
    await phone.dial()
    await phone.send("2")
    await phone.send(pin)
    service = gw.app[__import__("gateway.providers.africastalking.ussd", fromlist=["USSD"]).USSD]
    await service.steplog.flush()
    steps = await gw.app[BILLING].db.read(lambda conn: ussd_store.steps(conn, session_id=phone.sid))
    assert [s.hop for s in steps] == [1, 2, 3]
    assert [s.input for s in steps] == ["", "2", "****"]
    assert steps[-1].screen.startswith("END ") and "400 TVU added" in steps[-1].screen
    assert all(pin not in s.screen and pin not in s.input for s in steps)
    assert all(s.elapsed_us > 0 for s in steps)


async def test_steps_per_minute_are_limited_per_phone(gateway_client) -> None:
    client = await gateway_client(**{"ussd.steps_per_minute": 3})
    phone = Phone(client, msisdn=STRANGER)
    await phone.dial()
    await phone.send("40000001")
    await phone.send("0")
    screen = await phone.send("1")
    assert screen.startswith("END ") and "Too many requests" in screen


async def test_the_callback_guard_refuses_other_callers(gateway_client) -> None:
    client = await gateway_client(**{"ussd.callback_token": "s3cret-token"})
    form = {"sessionId": "s1", "serviceCode": "*123#", "phoneNumber": MSISDN, "text": ""}
    assert (await client.post("/ussd/africastalking", data=form)).status == 403
    assert (await client.post("/ussd/africastalking?token=s3cret-token", data=form)).status == 200
