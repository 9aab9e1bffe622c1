"""Africa's Talking SMS: out through the official SDK to a local server speaking AT's format,
in through the gateway's callbacks; status in ``sms_messages`` on both databases."""
from __future__ import annotations

import time

import pytest

from billing_core.db import sms_store
from billing_core.db.outbox_store import StoredEvent
from gateway.keys import BILLING, SETTINGS
from tests.peers.fake_at_sms import API_KEY, USERNAME, FakeAtSms
from tv_notify.adapters import sms_sender
from tv_notify.adapters.base import DeliveryError

TOKEN = "sms-s3cret"
INBOUND, DELIVERY = "/sms/africastalking/inbound", "/sms/africastalking/delivery"
EVENT_ID = "0190b0c4-0000-7000-8000-0000000000a1"


def event(text: str = "Your package BASIC is active until 2026-12-22.") -> StoredEvent:
    return StoredEvent(1, EVENT_ID, "sms.send", "10000001",
                       {"event": "sms.send", "card": "10000001", "msisdn": "+254712345678", "text": text,
                        "lang": "en"}, 0)


@pytest.fixture
async def at(aiohttp_server):
    fake = FakeAtSms()
    server = await aiohttp_server(fake.app())
    fake.base_url = str(server.make_url("")).rstrip("/")
    return fake


@pytest.fixture
async def gateway(gateway_client, at):
    return await gateway_client(**{"sms.provider": "africastalking", "sms.sender": "TVTOPUP",
                                    "africastalking.username": USERNAME, "africastalking.api_key": API_KEY,
                                    "africastalking.base_url": at.base_url, "africastalking.timeout_s": 1.0,
                                    "africastalking.sms_callback_token": TOKEN})


@pytest.fixture
def sender(gateway):
    billing = gateway.app[BILLING]
    made = sms_sender(gateway.app[SETTINGS], db=billing.db, clock=billing.clock)
    yield made


async def stored(gateway):
    return await gateway.app[BILLING].db.read(sms_store.messages, EVENT_ID)


def url(gateway, path: str, token: str = TOKEN) -> str:
    return str(gateway.make_url(path).with_query(token=token))


async def test_sent_through_the_sdk_and_tracked_by_delivery_reports(gateway, at, sender):
    await sender.deliver(event())
    [form] = at.sent
    assert (form["username"], form["to"], form["from"], form["bulkSMSMode"]) == \
        (USERNAME, "+254712345678", "TVTOPUP", "1")
    assert form["message"] == "Your package BASIC is active until 2026-12-22."
    [message] = await stored(gateway)
    assert (message.status, message.provider) == ("sent", "africastalking")
    assert message.provider_message_id.startswith("ATXid_")

    for status in ("Sent", "Buffered"):
        assert await at.post_delivery(url(gateway, DELIVERY), message.provider_message_id, status) == 200
    assert [(m.status, m.receipt_state) for m in await stored(gateway)] == [("sent", "Buffered")]
    assert await at.post_delivery(url(gateway, DELIVERY), message.provider_message_id, "Success") == 200
    assert [(m.status, m.receipt_state) for m in await stored(gateway)] == [("delivered", "Success")]

    await sender.deliver(event())  # the event again (a lost acknowledgement): AT is not called twice
    assert len(at.sent) == 1


async def test_a_failure_report_keeps_its_reason(gateway, at, sender):
    await sender.deliver(event())
    [message] = await stored(gateway)
    assert await at.post_delivery(url(gateway, DELIVERY), message.provider_message_id, "Failed",
                                  failure_reason="UserInBlacklist") == 200
    [message] = await stored(gateway)
    assert (message.status, message.error) == ("failed", "UserInBlacklist")


async def test_a_rejected_number_is_dead_and_an_at_outage_is_retried(gateway, at, sender):
    at.reject_next = (403, "InvalidPhoneNumber")
    with pytest.raises(DeliveryError) as refused:
        await sender.deliver(event())
    assert not refused.value.retryable and "InvalidPhoneNumber (403)" in refused.value.reason
    assert [m.status for m in await stored(gateway)] == ["failed"]

    at.reject_next = (500, "InternalServerError")
    with pytest.raises(DeliveryError) as outage:
        await sender.deliver(event())
    assert outage.value.retryable
    await sender.deliver(event())
    assert [m.status for m in await stored(gateway)] == ["sent"] and len(at.sent) == 3


async def test_a_wrong_api_key_is_retryable_and_says_so(gateway_client, at):
    client = await gateway_client(**{"sms.provider": "africastalking", "africastalking.username": USERNAME,
                                     "africastalking.api_key": "wrong", "africastalking.base_url": at.base_url})
    billing = client.app[BILLING]
    sender = sms_sender(client.app[SETTINGS], db=billing.db, clock=billing.clock)
    with pytest.raises(DeliveryError) as refused:
        await sender.deliver(event())
    assert refused.value.retryable and "authentication is invalid" in refused.value.reason
    assert "wrong" not in refused.value.reason


async def test_a_slow_at_times_out_within_the_deadline_and_is_tried_again(gateway, at, sender):
    at.delay_s = 1.5  # longer than africastalking.timeout_s
    started = time.monotonic()
    with pytest.raises(DeliveryError) as slow:
        await sender.deliver(event())
    assert slow.value.retryable and time.monotonic() - started < 1.4
    await sender.close()
    assert [m.status for m in await stored(gateway)] == ["failed"]
    at.delay_s = 0
    await sender.deliver(event())
    assert [m.status for m in await stored(gateway)] == ["sent"]


async def test_an_inbound_text_reaches_the_commands_and_the_reply_is_the_body(gateway, at, monkeypatch):
    calls = []

    async def handle_inbound(app, msisdn, text, *, channel, to="", message_id=""):
        calls.append((msisdn, text, channel, to, message_id))
        return "Balance: 150 TVU"

    monkeypatch.setattr("gateway.sms.inbound.handle_inbound", handle_inbound)
    status, content_type, body = await at.post_inbound(url(gateway, INBOUND), "+254712345678", "BAL",
                                                       message_id="ATXid_in_1")
    assert (status, content_type, body) == (200, "text/plain", "Balance: 150 TVU")
    assert calls == [("+254712345678", "BAL", "africastalking", "22333", "ATXid_in_1")]


async def test_callbacks_are_guarded_and_malformed_ones_refused(gateway, at, monkeypatch):
    calls = []

    async def handle_inbound(app, msisdn, text, **kw):
        calls.append(text)
        return None

    monkeypatch.setattr("gateway.sms.inbound.handle_inbound", handle_inbound)
    assert (await at.post_inbound(url(gateway, INBOUND, token="wrong"), "+254712345678", "BAL"))[0] == 403
    assert (await at.post_inbound(url(gateway, INBOUND), "+254712345678", "BAL", omit=("text",)))[0] == 400
    assert (await at.post_inbound(url(gateway, INBOUND), "not-a-phone", "BAL"))[0] == 400
    assert await at.post_delivery(url(gateway, DELIVERY), "ATXid_1", "Exploded") == 400
    assert await at.post_delivery(url(gateway, DELIVERY, token=""), "ATXid_1", "Success") == 403
    assert await at.post_delivery(url(gateway, DELIVERY), "ATXid_unknown", "Success") == 200
    assert calls == []
    assert await at.post_inbound(url(gateway, INBOUND), "+254712345678", "BAL") == (200, "text/plain", "")
    assert calls == ["BAL"]
