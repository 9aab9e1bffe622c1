"""Promotions through the use cases, on SQLite and PostgreSQL: bonus TVU on a payment, a free
add-on week, a discount at renewal and free days on reconnection; windows, budgets (also
under concurrency), the ledger and the report."""
from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections import Counter

import pytest
from sqlalchemy import func, select

from billing_core import notifications, payments, promotions, subscriptions
from billing_core.context import Billing
from billing_core.db import ledger_store, outbox_store
from billing_core.db.database import open_database
from billing_core.db.payment_store import PaymentNotice
from billing_core.db.schema_notify import day_grants
from billing_core.db.schema_stock import promo_uses
from billing_core.errors import AlreadyExists, Conflict, InvalidInput, UnknownPackage
from billing_core.money import Money
from billing_core.renewal import DAY_S
from tv_notify.events import GRANT, SMS

CARD = "20000001"
PHONE = "+254712345678"
PRICE, DAYS = 300, 30
_txids = itertools.count(1)


async def setup(billing: Billing, cards=(CARD,)) -> None:
    await subscriptions.add_package(billing, "BASIC", "Basic", DAYS, PRICE, ("101", "102"))
    await subscriptions.add_package(billing, "SPORT", "Sport", DAYS, 50, ("201",))
    for card in cards:
        await subscriptions.add_subscriber(billing, card, PHONE, package="BASIC")


async def promo(billing: Billing, name: str, kind: str, *, start_in_s: int = 0, length_s: int = 10 * DAY_S,
                budget: int = 1000, **terms) -> promotions.Promotion:
    now = billing.now()
    made = promotions.new_promotion(name, kind, starts_at=now + start_in_s, ends_at=now + start_in_s + length_s,
                                    budget=budget, operator="olga", **terms)
    return await promotions.add_promotion(billing, made)


async def pay(billing: Billing, amount: str = "KES 1000", card: str = CARD):
    notice = PaymentNotice("mpesa", f"TX{next(_txids):08d}", card, Money.parse(amount), msisdn=PHONE)
    return await payments.record_payment(billing, notice)


async def wallet(billing: Billing, card: str = CARD) -> int:
    return (await subscriptions.show_subscriber(billing, card)).wallet_tvu


async def balance(billing: Billing, account: str, unit: str = "TVU") -> int:
    return await billing.db.read(ledger_store.balance, account, unit)


async def books_balance(billing: Billing) -> None:
    totals = Counter()
    for _code, unit, amount in await billing.db.read(ledger_store.trial_balance):
        totals[unit] += amount
    assert set(totals.values()) <= {0}, totals
    assert set((await billing.db.read(ledger_store.postings_sum_by_unit)).values()) <= {0}


async def texts(billing: Billing, card: str = CARD) -> list[str]:
    return [e.payload["text"] for e in reversed(await billing.db.read(outbox_store.for_card, card)) if e.kind == SMS]


async def report_line(billing: Billing, name: str) -> dict:
    [line] = [r for r in await promotions.report(billing) if r["name"] == name]
    return line


# ---- bonus ----------------------------------------------------------------------------------

async def test_bonus_applies_inside_its_window_only(billing: Billing, clock) -> None:
    await setup(billing)
    await promo(billing, "XMAS", "bonus", start_in_s=DAY_S, length_s=DAY_S, percent="10", min_amount="KES 1000")
    await pay(billing)  # before the window
    assert await wallet(billing) == 1000 - PRICE
    clock.advance(DAY_S)
    await pay(billing)  # inside: +10 %
    assert await wallet(billing) == 2 * 1000 - PRICE + 100
    clock.advance(DAY_S)
    await pay(billing)  # after
    assert await wallet(billing) == 3 * 1000 - PRICE + 100
    assert await balance(billing, "promo:XMAS") == 100
    line = await report_line(billing, "XMAS")
    assert (line["uses"], line["tvu_given"], line["spent"], line["ledger_tvu"]) == (1, 100, 100, 100)
    assert any("100 bonus TVU" in t for t in await texts(billing))
    await books_balance(billing)


async def test_bonus_needs_the_minimum_in_its_currency(billing: Billing) -> None:
    await setup(billing)
    await promo(billing, "BIG", "bonus", percent="10", min_amount="KES 1000")
    await pay(billing, "KES 999")
    await pay(billing, "UGX 100000")  # 2000 TVU at UGX 50, but not KES
    assert await balance(billing, "promo:BIG") == 0
    await pay(billing, "KES 1500")
    assert await balance(billing, "promo:BIG") == 150
    await books_balance(billing)


async def test_bonus_that_covers_the_package_renews_at_once(billing: Billing) -> None:
    await setup(billing)
    await promo(billing, "TOPUP", "bonus", percent="50")
    paid = await pay(billing, "KES 200")  # 200 TVU + 100 bonus = the 300 TVU package
    assert not paid.renewed
    view = await subscriptions.show_subscriber(billing, CARD)
    assert (view.status, view.wallet_tvu) == ("active", 0)
    await books_balance(billing)


async def test_the_budget_is_never_overspent(billing: Billing) -> None:
    await setup(billing)
    await promo(billing, "SMALL", "bonus", percent="10", budget=250)
    for _ in range(3):
        await pay(billing)  # 100 each: 100, 200, then 300 > 250: skipped whole
    assert await balance(billing, "promo:SMALL") == 200
    assert (await report_line(billing, "SMALL"))["left"] == 50
    await books_balance(billing)


async def test_an_ended_promotion_gives_nothing_more(billing: Billing) -> None:
    await setup(billing)
    await promo(billing, "STOP", "bonus", percent="10")
    await pay(billing)
    ended = await promotions.end_promotion(billing, "STOP")
    assert ended.status == "ended"
    await pay(billing)
    assert await balance(billing, "promo:STOP") == 100
    with pytest.raises(Conflict):
        await promotions.end_promotion(billing, "STOP")


@pytest.fixture
async def rival(billing: Billing, db_url: str):
    """The same operator on a second database handle (a second process would do the same)."""
    db = open_database(db_url, pool_size=8)
    yield dataclasses.replace(billing, db=db)
    await db.close()


async def test_fifty_concurrent_credits_spend_the_budget_exactly(billing: Billing, rival: Billing) -> None:
    cards = [f"2100000{n}" for n in range(5)]
    await setup(billing, cards)
    await promo(billing, "RUSH", "bonus", percent="10", budget=100)  # ten bonuses of 10 TVU
    handles = (billing, rival)
    results = await asyncio.gather(*(pay(handles[i % 2], "KES 100", cards[i % 5]) for i in range(50)),
                                   return_exceptions=True)
    assert all(p.status == "credited" for p in results), results
    assert await balance(billing, "promo:RUSH") == 100
    uses = await billing.db.read(lambda c: c.execute(select(func.count()).select_from(promo_uses)).scalar_one())
    assert uses == 10
    line = await report_line(billing, "RUSH")
    assert (line["spent"], line["left"], line["tvu_given"]) == (100, 0, 100)
    assert sum([await wallet(billing, c) for c in cards]) == 50 * 100 + 100 - 5 * PRICE  # each renewed once
    await books_balance(billing)


# ---- free add-on week -----------------------------------------------------------------------

async def test_free_addon_week_is_granted_once_per_card(billing: Billing, clock) -> None:
    await setup(billing)
    await promo(billing, "WEEK", "free_addon", package="SPORT", min_amount="KES 500", budget=5)
    await pay(billing, "KES 400")
    await pay(billing, "KES 500")
    await pay(billing, "KES 500")
    grants = [e.payload for e in await billing.db.read(outbox_store.for_card, CARD)
              if e.kind == GRANT and e.payload["products"] == ["201"]]
    assert len(grants) == 1
    from billing_core.renewal import iso
    assert grants[0]["until"] == iso(clock.now + 7 * DAY_S)
    line = await report_line(billing, "WEEK")
    assert (line["uses"], line["spent"], line["days_given"]) == (1, 1, 7)
    assert any("Sport free for 7 days" in t for t in await texts(billing))
    await books_balance(billing)


async def test_free_addon_budget_counts_grants(billing: Billing) -> None:
    cards = ("22000001", "22000002", "22000003")
    await setup(billing, cards)
    await promo(billing, "TWO", "free_addon", package="SPORT", budget=2)
    for card in cards:
        await pay(billing, "KES 100", card)
    uses = await billing.db.read(lambda c: c.execute(select(promo_uses.c.card).order_by(promo_uses.c.id)).scalars()
                                 .all())
    assert uses == ["22000001", "22000002"]


# ---- discount at renewal --------------------------------------------------------------------

async def test_discount_lowers_the_price_at_renewal(billing: Billing, clock) -> None:
    await setup(billing)
    await promo(billing, "HALF", "discount", percent="20", package="BASIC", budget=1000)
    await pay(billing, "KES 300")  # renews at once: 300 - 20 % = 240 paid
    assert await wallet(billing) == 60
    await pay(billing, "KES 300")
    await subscriptions.renew(billing, CARD)  # 360 in the wallet, pays 240
    assert await wallet(billing) == 120
    assert await balance(billing, "promo:HALF") == 120
    await books_balance(billing)


async def test_discount_applies_at_the_renewal_at_expiry(billing: Billing, clock) -> None:
    await setup(billing)
    await pay(billing, "KES 600")  # renewed, 300 left for the next period
    await promo(billing, "EXP", "discount", percent="10", length_s=60 * DAY_S)
    clock.advance(DAYS * DAY_S + 60)
    await notifications.sweep_expiry(billing, limit=100, grace_s=0, pause_s=0)
    assert await wallet(billing) == 30
    assert await balance(billing, "promo:EXP") == 30
    await books_balance(billing)


async def test_discount_for_another_package_does_nothing(billing: Billing) -> None:
    await setup(billing)
    await promo(billing, "SPORTY", "discount", percent="50", package="SPORT")
    await pay(billing, "KES 300")
    assert await wallet(billing) == 0
    assert await balance(billing, "promo:SPORTY") == 0


# ---- free days on reconnection --------------------------------------------------------------

async def test_reconnect_adds_free_days_after_a_lapse_once(billing: Billing, clock) -> None:
    await setup(billing)
    await pay(billing, "KES 300")
    first_expiry = clock.now + DAYS * DAY_S
    await promo(billing, "BACK", "reconnect", days=5, lapsed_days=3, length_s=200 * DAY_S, budget=10)
    clock.advance(DAYS * DAY_S + 2 * DAY_S)  # lapsed 2 days: too soon
    await pay(billing, "KES 300")
    view = await subscriptions.show_subscriber(billing, CARD)
    assert view.expires_at == clock.now + DAYS * DAY_S
    clock.advance(DAYS * DAY_S + 4 * DAY_S)  # lapsed 4 days
    await pay(billing, "KES 300")
    view = await subscriptions.show_subscriber(billing, CARD)
    assert view.expires_at == clock.now + (DAYS + 5) * DAY_S
    [grant] = [e.payload for e in await billing.db.read(outbox_store.for_card, CARD) if e.kind == GRANT][:1]
    from billing_core.renewal import iso
    assert grant["until"] == iso(view.expires_at)  # the entitlement carries the free days
    assert any("5 free days" in t for t in await texts(billing))
    rows = await billing.db.read(lambda c: c.execute(select(day_grants.c.reason, day_grants.c.days)).all())
    assert [tuple(r) for r in rows] == [("promo:BACK", 5)]
    clock.advance((DAYS + 5) * DAY_S + 4 * DAY_S)  # lapses again: once per card
    await pay(billing, "KES 300")
    assert (await subscriptions.show_subscriber(billing, CARD)).expires_at == clock.now + DAYS * DAY_S
    assert first_expiry < view.expires_at
    line = await report_line(billing, "BACK")
    assert (line["uses"], line["days_given"], line["spent"]) == (1, 5, 1)
    await books_balance(billing)


# ---- operator input -------------------------------------------------------------------------

async def test_bad_promotions_are_refused(billing: Billing) -> None:
    await setup(billing)
    with pytest.raises(InvalidInput):
        await promo(billing, "X", "bonus")  # no percent
    with pytest.raises(InvalidInput):
        await promo(billing, "X", "discount", percent="10", days=3)  # days mean nothing to a discount
    with pytest.raises(UnknownPackage):
        await promo(billing, "X", "free_addon", package="NOPE")
    await promo(billing, "X", "bonus", percent="5")
    with pytest.raises(AlreadyExists):
        await promo(billing, "X", "bonus", percent="5")
    assert [p.name for p in await promotions.list_promotions(billing)] == ["X"]
