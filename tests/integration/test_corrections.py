"""Payment corrections on SQLite and PostgreSQL: reversals, cheques, refunds.

After every money-changing call the trial balance is checked: every unit sums to zero.
"""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from billing_core import corrections, payments, reports, subscriptions
from billing_core.audit import Actor
from billing_core.db.payment_store import PaymentNotice
from billing_core.db.schema import outbox
from billing_core.db.schema_admin import audit_log
from billing_core.db.schema_care import payment_corrections
from billing_core.errors import AlreadyReversed, Conflict, InsufficientWallet, InvalidInput, NotFound
from billing_core.money import Money
from billing_core.renewal import DAY_S

CARD = "20000001"
PHONE = "+254712345678"
ANN = Actor("ann")


async def balanced(billing) -> dict[tuple[str, str], int]:
    """The trial balance as {(account, unit): balance}, after checking every unit sums to zero."""
    lines = await reports.trial_balance(billing)
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.unit] = totals.get(line.unit, 0) + line.balance
    assert all(t == 0 for t in totals.values()), totals
    return {(line.account, line.unit): line.balance for line in lines}


async def setup(billing, *, price: int = 150) -> None:
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, price, ("101", "102"))
    await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC", lang="en")


async def pay(billing, txid: str, kes: int, provider: str = "mpesa", card: str = CARD):
    return await payments.record_payment(billing, PaymentNotice(provider, txid, card, Money(kes * 100, "KES")))


async def show(billing):
    return await subscriptions.show_subscriber(billing, CARD)


async def count(billing, table, *where) -> int:
    return await billing.db.read(lambda c: c.execute(select(func.count()).select_from(table).where(*where))
                                 .scalar_one())


async def test_reversal_undoes_an_unused_renewal_and_revokes(billing, clock):
    await setup(billing)
    paid = await pay(billing, "QAB1234567", 200)  # 200 TVU: renews BASIC (150), 50 left
    assert paid.renewed and (await show(billing)).status == "active"
    events_before = await count(billing, outbox)
    clock.advance(3600)

    done = await corrections.reverse_payment(billing, "QAB1234567", reason="M-Pesa reversal", actor=ANN)

    assert (done.renewal_undone, done.shortfall_tvu, done.wallet_tvu, done.status) == (True, 0, 0, "new")
    sub = await show(billing)
    assert (sub.wallet_tvu, sub.status, sub.expires_at) == (0, "new", None)  # as before its first payment
    book = await balanced(billing)
    assert ("cash:mpesa", "KES") not in book and ("sales:tvu", "KES") not in book  # all of it mirrored
    kinds = await billing.db.read(lambda c: [r.kind for r in c.execute(
        select(outbox.c.kind).order_by(outbox.c.id)).all()][events_before:])
    assert kinds[0] == "entitlement.revoke" and "osd.message" in kinds and "sms.send" in kinds
    assert await count(billing, audit_log, audit_log.c.action == "payment.reverse") == 1


async def test_reversal_of_a_renewal_after_a_lapse_leaves_the_card_expired(billing, clock):
    await setup(billing)
    await pay(billing, "QAB1234567", 150)
    clock.advance(31 * DAY_S)  # lapsed
    await pay(billing, "QAB7654321", 150)  # renews again
    clock.advance(60)

    done = await corrections.reverse_payment(billing, "QAB7654321", reason="M-Pesa reversal", actor=ANN)

    sub = await show(billing)
    assert (done.renewal_undone, sub.status, sub.expires_at, sub.wallet_tvu) == (True, "expired", clock.now - 60, 0)
    await balanced(billing)


async def test_reversal_keeps_a_used_renewal_and_is_refused_when_the_wallet_cannot_cover(billing, clock):
    await setup(billing)
    await pay(billing, "QAB1234567", 200)
    clock.advance(2 * DAY_S)  # the renewal's days are being watched: it stands
    before = await balanced(billing)

    with pytest.raises(InsufficientWallet, match="150 TVU missing"):
        await corrections.reverse_payment(billing, "QAB1234567", reason="reversal", actor=ANN)

    assert await balanced(billing) == before  # nothing changed
    assert await count(billing, payment_corrections) == 0
    assert (await show(billing)).wallet_tvu == 50


async def test_negative_wallet_when_allowed_and_the_next_topup_pays_the_debt(billing, clock):
    await setup(billing)
    await pay(billing, "QAB1234567", 200)
    clock.advance(2 * DAY_S)

    done = await corrections.reverse_payment(billing, "QAB1234567", reason="reversal", actor=ANN,
                                             allow_negative=True)

    assert (done.renewal_undone, done.shortfall_tvu, done.wallet_tvu) == (False, 150, -150)
    assert (await show(billing)).status == "active"  # the days watched stay
    await balanced(billing)
    await pay(billing, "QAB7654321", 200)
    assert (await show(billing)).wallet_tvu == 50
    await balanced(billing)


async def test_reversing_twice_or_unknown_is_refused_and_changes_nothing(billing, clock):
    await setup(billing)
    await pay(billing, "QAB1234567", 100)  # 100 TVU, not enough to renew
    await corrections.reverse_payment(billing, "mpesa:QAB1234567", reason="reversal", actor=ANN)
    before = await balanced(billing)

    with pytest.raises(AlreadyReversed):
        await corrections.reverse_payment(billing, "QAB1234567", reason="again", actor=ANN)
    with pytest.raises(NotFound):
        await corrections.reverse_payment(billing, "NOSUCHTX01", reason="typo", actor=ANN)
    with pytest.raises(InvalidInput):
        await corrections.reverse_payment(billing, "QAB1234567", reason=" ", actor=ANN)

    assert await balanced(billing) == before
    assert await count(billing, payment_corrections) == 1


async def test_two_parallel_reversals_reverse_once(billing, clock):
    await setup(billing)
    await pay(billing, "QAB1234567", 100)

    results = await asyncio.gather(
        *(corrections.reverse_payment(billing, "QAB1234567", reason=f"r{i}", actor=ANN) for i in range(2)),
        return_exceptions=True)

    assert sorted(type(r).__name__ for r in results) == ["AlreadyReversed", "Correction"]
    assert (await show(billing)).wallet_tvu == 0
    book = await balanced(billing)
    assert ("wallet:" + CARD, "TVU") not in book


async def test_reversal_of_an_assigned_payment_returns_the_money_to_its_channel(billing):
    await setup(billing)
    await pay(billing, "QAB1234567", 100, card="99999999")  # unknown card: suspense
    await payments.assign_payment(billing, "QAB1234567", CARD, operator="ann")

    await corrections.reverse_payment(billing, "QAB1234567", reason="wrong payer", actor=ANN)

    book = await balanced(billing)
    assert ("suspense:payments", "KES") not in book and ("cash:mpesa", "KES") not in book


async def test_a_suspense_payment_is_not_reversed(billing):
    await setup(billing)
    await pay(billing, "QAB1234567", 100, card="99999999")
    with pytest.raises(Conflict, match="suspense"):
        await corrections.reverse_payment(billing, "QAB1234567", reason="x", actor=ANN)
    await balanced(billing)


# ---- cheques --------------------------------------------------------------------------------

async def test_a_held_cheque_credits_nothing_until_it_clears(billing):
    await setup(billing)
    held = await corrections.hold_cheque(billing, CARD, "KES 200", "CHQ-001", actor=ANN)
    again = await corrections.hold_cheque(billing, CARD, "KES 200", "CHQ-001", actor=ANN)
    assert (held["status"], held["duplicate"], again["duplicate"]) == ("held", False, True)
    assert (await show(billing)).wallet_tvu == 0 and await balanced(billing) == {}

    cleared = await corrections.clear_cheque(billing, "CHQ-001", actor=ANN)

    assert (cleared["status"], cleared["payment"]["status"], cleared["payment"]["renewed"]) == \
        ("cleared", "credited", True)
    assert (await show(billing)).status == "active"
    await balanced(billing)
    with pytest.raises(Conflict, match="cleared"):
        await corrections.clear_cheque(billing, "CHQ-001", actor=ANN)


async def test_a_held_cheque_that_bounces_is_closed_and_moves_nothing(billing):
    await setup(billing)
    await corrections.hold_cheque(billing, CARD, "KES 200", "CHQ-002", actor=ANN)

    bounced = await corrections.bounce_cheque(billing, "CHQ-002", actor=ANN)

    assert (bounced["status"], bounced["reversal"]) == ("bounced", None)
    assert await balanced(billing) == {}
    with pytest.raises(Conflict):
        await corrections.clear_cheque(billing, "CHQ-002", actor=ANN)
    with pytest.raises(Conflict, match="bounced already"):
        await corrections.bounce_cheque(billing, "CHQ-002", actor=ANN)


async def test_a_cleared_cheque_that_bounces_is_reversed(billing, clock):
    await setup(billing)
    await corrections.hold_cheque(billing, CARD, "KES 200", "CHQ-003", actor=ANN)
    await corrections.clear_cheque(billing, "CHQ-003", actor=ANN)
    clock.advance(600)

    bounced = await corrections.bounce_cheque(billing, "CHQ-003", actor=ANN)

    assert bounced["status"] == "bounced" and bounced["reversal"]["renewal_undone"] is True
    assert (await show(billing)).wallet_tvu == 0
    book = await balanced(billing)
    assert ("cash:cheque", "KES") not in book


async def test_cheque_refusals_change_nothing(billing):
    await setup(billing)
    with pytest.raises(NotFound):
        await corrections.clear_cheque(billing, "CHQ-404", actor=ANN)
    with pytest.raises(NotFound):
        await corrections.bounce_cheque(billing, "CHQ-404", actor=ANN)
    with pytest.raises(NotFound):  # unknown card
        await corrections.hold_cheque(billing, "20009999", "KES 200", "CHQ-005", actor=ANN)
    assert await corrections.held_cheques(billing) == []


# ---- refunds --------------------------------------------------------------------------------

async def test_a_suspense_payment_is_refunded_then_paid_out(billing):
    await setup(billing)
    await pay(billing, "QAB1234567", 100, card="99999999")

    owed = await corrections.refund_payment(billing, "QAB1234567", actor=ANN)
    assert (owed["status"], owed["amount"], owed["method"]) == ("payable", "KES 100.00", "mpesa")
    assert (await balanced(billing))[("refunds:payable", "KES")] == -10000

    paid = await corrections.pay_refund(billing, owed["id"], ref="B2C-77", actor=ANN)

    assert (paid["status"], paid["paid_ref"], paid["paid_by"]) == ("paid", "B2C-77", "ann")
    assert await balanced(billing) == {}  # the money came in and went back out
    with pytest.raises(Conflict, match="paid"):
        await corrections.pay_refund(billing, owed["id"], ref="B2C-78", actor=ANN)
    assert [r["status"] for r in await corrections.list_refunds(billing)] == ["paid"]


async def test_a_credited_payment_is_refunded_from_the_wallet(billing, clock):
    await setup(billing)
    await pay(billing, "QAB1234567", 100)  # 100 TVU in the wallet, no renewal

    owed = await corrections.refund_payment(billing, "QAB1234567", actor=ANN, reason="customer left")

    assert owed["status"] == "payable" and (await show(billing)).wallet_tvu == 0
    book = await balanced(billing)
    assert book[("refunds:payable", "KES")] == -10000 and book[("cash:mpesa", "KES")] == 10000
    assert [r["id"] for r in await corrections.list_refunds(billing, "payable")] == [owed["id"]]
    with pytest.raises(AlreadyReversed):
        await corrections.reverse_payment(billing, "QAB1234567", reason="and reversed", actor=ANN)
    await corrections.pay_refund(billing, owed["id"], ref="BANK-9", actor=ANN)
    assert await balanced(billing) == {}
    with pytest.raises(NotFound):
        await corrections.pay_refund(billing, 999, ref="BANK-9", actor=ANN)


async def test_a_corrected_payment_is_no_longer_a_sale(billing):
    await setup(billing, price=1000)
    await pay(billing, "QAB1234567", 100)
    await pay(billing, "QAB7654321", 50)
    assert [line.amount_minor for line in await reports.sales_report(billing)] == [15000]

    await corrections.reverse_payment(billing, "QAB1234567", reason="reversal", actor=ANN)

    assert [line.amount_minor for line in await reports.sales_report(billing)] == [5000]


async def test_a_payment_to_a_card_since_swapped_is_reversed_on_the_new_card(billing, clock):
    from billing_core import stock

    await setup(billing)
    await pay(billing, "QAB1234567", 100)
    await stock.swap_card(billing, CARD, "20000099", reason="broken", by="ann")

    done = await corrections.reverse_payment(billing, "QAB1234567", reason="reversal", actor=ANN, card="20000099")

    assert (done.card, done.wallet_tvu) == ("20000099", 0)
    await balanced(billing)
    with pytest.raises(Conflict, match="not a payment of card"):
        await corrections.reverse_payment(billing, "QAB1234567", reason="x", actor=ANN, card=CARD)
