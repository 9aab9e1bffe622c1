"""The scheduler under an injected clock: reminders once, expiry once, auto-renew once, one leader.

The last tests run two schedulers on two database handles: one leads; and even
when both work at once (PostgreSQL), every subscription is renewed, expired and
reminded exactly once.
"""
from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select

from billing_core import ledger, subscriptions
from billing_core.context import Billing
from billing_core.db import outbox_store
from billing_core.db.database import open_database
from billing_core.db.schema import renewals
from billing_core.db.schema_notify import reminders
from billing_core.renewal import DAY_S
from config.settings import load_settings
from tv_notify import events
from tv_notify.scheduler import Scheduler

PHONE = "+254712345678"
PRICE = 150
HOUR = 3_600


async def package(billing) -> None:
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, PRICE, ("101",))


async def active(billing, card: str, *, lang: str = "en", wallet: int = 0) -> int:
    """An active subscriber with ``wallet`` TVU left; returns the expiry."""
    await subscriptions.add_subscriber(billing, card, PHONE, package="BASIC", lang=lang)
    done = await subscriptions.credit_tvu(billing, card, PRICE + wallet, source=ledger.TVU_OPENING, ref=card,
                                          kind="opening")
    assert done.renewed and done.subscriber.wallet_tvu == wallet
    return done.subscriber.expires_at


def scheduler(billing, **options) -> Scheduler:
    options = {"interval_s": 30.0, "batch_size": 2, "reminder_days": (3, 1), **options}
    return Scheduler(billing, **options)


async def kinds(billing, card: str) -> list[str]:
    return [e.kind for e in reversed(await billing.db.read(outbox_store.for_card, card))]


async def texts(billing, card: str, kind: str = events.SMS) -> list[str]:
    return [e.payload["text"] for e in reversed(await billing.db.read(outbox_store.for_card, card)) if e.kind == kind]


async def test_reminders_go_out_once_each_by_sms_and_on_screen_in_the_subscribers_language(billing, clock):
    await package(billing)
    cards = [f"1000000{n}" for n in range(5)]
    expires = [await active(billing, card, lang="sw") for card in cards]
    s = scheduler(billing)

    clock.now = expires[0] - 4 * DAY_S
    assert (await s.run_once())["reminded"] == 0
    clock.now = expires[0] - 3 * DAY_S
    assert (await s.run_once())["reminded"] == 5  # in batches of 2
    assert (await s.run_once())["reminded"] == 0
    clock.now = expires[0] - 2 * DAY_S
    assert (await s.run_once())["reminded"] == 0
    clock.now = expires[0] - DAY_S
    assert (await s.run_once())["reminded"] == 5
    assert (await s.run_once())["reminded"] == 0
    for card in cards:
        assert await kinds(billing, card) == [events.GRANT, events.OSD, events.SMS] + [events.OSD, events.SMS] * 2
        [_, first, second] = await texts(billing, card)
        assert first == second and "itaisha" in first and card in first
        assert (await texts(billing, card, events.OSD))[1:] == [first, second]
    assert s.reminded == 10


async def test_a_subscription_met_late_gets_only_the_nearest_reminder(billing, clock):
    await package(billing)
    expires_at = await active(billing, "10000001", wallet=PRICE)
    clock.now = expires_at - 20 * HOUR
    s = scheduler(billing)
    assert (await s.run_once())["reminded"] == 1
    clock.advance(HOUR)
    assert (await s.run_once())["reminded"] == 0
    [reminder] = (await texts(billing, "10000001"))[1:]
    assert "renews from your wallet" in reminder  # the wallet covers the next period
    rows = await billing.db.read(lambda c: c.execute(select(reminders.c.days, reminders.c.expires_at)).all())
    assert [tuple(r) for r in rows] == [(1, expires_at)]


async def test_expiry_revokes_and_notifies_once_and_auto_renews_once(billing, clock):
    await package(billing)
    lapsing = await active(billing, "10000001", lang="fr")
    await active(billing, "10000002", wallet=PRICE)
    s = scheduler(billing, reminder_days=())

    clock.now = lapsing - 1
    assert await s.run_once() == {"renewed": 0, "expired": 0, "reminded": 0}
    clock.now = lapsing
    assert await s.run_once() == {"renewed": 1, "expired": 1, "reminded": 0}
    clock.advance(HOUR)
    assert await s.run_once() == {"renewed": 0, "expired": 0, "reminded": 0}

    assert await kinds(billing, "10000001") == [events.GRANT, events.OSD, events.SMS,
                                                events.REVOKE, events.OSD, events.SMS]
    assert "a expire" in (await texts(billing, "10000001"))[-1]
    assert await kinds(billing, "10000002") == [events.GRANT, events.OSD, events.SMS] * 2
    lapsed = await subscriptions.show_subscriber(billing, "10000001")
    renewed = await subscriptions.show_subscriber(billing, "10000002")
    assert (lapsed.status, lapsed.expires_at) == ("expired", lapsing)
    assert (renewed.status, renewed.expires_at, renewed.wallet_tvu) == ("active", lapsing + 30 * DAY_S, 0)


async def test_the_grace_period_delays_the_revoke_but_not_the_renewal(billing, clock):
    await package(billing)
    lapsing = await active(billing, "10000001")
    await active(billing, "10000002", wallet=PRICE)
    s = scheduler(billing, reminder_days=(), grace_s=6 * HOUR)

    clock.now = lapsing + HOUR
    assert await s.run_once() == {"renewed": 1, "expired": 0, "reminded": 0}
    assert (await subscriptions.show_subscriber(billing, "10000001")).status == "expired"  # as shown: lapsed
    assert events.REVOKE not in await kinds(billing, "10000001")  # but the TV still shows it
    clock.now = lapsing + 6 * HOUR
    assert await s.run_once() == {"renewed": 0, "expired": 1, "reminded": 0}


async def test_from_settings_reads_the_scheduler_section(billing):
    settings = load_settings(environ={}).replace(**{"scheduler.reminder_days": [7, 2], "scheduler.grace_hours": 12,
                                                     "scheduler.lease_s": 120})
    s = Scheduler.from_settings(settings, billing, holder="h")
    assert (s.reminder_days, s.grace_s, s.lease_s, s.holder) == ((7, 2), 12 * HOUR, 120, "h")


# --------------------------------------------------------------------- several schedulers

@pytest.fixture
async def second_billing(db_url, clock):
    db = open_database(db_url)
    yield Billing(db=db, rates=None, clock=clock)
    await db.close()


async def test_one_scheduler_leads_and_another_takes_over_when_it_stops_or_dies(billing, second_billing, clock):
    await package(billing)
    lapsing = await active(billing, "10000001")
    await active(billing, "10000002")
    a = scheduler(billing, holder="a", lease_s=90, reminder_days=())
    b = scheduler(second_billing, holder="b", lease_s=90, reminder_days=())

    clock.now = lapsing - 10
    assert await a.run_once() == {"renewed": 0, "expired": 0, "reminded": 0} and a.leading
    clock.now = lapsing  # due now; a leads for 80 s more
    assert await b.run_once() == {"renewed": 0, "expired": 0, "reminded": 0} and not b.leading
    await a.step_down()  # a clean stop
    assert (await b.run_once())["expired"] == 2 and b.leading
    assert await a.run_once() == {"renewed": 0, "expired": 0, "reminded": 0} and not a.leading

    clock.advance(89)  # b dies without letting go: a waits for the lease to run out
    assert not await a.lead()
    clock.advance(1)
    assert await a.lead() and a.leading


async def seed_many(billing, n: int) -> tuple[list[str], int]:
    """n subscribers expiring together (every other one with a covering wallet) and n more
    expiring three days later; returns the first cards and their expiry."""
    await package(billing)
    first = [f"4{i:07d}" for i in range(n)]
    for i, card in enumerate(first):
        expires_at = await active(billing, card, wallet=PRICE if i % 2 else 0)
    billing.clock.advance(3 * DAY_S)
    for i in range(n):
        await active(billing, f"5{i:07d}")
    billing.clock.advance(-3 * DAY_S)
    return first, expires_at




async def test_two_schedulers_working_at_once_renew_expire_and_remind_exactly_once(pg_url, clock):
    dbs = [open_database(pg_url) for _ in range(2)]
    pair = [Billing(db=db, rates=None, clock=clock) for db in dbs]
    try:
        cards, expires_at = await seed_many(pair[0], 30)
        clock.now = expires_at
        workers = [scheduler(b, batch_size=4, holder=f"s{i}") for i, b in enumerate(pair)]
        totals = Counter()
        for _ in range(2):  # both work at once, leadership bypassed, twice over
            for done in await asyncio.gather(*(w.work() for w in workers)):
                totals.update(done)
        assert (totals["renewed"], totals["expired"], totals["reminded"]) == (15, 15, 30)

        def counts(conn):
            kinds = dict(conn.execute(select(outbox_store.outbox.c.kind, func.count())
                                      .group_by(outbox_store.outbox.c.kind)).all())
            expiry_renewals = conn.execute(select(func.count()).select_from(renewals)
                                           .where(renewals.c.reason == "expiry")).scalar_one()
            return kinds, expiry_renewals

        kinds, expiry_renewals = await pair[0].db.read(counts)
        assert expiry_renewals == 15
        assert kinds[events.REVOKE] == 15
        assert kinds[events.GRANT] == 60 + 15  # one per first activation, one per renewal at expiry
        assert kinds[events.SMS] == 60 + 15 + 15 + 30  # activation, renewal, expiry, reminder
        for card in cards[1::2]:
            assert (await subscriptions.show_subscriber(pair[0], card)).wallet_tvu == 0
    finally:
        for db in dbs:
            await db.close()
