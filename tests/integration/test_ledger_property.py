"""The ledger stays true under any sequence of use cases, on SQLite and on PostgreSQL.

A seeded random walk drives the real use cases (credits, renewals, the expiry run,
reversals, clock moves) and keeps a plain model of what each subscriber should have.
After every step the database must agree with the model, every unit must balance,
and no wallet may be overdrawn. Refusals must leave the database as it was.
"""
from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from billing_core import notifications
from billing_core import ledger, subscriptions
from billing_core.context import Billing
from billing_core.db import ledger_store
from billing_core.db import subscriber_store as store
from billing_core.db.schema import journal_entries, outbox, postings, renewals, subscribers
from billing_core.errors import AlreadyReversed, InsufficientWallet, UnknownPackage
from billing_core.renewal import DAY_S

SEEDS = (11, 22, 33)
STEPS = 40
STARTING_PACKAGES = (("DAY", 1, 20), ("WEEK", 7, 100), ("MONTH", 30, 300), ("PROMO", 3, 0))
ADVANCES_S = (3600, DAY_S, 3 * DAY_S, 7 * DAY_S, 30 * DAY_S)
SUBSCRIBERS_MAX = 6


@dataclass
class Expected:
    """What one subscriber should have, by the contract's billing rules."""

    package: str | None
    status: str = "new"
    expires_at: int | None = None
    wallet_tvu: int = 0

    def active(self, now: int) -> bool:
        return self.status == "active" and self.expires_at is not None and self.expires_at > now

    def shown_status(self, now: int) -> str:
        return "expired" if self.status == "active" and not self.active(now) else self.status


@dataclass
class Credit:
    entry_id: int
    card: str
    tvu: int
    reversal_id: int | None = None


class Walk:
    """One seeded sequence of use cases, with the model it is checked against."""

    def __init__(self, billing: Billing, clock, seed: int):
        self.billing, self.clock, self.rng = billing, clock, random.Random(seed)
        self.packages: dict[str, tuple[int, int]] = {}  # code -> (days, price)
        self.subs: dict[str, Expected] = {}
        self.credits: list[Credit] = []
        self.entries = 0  # journal entries the database should hold
        self.earned = 0  # TVU spent on packages

    # -------------------------------------------------------------- the model's rules

    def _renew(self, sub: Expected, start_at: int) -> None:
        days, price = self.packages[sub.package]
        sub.status, sub.expires_at, sub.wallet_tvu = "active", start_at + days * DAY_S, sub.wallet_tvu - price
        self.earned += price
        self.entries += 1 if price else 0

    def _price(self, sub: Expected) -> int:
        return self.packages[sub.package][1] if sub.package else 0

    # ------------------------------------------------------------------------ steps

    async def add_package(self) -> None:
        code = f"P{len(self.packages)}"
        days, price = self.rng.choice((1, 7, 30)), self.rng.randrange(0, 400, 10)
        await subscriptions.add_package(self.billing, code, f"Package {code}", days, price)
        self.packages[code] = (days, price)

    async def add_subscriber(self) -> None:
        card = f"{20_000_000 + len(self.subs)}"
        package = self.rng.choice([*self.packages, None])
        phone = f"+2547{self.rng.randrange(10_000_000, 100_000_000)}"
        added = await subscriptions.add_subscriber(self.billing, card, phone, package=package)
        assert (added.status, added.wallet_tvu) == ("new", 0)
        self.subs[card] = Expected(package)

    async def credit(self) -> None:
        card, sub = self._pick()
        tvu = self.rng.randint(1, 400)
        credited = await subscriptions.credit_tvu(self.billing, card, tvu, source=ledger.TVU_OPENING,
                                                  ref=f"walk:{len(self.credits)}", kind="opening")
        self.credits.append(Credit(credited.entry_id, card, tvu))
        self.entries += 1
        sub.wallet_tvu += tvu
        price, now = self._price(sub), self.clock.now
        renews = sub.package is not None and price > 0 and not sub.active(now) and sub.wallet_tvu >= price
        if renews:
            self._renew(sub, now)
        assert credited.renewed is renews
        assert credited.subscriber.wallet_tvu == sub.wallet_tvu

    async def renew(self) -> None:
        card, sub = self._pick()
        switch_to = self.rng.choice([*self.packages, None, None, None])
        package = switch_to or sub.package
        now = self.clock.now
        if package is None:
            with pytest.raises(UnknownPackage):
                await subscriptions.renew(self.billing, card, switch_to)
            return
        if sub.wallet_tvu < self.packages[package][1]:
            with pytest.raises(InsufficientWallet):
                await subscriptions.renew(self.billing, card, switch_to)
            return
        renewed = await subscriptions.renew(self.billing, card, switch_to)
        sub.package = package
        self._renew(sub, sub.expires_at if sub.active(now) else now)
        assert (renewed.wallet_tvu, renewed.expires_at, renewed.package) == (
            sub.wallet_tvu, sub.expires_at, sub.package)

    async def advance(self) -> None:
        self.clock.advance(self.rng.choice(ADVANCES_S))

    async def expire_due(self) -> None:
        now, done = self.clock.now, {"renewed": 0, "expired": 0}
        for sub in self.subs.values():
            if sub.status != "active" or sub.active(now):
                continue
            if sub.wallet_tvu >= self._price(sub):
                self._renew(sub, now)
                done["renewed"] += 1
            else:
                sub.status = "expired"
                done["expired"] += 1
        assert await notifications.sweep_expiry(self.billing) == done

    async def reverse(self) -> None:
        if not self.credits:
            return
        credit = self.rng.choice(self.credits)
        sub = self.subs[credit.card]
        reverse = self.billing.db.write
        if credit.reversal_id is not None:
            with pytest.raises(AlreadyReversed):
                await reverse(ledger_store.reverse, credit.entry_id, self.clock.now, "again")
            with pytest.raises(AlreadyReversed):  # a reversal is never reversed itself
                await reverse(ledger_store.reverse, credit.reversal_id, self.clock.now, "undo the undo")
        elif sub.wallet_tvu < credit.tvu:  # the TVU were spent already
            with pytest.raises(InsufficientWallet):
                await reverse(ledger_store.reverse, credit.entry_id, self.clock.now, "spent")
        else:
            credit.reversal_id = await reverse(ledger_store.reverse, credit.entry_id, self.clock.now, "walk")
            sub.wallet_tvu -= credit.tvu
            self.entries += 1

    def _pick(self) -> tuple[str, Expected]:
        card = self.rng.choice(sorted(self.subs))
        return card, self.subs[card]

    # ------------------------------------------------------------------------- run

    async def run(self, steps: int) -> None:
        for code, days, price in STARTING_PACKAGES:
            await subscriptions.add_package(self.billing, code, code.title(), days, price)
            self.packages[code] = (days, price)
        for _ in range(2):
            await self.add_subscriber()
        weighted = [(self.credit, 8), (self.renew, 4), (self.advance, 4), (self.expire_due, 3),
                    (self.reverse, 4), (self.add_subscriber, 1), (self.add_package, 1)]
        for step in range(steps):
            action = self.rng.choices([a for a, _ in weighted], [w for _, w in weighted])[0]
            if action == self.add_subscriber and len(self.subs) >= SUBSCRIBERS_MAX:
                action = self.credit
            await action()
            await self.check(f"step {step}: {action.__name__}")

    async def check(self, where: str) -> None:
        books = await self.billing.db.read(_books)
        assert books.unit_totals == {unit: 0 for unit in books.unit_totals}, where
        assert set(books.postings_by_unit.values()) <= {0}, where
        assert all(balance <= 0 for (code, _), balance in books.balances.items() if code.startswith("wallet:")), where
        assert books.entries == self.entries, where
        assert books.balances.get((ledger.TVU_EARNED, ledger.TVU), 0) == -self.earned, where
        for card, sub in self.subs.items():
            shown = await subscriptions.show_subscriber(self.billing, card)
            assert shown.wallet_tvu >= 0, where
            assert books.balances.get((ledger.wallet_account(card), ledger.TVU), 0) == -sub.wallet_tvu, where
            assert (shown.wallet_tvu, shown.status, shown.expires_at, shown.package) == (
                sub.wallet_tvu, sub.shown_status(self.clock.now), sub.expires_at, sub.package), f"{where}: {card}"


@dataclass(frozen=True)
class Books:
    unit_totals: dict[str, int]
    postings_by_unit: dict[str, int]
    balances: dict[tuple[str, str], int]
    entries: int


def _books(conn) -> Books:
    trial = ledger_store.trial_balance(conn)
    totals: dict[str, int] = {}
    for _code, unit, balance in trial:
        totals[unit] = totals.get(unit, 0) + balance
    entries = conn.execute(select(func.count()).select_from(journal_entries)).scalar_one()
    return Books(totals, ledger_store.postings_sum_by_unit(conn),
                 {(code, unit): balance for code, unit, balance in trial}, entries)


@pytest.mark.parametrize("seed", SEEDS)
async def test_a_random_walk_keeps_the_books_true(billing: Billing, clock, seed: int) -> None:
    walk = Walk(billing, clock, seed)
    await walk.run(STEPS)
    assert walk.credits and walk.entries > len(walk.credits)  # the walk did move value


# --------------------------------------------------------------------- failed writes

async def _row_counts(billing: Billing) -> dict[str, int]:
    def tx(conn):
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (journal_entries, postings, renewals, outbox, subscribers)}
    return await billing.db.read(tx)


async def test_failed_writes_leave_no_partial_rows(billing: Billing, clock) -> None:
    card = "30000001"
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 300)
    await subscriptions.add_package(billing, "GOLD", "Gold", 30, 900)
    await subscriptions.add_subscriber(billing, card, "+254712345678", package="BASIC")
    spent = await subscriptions.credit_tvu(billing, card, 300, source=ledger.TVU_OPENING, ref="a", kind="opening")
    await subscriptions.credit_tvu(billing, card, 100, source=ledger.TVU_OPENING, ref="b", kind="opening")
    assert spent.renewed
    before, counts = await subscriptions.show_subscriber(billing, card), await _row_counts(billing)

    with pytest.raises(InsufficientWallet):  # switches the package, then finds the wallet short
        await subscriptions.renew(billing, card, "GOLD")
    assert await _row_counts(billing) == counts

    with pytest.raises(InsufficientWallet):  # writes the entry and postings, then the wallet CHECK fires
        await billing.db.write(ledger_store.reverse, spent.entry_id, clock.now, "spent already")
    assert await _row_counts(billing) == counts

    stale = dataclasses.replace(await billing.db.read(store.lock_subscriber, card), wallet_tvu=300)

    def renew_on_a_stale_read(conn):  # a renewal that skipped the check: the database refuses it
        return store.renew_locked(conn, stale, clock.now, reason="explicit")

    with pytest.raises(InsufficientWallet):
        await billing.db.write(renew_on_a_stale_read)
    assert await _row_counts(billing) == counts
    assert await subscriptions.show_subscriber(billing, card) == before
    assert before.package == "BASIC" and before.wallet_tvu == 100
