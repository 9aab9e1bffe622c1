"""Free days granted by an operator, and the rate-limited "refresh my decoder"."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, update

from billing_core import grants, ledger, notifications, subscriptions
from billing_core.context import Billing
from billing_core.db import outbox_store
from billing_core.db.database import open_database
from billing_core.db.schema import journal_entries, subscribers
from billing_core.db.schema_notify import day_grants
from billing_core.errors import InvalidInput, SubscriberBlocked, UnknownCard, UnknownPackage
from billing_core.money import Rates
from billing_core.renewal import DAY_S, iso
from tv_notify import events

CARD = "10000001"
PHONE = "+254712345678"


async def setup(billing, *, lang: str = "en", activate: bool = True, wallet: int = 0) -> int | None:
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 150, ("101", "102"))
    await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC", lang=lang)
    if activate or wallet:
        done = await subscriptions.credit_tvu(billing, CARD, (150 if activate else 0) + wallet,
                                              source=ledger.TVU_OPENING, ref="o", kind="opening")
        return done.subscriber.expires_at
    return None


async def new_events(billing, since: int) -> list[outbox_store.StoredEvent]:
    return [e for e in reversed(await billing.db.read(outbox_store.for_card, CARD)) if e.id > since]


async def last_seq(billing) -> int:
    found = await billing.db.read(outbox_store.for_card, CARD, 1)
    return found[0].id if found else 0


async def entries(billing) -> int:
    return await billing.db.read(lambda c: c.execute(select(func.count()).select_from(journal_entries)).scalar_one())


# ----------------------------------------------------------------------------- grant-days

async def test_free_days_extend_a_running_period_without_touching_the_wallet(billing, clock):
    expires_at = await setup(billing, lang="fr", wallet=40)
    before, seq = await entries(billing), await last_seq(billing)
    clock.advance(DAY_S)

    granted = await grants.grant_days(billing, CARD, 7, reason="outage 2026-11-20", operator="amina")
    assert (granted.expires_before, granted.expires_at) == (expires_at, expires_at + 7 * DAY_S)
    shown = await subscriptions.show_subscriber(billing, CARD)
    assert (shown.status, shown.expires_at, shown.wallet_tvu) == ("active", expires_at + 7 * DAY_S, 40)
    assert await entries(billing) == before  # no value moved
    grant, osd, sms = await new_events(billing, seq)
    assert (grant.kind, grant.payload["until"], grant.payload["products"]) == (
        events.GRANT, iso(expires_at + 7 * DAY_S), ["101", "102"])
    assert osd.kind == events.OSD and sms.kind == events.SMS and osd.payload["text"] == sms.payload["text"]
    assert sms.payload["text"].startswith("7 jours offerts")
    rows = await billing.db.read(lambda c: c.execute(select(day_grants)).all())
    assert [(r.days, r.reason, r.created_by, r.expires_before, r.expires_after, r.created_at) for r in rows] == [
        (7, "outage 2026-11-20", "amina", expires_at, expires_at + 7 * DAY_S, clock.now)]
    assert granted.to_json()["expires_at"] == iso(expires_at + 7 * DAY_S)


async def test_free_days_start_now_for_a_lapsed_or_never_active_subscription(billing, clock):
    await setup(billing, activate=False)
    granted = await grants.grant_days(billing, CARD, 2, reason="promotion", operator="ops")
    assert granted.expires_before is None and granted.expires_at == clock.now + 2 * DAY_S
    clock.advance(3 * DAY_S)  # lapsed (not yet swept)
    granted = await grants.grant_days(billing, CARD, 1, reason="promotion", operator="ops")
    assert granted.expires_at == clock.now + DAY_S
    assert (await subscriptions.show_subscriber(billing, CARD)).status == "active"


async def test_grant_days_refusals_change_nothing(billing):
    await setup(billing)
    await subscriptions.add_subscriber(billing, "10000009", PHONE)  # no package
    seq, before = await last_seq(billing), await entries(billing)
    for days, reason in ((0, "x"), (367, "x"), (3, "  ")):
        with pytest.raises(InvalidInput):
            await grants.grant_days(billing, CARD, days, reason=reason, operator="ops")
    with pytest.raises(UnknownPackage):
        await grants.grant_days(billing, "10000009", 3, reason="x", operator="ops")
    with pytest.raises(UnknownCard):
        await grants.grant_days(billing, "19999999", 3, reason="x", operator="ops")
    await billing.db.write(lambda c: c.execute(update(subscribers).where(subscribers.c.card == CARD)
                                               .values(status="suspended")))
    with pytest.raises(SubscriberBlocked):
        await grants.grant_days(billing, CARD, 3, reason="x", operator="ops")
    assert await new_events(billing, seq) == [] and await entries(billing) == before
    assert await billing.db.read(lambda c: c.execute(select(func.count()).select_from(day_grants)).scalar_one()) == 0


# ------------------------------------------------------------------------------- refresh

async def test_refresh_resends_the_entitlement_at_most_once_per_interval(billing, clock):
    expires_at = await setup(billing, lang="sw")
    seq = await last_seq(billing)

    done = await notifications.refresh_entitlement(billing, CARD, min_interval_s=300)
    assert (done.card, done.expires_at, done.products) == (CARD, expires_at, ("101", "102"))
    grant, osd = await new_events(billing, seq)
    assert (grant.kind, grant.payload["until"]) == (events.GRANT, iso(expires_at))
    assert osd.kind == events.OSD and "zimetumwa tena" in osd.payload["text"]

    clock.advance(299)
    with pytest.raises(notifications.RefreshTooSoon) as refused:
        await notifications.refresh_entitlement(billing, CARD, min_interval_s=300)
    assert refused.value.code == "refresh_too_soon" and refused.value.retry_after_s == 1
    assert len(await new_events(billing, seq)) == 2
    clock.advance(1)
    await notifications.refresh_entitlement(billing, CARD, min_interval_s=300)
    assert len(await new_events(billing, seq)) == 4


async def test_refresh_refuses_a_card_that_is_not_active(billing, clock):
    await setup(billing, activate=False)
    with pytest.raises(notifications.NotActive) as refused:
        await notifications.refresh_entitlement(billing, CARD)
    assert refused.value.code == "not_active"
    with pytest.raises(UnknownCard):
        await notifications.refresh_entitlement(billing, "19999999")




async def test_the_refresh_limit_holds_across_processes(pg_url, clock):
    dbs = [open_database(pg_url) for _ in range(3)]
    handles = [Billing(db=db, rates=Rates({"KES": 100}), clock=clock) for db in dbs]
    try:
        await setup(handles[0])
        seq = await last_seq(handles[0])
        results = await asyncio.gather(*(notifications.refresh_entitlement(h, CARD) for h in handles * 4),
                                       return_exceptions=True)
        sent = [r for r in results if isinstance(r, notifications.Refreshed)]
        refused = [r for r in results if isinstance(r, notifications.RefreshTooSoon)]
        assert (len(sent), len(refused)) == (1, 11)
        assert [e.kind for e in await new_events(handles[0], seq)] == [events.GRANT, events.OSD]
    finally:
        for db in dbs:
            await db.close()
