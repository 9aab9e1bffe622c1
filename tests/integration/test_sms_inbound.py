"""SMS commands as transcripts: a text in from a phone, the reply out, and what it did to wallets, the
ledger and the outbox. The real app (``create_app``) on SQLite and PostgreSQL; rate limits and
de-duplication in memory and in the real Redis."""
from __future__ import annotations

import asyncio
import json
import random
import socket
import uuid

import pytest
from sqlalchemy import select

from billing_core import cards, subscriptions
from billing_core.db import ledger_store
from billing_core.db.schema import outbox
from billing_core.lockouts import phone_key
from billing_core.pins import new_pin
from gateway.keys import BILLING, LOCKOUTS, METRICS
from gateway.sms import replies
from gateway.sms.inbound import handle_inbound
from gateway.state import RedisState
from tv_notify.texts import day, notice, refusal

PIN_KEY = "sms-test-pin-key-0123456789abcdef"
PRICE, DAYS = 100, 30
# one subscriber per language, each on its own phone
PHONES = {"en": "+254711000001", "fr": "+254711000002", "sw": "+254711000003"}
CARDS = {"en": "40000001", "fr": "40000002", "sw": "40000003"}
MULTI_PHONE, MULTI_CARDS = "+254722000009", ("40000091", "40000092")
STRANGER = "+254733000000"  # no card
KEYWORD = {  # verb -> keyword in each language
    "bal": {"en": "BAL", "fr": "SOLDE", "sw": "SALIO"},
    "topup": {"en": "TOPUP", "fr": "RECHARGE", "sw": "JAZA"},
    "renew": {"en": "RENEW", "fr": "RENOUVELER", "sw": "LIPIA"},
    "refresh": {"en": "REFRESH", "fr": "ACTUALISER", "sw": "SASISHA"},
    "lang": {"en": "LANG", "fr": "LANGUE", "sw": "LUGHA"},
    "help": {"en": "HELP", "fr": "AIDE", "sw": "MSAADA"},
}
LANGS = ("en", "fr", "sw")
REDIS_URL = "redis://127.0.0.1:6379/0"


async def start(gateway_client, **overrides):
    client = await gateway_client(**{"security.pin_key": PIN_KEY, "security.lockout_failures": 3, **overrides})
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic", DAYS, PRICE, ("101",))
    await subscriptions.add_package(billing, "PREMIUM", "Premium", DAYS, 2 * PRICE, ("101", "102"))
    for lang in LANGS:
        await subscriptions.add_subscriber(billing, CARDS[lang], PHONES[lang], package="BASIC", lang=lang)
    for card in MULTI_CARDS:
        await subscriptions.add_subscriber(billing, card, MULTI_PHONE, package="BASIC", lang="fr")
    return client.app


def sms(app, msisdn, text, message_id="", channel="africastalking"):
    return handle_inbound(app, msisdn, text, channel=channel, to="22384", message_id=message_id)


async def sent(app) -> list[tuple[str, str, str, str]]:
    """Every SMS in the outbox, oldest first: (card, msisdn, lang, text)."""
    rows = await app[BILLING].db.read(lambda c: c.execute(
        select(outbox.c.card, outbox.c.payload).where(outbox.c.kind == "sms.send").order_by(outbox.c.id)).all())
    return [(card, p["msisdn"], p["lang"], p["text"]) for card, p in ((r[0], json.loads(r[1])) for r in rows)]


async def kinds(app, card) -> list[str]:
    rows = await app[BILLING].db.read(lambda c: c.execute(
        select(outbox.c.kind).where(outbox.c.card == card).order_by(outbox.c.id)).all())
    return [r[0] for r in rows]


async def wallet(app, card) -> int:
    return (await subscriptions.show_subscriber(app[BILLING], card)).wallet_tvu


async def books_balance(app) -> None:
    totals: dict[str, int] = {}
    for _account, unit, amount in await app[BILLING].db.read(ledger_store.trial_balance):
        totals[unit] = totals.get(unit, 0) + amount
    assert set(totals.values()) <= {0}


async def scratch_cards(app, count=3, name="B1", **value) -> list[str]:
    """PINs of a generated and activated batch."""
    billing = app[BILLING]
    rows: list[tuple[str, str]] = []
    await cards.generate_batch(billing, name=name, count=count, sink=rows.extend, **(value or {"tvu": PRICE}))
    await cards.activate_cards(billing, name)
    return [pin for _serial, pin in rows]


def wrong_pin(seed: int) -> str:
    """Well-formed (its check digit is right) but on no card."""
    return new_pin(14, random.Random(seed).randrange)


def grouped(pin: str) -> str:
    return " ".join(pin[i:i + 4] for i in range(0, len(pin), 4))


# ---- BAL ------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_bal_of_the_phones_only_card_in_its_language(gateway_client, lang) -> None:
    app = await start(gateway_client)
    await subscriptions.credit_tvu(app[BILLING], CARDS[lang], 40, source="tvu:opening", ref="t", kind="opening")
    reply = await sms(app, PHONES[lang], KEYWORD["bal"][lang].lower())
    expected = replies.reply("status_new", lang, card=CARDS[lang], package="Basic") + replies.reply(
        "wallet", lang, wallet=40)
    assert reply == expected
    assert (await sent(app))[-1] == (CARDS[lang], PHONES[lang], lang, expected)
    # the card named explicitly, and a typo in the keyword: the same answer
    assert await sms(app, PHONES[lang], f"{KEYWORD['bal'][lang]}L: {CARDS[lang]}") == expected


async def test_bal_from_a_phone_with_several_cards_asks_which(gateway_client) -> None:
    app = await start(gateway_client)
    reply = await sms(app, MULTI_PHONE, "SOLDE")
    assert reply == replies.reply("choose_card", "fr", cards="40000091, 40000092", usage="SOLDE CARTE")
    assert (await sent(app))[-1] == (MULTI_CARDS[0], MULTI_PHONE, "fr", reply)
    reply = await sms(app, MULTI_PHONE, "solde 4000-0092")
    assert reply == replies.balance("fr", card="40000092", status="new", package="Basic", expires_at=None,
                                    wallet_tvu=0)


@pytest.mark.parametrize("lang", LANGS)
async def test_bal_from_an_unknown_phone(gateway_client, lang) -> None:
    app = await start(gateway_client)
    keyword = KEYWORD["bal"][lang]
    reply = await sms(app, STRANGER, keyword)
    assert reply == replies.reply("no_card", lang, usage=replies.usage("bal", lang))
    assert await sent(app) == [("", STRANGER, lang, reply)]  # card-less SMS
    # someone else's card: status and expiry, never the wallet
    await subscriptions.credit_tvu(app[BILLING], CARDS["en"], 250, source="tvu:opening", ref="t", kind="opening")
    reply = await sms(app, STRANGER, f"{keyword} {CARDS['en']}")
    view = await subscriptions.show_subscriber(app[BILLING], CARDS["en"])
    assert reply == replies.reply("status_active", lang, card=CARDS["en"], package="Basic", date=day(view.expires_at))
    assert "150" not in reply and (await sent(app))[-1] == ("", STRANGER, lang, reply)
    assert await sms(app, STRANGER, f"{keyword} 49999999") == refusal("unknown_card", lang)


# ---- TOPUP ----------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_topup_credits_the_wallet_and_the_confirmation_is_the_one_reply(gateway_client, lang) -> None:
    app = await start(gateway_client)
    fifty, hundred, third = await scratch_cards(app, count=3, tvu=50)
    phone, card, keyword = PHONES[lang], CARDS[lang], KEYWORD["topup"][lang]

    reply = await sms(app, phone, f"{keyword}: {grouped(fifty)}")  # 50 TVU: not enough for the package
    assert reply == notice("credited_inactive", lang, tvu=50, card=card, wallet=50, package="Basic", date="-",
                           price=PRICE)
    assert await wallet(app, card) == 50
    assert await sent(app) == [(card, phone, lang, reply)]  # exactly one SMS, in the subscriber's language

    reply = await sms(app, phone, f"{keyword.lower()} {hundred.replace('', ' ').strip()} {card}")  # renews
    view = await subscriptions.show_subscriber(app[BILLING], card)
    assert view.status == "active" and view.wallet_tvu == 0
    assert reply == notice("renewed", lang, package="Basic", date=day(view.expires_at), wallet=0, card=card)
    assert [s[3] for s in await sent(app)][-1] == reply and len(await sent(app)) == 2
    assert await kinds(app, card) == ["sms.send", "entitlement.grant", "osd.message", "sms.send"]

    reply = await sms(app, phone, f"{keyword}{third}")  # active: credited
    assert reply == notice("credited", lang, tvu=50, card=card, wallet=50, package="Basic", date=day(view.expires_at),
                           price=PRICE)
    assert len(await sent(app)) == 3 and await wallet(app, card) == 50
    await books_balance(app)


async def test_topup_of_someone_elses_card_tells_each_phone_once(gateway_client) -> None:
    app = await start(gateway_client)
    [pin] = await scratch_cards(app, count=1, tvu=50)
    reply = await sms(app, PHONES["sw"], f"JAZA {pin} {CARDS['fr']}")
    assert reply == replies.reply("topped_up_other", "sw", tvu=50, card=CARDS["fr"])
    assert await wallet(app, CARDS["fr"]) == 50
    owner = notice("credited_inactive", "fr", tvu=50, card=CARDS["fr"], wallet=50, package="Basic", date="-",
                   price=PRICE)
    assert await sent(app) == [(CARDS["fr"], PHONES["fr"], "fr", owner), (CARDS["sw"], PHONES["sw"], "sw", reply)]


async def test_topup_without_a_card_from_a_phone_with_none_or_several(gateway_client) -> None:
    app = await start(gateway_client)
    [pin] = await scratch_cards(app, count=1)
    assert await sms(app, STRANGER, f"TOPUP {pin}") == replies.reply("no_card", "en", usage="TOPUP PIN CARD")
    assert await sms(app, MULTI_PHONE, f"RECHARGE {pin}") == replies.reply(
        "choose_card", "fr", cards="40000091, 40000092", usage="RECHARGE PIN CARTE")
    assert await wallet(app, MULTI_CARDS[0]) == 0
    assert await sms(app, MULTI_PHONE, f"RECHARGE {pin} {MULTI_CARDS[1]}") == notice(
        "renewed", "fr", package="Basic", date=day((await subscriptions.show_subscriber(
            app[BILLING], MULTI_CARDS[1])).expires_at), wallet=0, card=MULTI_CARDS[1])


@pytest.mark.parametrize("lang", LANGS)
async def test_wrong_pins_count_against_the_lockout_then_the_phone_is_locked_out(gateway_client, lang) -> None:
    app = await start(gateway_client)
    [pin] = await scratch_cards(app, count=1)
    phone, keyword = PHONES[lang], KEYWORD["topup"][lang]
    bad_digit = pin[:-1] + str((int(pin[-1]) + 1) % 10)  # a typo: caught by the check digit, not counted
    assert await sms(app, phone, f"{keyword} {bad_digit}") == refusal("pin_malformed", lang)
    for seed in range(3):
        assert await sms(app, phone, f"{keyword} {wrong_pin(seed)}") == refusal("pin_invalid", lang)
    assert await app[LOCKOUTS].locked(phone_key(phone))
    assert await sms(app, phone, f"{keyword} {pin}") == refusal("locked_out", lang)  # refused before any lookup
    assert await wallet(app, CARDS[lang]) == 0
    assert [s[3] for s in await sent(app)] == [refusal("pin_malformed", lang)] + [refusal("pin_invalid", lang)] * 3 + [
        refusal("locked_out", lang)]
    other = "fr" if lang == "en" else "en"  # the card stays redeemable by others
    reply = await sms(app, PHONES[other], f"{KEYWORD['topup'][other]} {pin}")
    expires_at = (await subscriptions.show_subscriber(app[BILLING], CARDS[other])).expires_at
    assert reply == notice("renewed", other, package="Basic", date=day(expires_at), wallet=0, card=CARDS[other])


async def test_topup_misread_and_unknown_card(gateway_client) -> None:
    app = await start(gateway_client)
    assert await sms(app, PHONES["en"], "TOPUP") == "Send TOPUP PIN CARD."
    assert await sms(app, PHONES["fr"], "RECHARGE 1234") == refusal("pin_malformed", "fr")
    assert await sms(app, PHONES["sw"], f"JAZA {wrong_pin(1)} 49999999") == refusal("unknown_card", "sw")


# ---- RENEW ----------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_renew_from_the_wallet_and_refused_when_it_is_short(gateway_client, lang) -> None:
    app = await start(gateway_client)
    phone, card, keyword = PHONES[lang], CARDS[lang], KEYWORD["renew"][lang]
    assert await sms(app, phone, keyword) == refusal("insufficient_wallet", lang)
    assert await sent(app) == [(card, phone, lang, refusal("insufficient_wallet", lang))]

    await subscriptions.credit_tvu(app[BILLING], card, 350, source="tvu:opening", ref="t", kind="opening")  # renews
    before = await subscriptions.show_subscriber(app[BILLING], card)
    count = len(await sent(app))
    reply = await sms(app, phone, f"{keyword} basic")
    after = await subscriptions.show_subscriber(app[BILLING], card)
    assert after.expires_at == before.expires_at + DAYS * 86_400 and after.wallet_tvu == 150  # stacked
    assert reply == notice("renewed", lang, package="Basic", date=day(after.expires_at), wallet=150, card=card)
    assert (await sent(app))[count:] == [(card, phone, lang, reply)]  # the renewal notice is the only SMS

    reply = await sms(app, phone, f"{keyword} PREMIUM {card}")  # switches package: 200 TVU, wallet 150
    assert reply == refusal("insufficient_wallet", lang) and await wallet(app, card) == 150
    assert await sms(app, phone, f"{keyword} GOLD") == refusal("unknown_package", lang)
    await books_balance(app)


async def test_renew_and_refresh_only_for_the_phones_own_cards(gateway_client) -> None:
    app = await start(gateway_client)
    await subscriptions.credit_tvu(app[BILLING], CARDS["en"], 300, source="tvu:opening", ref="t", kind="opening")
    for text in (f"LIPIA {CARDS['en']}", f"SASISHA {CARDS['en']}", "LIPIA 49999999"):
        assert await sms(app, PHONES["sw"], text) == refusal("not_your_card", "sw")
    assert await wallet(app, CARDS["en"]) == 200
    assert await sms(app, STRANGER, f"RENEW {CARDS['en']}") == refusal("not_your_card", "en")
    assert await sms(app, MULTI_PHONE, "RENOUVELER") == replies.reply(
        "choose_card", "fr", cards="40000091, 40000092", usage="RENOUVELER BOUQUET CARTE")


# ---- REFRESH --------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
async def test_refresh_resends_the_rights_then_too_soon(gateway_client, clock, lang) -> None:
    app = await start(gateway_client)
    phone, card, keyword = PHONES[lang], CARDS[lang], KEYWORD["refresh"][lang]
    assert await sms(app, phone, keyword) == refusal("not_active", lang)
    await subscriptions.credit_tvu(app[BILLING], card, PRICE, source="tvu:opening", ref="t", kind="opening")
    view = await subscriptions.show_subscriber(app[BILLING], card)
    before = await kinds(app, card)
    reply = await sms(app, phone, f"{keyword} {card}")
    assert reply == notice("refreshed", lang, card=card, package="Basic", date=day(view.expires_at))
    assert (await kinds(app, card))[len(before):] == ["entitlement.grant", "osd.message", "sms.send"]
    assert (await sent(app))[-1] == (card, phone, lang, reply)
    clock.advance(60)
    assert await sms(app, phone, keyword) == refusal("refresh_too_soon", lang)
    clock.advance(300)
    assert await sms(app, phone, keyword) == reply


# ---- LANG and HELP --------------------------------------------------------------------------

async def test_lang_switches_the_reply_language(gateway_client) -> None:
    app = await start(gateway_client)
    assert await sms(app, PHONES["en"], "BAL") == replies.balance("en", card=CARDS["en"], status="new",
                                                                 package="Basic", expires_at=None, wallet_tvu=0)
    for choice, text in (("fr", "lang fr"), ("sw", "LANGUE: swahili"), ("en", "Lugha EN")):
        reply = await sms(app, PHONES["en"], text)
        assert reply == replies.reply("lang_set", choice)
        assert (await sent(app))[-1] == (CARDS["en"], PHONES["en"], choice, reply)
        assert (await subscriptions.show_subscriber(app[BILLING], CARDS["en"])).lang == choice
        if choice == "fr":
            assert await sms(app, PHONES["en"], "BAL") == replies.balance(
                "fr", card=CARDS["en"], status="new", package="Basic", expires_at=None, wallet_tvu=0)
    assert await sms(app, PHONES["en"], "LANG") == "Send LANG EN, LANG FR or LANG SW."
    assert await sms(app, STRANGER, "LUGHA FR") == replies.reply("lang_no_card", "fr")


@pytest.mark.parametrize("lang", LANGS)
async def test_help_and_unknown_text_get_the_command_list(gateway_client, lang) -> None:
    app = await start(gateway_client)
    assert await sms(app, STRANGER, KEYWORD["help"][lang]) == replies.reply("help", lang)
    assert await sms(app, PHONES[lang], "what is this?") == replies.reply("help", lang)
    assert await sms(app, PHONES[lang], "?") == replies.reply("help", lang)
    assert [s[2] for s in await sent(app)] == [lang] * 3


async def test_typos_and_punctuation(gateway_client) -> None:
    app = await start(gateway_client)
    [pin] = await scratch_cards(app, count=1, tvu=50)
    assert (await sms(app, PHONES["en"], f"Topuo: {pin[:7]}-{pin[7:]}")).startswith("50 TVU added to card 40000001")
    assert (await sms(app, PHONES["en"], "ball.")).startswith("Card 40000001: Basic not active yet. Wallet: 50 TVU")
    assert (await sms(app, PHONES["fr"], "Sold")).startswith("Carte 40000002")


# ---- abuse: rate limits, retries, the state store away -----------------------------------------

@pytest.fixture(params=["memory", "redis"])
async def state_settings(request):
    """Settings overrides for the state store: in-process, or the real Redis under a fresh prefix."""
    if request.param == "memory":
        yield {}
        return
    prefix = f"tvtopup-test:{uuid.uuid4().hex[:12]}:"
    yield {"redis.url": REDIS_URL, "redis.key_prefix": prefix}
    state = RedisState.from_url(REDIS_URL, prefix=prefix, timeout_s=2.0)
    for key in await state.scan("", 10_000):
        await state.delete(key)
    await state.close()


async def test_over_the_inbound_limit_commands_are_ignored(gateway_client, state_settings, caplog) -> None:
    app = await start(gateway_client, **state_settings, **{"sms.inbound_per_hour": 3, "sms.replies_per_hour": 100})
    for _ in range(3):
        assert await sms(app, PHONES["en"], "BAL")
    caplog.set_level("INFO", logger="tvtopup.sms")
    assert await sms(app, PHONES["en"], "BAL") is None
    assert await sms(app, PHONES["en"], "HELP") is None
    assert len(await sent(app)) == 3
    assert "+2547*****001" in caplog.text and PHONES["en"] not in caplog.text and "inbound_limit" in caplog.text
    assert await sms(app, PHONES["fr"], "SOLDE")  # another phone has its own budget
    text = app[METRICS].render().decode()
    assert 'tvtopup_sms_ignored_total{reason="inbound_limit"} 2.0' in text
    assert 'tvtopup_sms_commands_total{command="bal"} 4.0' in text


async def test_over_the_reply_limit_nothing_runs(gateway_client, state_settings) -> None:
    app = await start(gateway_client, **state_settings, **{"sms.inbound_per_hour": 100, "sms.replies_per_hour": 2})
    pins = await scratch_cards(app, count=2, tvu=50)
    assert await sms(app, PHONES["en"], f"TOPUP {pins[0]}")
    assert await sms(app, PHONES["en"], "BAL")
    assert await sms(app, PHONES["en"], f"TOPUP {pins[1]}") is None  # not run: no reply could be sent
    assert await wallet(app, CARDS["en"]) == 50 and len(await sent(app)) == 2


async def test_a_retried_message_is_run_and_answered_once(gateway_client, state_settings) -> None:
    app = await start(gateway_client, **state_settings)
    [pin] = await scratch_cards(app, count=1, tvu=50)
    first = await sms(app, PHONES["sw"], f"JAZA {pin}", message_id="ATXid_1")
    assert first.startswith("TVU 50")
    assert await sms(app, PHONES["sw"], f"JAZA {pin}", message_id="ATXid_1") is None
    assert await wallet(app, CARDS["sw"]) == 50 and len(await sent(app)) == 1
    assert not await app[LOCKOUTS].locked(phone_key(PHONES["sw"]))
    # the same id from another channel is another message; without an id nothing is de-duplicated
    assert await sms(app, PHONES["sw"], "SALIO", message_id="ATXid_1", channel="smpp")
    assert await sms(app, PHONES["sw"], "SALIO") and await sms(app, PHONES["sw"], "SALIO")
    assert len(await sent(app)) == 4


async def test_concurrent_retries_redeem_once(gateway_client, state_settings) -> None:
    app = await start(gateway_client, **state_settings)
    [pin] = await scratch_cards(app, count=1, tvu=50)
    answers = await asyncio.gather(*(sms(app, PHONES["en"], f"TOPUP {pin}", message_id="m-1") for _ in range(5)))
    assert sum(a is not None for a in answers) == 1
    assert await wallet(app, CARDS["en"]) == 50 and len(await sent(app)) == 1


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_state_store_away_topup_and_renew_refused_others_answered(gateway_client) -> None:
    app = await start(gateway_client, **{"redis.url": f"redis://127.0.0.1:{closed_port()}/0"})
    [pin] = await scratch_cards(app, count=1, tvu=50)
    await subscriptions.credit_tvu(app[BILLING], CARDS["fr"], 300, source="tvu:opening", ref="t", kind="opening")
    assert await sms(app, PHONES["fr"], f"RECHARGE {pin}", message_id="x1") == refusal("lockouts_unavailable", "fr")
    assert await sms(app, PHONES["fr"], "RENOUVELER", message_id="x2") == refusal("unavailable", "fr")
    assert await wallet(app, CARDS["fr"]) == 200
    assert (await sms(app, PHONES["fr"], "SOLDE")).startswith("Carte 40000002: Basic actif")
    assert await sms(app, PHONES["fr"], "AIDE") == replies.reply("help", "fr")


async def test_a_sender_that_is_no_phone_number_is_ignored(gateway_client) -> None:
    app = await start(gateway_client)
    assert await sms(app, "not-a-number", "BAL") is None
    assert await sent(app) == []


# ---- through Africa's Talking's inbound callback --------------------------------------------

async def test_the_inbound_callback_answers_the_reply_as_text(aiohttp_client, make_settings, clock) -> None:
    from gateway.app import create_app

    client = await aiohttp_client(create_app(make_settings(**{
        "security.pin_key": PIN_KEY, "africastalking.sms_callback_token": "tok"}), clock=clock, workers=False))
    app = client.app
    await subscriptions.add_package(app[BILLING], "BASIC", "Basic", DAYS, PRICE, ("101",))
    await subscriptions.add_subscriber(app[BILLING], CARDS["fr"], PHONES["fr"], package="BASIC", lang="fr")
    [pin] = await scratch_cards(app, count=1, tvu=50)
    form = {"from": PHONES["fr"], "to": "22384", "text": f"Recharge: {grouped(pin)}", "date": "2026-11-21 14:30:00",
            "id": "ATXid_http_1", "linkId": ""}
    assert (await client.post("/sms/africastalking/inbound", data=form)).status == 403  # no token
    resp = await client.post("/sms/africastalking/inbound?token=tok", data=form)
    assert (resp.status, resp.content_type) == (200, "text/plain")
    assert await resp.text() == notice("credited_inactive", "fr", tvu=50, card=CARDS["fr"], wallet=50,
                                       package="Basic", date="-", price=PRICE)
    retry = await client.post("/sms/africastalking/inbound?token=tok", data=form)  # AT's retry: answered once
    assert (retry.status, await retry.text()) == (200, "")
    assert await wallet(app, CARDS["fr"]) == 50 and len(await sent(app)) == 1
    metrics = await (await client.get("/metrics")).text()
    assert 'tvtopup_sms_commands_total{command="topup"} 1.0' in metrics
    assert 'tvtopup_sms_ignored_total{reason="duplicate"} 1.0' in metrics


async def test_a_failure_raises_and_the_providers_next_delivery_runs_it(gateway_client, monkeypatch) -> None:
    app = await start(gateway_client)
    [pin] = await scratch_cards(app, count=1, tvu=50)
    real = subscriptions.cards_of_phone

    async def database_away(*args, **kwargs):
        raise ConnectionError("database away")

    monkeypatch.setattr(subscriptions, "cards_of_phone", database_away)
    with pytest.raises(ConnectionError):
        await sms(app, PHONES["en"], f"TOPUP {pin}", message_id="m-9")
    monkeypatch.setattr(subscriptions, "cards_of_phone", real)
    assert (await sms(app, PHONES["en"], f"TOPUP {pin}", message_id="m-9")).startswith("50 TVU added")
    assert await wallet(app, CARDS["en"]) == 50 and len(await sent(app)) == 1
