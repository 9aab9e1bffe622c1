"""Dispatchers sharing one database: claims, leases, order per card, restarts.

The last test runs two dispatchers on two PostgreSQL handles against one webhook
receiver and checks that no event id is delivered twice while both run.
"""
from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import select, update

from billing_core.context import Billing
from billing_core.db import outbox_store
from billing_core.db.database import open_database
from billing_core.db.schema import outbox
from billing_core.money import Rates
from config.settings import load_settings
from tests.conftest import FakeClock
from tests.peers.fake_tv import FakeTv
from tv_notify import events
from tv_notify.dispatcher import Dispatcher

TV = (events.GRANT, events.REVOKE, events.OSD)
X, Y = "10000001", "20000002"


def osd(card: str, n: int) -> events.Event:
    return events.osd(card, f"notice {n}", "en")


async def enqueue(billing, *evs) -> list[str]:
    return await billing.db.write(outbox_store.enqueue, list(evs), billing.now())


async def claim(billing, holder: str, limit: int = 100, lease_s: int = 20) -> list[str]:
    got = await billing.db.write(outbox_store.claim, billing.now(), limit, TV, holder, lease_s)
    return [e.event_id for e in got]


async def test_a_cards_later_event_waits_while_an_earlier_one_is_leased_elsewhere(billing, clock):
    x1, x2, y1 = await enqueue(billing, osd(X, 1), osd(X, 2), osd(Y, 1))

    assert await claim(billing, "a", limit=1) == [x1]
    assert await claim(billing, "b") == [y1]  # x2 waits behind x1, leased to a
    assert await claim(billing, "b") == []
    clock.advance(19)
    assert await claim(billing, "b") == []
    clock.advance(1)  # every lease has run out (a and b crashed): c takes the cards over, in order
    assert await claim(billing, "c") == [x1, x2, y1]
    leases = await billing.db.read(lambda c: c.execute(select(outbox.c.event_id, outbox.c.claimed_by,
                                                              outbox.c.lease_until)).all())
    assert set(map(tuple, leases)) == {(x1, "c", clock.now + 20), (x2, "c", clock.now + 20),
                                       (y1, "c", clock.now + 20)}


async def test_a_crashed_dispatchers_events_are_delivered_once_its_lease_runs_out(billing, clock):
    delivered: list[str] = []

    class Tv:
        async def deliver(self, event):
            delivered.append(event.event_id)

        async def close(self):
            pass

    tv = Tv()
    adapters = {kind: tv for kind in events.KINDS}
    d = Dispatcher(billing.db, adapters, clock=clock, retry_first_s=2, retry_max_s=60, retries_max=5, batch_size=100,
                   poll_s=1.0, timeout_s=1.0, lease_s=10, holder="survivor")
    ids = await enqueue(billing, osd(X, 1), osd(X, 2), osd(Y, 1))
    await claim(billing, "crashed", lease_s=10)  # claimed, then the process died

    assert await d.run_once() == 0
    clock.advance(10)
    assert await d.run_once() == 3
    assert sorted(delivered) == sorted(ids)
    assert [i for i in delivered if i in ids[:2]] == ids[:2]  # card X in order
    assert await billing.db.read(outbox_store.counts) == {"delivered": 3}


async def test_a_failure_releases_the_rest_of_its_lane(billing, clock):
    calls: list[str] = []

    class Tv:
        async def deliver(self, event):
            calls.append(event.event_id)
            if len(calls) == 1:
                from tv_notify.adapters.base import DeliveryError
                raise DeliveryError("down")

        async def close(self):
            pass

    tv = Tv()
    d = Dispatcher(billing.db, {k: tv for k in events.KINDS}, clock=clock, retry_first_s=2, retry_max_s=60,
                   retries_max=5, batch_size=100, poll_s=1.0, timeout_s=1.0, holder="d")
    x1, x2 = await enqueue(billing, osd(X, 1), osd(X, 2))
    assert await d.run_once() == 1
    rows = await billing.db.read(lambda c: {r.event_id: (r.claimed_by, r.lease_until)
                                            for r in c.execute(select(outbox)).all()})
    assert rows == {x1: (None, None), x2: (None, None)}  # nothing stays leased
    clock.advance(2)
    assert await d.run_once() == 2 and calls == [x1, x1, x2]


async def test_a_claim_finds_new_events_past_a_long_stretch_behind_one_waiting_retry(billing, clock):
    (x1,) = await enqueue(billing, osd(X, 1))
    [event] = await billing.db.write(outbox_store.claim, clock.now, 10, TV, "d", 20)
    await billing.db.write(outbox_store.mark_failed, event.id, clock.now, clock.now + 3600, "down", False, holder="d")
    await enqueue(billing, *(osd(f"3{n:07d}", n) for n in range(12_000)))  # delivered since
    await billing.db.write(lambda c: c.execute(update(outbox).where(outbox.c.card != X).values(status="delivered")))
    (y1,) = await enqueue(billing, osd(Y, 1))
    assert await claim(billing, "d", limit=1) == [y1]  # a small claim reads few rows per step


async def test_at_start_retries_are_brought_forward(billing, clock):
    (x1,) = await enqueue(billing, osd(X, 1))
    got = await billing.db.write(outbox_store.claim, clock.now, 10, TV, "old", 20)
    await billing.db.write(outbox_store.mark_failed, got[0].id, clock.now, clock.now + 3600, "down", False, holder="old")
    d = Dispatcher(billing.db, {k: None for k in events.KINDS}, clock=clock, retry_first_s=5, retry_max_s=3600,
                   retries_max=50, batch_size=10, poll_s=1.0, timeout_s=1.0)
    assert await d.resume() == 1
    [event] = await billing.db.read(outbox_store.list_events)
    assert (event.event_id, event.next_attempt_at, event.attempts) == (x1, clock.now + 5, 1)


# ------------------------------------------------------------------ two dispatchers, PostgreSQL



async def test_a_claim_passes_over_a_card_whose_earlier_event_another_claim_holds(pg_url):
    """Another claim has locked x1 (not committed yet): x2 must not go out ahead of it."""
    db = open_database(pg_url)
    billing = Billing(db=db, rates=Rates({"KES": 100}), clock=FakeClock())
    x1, x2, y1 = await enqueue(billing, osd(X, 1), osd(X, 2), osd(Y, 1))
    other = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        holding = other.transaction()
        await holding.start()
        await other.execute("SELECT id FROM outbox WHERE event_id = $1 FOR UPDATE", x1)
        assert await claim(billing, "b") == [y1]
        await holding.rollback()
        assert await claim(billing, "b") == [x1, x2]
    finally:
        await other.close()
        await db.close()


async def test_two_dispatchers_share_a_backlog_without_delivering_an_id_twice(pg_url, aiohttp_server):
    fake = FakeTv(secret="s")
    fake.delay_s = 0.005  # slow enough that the two dispatchers' batches overlap
    server = await aiohttp_server(fake.app)
    settings = load_settings(environ={}).replace(**{
        "database.url": pg_url, "tv.adapter": "webhook", "tv.url": str(server.make_url("/hook")),
        "tv.secret": "s", "outbox.batch_size": 10})
    clock = FakeClock()
    dbs = [open_database(pg_url), open_database(pg_url)]
    billing = Billing(db=dbs[0], rates=Rates({"KES": 100}), clock=clock)
    cards = [f"3{n:07d}" for n in range(30)]
    for round_ in range(8):
        await enqueue(billing, *(osd(card, round_) for card in cards))
    expected = {card: [e.event_id for e in reversed(await billing.db.read(outbox_store.for_card, card))]
                for card in cards}

    dispatchers = [Dispatcher.from_settings(settings, db, clock, holder=f"d{i}") for i, db in enumerate(dbs)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(d.run_forever(stop)) for d in dispatchers]
    try:
        await fake.wait_for(lambda f: len(f.received) >= 240, 60)
        await asyncio.sleep(0.2)  # anything delivered twice would arrive now
    finally:
        stop.set()
        for d in dispatchers:
            d.wake()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
    try:
        assert len(fake.ids()) == len(set(fake.ids())) == 240
        for card in cards:
            assert fake.ids(card) == expected[card]
        assert fake.overlaps == 0
        assert all(d.delivered > 0 for d in dispatchers), [d.delivered for d in dispatchers]
        assert sum(d.delivered for d in dispatchers) == 240
    finally:
        for d in dispatchers:
            await d.close()
        for db in dbs:
            await db.close()
