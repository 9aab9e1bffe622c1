"""SMS out through the SMPP sender, the real link and a real SMSC; status in ``sms_messages`` on both databases."""
from __future__ import annotations

import asyncio
import time

import pytest
import smpp34

from billing_core.db import sms_store
from billing_core.db.outbox_store import StoredEvent
from gateway.keys import BILLING
from gateway.providers.smpp.inbound import DeliverHandler
from gateway.providers.smpp.lifecycle import recorder
from gateway.providers.smpp.link import SmppLink
from gateway.providers.smpp.session import LinkConfig
from tests.peers.smsc import TestSmsc
from tv_notify.adapters.base import DeliveryError
from tv_notify.adapters.smpp import SmppSender

MSISDN = "+254712345678"
LONG_SWAHILI = ("Kifurushi chako cha BASIC kimesasishwa hadi 2026-12-22. Salio: 150 TVU. "
                "Asante kwa kutumia huduma yetu — karibu tena! ✓ ") * 2


def event(text: str, event_id: str = "0190b0c4-0000-7000-8000-000000000001") -> StoredEvent:
    return StoredEvent(1, event_id, "sms.send", "10000001",
                       {"event": "sms.send", "card": "10000001", "msisdn": MSISDN, "text": text, "lang": "sw"}, 0)


@pytest.fixture
async def smsc():
    server = TestSmsc()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def wired(billing, smsc):
    """(sender, link, handler) on the test database, bound to the SMSC."""
    handler = DeliverHandler({BILLING: billing})
    link = SmppLink(LinkConfig("127.0.0.1", smsc.port, "tvtopup", "secret", "", rate_per_s=100, window=10,
                               enquire_link_s=30, timeout_s=3, backoff_first_s=0.2, backoff_max_s=1),
                    on_deliver=handler, on_outcomes=recorder(billing))
    await link.start()
    assert await link.wait_state("bound", 5)
    await smsc.wait_bound()  # the SMSC has seen the bind too
    sender = SmppSender(lambda: link, billing.db, billing.clock, source_addr="TVTOPUP", timeout_s=3)
    yield sender, link, handler
    await link.stop()


async def rows(billing, event_id="0190b0c4-0000-7000-8000-000000000001"):
    return await billing.db.read(sms_store.messages, event_id)


async def until(predicate, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_long_unicode_text_goes_out_in_parts_and_receipts_are_tracked(billing, smsc, wired):
    sender, _, handler = wired
    await sender.deliver(event(LONG_SWAHILI))
    parts = smsc.accepted
    assert len(parts) == 4  # 256 characters of UCS2: 512 octets, 134 a part
    assert {(p.data_coding, p.esm_class, p.registered_delivery) for p in parts} == {(8, 0x40, 1)}
    assert [p.short_message[5] for p in parts] == [1, 2, 3, 4]
    assert len({p.short_message[3] for p in parts}) == 1  # one concatenation reference
    assert b"".join(p.short_message[6:] for p in parts).decode("utf-16-be") == LONG_SWAHILI
    assert (parts[0].source_addr, parts[0].destination_addr) == ("TVTOPUP", "254712345678")
    stored = await rows(billing)
    assert [(m.part, m.status, m.provider_message_id) for m in stored] == \
        [(i + 1, "sent", p.message_id) for i, p in enumerate(parts)]

    await smsc.send_receipt(parts[0].message_id)  # TLVs
    await smsc.send_receipt(parts[1].message_id, style="text")  # text only, the id in decimal
    await smsc.send_receipt(parts[2].message_id.lower().zfill(12), stat="UNDELIV", state=5)
    stored = await rows(billing)
    assert [(m.status, m.receipt_state) for m in stored] == \
        [("delivered", "DELIVRD"), ("delivered", "DELIVRD"), ("failed", "UNDELIV"), ("sent", "")]
    assert stored[2].error.startswith("UNDELIV") and handler.receipts == 3


async def test_a_retry_sends_only_the_parts_the_smsc_did_not_take(billing, smsc, wired):
    sender, _, _ = wired
    text = "x" * 400  # three GSM parts
    original_submit = smsc._submit

    async def refuse_second(ev):  # the SMSC fails part 2 with a system error, once
        if ev.short_message[5] == 2 and not any(s.status for s in smsc.submits):
            smsc.refuse_next = [smpp34.ESME_RSYSERR]
        await original_submit(ev)

    smsc._submit = refuse_second
    with pytest.raises(DeliveryError) as refused:
        await sender.deliver(event(text))
    assert refused.value.retryable
    assert [m.status for m in await rows(billing)] == ["sent", "failed", "sent"]
    first_try = [p.short_message for p in smsc.accepted]

    await sender.deliver(event(text))
    again = [p.short_message for p in smsc.accepted][len(first_try):]
    assert [p[5] for p in again] == [2] and again[0][3] == first_try[0][3]  # part 2 alone, same reference
    assert [m.status for m in await rows(billing)] == ["sent", "sent", "sent"]
    await sender.deliver(event(text))  # everything handed over: nothing is sent again
    assert len(smsc.accepted) == 3


async def test_a_refused_destination_makes_the_event_dead(billing, smsc, wired):
    sender, _, _ = wired
    smsc.refuse_next = [smpp34.ESME_RINVDSTADR]
    with pytest.raises(DeliveryError) as refused:
        await sender.deliver(event("hello"))
    assert not refused.value.retryable and "0x0000000b" in refused.value.reason
    [stored] = await rows(billing)
    assert stored.status == "failed" and "Invalid Destination Address" in stored.error


async def test_with_the_link_down_delivery_fails_at_once(billing, smsc, wired):
    sender, link, _ = wired
    await smsc.stop()
    assert await link.wait_state("down", 5)
    started = time.monotonic()
    with pytest.raises(DeliveryError) as down:
        await sender.deliver(event("hello"))
    assert down.value.retryable and time.monotonic() - started < 0.5
    assert await rows(billing) == []  # nothing recorded, nothing lost: the event stays in the outbox
    await smsc.start()
    assert await link.wait_state("bound", 5)
    await sender.deliver(event("hello"))
    assert [m.status for m in await rows(billing)] == ["sent"]


async def test_a_receipt_that_overtakes_its_message_is_matched_later(billing, smsc, wired):
    """Another process sent it and has not recorded it yet: the receipt waits a little."""
    _, _, handler = wired
    now = billing.now()
    await billing.db.write(sms_store.prepare, "other-process-event", "smpp", MSISDN, 1, now)
    assert await smsc.send_receipt("ABC123") == 0  # answered at once
    await billing.db.write(sms_store.mark_sent, "smpp", [sms_store.Sent("other-process-event", 1, "abc123")], now)

    async def delivered():
        return (await rows(billing, "other-process-event"))[0].status == "delivered"

    await until(delivered, timeout_s=4)


async def test_ids_reused_by_a_restarted_smsc_belong_to_the_newest_message(billing):
    now = billing.now()
    for event_id in ("first", "second"):
        await billing.db.write(sms_store.prepare, event_id, "smpp", MSISDN, 1, now)
        await billing.db.write(sms_store.mark_sent, "smpp", [sms_store.Sent(event_id, 1, "00000007")], now)
    assert await billing.db.write(sms_store.apply_receipt, "smpp", "7", "delivered", "DELIVRD", "", now)
    first, second = (await rows(billing, "first"))[0], (await rows(billing, "second"))[0]
    assert (first.status, second.status) == ("sent", "delivered")
    assert not await billing.db.write(sms_store.apply_receipt, "smpp", "8", "delivered", "DELIVRD", "", now)

