"""50 concurrent redemptions of one PIN give one credit, on SQLite and PostgreSQL.

Two database handles compete (two connection pools on PostgreSQL, two writer
connections on SQLite), from five phones onto five smartcards, so only the
conditional update on the card can decide.
"""
from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import select

from billing_core import cards, subscriptions
from billing_core.db import ledger_store
from billing_core.db.database import open_database
from billing_core.db.schema_cards import cards as cards_table
from billing_core.pins import PinKey, PinPolicy
from gateway.state import MemoryState, StateLockouts

KEY = PinKey(1, b"test-pin-key-0123456789abcdef")
HOLDERS = [(f"4100000{n}", f"+25471200000{n}") for n in range(5)]
VALUE = 70


@pytest.fixture
def shop(billing):
    return dataclasses.replace(billing, pins=PinPolicy(current=KEY))


@pytest.fixture
async def rival(shop, db_url):
    db = open_database(db_url, pool_size=8)
    yield dataclasses.replace(shop, db=db)
    await db.close()


async def test_fifty_concurrent_redemptions_of_one_pin_credit_once(shop, rival, clock) -> None:
    await subscriptions.add_package(shop, "BASIC", "Basic", 30, 500)
    for card, msisdn in HOLDERS:
        await subscriptions.add_subscriber(shop, card, msisdn, package="BASIC")
    rows: list[tuple[str, str]] = []
    await cards.generate_batch(shop, name="HOT", count=1, tvu=VALUE, sink=rows.extend)
    await cards.activate_cards(shop, "HOT")
    [(serial, pin)] = rows
    lockouts = StateLockouts(MemoryState(clock=clock), failures=1000, window_s=60, lockout_s=60, clock=clock)

    def attempt(n: int):
        card, msisdn = HOLDERS[n % len(HOLDERS)]
        return cards.redeem_card((shop, rival)[n % 2], lockouts, pin=pin, msisdn=msisdn, channel="ussd", card=card)

    results = await asyncio.gather(*(attempt(n) for n in range(50)), return_exceptions=True)

    won = [r for r in results if isinstance(r, cards.Redemption)]
    lost = [r for r in results if isinstance(r, cards.PinInvalid)]
    assert (len(won), len(lost)) == (1, 49), [type(r).__name__ for r in results]
    wallets = [(await subscriptions.show_subscriber(shop, card)).wallet_tvu for card, _ in HOLDERS]
    assert sorted(wallets) == [0, 0, 0, 0, VALUE]
    winner = won[0]
    assert winner.serial == serial and winner.subscriber.wallet_tvu == VALUE
    stored = await shop.db.read(lambda c: c.execute(select(cards_table.c.state, cards_table.c.redeemed_card,
                                                           cards_table.c.entry_id)).one())
    assert (stored.state, stored.redeemed_card) == ("redeemed", winner.card) and stored.entry_id
    trial = await shop.db.read(ledger_store.trial_balance)
    assert sum(amount for _a, unit, amount in trial if unit == "TVU") == 0
    assert {a: amount for a, _u, amount in trial} == {"cards:issued": VALUE, f"wallet:{winner.card}": -VALUE}
