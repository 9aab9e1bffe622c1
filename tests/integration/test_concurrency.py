"""Concurrent use cases on one card: each value moves exactly once, whatever the interleaving.

Two database handles compete (two connection pools on PostgreSQL, two writer
connections on SQLite), so the guarantees come from the database's locks and
constraints, not from one handle queueing its own work.
"""
from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

import pytest

from billing_core import ledger, subscriptions
from billing_core.context import Billing
from billing_core.db import ledger_store
from billing_core.db.database import open_database
from billing_core.errors import AlreadyReversed, InsufficientWallet
from billing_core.renewal import DAY_S

CARD = "40000001"
PRICE, DAYS = 100, 30
PERIOD_S = DAYS * DAY_S


@pytest.fixture
async def rival(billing: Billing, db_url: str):
    """The same operator on a second database handle."""
    db = open_database(db_url, pool_size=8)
    yield dataclasses.replace(billing, db=db)
    await db.close()


async def credit(billing: Billing, tvu: int, ref: str = "t") -> subscriptions.Credited:
    return await subscriptions.credit_tvu(billing, CARD, tvu, source=ledger.TVU_OPENING, ref=ref, kind="opening")


async def active_subscriber(billing: Billing) -> int:
    """CARD on a 100 TVU package, renewed just now with an empty wallet; returns the expiry."""
    await subscriptions.add_package(billing, "BASIC", "Basic", DAYS, PRICE)
    await subscriptions.add_subscriber(billing, CARD, "+254712345678", package="BASIC")
    credited = await credit(billing, PRICE)
    assert credited.renewed and credited.subscriber.wallet_tvu == 0
    return credited.subscriber.expires_at


async def gather_across(handles: tuple[Billing, Billing], calls: int, use_case) -> list:
    """``calls`` concurrent calls of ``use_case(billing)``, alternating between the handles."""
    return await asyncio.gather(*(use_case(handles[i % 2]) for i in range(calls)), return_exceptions=True)


async def books_balance(billing: Billing) -> None:
    trial = await billing.db.read(ledger_store.trial_balance)
    totals = Counter()
    for _code, unit, amount in trial:
        totals[unit] += amount
    assert set(totals.values()) <= {0}
    assert set((await billing.db.read(ledger_store.postings_sum_by_unit)).values()) <= {0}
    assert all(amount <= 0 for code, _unit, amount in trial if code.startswith("wallet:"))


async def test_concurrent_renewals_spend_the_wallet_exactly_once(billing: Billing, rival: Billing) -> None:
    expires_at = await active_subscriber(billing)
    await credit(billing, 3 * PRICE)

    results = await gather_across((billing, rival), 30, lambda b: subscriptions.renew(b, CARD))

    renewed = [r for r in results if isinstance(r, subscriptions.SubscriberView)]
    refused = [r for r in results if isinstance(r, InsufficientWallet)]
    assert (len(renewed), len(refused)) == (3, 27), [type(r).__name__ for r in results]
    assert sorted(r.expires_at for r in renewed) == [expires_at + n * PERIOD_S for n in (1, 2, 3)]
    after = await subscriptions.show_subscriber(billing, CARD)
    assert (after.wallet_tvu, after.expires_at) == (0, expires_at + 3 * PERIOD_S)
    await books_balance(billing)


async def test_concurrent_credits_all_land(billing: Billing, rival: Billing) -> None:
    expires_at = await active_subscriber(billing)  # active: the credits wait in the wallet
    amounts = [n % 17 + 1 for n in range(50)]

    results = await asyncio.gather(*(credit((billing, rival)[n % 2], tvu, ref=f"c{n}")
                                     for n, tvu in enumerate(amounts)), return_exceptions=True)

    assert all(isinstance(r, subscriptions.Credited) and not r.renewed for r in results), results
    assert len({r.entry_id for r in results}) == 50
    assert max(r.subscriber.wallet_tvu for r in results) == sum(amounts)
    after = await subscriptions.show_subscriber(billing, CARD)
    assert (after.wallet_tvu, after.expires_at) == (sum(amounts), expires_at)
    await books_balance(billing)


async def test_concurrent_reversals_of_one_entry_apply_once(billing: Billing, rival: Billing, clock) -> None:
    await active_subscriber(billing)
    credited = await credit(billing, 60)

    results = await gather_across((billing, rival), 10, lambda b: b.db.write(
        ledger_store.reverse, credited.entry_id, clock.now, "duplicate payment"))

    assert sum(isinstance(r, int) for r in results) == 1, results
    assert sum(isinstance(r, AlreadyReversed) for r in results) == 9, results
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 0
    await books_balance(billing)
