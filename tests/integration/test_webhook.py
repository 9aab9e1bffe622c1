"""The webhook adapter against a local receiver (tests/peers/fake_tv.py) that fails, hangs and lags."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

from billing_core import ledger, subscriptions
from billing_core.db import outbox_store
from billing_core.db.outbox_store import StoredEvent
from config.settings import load_settings
from tests.peers.fake_tv import FakeTv
from tv_notify import events
from tv_notify.adapters.base import DeliveryError
from tv_notify.adapters.webhook import WebhookAdapter, wire_body
from tv_notify.dispatcher import Dispatcher

SECRET = "tv-secret"
PHONE = "+254712345678"
CONTRACT_KEYS = {"id", "event", "card", "products", "until", "text", "lang"}
WIRE_KEYS = CONTRACT_KEYS | {"attempt"}  # the delivery attempt: issue 21


async def serve_fake(aiohttp_server, **faults) -> tuple[FakeTv, str]:
    fake = FakeTv(secret=SECRET)
    for name, value in faults.items():
        setattr(fake, name, value)
    server = await aiohttp_server(fake.app)
    return fake, str(server.make_url("/hook"))


def webhook_dispatcher(billing, url: str, *, secret: str = SECRET, timeout_s: float = 2.0,
                       retries_max: int = 20) -> Dispatcher:
    settings = load_settings(environ={}).replace(**{
        "tv.adapter": "webhook", "tv.url": url, "tv.secret": secret, "tv.timeout_s": timeout_s,
        "tv.retries_max": retries_max})
    return Dispatcher.from_settings(settings, billing.db, billing.clock)


async def renewed_subscriber(billing, card: str, lang: str = "en") -> None:
    await subscriptions.add_subscriber(billing, card, PHONE, package="BASIC", lang=lang)
    credited = await subscriptions.credit_tvu(billing, card, 150, source=ledger.TVU_OPENING, ref=card,
                                              kind="opening")
    assert credited.renewed


async def drain(d: Dispatcher, clock, rounds: int = 40, step_s: int = 60) -> None:
    """Run batches, moving the clock past each retry, until nothing is pending."""
    for _ in range(rounds):
        await d.run_once()
        if not (await d._db.read(outbox_store.counts)).get("pending"):
            return
        clock.advance(step_s)
    raise AssertionError("events still pending")


async def tv_events(billing, card: str) -> list[str]:
    """The card's TV event ids in outbox order."""
    rows = reversed(await billing.db.read(outbox_store.for_card, card))
    return [e.event_id for e in rows if e.kind != events.SMS]


async def test_a_renewal_reaches_a_receiver_that_fails_its_first_attempts(billing, clock, aiohttp_server):
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 150, ("101", "102"))
    await renewed_subscriber(billing, "10000001", lang="sw")
    fake, url = await serve_fake(aiohttp_server, fail_first=3)
    d = webhook_dispatcher(billing, url)

    await drain(d, clock, step_s=2)
    expected = await tv_events(billing, "10000001")
    assert fake.ids() == expected  # grant then on-screen notice, once each, in order
    grant, osd = fake.received
    assert set(grant) == WIRE_KEYS and set(osd) == WIRE_KEYS
    assert (grant["event"], grant["products"], grant["lang"]) == ("entitlement.grant", ["101", "102"], "sw")
    assert grant["until"].endswith("Z") and grant["text"] == ""
    assert osd["event"] == "osd.message" and "iko hai hadi" in osd["text"]
    assert fake.requests == 5 and fake.bad_signatures == 0 and fake.overlaps == 0
    assert d.failed == 3 and d.dead == 0
    await d.close()


async def test_hung_and_slow_receivers_still_get_each_event_once_in_order(billing, clock, aiohttp_server):
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 150, ("101",))
    cards = [f"1000000{n}" for n in range(6)]
    for card in cards:
        await renewed_subscriber(billing, card)
    for card in cards:  # a second renewal each: four TV events per card
        await subscriptions.credit_tvu(billing, card, 150, source=ledger.TVU_OPENING, ref=f"{card}-2", kind="opening")
        await subscriptions.renew(billing, card)
    # The hung requests fail by the client's timeout, every other request must not: a pause of
    # the whole process while lanes are in flight (a full GC in a long suite, a starved CPU on a
    # loaded machine) delays answers and timers alike, and with a timeout near the pause every
    # lane in flight timed out at once (11 failures instead of 5, once). Hence a timeout far above
    # both the receiver's delay and such a pause, a pause of 1 s made part of the test, and hung
    # requests that end when the server shuts down, so the test waits for no one at its end.
    fake, url = await serve_fake(aiohttp_server, hang_first=2, hang_s=60.0, delay_s=0.02,
                                 fail_card={cards[0]: 2, cards[3]: 1}, pause_once_s=1.0)
    d = webhook_dispatcher(billing, url, timeout_s=3.0)

    await drain(d, clock, step_s=60)
    for card in cards:
        assert fake.ids(card) == await tv_events(billing, card)
    assert len(fake.ids()) == len(set(fake.ids())) == 4 * len(cards)
    assert fake.overlaps == 0 and fake.bad_signatures == 0
    assert d.failed == 5
    await d.close()


async def test_a_wrong_secret_is_refused_and_the_event_kept(billing, clock, aiohttp_server):
    fake, url = await serve_fake(aiohttp_server)
    d = webhook_dispatcher(billing, url, secret="not-the-secret", retries_max=2)
    (event_id,) = await billing.db.write(outbox_store.enqueue, [events.osd("10000001", "hello", "en")], clock.now)

    for _ in range(3):
        await d.run_once()
        clock.advance(60)
    assert fake.bad_signatures == 3 and fake.received == []
    [dead] = await billing.db.read(outbox_store.list_events, status="dead")
    assert dead.event_id == event_id and dead.last_error == "webhook answered HTTP 401"
    assert "not-the-secret" not in dead.last_error
    await d.close()


def test_the_body_is_signed_over_its_exact_bytes():
    event = StoredEvent(1, "3f1c7a52-0000-4000-8000-000000000001", events.OSD, "10000001",
                        events.osd("10000001", "Karibu", "sw").payload, 0)
    body = wire_body(event)
    assert json.loads(body) == {"id": event.event_id, "event": "osd.message", "card": "10000001", "products": [],
                                "until": None, "text": "Karibu", "lang": "sw", "attempt": 1}
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()

    class Capture:
        async def request(self, method, url, **kwargs):
            self.headers, self.data = kwargs["headers"], kwargs["data"]
            return 204, b""

    adapter = WebhookAdapter("http://tv.invalid/hook", SECRET, timeout_s=1)
    capture = Capture()
    adapter.request = capture.request
    asyncio.run(adapter.deliver(event))
    assert capture.data == body and capture.headers["X-Tvtopup-Signature"] == expected
    assert capture.headers["X-Tvtopup-Event-Id"] == event.event_id and capture.headers["X-Tvtopup-Attempt"] == "1"


async def test_every_call_names_the_event_and_its_attempt_in_body_and_headers(billing, clock, aiohttp_server):
    """A receiver sees the same id on every attempt, numbered 1, 2, 3: it de-duplicates by id."""
    fake, url = await serve_fake(aiohttp_server, fail_first=2)
    d = webhook_dispatcher(billing, url)
    (event_id,) = await billing.db.write(outbox_store.enqueue, [events.osd("10000001", "hello", "en")], clock.now)

    await drain(d, clock, step_s=2)
    assert fake.calls == [(event_id, n, event_id, str(n)) for n in (1, 2, 3)]
    assert fake.ids() == [event_id] and fake.received[0]["attempt"] == 3
    await d.close()


async def test_an_unreachable_receiver_is_a_retryable_failure():
    adapter = WebhookAdapter("http://hookuser:hookpass@127.0.0.1:9/hook", SECRET, timeout_s=1)
    event = StoredEvent(1, "e1", events.OSD, "10000001", events.osd("10000001", "x", "en").payload, 0)
    try:
        await adapter.deliver(event)
    except DeliveryError as exc:
        assert exc.retryable and exc.reason.startswith("ClientConnectorError")
        assert "hookpass" not in exc.reason and SECRET not in exc.reason
    else:
        raise AssertionError("delivered to nowhere")
    finally:
        await adapter.close()


async def test_an_event_sent_again_after_a_crash_comes_with_the_next_attempt_number(billing, clock, aiohttp_server):
    """Delivered, then the process died before recording it: the next dispatcher sends it again
    once the lease runs out, with the same id and attempt 2, so the receiver sees a repeat."""
    fake, url = await serve_fake(aiohttp_server)
    crashed = webhook_dispatcher(billing, url)
    (event_id,) = await billing.db.write(outbox_store.enqueue, [events.osd("10000001", "hello", "en")], clock.now)
    [[_, [claimed]]] = [(a, e) for a, e in await billing.db.write(crashed._claim, clock.now) if e]
    await crashed._adapters[events.OSD].deliver(claimed)  # delivered; the outcome is never recorded
    await crashed.close()

    clock.advance(crashed._lease_s + 1)
    survivor = webhook_dispatcher(billing, url)
    await drain(survivor, clock)
    assert fake.calls == [(event_id, 1, event_id, "1"), (event_id, 2, event_id, "2")]
    assert fake.ids() == [event_id, event_id]  # at least once: the receiver de-duplicates by id
    await survivor.close()
