"""Pay-per-view through the use cases, on SQLite and PostgreSQL, with the injected clock.

Purchase (wallet checked and debited once, grant until the event's end), the scheduler's
revoke after the end (once, even run twice or concurrently), cancellation (refund by a
reversing entry, revoke), refusals that move nothing; the ledger balanced after each.
"""
from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

import pytest
from sqlalchemy import func, select

from billing_core import ledger, ppv, subscriptions
from billing_core.context import Billing
from billing_core.db import ledger_store, outbox_store
from billing_core.db.database import open_database
from billing_core.db.schema import journal_entries
from billing_core.db.schema_ppv import ppv_purchases
from billing_core.errors import (AlreadyBought, AlreadyExists, EventClosed, InsufficientWallet, InvalidInput,
                                 UnknownEvent)
from billing_core.renewal import iso
from tv_notify.events import GRANT, REVOKE, SMS
from tv_notify.scheduler import Scheduler

CARD, OTHER = "50000001", "50000002"
PHONE = "+254712345601"
HOUR = 3600
PRICE = 40


@pytest.fixture
async def rival(billing: Billing, db_url: str):
    """The same operator on a second database handle (another process, as far as the database knows)."""
    db = open_database(db_url, pool_size=8)
    yield dataclasses.replace(billing, db=db)
    await db.close()


async def setup(billing: Billing, wallet: int = 100, card: str = CARD) -> None:
    if not await subscriptions.list_packages(billing):
        await subscriptions.add_package(billing, "BASIC", "Basic", 30, 10_000, ("101",))
    await subscriptions.add_subscriber(billing, card, PHONE, package="BASIC", lang="en")
    if wallet:
        await subscriptions.credit_tvu(billing, card, wallet, source=ledger.TVU_OPENING, ref="t", kind="opening")


async def fight(billing: Billing, starts_in: int = 2 * HOUR, hours: int = 3, code: str = "FIGHT"):
    now = billing.now()
    return await ppv.add_event(billing, code, "Title fight", now + starts_in, now + starts_in + hours * HOUR, PRICE,
                               "900")


async def outbox_of(billing: Billing, card: str = CARD):
    return list(reversed(await billing.db.read(outbox_store.for_card, card, 200)))


async def balanced(billing: Billing) -> dict[str, int]:
    trial = await billing.db.read(ledger_store.trial_balance)
    sums: dict[str, int] = {}
    for _account, unit, balance in trial:
        sums[unit] = sums.get(unit, 0) + balance
    assert set(sums.values()) <= {0}, sums
    return {account: balance for account, _unit, balance in trial}


async def wallet(billing: Billing, card: str = CARD) -> int:
    return (await subscriptions.show_subscriber(billing, card)).wallet_tvu


async def test_purchase_debits_once_and_grants_the_window(billing: Billing, clock) -> None:
    await setup(billing)
    event = await fight(billing)
    bought = await ppv.buy_event(billing, CARD, "fight", channel="ussd", msisdn="0712345601")
    assert bought.subscriber.wallet_tvu == 60 and await wallet(billing) == 60
    events = [e for e in await outbox_of(billing) if e.kind in (GRANT, SMS)][-2:]
    grant, sms = events
    assert grant.kind == GRANT and grant.payload["products"] == ["900"]
    assert grant.payload["until"] == iso(event.ends_at) and grant.payload["starts"] == iso(event.starts_at)
    assert sms.kind == SMS and "Title fight" in sms.payload["text"] and "40 TVU paid" in sms.payload["text"]
    accounts = await balanced(billing)
    assert accounts[ledger.TVU_PPV] == -PRICE

    with pytest.raises(AlreadyBought):
        await ppv.buy_event(billing, CARD, "FIGHT", channel="sms")
    assert await wallet(billing) == 60
    await balanced(billing)


async def test_a_running_event_is_granted_without_a_start(billing: Billing, clock) -> None:
    await setup(billing)
    await fight(billing, starts_in=0)
    clock.advance(600)
    await ppv.buy_event(billing, CARD, "FIGHT", channel="sms")
    grant = [e for e in await outbox_of(billing) if e.kind == GRANT][-1]
    assert "starts" not in grant.payload  # the payload grants always had


async def test_refusals_move_nothing(billing: Billing, clock) -> None:
    await setup(billing, wallet=30)
    await fight(billing)
    before = await billing.db.read(lambda c: c.execute(select(func.count()).select_from(journal_entries)).scalar())
    events_before = len(await outbox_of(billing))
    with pytest.raises(InsufficientWallet):
        await ppv.buy_event(billing, CARD, "FIGHT", channel="ussd")
    with pytest.raises(UnknownEvent):
        await ppv.buy_event(billing, CARD, "NOPE", channel="ussd")
    clock.advance(10 * HOUR)  # over
    await subscriptions.credit_tvu(billing, CARD, 50, source=ledger.TVU_OPENING, ref="t2", kind="opening")
    with pytest.raises(EventClosed):
        await ppv.buy_event(billing, CARD, "FIGHT", channel="ussd")
    after = await billing.db.read(lambda c: c.execute(select(func.count()).select_from(journal_entries)).scalar())
    assert after == before + 1  # the second opening credit only
    assert await wallet(billing) == 80
    assert len([e for e in await outbox_of(billing)][events_before:]) == 1  # the credit's notice
    await balanced(billing)


async def test_event_validation(billing: Billing, clock) -> None:
    now = billing.now()
    with pytest.raises(InvalidInput):
        await ppv.add_event(billing, "1234", "Digits only", now, now + HOUR, 5, "900")
    with pytest.raises(InvalidInput):
        await ppv.add_event(billing, "X", "Backwards", now + HOUR, now, 5, "900")
    with pytest.raises(InvalidInput):
        await ppv.add_event(billing, "X", "Free", now, now + HOUR, 0, "900")
    with pytest.raises(InvalidInput):
        await ppv.add_event(billing, "X", "Past", now - 2 * HOUR, now - HOUR, 5, "900")
    await ppv.add_event(billing, "X", "Fine", now, now + HOUR, 5, "900")
    with pytest.raises(AlreadyExists):
        await ppv.add_event(billing, "x", "Again", now, now + HOUR, 5, "900")


async def test_the_scheduler_revokes_after_the_end_once(billing: Billing, rival: Billing, clock) -> None:
    await setup(billing)
    await setup(billing, card=OTHER)
    event = await fight(billing)
    await ppv.buy_event(billing, CARD, "FIGHT", channel="ussd")
    await ppv.buy_event(billing, OTHER, "FIGHT", channel="sms")
    scheduler = Scheduler(billing, interval_s=60, batch_size=1)
    await scheduler.work()
    clock.advance(event.ends_at - billing.now() - 1)  # one second before the end: nothing yet
    await scheduler.work()
    assert not [e for e in await outbox_of(billing) if e.kind == REVOKE]
    clock.advance(1)
    # two schedulers at once (a lease that ran out under a stalled leader), then once more
    other = Scheduler(rival, interval_s=60, batch_size=1)
    await asyncio.gather(scheduler.work(), other.work())
    await scheduler.work()
    assert scheduler.ppv_revoked + other.ppv_revoked == 2
    for card in (CARD, OTHER):
        revokes = [e for e in await outbox_of(billing, card) if e.kind == REVOKE]
        assert len(revokes) == 1 and revokes[0].payload["products"] == ["900"]
    await balanced(billing)


async def test_concurrent_revoke_steps_revoke_each_purchase_once(billing: Billing, rival: Billing, clock) -> None:
    await setup(billing, wallet=1000)
    for n in range(6):
        await fight(billing, code=f"EV{n}")
        await ppv.buy_event(billing, CARD, f"EV{n}", channel="sms")
    clock.advance(24 * HOUR)
    counts = await asyncio.gather(*(ppv.revoke_ended((billing, rival)[i % 2], limit=2) for i in range(6)))
    assert sum(counts) == 6
    assert len([e for e in await outbox_of(billing) if e.kind == REVOKE]) == 6


async def test_cancel_refunds_by_reversal_and_revokes(billing: Billing, clock) -> None:
    await setup(billing)
    await setup(billing, card=OTHER)
    await fight(billing, starts_in=0)
    await ppv.buy_event(billing, CARD, "FIGHT", channel="ussd")
    await ppv.buy_event(billing, OTHER, "FIGHT", channel="ussd")
    clock.advance(HOUR)  # during the event
    done = await ppv.cancel_event(billing, "FIGHT", batch=1)
    assert done.refunded == 2 and done.event.status == "cancelled"
    assert await wallet(billing) == 100 and await wallet(billing, OTHER) == 100
    accounts = await balanced(billing)
    assert ledger.TVU_PPV not in accounts  # every sale reversed
    kinds = await billing.db.read(lambda c: c.execute(
        select(journal_entries.c.kind, func.count()).where(journal_entries.c.reverses_id.is_not(None))
        .group_by(journal_entries.c.kind)).all())
    assert dict(kinds) == {"reversal": 2}
    for card in (CARD, OTHER):
        events = await outbox_of(billing, card)
        assert [e.kind for e in events].count(REVOKE) == 1
        assert "is cancelled" in events[-1].payload["text"]
    again = await ppv.cancel_event(billing, "FIGHT")  # finishes nothing more
    assert again.refunded == 0
    with pytest.raises(EventClosed):
        await ppv.buy_event(billing, CARD, "FIGHT", channel="ussd")
    clock.advance(10 * HOUR)
    assert await ppv.revoke_ended(billing) == 0  # revoked at the cancellation already
    await balanced(billing)


async def test_an_event_that_is_over_cannot_be_cancelled(billing: Billing, clock) -> None:
    await setup(billing)
    await fight(billing)
    await ppv.buy_event(billing, CARD, "FIGHT", channel="ussd")
    clock.advance(10 * HOUR)
    with pytest.raises(EventClosed):
        await ppv.cancel_event(billing, "FIGHT")
    assert await wallet(billing) == 60


async def test_twenty_concurrent_purchases_by_one_card_give_one(billing: Billing, rival: Billing, clock) -> None:
    await setup(billing, wallet=1000)
    await fight(billing)
    results = await asyncio.gather(*(ppv.buy_event((billing, rival)[i % 2], CARD, "FIGHT", channel="ussd")
                                     for i in range(20)), return_exceptions=True)
    outcome = Counter(type(r).__name__ for r in results)
    assert outcome == {"Purchase": 1, "AlreadyBought": 19}, outcome
    assert await wallet(billing) == 1000 - PRICE
    rows = await billing.db.read(lambda c: c.execute(select(func.count()).select_from(ppv_purchases)).scalar())
    assert rows == 1
    assert len([e for e in await outbox_of(billing) if e.kind == GRANT]) == 1
    await balanced(billing)


async def test_cancel_while_purchases_run_refunds_every_one_that_landed(billing: Billing, rival: Billing,
                                                                        clock) -> None:
    cards = [f"5100000{n}" for n in range(8)]
    for card in cards:
        await setup(billing, card=card)
    await fight(billing)
    buys = [ppv.buy_event((billing, rival)[i % 2], card, "FIGHT", channel="sms") for i, card in enumerate(cards)]
    results = await asyncio.gather(*buys[:4], ppv.cancel_event(rival, "FIGHT"), *buys[4:], return_exceptions=True)
    assert all(not isinstance(r, Exception) or isinstance(r, EventClosed) for r in results), results
    await ppv.cancel_event(billing, "FIGHT")  # a second run finishes anything left
    for card in cards:
        assert await wallet(billing, card) == 100
    accounts = await balanced(billing)
    assert ledger.TVU_PPV not in accounts
