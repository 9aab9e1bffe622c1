"""Operators and the outbox: list, show and retry events (tv_notify.outbox)."""
from __future__ import annotations

import pytest

from billing_core.db import outbox_store
from billing_core.errors import InvalidInput
from billing_core.phones import mask
from tv_notify import events, outbox
from tv_notify.adapters.base import DeliveryError
from tv_notify.dispatcher import Dispatcher

X, Y = "10000001", "20000002"
PHONE = "+254712345678"


class Tv:
    def __init__(self):
        self.down = True
        self.delivered: list[str] = []

    async def deliver(self, event):
        if self.down and event.payload.get("text") == "first":
            raise DeliveryError("refused", retryable=False)
        self.delivered.append(event.event_id)

    async def close(self):
        pass


def dispatcher(billing, tv) -> Dispatcher:
    return Dispatcher(billing.db, {k: tv for k in events.KINDS}, clock=billing.clock, retry_first_s=2,
                      retry_max_s=60, retries_max=3, batch_size=100, poll_s=1.0, timeout_s=1.0, holder="d")


async def test_a_retried_dead_event_goes_out_before_the_cards_later_events(billing, clock):
    tv = Tv()
    d = dispatcher(billing, tv)
    x1, = await billing.db.write(outbox_store.enqueue, [events.osd(X, "first", "en")], clock.now)
    assert await d.run_once() == 1  # refused: dead at once
    x2, y1 = await billing.db.write(outbox_store.enqueue, [events.osd(X, "second", "en"),
                                                          events.sms(Y, PHONE, "hi", "en")], clock.now)
    [dead] = await outbox.list_events(billing, status="dead")
    assert (dead.event_id, dead.last_error, dead.attempts) == (x1, "refused", 1)

    # x2 is waiting behind nothing now; the operator fixes the TV side and retries x1 first
    tv.down = False
    assert await outbox.retry_event(billing, x1) == outbox.Retried(1, 0)
    assert await d.run_once() == 3
    assert [i for i in tv.delivered if i in (x1, x2)] == [x1, x2]
    assert await billing.db.read(outbox_store.counts) == {"delivered": 3}
    with pytest.raises(outbox.EventDelivered):
        await outbox.retry_event(billing, str(dead.seq))


async def test_retry_all_dead_and_hurry_a_waiting_retry(billing, clock):
    d = dispatcher(billing, Tv())  # refuses "first" for good: dead at once
    await billing.db.write(outbox_store.enqueue, [events.osd(X, "first", "en"), events.osd(Y, "first", "en")],
                           clock.now)
    await d.run_once()
    assert await outbox.retry_dead(billing) == outbox.Retried(2, 0)
    assert await outbox.retry_dead(billing) == outbox.Retried(0, 0)

    class Busy(Tv):
        async def deliver(self, event):
            raise DeliveryError("busy")

    await dispatcher(billing, Busy()).run_once()  # both fail again, retryable: due in 2 s
    [waiting, _] = await outbox.list_events(billing, status="pending")
    assert waiting.next_attempt_at == clock.now + 2
    assert await outbox.retry_event(billing, waiting.event_id) == outbox.Retried(0, 1)
    assert (await outbox.show_event(billing, waiting.event_id)).next_attempt_at == clock.now


async def test_list_filters_and_show_masks_phone_numbers(billing, clock):
    await billing.db.write(outbox_store.enqueue, [events.sms(X, PHONE, "hello", "en"), events.osd(Y, "x", "en")],
                           clock.now)
    assert [e.card for e in await outbox.list_events(billing)] == [Y, X]  # newest first
    assert [e.card for e in await outbox.list_events(billing, card=X)] == [X]
    assert len(await outbox.list_events(billing, limit=1)) == 1
    [sms] = await outbox.list_events(billing, card=X)
    shown = outbox.event_json(await outbox.show_event(billing, str(sms.seq)), full=True)
    assert shown["payload"]["msisdn"] == mask(PHONE) and PHONE not in str(shown)
    assert shown["status"] == "pending" and shown["id"] == sms.event_id
    with pytest.raises(outbox.UnknownEvent):
        await outbox.show_event(billing, "999999")
    with pytest.raises(InvalidInput):
        await outbox.list_events(billing, status="lost")
    with pytest.raises(InvalidInput):
        await outbox.show_event(billing, "'; drop table outbox; --")
