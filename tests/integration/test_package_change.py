"""Package changes on SQLite and PostgreSQL: an upgrade at once with the unused days credited pro rata
(numbers worked out by hand), a downgrade at the next renewal, refusals that move nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from billing_core import ledger, subscriptions
from billing_core.context import Billing
from billing_core.db import ledger_store, outbox_store
from billing_core.db.schema import journal_entries, renewals
from billing_core.errors import InsufficientWallet, SamePackage, WrongPackageKind
from billing_core.renewal import DAY_S, iso
from billing_core.subscriptions import unused_tvu
from tv_notify.events import GRANT, REVOKE, SMS
from tv_notify.scheduler import Scheduler

CARD, PHONE = "70000001", "+254712345603"


async def start(billing: Billing, wallet: int) -> int:
    """CARD on BASIC (300 TVU, 30 days) renewed now, ``wallet`` TVU left; returns the expiry."""
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 300, ("101",))
    await subscriptions.add_package(billing, "PREMIUM", "Premium", 30, 450, ("101", "102"))
    await subscriptions.add_package(billing, "LITE", "Lite", 30, 150, ("100",))
    await subscriptions.add_package(billing, "SPORTS", "Sports", 30, 90, ("201",), kind="addon")
    await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC", lang="en")
    done = await subscriptions.credit_tvu(billing, CARD, 300 + wallet, source=ledger.TVU_OPENING, ref="t",
                                          kind="opening")
    assert done.renewed
    return done.subscriber.expires_at


async def balanced(billing: Billing) -> dict[str, int]:
    trial = await billing.db.read(ledger_store.trial_balance)
    sums: dict[str, int] = {}
    for _account, unit, balance in trial:
        sums[unit] = sums.get(unit, 0) + balance
    assert set(sums.values()) <= {0}, sums
    return {account: balance for account, _unit, balance in trial}


def test_unused_tvu_is_floored() -> None:
    assert unused_tvu(300, 30, 30 * DAY_S) == 300
    assert unused_tvu(300, 30, 1_533_600) == 177  # 17.75 days left: 177.5
    assert unused_tvu(300, 30, 0) == 0 and unused_tvu(300, 30, -5) == 0
    assert unused_tvu(100, 30, 60 * DAY_S) == 200  # two stacked periods


async def test_upgrade_credits_the_unused_days_and_renews_now(billing: Billing, clock) -> None:
    await start(billing, wallet=400)
    clock.advance(12 * DAY_S + 6 * 3600)  # 17 days 18 hours = 1,533,600 s left of 2,592,000
    done = await subscriptions.change_package(billing, CARD, "premium")
    assert (done.kind, done.credited) == ("upgraded", 177)  # floor(300 * 1533600 / 2592000) = floor(177.5)
    view = done.subscriber
    assert view.package == "PREMIUM" and view.status == "active"
    assert view.expires_at == billing.now() + 30 * DAY_S  # a period from now
    assert view.wallet_tvu == 400 + 177 - 450 == 127
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 127
    accounts = await balanced(billing)
    assert accounts[ledger.TVU_EARNED] == -(300 - 177 + 450)
    kinds = await billing.db.read(lambda c: c.execute(
        select(journal_entries.c.kind).order_by(journal_entries.c.id)).scalars().all())
    assert kinds[-2:] == ["upgrade_credit", "renewal"]
    reasons = await billing.db.read(lambda c: c.execute(select(renewals.c.reason).order_by(renewals.c.id))
                                    .scalars().all())
    assert reasons == ["credit", "upgrade"]
    events = list(reversed(await billing.db.read(outbox_store.for_card, CARD, 50)))
    grant = [e for e in events if e.kind == GRANT][-1]
    assert grant.payload["products"] == ["101", "102"] and grant.payload["until"] == iso(view.expires_at)
    assert "177 TVU credited" in [e for e in events if e.kind == SMS][-1].payload["text"]


async def test_upgrade_revokes_products_the_new_package_lacks(billing: Billing, clock) -> None:
    await start(billing, wallet=0)
    await subscriptions.change_package(billing, CARD, "LITE")  # cheaper: next renewal
    clock.advance(31 * DAY_S)
    await subscriptions.credit_tvu(billing, CARD, 150, source=ledger.TVU_OPENING, ref="t2", kind="opening")
    clock.advance(15 * DAY_S)  # half of LITE left: 75 back
    await subscriptions.credit_tvu(billing, CARD, 300 - 75, source=ledger.TVU_OPENING, ref="t3", kind="opening")
    done = await subscriptions.change_package(billing, CARD, "BASIC")
    assert (done.kind, done.credited, done.subscriber.wallet_tvu) == ("upgraded", 75, 0)
    events = list(reversed(await billing.db.read(outbox_store.for_card, CARD, 50)))
    assert [e.payload["products"] for e in events if e.kind == REVOKE][-1] == ["100"]
    await balanced(billing)


async def test_downgrade_waits_for_the_next_renewal(billing: Billing, clock) -> None:
    expiry = await start(billing, wallet=150)
    clock.advance(5 * DAY_S)
    done = await subscriptions.change_package(billing, CARD, "LITE")
    assert (done.kind, done.credited) == ("next_renewal", 0)
    assert done.subscriber.expires_at == expiry and done.subscriber.wallet_tvu == 150
    clock.advance(expiry - billing.now())
    await Scheduler(billing, interval_s=60, batch_size=10).work()
    view = await subscriptions.show_subscriber(billing, CARD)
    assert (view.package, view.status, view.expires_at, view.wallet_tvu) == ("LITE", "active", expiry + 30 * DAY_S, 0)
    await balanced(billing)


async def test_refusals_move_nothing(billing: Billing, clock) -> None:
    await start(billing, wallet=100)
    clock.advance(15 * DAY_S)  # 150 back: 250 < 450
    with pytest.raises(InsufficientWallet):
        await subscriptions.change_package(billing, CARD, "PREMIUM")
    with pytest.raises(SamePackage):
        await subscriptions.change_package(billing, CARD, "BASIC")
    with pytest.raises(WrongPackageKind):
        await subscriptions.change_package(billing, CARD, "SPORTS")
    view = await subscriptions.show_subscriber(billing, CARD)
    assert (view.package, view.wallet_tvu) == ("BASIC", 100)
    accounts = await balanced(billing)
    assert accounts[ledger.TVU_EARNED] == -300


async def test_an_inactive_card_changes_at_its_next_renewal(billing: Billing, clock) -> None:
    await start(billing, wallet=0)
    clock.advance(31 * DAY_S)
    done = await subscriptions.change_package(billing, CARD, "PREMIUM")
    assert done.kind == "next_renewal" and done.subscriber.package == "PREMIUM"
    await balanced(billing)
