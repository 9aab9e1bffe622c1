"""Add-ons through the use cases on SQLite and PostgreSQL: aligned (pro rata to the base's days
left) and independent (own period, full price), renewal and expiry by the scheduler, refusals;
the ledger balanced after each scenario. Prices below are worked out by hand."""
from __future__ import annotations

import pytest

from billing_core import addons, ledger, subscriptions
from billing_core.context import Billing
from billing_core.db import ledger_store, outbox_store
from billing_core.errors import AddonActive, BaseNotActive, InsufficientWallet, WrongPackageKind
from billing_core.renewal import DAY_S, iso
from tv_notify.events import GRANT, REVOKE, SMS
from tv_notify.scheduler import Scheduler

CARD, PHONE = "60000001", "+254712345602"
BASE_PRICE, ADDON_PRICE, DAYS = 300, 90, 30


async def active(billing: Billing, wallet: int) -> int:
    """CARD on BASIC renewed now from ``BASE_PRICE + wallet`` TVU; returns the base's expiry."""
    await subscriptions.add_package(billing, "BASIC", "Basic", DAYS, BASE_PRICE, ("101",))
    await subscriptions.add_package(billing, "SPORTS", "Sports add-on", DAYS, ADDON_PRICE, ("201", "202"),
                                    kind="addon")
    await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC", lang="en")
    done = await credit(billing, BASE_PRICE + wallet)
    assert done.renewed and done.subscriber.wallet_tvu == wallet
    return done.subscriber.expires_at


async def credit(billing: Billing, tvu: int, ref: str = "t") -> subscriptions.Credited:
    return await subscriptions.credit_tvu(billing, CARD, tvu, source=ledger.TVU_OPENING, ref=ref, kind="opening")


async def balanced(billing: Billing) -> dict[str, int]:
    trial = await billing.db.read(ledger_store.trial_balance)
    sums: dict[str, int] = {}
    for _account, unit, balance in trial:
        sums[unit] = sums.get(unit, 0) + balance
    assert set(sums.values()) <= {0}, sums
    return {account: balance for account, _unit, balance in trial}


async def outbox_of(billing: Billing):
    return list(reversed(await billing.db.read(outbox_store.for_card, CARD, 200)))


async def test_aligned_addon_costs_the_days_left_on_the_base(billing: Billing, clock) -> None:
    base_expiry = await active(billing, wallet=100)
    clock.advance(10 * DAY_S + 3600)  # 19 days 23 hours left: 20 days counted
    done = await addons.add_addon(billing, CARD, "sports")
    assert done.tvu == 60  # ceil(90 * 20 / 30)
    assert done.addon.expires_at == base_expiry and done.addon.aligned
    assert done.subscriber.wallet_tvu == 40
    grant = [e for e in await outbox_of(billing) if e.kind == GRANT][-1]
    assert grant.payload["products"] == ["201", "202"] and grant.payload["until"] == iso(base_expiry)
    accounts = await balanced(billing)
    assert accounts[ledger.TVU_ADDONS] == -60  # the add-on shows in the ledger
    assert accounts[ledger.TVU_EARNED] == -BASE_PRICE
    with pytest.raises(AddonActive):
        await addons.add_addon(billing, CARD, "SPORTS", aligned=False)
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 40


async def test_aligned_price_rounds_up_to_the_operator(billing: Billing, clock) -> None:
    await active(billing, wallet=100)
    clock.advance(DAYS * DAY_S - 3600)  # one hour left: one day counted
    assert (await addons.add_addon(billing, CARD, "SPORTS")).tvu == 3  # ceil(90 * 1 / 30)


async def test_independent_addon_has_its_own_period_at_full_price(billing: Billing, clock) -> None:
    await active(billing, wallet=100)
    clock.advance(25 * DAY_S)
    done = await addons.add_addon(billing, CARD, "SPORTS", aligned=False)
    assert done.tvu == ADDON_PRICE and done.addon.expires_at == billing.now() + DAYS * DAY_S
    assert done.subscriber.wallet_tvu == 10
    await balanced(billing)


async def test_refusals_move_nothing(billing: Billing, clock) -> None:
    await active(billing, wallet=50)
    with pytest.raises(WrongPackageKind):
        await addons.add_addon(billing, CARD, "BASIC")
    with pytest.raises(InsufficientWallet):
        await addons.add_addon(billing, CARD, "SPORTS")  # 90 for 30 days left
    with pytest.raises(WrongPackageKind):
        await subscriptions.renew(billing, CARD, "SPORTS")  # an add-on is never the base
    clock.advance(DAYS * DAY_S + 1)
    with pytest.raises(BaseNotActive):
        await addons.add_addon(billing, CARD, "SPORTS")
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 50
    assert await addons.addons_of(billing, CARD) == []
    await balanced(billing)


async def test_aligned_addon_renews_with_the_base_then_expires_when_the_wallet_runs_dry(billing: Billing,
                                                                                         clock) -> None:
    base_expiry = await active(billing, wallet=BASE_PRICE + ADDON_PRICE + ADDON_PRICE)
    await addons.add_addon(billing, CARD, "SPORTS")  # 30 days left: 90
    scheduler = Scheduler(billing, interval_s=60, batch_size=10)
    clock.advance(base_expiry - billing.now())
    await scheduler.work()  # the base renews (300), then the add-on with it (90)
    assert (scheduler.renewed, scheduler.addons_renewed) == (1, 1)
    [addon] = await addons.addons_of(billing, CARD)
    assert addon.status == "active" and addon.expires_at == base_expiry + DAYS * DAY_S
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 0
    await scheduler.work()
    assert scheduler.addons_renewed == 1  # once

    clock.advance(DAYS * DAY_S)
    renewed = await credit(billing, BASE_PRICE, ref="t2")  # enough for the base, not for the add-on too
    assert renewed.renewed  # the credit renews the base at once
    await scheduler.work()
    assert scheduler.addons_expired == 1
    [addon] = await addons.addons_of(billing, CARD)
    assert addon.status == "expired"
    revoke = [e for e in await outbox_of(billing) if e.kind == REVOKE][-1]
    assert revoke.payload["products"] == ["201", "202"]
    assert "has ended" in [e for e in await outbox_of(billing) if e.kind == SMS][-1].payload["text"]
    await scheduler.work()
    assert scheduler.addons_expired == 1
    accounts = await balanced(billing)
    assert accounts[ledger.TVU_ADDONS] == -2 * ADDON_PRICE

    await credit(billing, ADDON_PRICE, ref="t3")
    again = await addons.add_addon(billing, CARD, "SPORTS")  # an expired add-on can be bought again
    assert again.addon.status == "active" and again.tvu == ADDON_PRICE


async def test_independent_addon_renews_for_its_own_period(billing: Billing, clock) -> None:
    await active(billing, wallet=2 * ADDON_PRICE)
    clock.advance(5 * DAY_S)
    first = await addons.add_addon(billing, CARD, "SPORTS", aligned=False)
    scheduler = Scheduler(billing, interval_s=60, batch_size=10)
    clock.advance(first.addon.expires_at - billing.now())
    await scheduler.work()  # the base expired 5 days ago with an empty wallet... and the add-on renews alone
    [addon] = await addons.addons_of(billing, CARD)
    assert addon.status == "active" and addon.expires_at == first.addon.expires_at + DAYS * DAY_S
    assert scheduler.addons_renewed == 1
    await balanced(billing)


async def test_aligned_addon_expires_with_a_base_that_did_not_renew(billing: Billing, clock) -> None:
    base_expiry = await active(billing, wallet=ADDON_PRICE)
    await addons.add_addon(billing, CARD, "SPORTS")
    scheduler = Scheduler(billing, interval_s=60, batch_size=10)
    clock.advance(base_expiry - billing.now())
    await scheduler.work()
    assert (scheduler.expired, scheduler.addons_expired, scheduler.addons_renewed) == (1, 1, 0)
    revoked = [e.payload["products"] for e in await outbox_of(billing) if e.kind == REVOKE]
    assert sorted(revoked) == [["101"], ["201", "202"]]
    await balanced(billing)
