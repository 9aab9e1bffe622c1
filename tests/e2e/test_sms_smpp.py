"""The running gateway bound to a real SMSC (smpp34): a text in, the reply out through the outbox, its receipt.

The command layer's hook (``gateway.sms.inbound.handle_inbound``) is replaced by a
double that records the call and queues a reply the way the hook does (an
``sms.send`` outbox event); the SMSC, the link, the dispatcher and the database are real.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from billing_core.db import outbox_store
from billing_core.db.schema_sms import sms_messages
from gateway.keys import BILLING
from gateway.providers.smpp.lifecycle import SMPP_LINK
from tests.peers.smsc import TestSmsc
from tv_notify import events


@pytest.fixture
async def smsc():
    server = TestSmsc(auto_receipt=True)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def hook(monkeypatch):
    """Records each inbound text and queues ``echo: TEXT`` to the sender through the outbox."""
    calls = []

    async def handle_inbound(app, msisdn, text, *, channel, to="", message_id=""):
        calls.append((msisdn, text, channel, to))
        billing = app[BILLING]
        reply = f"echo: {text}"
        await billing.db.write(lambda conn: outbox_store.enqueue(conn, [events.sms("", msisdn, reply, "en")],
                                                                 billing.now()))
        return reply

    monkeypatch.setattr("gateway.sms.inbound.handle_inbound", handle_inbound)
    return calls


async def start(gateway_client, smsc, **more):
    client = await gateway_client(workers=True, **{
        "sms.provider": "smpp", "smpp.port": smsc.port, "smpp.system_id": "tvtopup", "smpp.password": "secret",
        "smpp.source_addr": "22333", "smpp.rate_per_s": 50, "outbox.poll_s": 0.2, "tv.retry_first_s": 1, **more})
    assert await client.app[SMPP_LINK].wait_state("bound", 5)
    await smsc.wait_bound()  # the SMSC has seen the bind too
    return client


async def statuses(client) -> list[str]:
    from sqlalchemy import select

    def read(conn):
        return [r.status for r in conn.execute(select(sms_messages.c.status).order_by(sms_messages.c.id))]

    return await client.app[BILLING].db.read(read)


async def until(predicate, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_text_reaches_the_commands_and_the_reply_is_sent_and_delivered(gateway_client, smsc, hook):
    client = await start(gateway_client, smsc)
    assert await smsc.send_mo("254712345678", "BAL 10000001", to="22333") == 0
    assert hook == [("+254712345678", "BAL 10000001", "smpp", "22333")]
    [reply] = await smsc.wait_submits(1)
    assert (reply.destination_addr, reply.source_addr, reply.short_message, reply.registered_delivery) == \
        ("254712345678", "22333", b"echo: BAL 10000001", 1)

    async def delivered():
        return await statuses(client) == ["delivered"]

    await until(delivered)
    metrics = (await (await client.get("/metrics")).text())
    assert "tvtopup_smpp_link_state 2.0" in metrics and "tvtopup_smpp_receipts 1.0" in metrics


async def test_a_long_text_in_parts_reaches_the_commands_whole(gateway_client, smsc, hook):
    await start(gateway_client, smsc)
    text = "HELP " + "ñ" * 150  # Latin letters outside ASCII: UCS2
    body = text.encode("utf-16-be")
    halves = [body[:134], body[134:]]
    for seq, half in enumerate(halves, 1):
        status = await smsc.send_mo("254712345678", bytes([5, 0, 3, 77, 2, seq]) + half, data_coding=8,
                                    esm_class=0x40)
        assert status == 0
    assert hook == [("+254712345678", text, "smpp", "22333")]


async def test_replies_wait_out_an_smsc_restart(gateway_client, smsc, hook, clock):
    client = await start(gateway_client, smsc)
    link = client.app[SMPP_LINK]
    await smsc.stop()
    assert await link.wait_state("down", 5)

    billing = client.app[BILLING]
    await billing.db.write(lambda conn: outbox_store.enqueue(
        conn, [events.sms("10000001", "+254712345678", "Your package is renewed", "en")], billing.now()))
    await asyncio.sleep(0.5)  # the dispatcher tried and was told the link is down
    assert smsc.submits == []

    await smsc.start()
    assert await link.wait_state("bound", 10)
    clock.advance(5)  # the retry is due
    [sent] = await smsc.wait_submits(1)
    assert sent.short_message == b"Your package is renewed"

    async def delivered():
        return await statuses(client) == ["delivered"]

    await until(delivered)
    assert await billing.db.read(outbox_store.counts) == {"delivered": 1}
