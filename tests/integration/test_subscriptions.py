"""The subscription use cases against a real database, on SQLite and on PostgreSQL."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from billing_core import notifications
from billing_core import ledger, subscriptions
from billing_core.context import Billing
from billing_core.db import outbox_store
from billing_core.db.schema import journal_entries, outbox, postings, renewals, subscribers
from billing_core.errors import (
    AlreadyExists,
    InsufficientWallet,
    InvalidCard,
    InvalidInput,
    InvalidMsisdn,
    UnknownCard,
    UnknownPackage,
)
from billing_core.renewal import DAY_S, iso
from tv_notify.events import GRANT, OSD, REVOKE, SMS

CARD = "10000001"
OTHER_CARD = "10000002"
PHONE = "+254712345678"
PRICE, DAYS = 300, 30
PERIOD_S = DAYS * DAY_S


async def basic_package(billing: Billing, code: str = "BASIC", price: int = PRICE, days: int = DAYS) -> None:
    await subscriptions.add_package(billing, code, f"{code.title()} bouquet", days, price, ("p1", "p2"))


async def subscriber(billing: Billing, card: str = CARD, package: str | None = "BASIC") -> None:
    await subscriptions.add_subscriber(billing, card, PHONE, package=package, name="Wanjiku")


async def credit(billing: Billing, tvu: int, card: str = CARD) -> subscriptions.Credited:
    return await subscriptions.credit_tvu(billing, card, tvu, source=ledger.TVU_OPENING, ref="t", kind="opening")


async def active_subscriber(billing: Billing) -> int:
    """A BASIC subscriber renewed just now with an empty wallet; returns the expiry."""
    await basic_package(billing)
    await subscriber(billing)
    credited = await credit(billing, PRICE)
    assert credited.renewed and credited.subscriber.wallet_tvu == 0
    return credited.subscriber.expires_at


async def event_kinds(billing: Billing, card: str = CARD) -> list[str]:
    """The card's outbox events, oldest first."""
    return [e.kind for e in reversed(await billing.db.read(outbox_store.for_card, card))]


async def row_counts(billing: Billing) -> dict[str, int]:
    def tx(conn):
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (journal_entries, postings, renewals, outbox, subscribers)}
    return await billing.db.read(tx)


# ------------------------------------------------------------------------------ packages

async def test_add_package_stores_it(billing: Billing) -> None:
    added = await subscriptions.add_package(billing, " basic ", "Basic bouquet", 30, 300, ("p1", " p2 "))
    assert (added.code, added.days, added.tvu, added.products) == ("BASIC", 30, 300, ("p1", "p2"))
    assert await subscriptions.list_packages(billing) == [added]


async def test_add_package_twice_is_refused(billing: Billing) -> None:
    await basic_package(billing)
    with pytest.raises(AlreadyExists):
        await subscriptions.add_package(billing, "basic", "Another", 7, 100)
    [kept] = await subscriptions.list_packages(billing)
    assert (kept.days, kept.tvu) == (DAYS, PRICE)


BAD_PACKAGES = [
    ("", "Basic", 30, 300, ()),
    ("A" * 33, "Basic", 30, 300, ()),
    ("BAD CODE", "Basic", 30, 300, ()),
    ("BASIC", "", 30, 300, ()),
    ("BASIC", "x" * 129, 30, 300, ()),
    ("BASIC", "Basic", 0, 300, ()),
    ("BASIC", "Basic", 3661, 300, ()),
    ("BASIC", "Basic", 1.5, 300, ()),
    ("BASIC", "Basic", 30, -1, ()),
    ("BASIC", "Basic", 30, 300.0, ()),
    ("BASIC", "Basic", 30, 300, ("",)),
    ("BASIC", "Basic", 30, 300, ("p1,p2",)),
]


async def test_add_package_refuses_bad_input(billing: Billing) -> None:
    for code, name, days, tvu, products in BAD_PACKAGES:
        with pytest.raises(InvalidInput):
            await subscriptions.add_package(billing, code, name, days, tvu, products)
    assert await subscriptions.list_packages(billing) == []


# ---------------------------------------------------------------------------- subscribers

async def test_add_subscriber_starts_new_with_an_empty_wallet(billing: Billing) -> None:
    await basic_package(billing)
    added = await subscriptions.add_subscriber(billing, f" {CARD} ", "0712 345678", package="basic")
    assert (added.card, added.msisdn, added.lang, added.status) == (CARD, PHONE, "en", "new")
    assert (added.package, added.expires_at, added.wallet_tvu) == ("BASIC", None, 0)
    assert (await subscriptions.show_subscriber(billing, CARD)).msisdn == PHONE


async def test_add_subscriber_refuses_a_bad_card_or_msisdn(billing: Billing) -> None:
    arabic_indic_digits = "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668"
    for card in ("1234567", "1234567890123", "12AB5678", "", arabic_indic_digits):
        with pytest.raises(InvalidCard):
            await subscriptions.add_subscriber(billing, card, PHONE)
    for msisdn in ("", "12345", "phone", "+999712345678"):
        with pytest.raises(InvalidMsisdn):
            await subscriptions.add_subscriber(billing, CARD, msisdn)
    with pytest.raises(UnknownCard):
        await subscriptions.show_subscriber(billing, CARD)


async def test_add_subscriber_refuses_an_unknown_package(billing: Billing) -> None:
    with pytest.raises(UnknownPackage):
        await subscriptions.add_subscriber(billing, CARD, PHONE, package="GOLD")
    with pytest.raises(UnknownCard):
        await subscriptions.show_subscriber(billing, CARD)


async def test_add_subscriber_refuses_a_card_registered_already(billing: Billing) -> None:
    await subscriber(billing, package=None)
    with pytest.raises(AlreadyExists):
        await subscriptions.add_subscriber(billing, CARD, "+254722000000", name="Someone else")
    kept = await subscriptions.show_subscriber(billing, CARD)
    assert (kept.msisdn, kept.name) == (PHONE, "Wanjiku")


async def test_add_subscriber_takes_a_configured_language_only(billing: Billing) -> None:
    for card, lang, stored in (("10000001", None, "en"), ("10000002", "FR", "fr"), ("10000003", " sw ", "sw")):
        assert (await subscriptions.add_subscriber(billing, card, PHONE, lang=lang)).lang == stored
    with pytest.raises(InvalidInput):
        await subscriptions.add_subscriber(billing, "10000004", PHONE, lang="de")
    with pytest.raises(UnknownCard):
        await subscriptions.show_subscriber(billing, "10000004")


# ------------------------------------------------------------------------------- credit

async def test_credit_renews_at_once_when_inactive_and_covering(billing: Billing, clock) -> None:
    await basic_package(billing)
    await subscriber(billing)
    credited = await credit(billing, PRICE + 50)
    after = credited.subscriber
    assert credited.renewed and credited.tvu == PRICE + 50
    assert (after.status, after.expires_at, after.wallet_tvu) == ("active", clock.now + PERIOD_S, 50)
    assert await event_kinds(billing) == [GRANT, OSD, SMS]
    [grant, *_] = reversed(await billing.db.read(outbox_store.for_card, CARD))
    assert grant.payload["until"] == iso(clock.now + PERIOD_S)
    assert grant.payload["products"] == ["p1", "p2"]
    shown = await subscriptions.show_subscriber(billing, CARD)
    assert (shown.status, shown.expires_at, shown.wallet_tvu) == ("active", clock.now + PERIOD_S, 50)


async def test_credit_below_the_price_waits_and_tells_the_subscriber(billing: Billing) -> None:
    await basic_package(billing)
    await subscriber(billing)
    credited = await credit(billing, PRICE - 1)
    assert not credited.renewed
    assert (credited.subscriber.status, credited.subscriber.wallet_tvu) == ("new", PRICE - 1)
    assert await event_kinds(billing) == [SMS]


async def test_credit_while_active_waits_in_the_wallet(billing: Billing, clock) -> None:
    expires_at = await active_subscriber(billing)
    clock.advance(DAY_S)
    credited = await credit(billing, 2 * PRICE)
    after = credited.subscriber
    assert not credited.renewed
    assert (after.status, after.expires_at, after.wallet_tvu) == ("active", expires_at, 2 * PRICE)
    assert await event_kinds(billing) == [GRANT, OSD, SMS, SMS]


async def test_credit_refuses_a_non_positive_amount_and_an_unknown_card(billing: Billing) -> None:
    await subscriber(billing, package=None)
    for bad in (0, -5, 1.5):
        with pytest.raises(InvalidInput):
            await credit(billing, bad)  # type: ignore[arg-type]
    with pytest.raises(UnknownCard):
        await credit(billing, 10, card=OTHER_CARD)
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 0


# -------------------------------------------------------------------------------- renew

async def test_explicit_renewal_stacks_on_the_current_expiry(billing: Billing, clock) -> None:
    expires_at = await active_subscriber(billing)
    await credit(billing, PRICE + 7)
    clock.advance(10 * DAY_S)
    renewed = await subscriptions.renew(billing, CARD)
    assert (renewed.status, renewed.expires_at, renewed.wallet_tvu) == ("active", expires_at + PERIOD_S, 7)
    assert await event_kinds(billing) == [GRANT, OSD, SMS, SMS, GRANT, OSD, SMS]
    starts = await billing.db.read(lambda conn: conn.execute(
        select(renewals.c.starts_at, renewals.c.reason).order_by(renewals.c.id)).all())
    assert [tuple(r) for r in starts] == [(expires_at - PERIOD_S, "credit"), (expires_at, "explicit")]


async def test_explicit_renewal_of_a_lapsed_subscription_starts_now(billing: Billing, clock) -> None:
    await active_subscriber(billing)
    await credit(billing, PRICE)
    clock.advance(PERIOD_S + 5 * DAY_S)
    renewed = await subscriptions.renew(billing, CARD)
    assert (renewed.status, renewed.expires_at, renewed.wallet_tvu) == ("active", clock.now + PERIOD_S, 0)


async def test_renew_with_an_insufficient_wallet_changes_nothing(billing: Billing) -> None:
    await active_subscriber(billing)
    await basic_package(billing, "PREMIUM", price=PRICE * 2)
    await credit(billing, PRICE + 10)
    before, counts = await subscriptions.show_subscriber(billing, CARD), await row_counts(billing)
    with pytest.raises(InsufficientWallet):
        await subscriptions.renew(billing, CARD, "premium")  # switching package, then refused
    assert await subscriptions.show_subscriber(billing, CARD) == before
    assert before.package == "BASIC"
    assert await row_counts(billing) == counts


async def test_renew_may_switch_the_package(billing: Billing, clock) -> None:
    expires_at = await active_subscriber(billing)
    await basic_package(billing, "WEEKLY", price=100, days=7)
    await credit(billing, 100)
    renewed = await subscriptions.renew(billing, CARD, "weekly")
    assert (renewed.package, renewed.expires_at, renewed.wallet_tvu) == ("WEEKLY", expires_at + 7 * DAY_S, 0)


async def test_renew_refuses_an_unknown_card_or_package(billing: Billing) -> None:
    await subscriber(billing, package=None)
    await credit(billing, PRICE)
    with pytest.raises(UnknownCard):
        await subscriptions.renew(billing, OTHER_CARD)
    with pytest.raises(UnknownPackage):
        await subscriptions.renew(billing, CARD)
    with pytest.raises(UnknownPackage):
        await subscriptions.renew(billing, CARD, "GOLD")
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == PRICE


# --------------------------------------------------------------------------- expiry sweep

async def test_expire_due_renews_from_a_covering_wallet(billing: Billing, clock) -> None:
    expires_at = await active_subscriber(billing)
    await credit(billing, PRICE + 1)
    clock.advance(PERIOD_S)
    assert await notifications.sweep_expiry(billing) == {"renewed": 1, "expired": 0}
    after = await subscriptions.show_subscriber(billing, CARD)
    assert (after.status, after.expires_at, after.wallet_tvu) == ("active", expires_at + PERIOD_S, 1)
    assert await event_kinds(billing) == [GRANT, OSD, SMS, SMS, GRANT, OSD, SMS]


async def test_expire_due_expires_when_the_wallet_falls_short(billing: Billing, clock) -> None:
    expires_at = await active_subscriber(billing)
    await credit(billing, PRICE - 1)
    clock.advance(PERIOD_S + 60)
    assert await notifications.sweep_expiry(billing) == {"renewed": 0, "expired": 1}
    after = await subscriptions.show_subscriber(billing, CARD)
    assert (after.status, after.expires_at, after.wallet_tvu) == ("expired", expires_at, PRICE - 1)
    assert await event_kinds(billing) == [GRANT, OSD, SMS, SMS, REVOKE, OSD, SMS]
    [revoke] = [e for e in await billing.db.read(outbox_store.for_card, CARD) if e.kind == REVOKE]
    assert revoke.payload["products"] == ["p1", "p2"]
    assert await notifications.sweep_expiry(billing) == {"renewed": 0, "expired": 0}


async def test_expire_due_leaves_running_subscriptions_alone(billing: Billing, clock) -> None:
    expires_at = await active_subscriber(billing)
    clock.advance(PERIOD_S - 1)
    assert await notifications.sweep_expiry(billing) == {"renewed": 0, "expired": 0}
    after = await subscriptions.show_subscriber(billing, CARD)
    assert (after.status, after.expires_at) == ("active", expires_at)


async def test_a_lapsed_subscription_shows_expired_before_the_scheduler_runs(billing: Billing, clock) -> None:
    await active_subscriber(billing)
    clock.advance(PERIOD_S)
    assert (await subscriptions.show_subscriber(billing, CARD)).status == "expired"


# --------------------------------------------------------------------------------- find

async def test_find_by_msisdn_returns_every_card_of_that_phone(billing: Billing) -> None:
    await subscriptions.add_subscriber(billing, CARD, "0712345678")
    await subscriptions.add_subscriber(billing, OTHER_CARD, "+254 712 345678")
    await subscriptions.add_subscriber(billing, "10000003", "+254722000000")
    for key in (PHONE, "254712345678", "0712345678", "0712 345 678"):  # local forms look like cards
        found = await subscriptions.find_subscribers(billing, key)
        assert [s.card for s in found] == [CARD, OTHER_CARD], key


async def test_a_card_shaped_number_finds_the_card_before_the_phone(billing: Billing) -> None:
    await subscriptions.add_subscriber(billing, CARD, "0712345678")
    await subscriptions.add_subscriber(billing, "0712345678", "+254722000000")
    [found] = await subscriptions.find_subscribers(billing, "0712345678")
    assert found.card == "0712345678"
    with pytest.raises(UnknownCard):  # show is by card only, never by a phone that looks like one
        await subscriptions.show_subscriber(billing, "254712345678")


async def test_find_by_card_returns_its_recent_wallet_movements(billing: Billing) -> None:
    await subscriber(billing, package=None)
    await credit(billing, 40)
    [found] = await subscriptions.find_subscribers(billing, CARD)
    assert [(r["kind"], r["tvu"]) for r in found.recent] == [("opening", 40)]


async def test_find_refuses_an_unknown_card_or_phone(billing: Billing) -> None:
    with pytest.raises(UnknownCard):
        await subscriptions.find_subscribers(billing, CARD)
    with pytest.raises(UnknownCard):
        await subscriptions.find_subscribers(billing, PHONE)


async def test_show_subscriber_json_has_the_contract_keys(billing: Billing, clock) -> None:
    await active_subscriber(billing)
    shown = (await subscriptions.show_subscriber(billing, CARD)).to_json()
    assert {"card", "msisdn", "status", "package", "expires_at", "wallet_tvu"} <= shown.keys()
    assert (shown["card"], shown["msisdn"], shown["status"], shown["package"], shown["wallet_tvu"]) == (
        CARD, PHONE, "active", "BASIC", 0)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", shown["expires_at"])
    assert shown["expires_at"] == iso(clock.now + PERIOD_S)


async def test_show_subscriber_json_of_a_new_subscriber(billing: Billing) -> None:
    await subscriber(billing, package=None)
    shown = (await subscriptions.show_subscriber(billing, CARD)).to_json()
    assert (shown["status"], shown["package"], shown["expires_at"], shown["wallet_tvu"]) == ("new", None, None, 0)
