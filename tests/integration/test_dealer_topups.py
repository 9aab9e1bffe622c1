"""Dealer use cases on SQLite and PostgreSQL: float, commission, idempotency, reversals, reports.

Every scenario ends with the ledger summing to zero in every unit, and the ledger's
``float:ID`` account agreeing with the dealer's float column.
"""
from __future__ import annotations

import asyncio
import dataclasses

import pytest

from billing_core import cards, dealers, reports
from billing_core import subscriptions as subs
from billing_core.db import dealer_store, ledger_store
from billing_core.db.dealer_store import Order
from billing_core.errors import (AlreadyReversed, DailyLimitReached, DealerSuspended, IdempotencyConflict,
                                 InsufficientFloat, InvalidInput, NotReversible, Unauthorized, UnknownDealer)
from billing_core.pins import PinKey, PinPolicy

MASTER = "m" * 32


async def assert_books_balance(billing) -> None:
    lines = await reports.trial_balance(billing)
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.unit] = totals.get(line.unit, 0) + line.balance
    assert all(t == 0 for t in totals.values()), totals
    assert all(t == 0 for t in (await billing.db.read(ledger_store.postings_sum_by_unit)).values())
    for dealer in await dealers.list_dealers(billing):
        in_ledger = await billing.db.read(ledger_store.balance, f"float:{dealer.id}", dealer.currency)
        assert -in_ledger == dealer.balance_minor >= 0


async def setup_dealer(billing, *, fund: str | None = "KES 1000", commission: str = "5", **kw):
    made = await dealers.add_dealer(billing, "Corner shop", "KES", master_key=MASTER, commission_pct=commission, **kw)
    if fund:
        await dealers.fund_dealer(billing, made.dealer.id, fund)
    return made


def order(made, card: str = "12345678", key: str = "k1", body: str = "h1", **value) -> Order:
    return Order(made.key_id, key, body, card, **value)


async def add_cards(billing, *cards_: str) -> None:
    await subs.add_package(billing, "BASIC", "Basic", 30, 150, ("101",))
    for i, card in enumerate(cards_):
        await subs.add_subscriber(billing, card, f"+2547{12345000 + i:08d}", package="BASIC", name="Jane Wanjiru")


async def test_sale_debits_float_less_commission_and_credits_wallet(billing):
    await add_cards(billing, "12345678")
    made = await setup_dealer(billing)
    sold = await dealers.dealer_topup(billing, order(made, tvu=100))
    body = sold.body
    assert (sold.status, body["tvu_credited"], body["wallet_tvu"], body["renewed"]) == (201, 100, 100, False)
    assert (body["face_value"], body["commission"], body["dealer_balance"]) == ("KES 100.00", "KES 5.00", "KES 905.00")
    lines = {(x.account, x.unit): x.balance for x in await reports.trial_balance(billing)}
    assert lines[("commission:1", "KES")] == 500
    assert lines[("float:1", "KES")] == -90500
    assert lines[("sales:tvu", "KES")] == -10000
    assert lines[("wallet:12345678", "TVU")] == -100
    await assert_books_balance(billing)


async def test_package_topup_renews_at_once_and_stacks(billing, clock):
    await add_cards(billing, "12345678")
    made = await setup_dealer(billing, commission="0")
    await dealers.set_commission(billing, made.dealer.id, "10", package="basic")
    first = (await dealers.dealer_topup(billing, order(made, key="a", package="BASIC"))).body
    second = (await dealers.dealer_topup(billing, order(made, key="b", package="BASIC"))).body
    assert first["renewed"] and first["status"] == "active" and first["wallet_tvu"] == 0
    assert first["commission"] == "KES 15.00"  # the package's own commission
    days_30 = 30 * 86_400
    assert second["expires_at"] == subs.iso(clock.now + 2 * days_30)
    assert (await subs.show_subscriber(billing, "12345678")).wallet_tvu == 0
    with pytest.raises(NotReversible):
        await dealers.reverse_topup(billing, first["id"], "asked by dealer")
    await assert_books_balance(billing)


async def test_amount_topup_floors_to_tvu_and_keeps_the_rest(billing):
    await add_cards(billing, "12345678")
    made = await setup_dealer(billing, commission="0")
    body = (await dealers.dealer_topup(billing, order(made, amount=dealers.Money.parse("KES 10.50")))).body
    assert (body["tvu_credited"], body["face_value"], body["dealer_balance"]) == (10, "KES 10.50", "KES 989.50")
    with pytest.raises(InvalidInput):
        await dealers.dealer_topup(billing, order(made, key="ugx", amount=dealers.Money.parse("UGX 500")))
    await assert_books_balance(billing)


async def test_idempotency_replays_and_refuses_another_body(billing):
    await add_cards(billing, "12345678")
    made = await setup_dealer(billing)
    first = await dealers.dealer_topup(billing, order(made, tvu=10))
    again = await dealers.dealer_topup(billing, order(made, tvu=10))
    assert again.replayed and (again.status, again.body) == (first.status, first.body)
    with pytest.raises(IdempotencyConflict):
        await dealers.dealer_topup(billing, order(made, body="other", tvu=11))
    assert (await subs.show_subscriber(billing, "12345678")).wallet_tvu == 10
    await assert_books_balance(billing)


async def test_fifty_concurrent_copies_sell_once(billing):
    await add_cards(billing, "12345678")
    made = await setup_dealer(billing)
    results = await asyncio.gather(*(dealers.dealer_topup(billing, order(made, key="same", tvu=7))
                                     for _ in range(50)))
    assert sum(not r.replayed for r in results) == 1
    assert len({r.body["id"] for r in results}) == 1
    assert (await subs.show_subscriber(billing, "12345678")).wallet_tvu == 7
    assert (await dealers.show_dealer(billing, made.dealer.id))["balance"] == "KES 993.35"
    await assert_books_balance(billing)


async def test_float_race_never_oversells(billing):
    """1,000 concurrent top-ups of 1 TVU against a float for 500: exactly 500 sell."""
    await add_cards(billing, *(str(20_000_000 + i) for i in range(20)))
    made = await setup_dealer(billing, fund="KES 500", commission="0")

    async def one(i: int):
        try:
            return await dealers.dealer_topup(billing, order(made, card=str(20_000_000 + i % 20), key=f"r{i}", tvu=1))
        except InsufficientFloat:
            return None

    results = await asyncio.gather(*(one(i) for i in range(1000)))
    assert sum(r is not None for r in results) == 500
    assert (await dealers.show_dealer(billing, made.dealer.id))["balance"] == "KES 0.00"
    wallets = [(await subs.show_subscriber(billing, str(20_000_000 + i))).wallet_tvu for i in range(20)]
    assert sum(wallets) == 500
    await assert_books_balance(billing)


async def test_refusals_change_nothing(billing):
    await add_cards(billing, "12345678")
    made = await setup_dealer(billing, fund="KES 10", daily_limit="KES 20")
    with pytest.raises(InsufficientFloat):
        await dealers.dealer_topup(billing, order(made, tvu=11))
    await dealers.fund_dealer(billing, made.dealer.id, "KES 100")
    await dealers.dealer_topup(billing, order(made, key="ok", tvu=15))
    with pytest.raises(DailyLimitReached):
        await dealers.dealer_topup(billing, order(made, key="over", tvu=6))
    await dealers.set_dealer_status(billing, made.dealer.id, "suspended")
    with pytest.raises(DealerSuspended):
        await dealers.dealer_topup(billing, order(made, key="susp", tvu=1))
    await dealers.set_dealer_status(billing, made.dealer.id, "active")
    stranger = Order("dk_" + "0" * 24, "x", "h", "12345678", tvu=1)
    with pytest.raises(Unauthorized):
        await dealers.dealer_topup(billing, stranger)
    assert (await subs.show_subscriber(billing, "12345678")).wallet_tvu == 15
    shown = await dealers.show_dealer(billing, made.dealer.id)
    assert shown["balance"] == "KES 95.75"  # 110 - 15 * 0.95
    await assert_books_balance(billing)


async def test_reversal_while_unspent_then_never_again(billing):
    await add_cards(billing, "12345678")
    made = await setup_dealer(billing)
    sold = (await dealers.dealer_topup(billing, order(made, tvu=100))).body
    done = await dealers.reverse_topup(billing, sold["id"], "wrong card", operator="ops")
    assert (done["status"], done["dealer_balance"]) == ("reversed", "KES 1000.00")
    assert (await subs.show_subscriber(billing, "12345678")).wallet_tvu == 0
    with pytest.raises(AlreadyReversed):
        await dealers.reverse_topup(billing, sold["id"], "again")
    # credit spent by a renewal: the second top-up brings the wallet to the price and renews
    await dealers.dealer_topup(billing, order(made, key="b", tvu=100))
    spent = (await dealers.dealer_topup(billing, order(made, key="c", tvu=50))).body
    assert spent["renewed"]
    with pytest.raises(NotReversible):
        await dealers.reverse_topup(billing, spent["id"], "too late")
    statement = await dealers.statement_of(billing, made.dealer.id, None, None)
    assert statement["sales"] == {"count": 2, "face_value": "KES 150.00", "commission": "KES 7.50", "reversed": 1}
    assert statement["closing_balance"] == "KES 857.50"
    await assert_books_balance(billing)


async def test_transfer_down_to_a_sub_dealer_only(billing):
    master = await setup_dealer(billing, fund="KES 500")
    sub = await dealers.add_dealer(billing, "Kiosk", "KES", master_key=MASTER, parent=str(master.dealer.id))
    other = await dealers.add_dealer(billing, "Other", "KES", master_key=MASTER)
    await dealers.transfer_float(billing, master.dealer.id, sub.dealer.id, "KES 200")
    with pytest.raises(InsufficientFloat):
        await dealers.transfer_float(billing, master.dealer.id, sub.dealer.id, "KES 300.01")
    with pytest.raises(InvalidInput):
        await dealers.transfer_float(billing, master.dealer.id, other.dealer.id, "KES 1")
    with pytest.raises(InvalidInput):
        await dealers.transfer_float(billing, sub.dealer.id, master.dealer.id, "KES 1")
    balances = {d.id: d.balance_minor for d in await dealers.list_dealers(billing)}
    assert balances == {master.dealer.id: 30000, sub.dealer.id: 20000, other.dealer.id: 0}
    report = {line["id"]: line for line in await dealers.report(billing)}
    assert (report[1]["funded"], report[1]["transferred_out"], report[2]["transferred_in"]) == (
        "KES 500.00", "KES 200.00", "KES 200.00")
    await assert_books_balance(billing)


async def test_key_rotation_keeps_two_valid(billing):
    made = await setup_dealer(billing)
    second = await dealers.rotate_key(billing, made.dealer.id, master_key=MASTER)
    for key in (made.key_id, second.key_id):
        assert (await billing.db.read(dealer_store.authenticate, key)).id == made.dealer.id
    third = await dealers.rotate_key(billing, made.dealer.id, master_key=MASTER)
    assert third.revoked == (made.key_id,)
    with pytest.raises(Unauthorized):
        await billing.db.read(dealer_store.authenticate, made.key_id)
    fourth = await dealers.rotate_key(billing, made.dealer.id, master_key=MASTER, revoke_old=True)
    assert set(fourth.revoked) == {second.key_id, third.key_id}
    assert fourth.secret == dealers.derive_secret(MASTER, fourth.key_id) != third.secret


async def test_adding_a_dealer_needs_the_master_key(billing):
    with pytest.raises(InvalidInput, match="dealers.secret_key"):
        await dealers.add_dealer(billing, "Shop", "KES", master_key="")
    with pytest.raises(UnknownDealer):
        await dealers.add_dealer(billing, "Shop", "KES", master_key=MASTER, parent="99")
    assert await dealers.list_dealers(billing) == []


async def test_cards_activated_for_a_dealer_must_name_one_and_count_in_its_statement(billing):
    shop = dataclasses.replace(billing, pins=PinPolicy(current=PinKey(1, b"test-pin-key-0123456789abcdef")))
    made = await setup_dealer(shop)
    await cards.generate_batch(shop, name="NOV26", count=5, tvu=50, sink=lambda rows: None)
    with pytest.raises(UnknownDealer):
        await cards.activate_cards(shop, "NOV26", dealer="999")
    await cards.activate_cards(shop, "NOV26", dealer=str(made.dealer.id))
    statement = await dealers.statement_of(shop, made.dealer.id, None, None)
    assert statement["cards"] == {"activated": 5, "value_tvu": 250}
    report = await dealers.report(shop)
    assert (report[0]["cards_activated"], report[0]["cards_value_tvu"]) == (5, 250)
    await assert_books_balance(shop)
