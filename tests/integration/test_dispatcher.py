"""The outbox dispatcher against real SQLite and PostgreSQL databases."""
from __future__ import annotations

import asyncio
import logging
import random

import pytest
from sqlalchemy import select

from billing_core.db import outbox_store
from billing_core.db.outbox_store import StoredEvent
from billing_core.db.schema import outbox
from billing_core.phones import mask
from config.settings import load_settings
from tv_notify import events
from tv_notify.adapters.base import DeliveryError
from tv_notify.adapters.ministra import MinistraAdapter
from tv_notify.adapters.webhook import WebhookAdapter
from tv_notify.dispatcher import Dispatcher

CARD_A, CARD_B = "10000001", "20000002"
PHONE = "+254712345678"


class Recorder:
    """An adapter that records what it receives; ``fail(event)`` says whether a call fails."""

    def __init__(self, fail=lambda event: False, *, jitter_s: float = 0.0, seed: int = 7):
        self.calls: list[StoredEvent] = []
        self.delivered: list[StoredEvent] = []
        self.fail = fail
        self.jitter_s = jitter_s
        self.random = random.Random(seed)
        self.closed = 0

    async def deliver(self, event: StoredEvent) -> None:
        self.calls.append(event)
        if self.jitter_s:  # lets parallel lanes interleave, so a lost order would show
            await asyncio.sleep(self.random.uniform(0, self.jitter_s))
        if self.fail(event):
            raise DeliveryError(f"refused {event.event_id}")
        self.delivered.append(event)

    async def close(self) -> None:
        self.closed += 1

    def ids(self, card: str, *, attempted: bool = False) -> list[str]:
        return [e.event_id for e in (self.calls if attempted else self.delivered) if e.card == card]


def fail_first(n: int, card: str):
    """Fails the first ``n`` calls for ``card``."""
    seen = {"calls": 0}

    def fail(event: StoredEvent) -> bool:
        if event.card != card:
            return False
        seen["calls"] += 1
        return seen["calls"] <= n

    return fail


def dispatcher(billing, tv, sms=None, **overrides) -> Dispatcher:
    sms = sms if sms is not None else tv
    options = dict(clock=billing.clock, retry_first_s=2, retry_max_s=60, retries_max=5, batch_size=100,
                   poll_s=30.0, timeout_s=1.0)
    options.update(overrides)
    adapters = {events.GRANT: tv, events.REVOKE: tv, events.OSD: tv, events.SMS: sms}
    return Dispatcher(billing.db, adapters, **options)


async def enqueue(billing, *evs: events.Event) -> list[str]:
    return await billing.db.write(outbox_store.enqueue, list(evs), billing.now())


async def stored(billing, card: str) -> dict[str, tuple[str, int, int, str]]:
    """event_id -> (status, attempts, next_attempt_at, last_error) for ``card``."""
    def fetch(conn):
        rows = conn.execute(select(outbox).where(outbox.c.card == card)).all()
        return {r.event_id: (r.status, r.attempts, r.next_attempt_at, r.last_error) for r in rows}
    return await billing.db.read(fetch)


def osd(card: str, n: int) -> events.Event:
    return events.osd(card, f"notice {n}", "en")


async def test_delivers_each_cards_events_in_order(billing):
    tv = Recorder(jitter_s=0.01)
    d = dispatcher(billing, tv)
    first = await enqueue(billing, events.grant(CARD_A, ("101",), billing.now() + 86400, "en"), osd(CARD_B, 1),
                          osd(CARD_A, 2))
    second = await enqueue(billing, osd(CARD_B, 3), osd(CARD_A, 4), osd(CARD_B, 5))

    assert await d.run_once() == 6
    assert tv.ids(CARD_A) == [first[0], first[2], second[1]]
    assert tv.ids(CARD_B) == [first[1], second[0], second[2]]
    assert [e.body()["id"] for e in tv.delivered if e.card == CARD_A] == tv.ids(CARD_A)
    grant = next(e for e in tv.delivered if e.event_id == first[0])
    assert grant.body() == {"id": first[0], **events.grant(CARD_A, ("101",), billing.now() + 86400, "en").payload}
    assert await billing.db.read(outbox_store.counts) == {"delivered": 6}
    assert (d.delivered, d.failed, d.dead, d.backlog) == (6, 0, 0, 6)

    assert await d.run_once() == 0  # delivered once, not again
    assert len(tv.calls) == 6


async def test_failure_retries_with_backoff_and_holds_the_card_back(billing, clock):
    tv = Recorder(fail_first(2, CARD_A))
    d = dispatcher(billing, tv, retry_first_s=2)
    a1, b1, a2, b2 = await enqueue(billing, osd(CARD_A, 1), osd(CARD_B, 1), osd(CARD_A, 2), osd(CARD_B, 2))

    assert await d.run_once() == 3  # a1 fails; a2 waits behind it; b1, b2 flow
    assert tv.ids(CARD_A, attempted=True) == [a1]
    assert tv.ids(CARD_B) == [b1, b2]
    rows = await stored(billing, CARD_A)
    assert rows[a1][:3] == ("pending", 1, clock.now + 2)
    assert rows[a1][3] == f"refused {a1}"
    assert rows[a2][:2] == ("pending", 0)

    (b3,) = await enqueue(billing, osd(CARD_B, 3))
    assert await d.run_once() == 1  # card A is held back until its retry is due; B is not
    assert tv.ids(CARD_A, attempted=True) == [a1]
    assert tv.ids(CARD_B) == [b1, b2, b3]

    clock.advance(2)
    assert await d.run_once() == 1  # second failure: the delay doubles
    assert (await stored(billing, CARD_A))[a1][:3] == ("pending", 2, clock.now + 4)
    clock.advance(3)
    assert await d.run_once() == 0
    clock.advance(1)
    assert await d.run_once() == 2
    assert tv.ids(CARD_A, attempted=True) == [a1, a1, a1, a2]
    assert tv.ids(CARD_A) == [a1, a2]
    assert (d.delivered, d.failed, d.dead) == (5, 2, 0)
    assert await billing.db.read(outbox_store.counts) == {"delivered": 5}


async def test_backoff_is_capped(billing):
    d = dispatcher(billing, Recorder(), retry_first_s=2, retry_max_s=60)
    assert [d.retry_delay_s(n) for n in range(7)] == [2, 4, 8, 16, 32, 60, 60]
    assert d.retry_delay_s(10_000) == 60


async def test_event_dies_after_retries_max_retries_and_the_card_moves_on(billing, clock):
    tv = Recorder(lambda e: e.payload["text"] == "notice 1")
    d = dispatcher(billing, tv, retries_max=2, retry_first_s=1, retry_max_s=1)
    a1, a2 = await enqueue(billing, osd(CARD_A, 1), osd(CARD_A, 2))

    for attempt in (1, 2):
        assert await d.run_once() == 1
        assert (await stored(billing, CARD_A))[a1][:2] == ("pending", attempt)
        clock.advance(1)
    assert d.dead == 0
    assert await d.run_once() == 1  # third failure: both retries used up
    assert (await stored(billing, CARD_A))[a1][:2] == ("dead", 3)
    assert await d.run_once() == 1  # a dead event no longer holds the card back
    rows = await stored(billing, CARD_A)
    assert rows[a1][:2] == ("dead", 3)
    assert rows[a2][0] == "delivered"
    assert (d.delivered, d.failed, d.dead) == (1, 3, 1)
    assert await billing.db.read(outbox_store.counts) == {"dead": 1, "delivered": 1}

    clock.advance(3600)
    assert await d.run_once() == 0  # dead stays dead
    assert tv.ids(CARD_A, attempted=True) == [a1, a1, a1, a2]


async def test_refused_event_is_dead_at_once(billing):
    class Refusing(Recorder):
        async def deliver(self, event):
            self.calls.append(event)
            raise DeliveryError("unknown card on the CAS", retryable=False)

    d = dispatcher(billing, Refusing(), retries_max=20)
    (a1,) = await enqueue(billing, osd(CARD_A, 1))
    assert await d.run_once() == 1
    assert (await stored(billing, CARD_A))[a1][:2] == ("dead", 1)
    assert (d.failed, d.dead) == (1, 1)


async def test_slow_adapter_times_out_and_is_retried(billing, clock):
    class Slow(Recorder):
        async def deliver(self, event):
            self.calls.append(event)
            if len(self.calls) == 1:
                await asyncio.sleep(10)
            self.delivered.append(event)

    tv = Slow()
    d = dispatcher(billing, tv, timeout_s=0.05)
    (a1,) = await enqueue(billing, osd(CARD_A, 1))
    assert await asyncio.wait_for(d.run_once(), 2) == 1
    status, attempts, _, error = (await stored(billing, CARD_A))[a1]
    assert (status, attempts) == ("pending", 1)
    assert "timed out" in error
    clock.advance(2)
    assert await d.run_once() == 1
    assert tv.ids(CARD_A) == [a1]


async def test_adapter_bug_counts_as_a_retryable_failure(billing):
    class Broken(Recorder):
        async def deliver(self, event):
            raise KeyError("products")

    d = dispatcher(billing, Broken())
    (a1,) = await enqueue(billing, osd(CARD_A, 1))
    assert await d.run_once() == 1
    status, attempts, _, error = (await stored(billing, CARD_A))[a1]
    assert (status, attempts) == ("pending", 1)
    assert "KeyError" in error


async def test_sms_outage_does_not_hold_back_entitlements(billing, clock):
    tv, sms = Recorder(), Recorder(lambda e: True)
    d = dispatcher(billing, tv, sms)
    ids = await enqueue(billing, events.sms(CARD_A, PHONE, "hello", "en"), osd(CARD_A, 1),
                        events.sms(CARD_A, PHONE, "again", "en"), osd(CARD_A, 2))
    assert await d.run_once() == 3
    assert tv.ids(CARD_A) == [ids[1], ids[3]]
    assert sms.ids(CARD_A, attempted=True) == [ids[0]]  # the second SMS waits behind the first

    (grant,) = await enqueue(billing, events.grant(CARD_A, ("101",), clock.now + 86400, "en"))
    assert await d.run_once() == 1  # the SMS retry is not due yet; the grant goes anyway
    assert tv.ids(CARD_A) == [ids[1], ids[3], grant]
    assert sms.ids(CARD_A, attempted=True) == [ids[0]]
    clock.advance(2)
    assert await d.run_once() == 1
    assert sms.ids(CARD_A, attempted=True) == [ids[0], ids[0]]


async def test_batch_size_limits_one_round(billing):
    tv = Recorder()
    d = dispatcher(billing, tv, batch_size=2)
    await enqueue(billing, *(osd(CARD_A, n) for n in range(5)))
    assert [await d.run_once() for _ in range(4)] == [2, 2, 1, 0]
    assert [e.payload["text"] for e in tv.delivered] == [f"notice {n}" for n in range(5)]


async def test_run_forever_wakes_on_commit(billing):
    tv = Recorder()
    d = dispatcher(billing, tv, poll_s=30.0)
    billing.db.add_commit_listener(d.wake, signal=outbox_store.ENQUEUED)
    stop = asyncio.Event()
    task = asyncio.create_task(d.run_forever(stop))
    try:
        await enqueue(billing, osd(CARD_A, 1))
        await wait_until(lambda: d.delivered == 1 and d.backlog == 0, 2.0)
        await asyncio.sleep(0.05)  # now idle, 30 s from its next poll

        (a2,) = await enqueue(billing, osd(CARD_A, 2))
        await wait_until(lambda: d.delivered == 2, 0.5)
        assert tv.ids(CARD_A)[-1] == a2
    finally:
        stop.set()
        await asyncio.wait_for(task, 1.0)  # stop ends the idle wait too
    assert task.done() and task.exception() is None


async def test_log_adapter_from_settings_masks_phone_numbers(billing, caplog):
    settings = load_settings(environ={})
    d = Dispatcher.from_settings(settings, billing.db, billing.clock)
    until = billing.now() + 86400
    grant_id, sms_id = await enqueue(billing, events.grant(CARD_A, ("101", "102"), until, "en"),
                                     events.sms(CARD_A, PHONE, "Renewed until 2027-01-15", "en"))
    with caplog.at_level(logging.INFO, logger="tvtopup"):
        assert await d.run_once() == 2

    tv_lines = [r.getMessage() for r in caplog.records if r.name == "tvtopup.tv"]
    sms_lines = [r.getMessage() for r in caplog.records if r.name == "tvtopup.sms"]
    assert len(tv_lines) == 1 and len(sms_lines) == 1
    assert f"id={grant_id}" in tv_lines[0] and "event=entitlement.grant" in tv_lines[0]
    assert f"card={CARD_A}" in tv_lines[0] and "products=101,102" in tv_lines[0]
    assert f"until={events.grant(CARD_A, (), until, 'en').payload['until']}" in tv_lines[0]
    assert f"id={sms_id}" in sms_lines[0] and "event=sms.send" in sms_lines[0]
    assert f"msisdn={mask(PHONE)}" in sms_lines[0] and '"Renewed until 2027-01-15"' in sms_lines[0]
    assert PHONE not in caplog.text
    assert await billing.db.read(outbox_store.counts) == {"delivered": 2}
    await d.close()


@pytest.mark.parametrize(("overrides", "key"), [
    ({"sms.provider": "smpp", "smpp.system_id": "tvtopup"}, "sms.provider"),
])
def test_from_settings_names_an_adapter_that_is_not_there_yet(overrides, key):
    settings = load_settings(environ={}).replace(**overrides)
    with pytest.raises(ValueError, match=key):
        Dispatcher.from_settings(settings, None, lambda: 0)


@pytest.mark.parametrize(("overrides", "adapter"), [
    ({"tv.adapter": "webhook", "tv.url": "https://tv.example/hook", "tv.secret": "s"}, WebhookAdapter),
    ({"tv.adapter": "ministra", "tv.url": "https://tv.example/stalker_portal/api/", "tv.username": "u",
      "tv.secret": "p"}, MinistraAdapter),
])
def test_from_settings_routes_tv_events_to_the_configured_adapter(overrides, adapter):
    settings = load_settings(environ={}).replace(**overrides)
    d = Dispatcher.from_settings(settings, None, lambda: 0)
    tv = {type(a) for kind, a in d._adapters.items() if kind != events.SMS}
    assert tv == {adapter}
    assert type(d._adapters[events.SMS]).__name__ == "LogAdapter"


async def test_close_closes_each_adapter_once(billing):
    tv, sms = Recorder(), Recorder()
    d = dispatcher(billing, tv, sms)
    await d.close()
    assert (tv.closed, sms.closed) == (1, 1)


async def wait_until(condition, timeout_s: float) -> None:
    async def poll():
        while not condition():
            await asyncio.sleep(0.005)
    await asyncio.wait_for(poll(), timeout_s)
