"""The Ministra adapter against a local Ministra REST API v1 (tests/peers/fake_tv.py)."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from billing_core import notifications
from billing_core import ledger, subscriptions
from billing_core.db import outbox_store
from config.settings import load_settings
from tests.peers.fake_tv import FakeTv
from tv_notify import events
from tv_notify.dispatcher import Dispatcher

CARD = "10000001"
PHONE = "+254712345678"
NAIROBI = ZoneInfo("Africa/Nairobi")


async def ministra(billing, aiohttp_server, *, password: str = "ministra-pw", **faults) -> tuple[FakeTv, Dispatcher]:
    fake = FakeTv(username="billing", password="ministra-pw")
    for name, value in faults.items():
        setattr(fake, name, value)
    server = await aiohttp_server(fake.app)
    settings = load_settings(environ={}).replace(**{
        "tv.adapter": "ministra", "tv.url": str(server.make_url("/stalker_portal/api/")),
        "tv.username": "billing", "tv.secret": password, "tv.timeout_s": 2.0, "tv.retries_max": 3})
    return fake, Dispatcher.from_settings(settings, billing.db, billing.clock)


async def drain(d: Dispatcher, clock, rounds: int = 20) -> None:
    for _ in range(rounds):
        await d.run_once()
        if not (await d._db.read(outbox_store.counts)).get("pending"):
            return
        clock.advance(60)


async def test_grant_osd_and_revoke_become_account_updates_and_a_message(billing, clock, aiohttp_server):
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 150, ("gold", "extra"))
    await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC", lang="fr")
    credited = await subscriptions.credit_tvu(billing, CARD, 150, source=ledger.TVU_OPENING, ref="o", kind="opening")
    fake, d = await ministra(billing, aiohttp_server, fail_first=1)

    await drain(d, clock)
    end = datetime.fromtimestamp(credited.subscriber.expires_at, NAIROBI).strftime("%Y-%m-%d %H:%M:%S")
    assert fake.accounts[CARD] == {"status": "1", "tariff_plan": "gold", "end_date": end}
    [(card, msg)] = fake.messages
    assert card == CARD and "actif jusqu'au" in msg
    assert [r["path"].rsplit("/", 2)[-2] for r in fake.received] == ["accounts", "send_event"]
    assert d.failed == 1 and fake.bad_auth == 0  # an ERROR reply is a failed delivery, retried

    clock.advance(31 * 86_400)
    assert await notifications.sweep_expiry(billing) == {"renewed": 0, "expired": 1}
    await drain(d, clock)
    assert fake.accounts[CARD]["status"] == "0"
    assert len(fake.messages) == 2 and "a expire" in fake.messages[1][1]
    assert (await billing.db.read(outbox_store.counts)) == {"delivered": 6}  # with the SMS, to the log
    await d.close()


async def test_wrong_credentials_fail_without_showing_the_password(billing, clock, aiohttp_server):
    fake, d = await ministra(billing, aiohttp_server, password="wrong-password")
    await billing.db.write(outbox_store.enqueue, [events.osd(CARD, "hello", "en")], clock.now)
    await drain(d, clock)
    [dead] = await billing.db.read(outbox_store.list_events, status="dead")
    assert "401" in dead.last_error and "wrong-password" not in dead.last_error
    assert fake.bad_auth == 4 and fake.messages == []  # retries_max 3: four attempts, then dead
    await d.close()
