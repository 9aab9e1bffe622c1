"""Guards on the one payment path, on SQLite and PostgreSQL: a repeat of a transaction id
that differs from the first is flagged (never credited), a payment above
``payments.max_amount`` is held (never credited, never lost, assignable once confirmed),
and no report sum overflows, however large the amounts."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import logging
import re

import pytest
from sqlalchemy import insert

from billing_core import admin_users, payments, reports
from billing_core import subscriptions as subs
from billing_core.context import max_amounts
from billing_core.db.payment_store import ABOVE_MAX, PaymentNotice
from billing_core.db.schema import account_balances, accounts, payments as payments_table
from billing_core.errors import Conflict
from billing_core.money import Money
from gateway.keys import BILLING

CARD, OTHER, PHONE = "12345678", "23456789", "+254712345678"
HUGE = "KES 999999999999999.00"  # the largest amount a provider string may carry
LIMITS = max_amounts(("KES 250000.00", "UGX 7000000"))


@pytest.fixture
async def shop(billing):
    """Two subscribers on a package dearer than any test payment (so wallets show every credit)."""
    limited = dataclasses.replace(billing, max_amounts=LIMITS)
    await subs.add_package(limited, "BASIC", "Basic", 30, 10**9)
    await subs.add_subscriber(limited, CARD, PHONE, package="BASIC")
    await subs.add_subscriber(limited, OTHER, "+254712345679", package="BASIC")
    return limited


def notice(txid: str, amount: str, card: str = CARD, provider: str = "mpesa") -> PaymentNotice:
    return PaymentNotice(provider, txid, card, Money.parse(amount), msisdn=PHONE)


async def wallet(billing, card: str = CARD) -> int:
    return (await subs.show_subscriber(billing, card)).wallet_tvu


async def balanced(billing) -> None:
    totals: dict[str, int] = {}
    for line in await reports.trial_balance(billing):
        totals[line.unit] = totals.get(line.unit, 0) + line.balance
    assert all(v == 0 for v in totals.values()), totals


# ---- a transaction id repeated with another amount or card ----------------------------------------

async def test_a_repeat_that_differs_credits_nothing_and_is_flagged_once(shop, caplog):
    first = await payments.record_payment(shop, notice("RKTQDM7W6S", "KES 500"))
    assert (first.status, first.conflict) == ("credited", False)
    same = await payments.record_payment(shop, notice("RKTQDM7W6S", "KES 500"))
    assert (same.duplicate, same.conflict) == (True, False)
    assert await payments.conflicts(shop) == []
    with caplog.at_level(logging.INFO, logger="tvtopup.payments"):
        for _ in range(3):  # the provider retries the odd repeat: one row
            other = await payments.record_payment(shop, notice("RKTQDM7W6S", "KES 90000", card=OTHER))
            assert (other.duplicate, other.conflict, other.card, other.amount) == \
                (True, True, CARD, Money(50000, "KES"))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3 and OTHER in warnings[0].getMessage()
    assert PHONE not in caplog.text and "+2547*****678" in caplog.text
    await payments.record_payment(shop, notice("RKTQDM7W6S", "KES 500", card=OTHER))  # another card only
    flagged = await payments.conflicts(shop)
    assert [(c.txid, c.account, str(c.amount), str(c.first_amount), c.first_account) for c in flagged] == [
        ("RKTQDM7W6S", OTHER, "KES 90000.00", "KES 500.00", CARD),
        ("RKTQDM7W6S", OTHER, "KES 500.00", "KES 500.00", CARD)]
    assert flagged[0].to_json()["status"] == "conflict"
    assert (await wallet(shop), await wallet(shop, OTHER)) == (500, 0)
    await balanced(shop)


async def test_two_conflicting_confirmations_in_parallel_credit_one_and_flag_the_other(shop):
    amounts = ["KES 700", "KES 1300"] * 5
    done = await asyncio.gather(*(payments.record_payment(shop, notice("RKTQDM7W6T", a)) for a in amounts))
    credited = [p for p in done if not p.duplicate]
    assert len(credited) == 1 and credited[0].status == "credited"
    winner = credited[0].amount
    assert all(p.amount == winner for p in done)  # every answer is the first payment
    loser = "KES 1300.00" if winner == Money(70000, "KES") else "KES 700.00"
    assert [str(c.amount) for c in await payments.conflicts(shop)] == [loser]
    assert sum(p.conflict for p in done) == 5
    assert await wallet(shop) == winner.minor // 100
    await balanced(shop)


async def test_every_provider_path_flags_a_differing_repeat(shop):
    for provider in ("mtn", "airtel", "africastalking"):
        await payments.record_payment(shop, notice(f"{provider}-1", "KES 100", provider=provider))
        again = await payments.record_payment(shop, notice(f"{provider}-1", "KES 101", provider=provider))
        assert again.conflict
    assert sorted(c.provider for c in await payments.conflicts(shop)) == ["africastalking", "airtel", "mtn"]
    assert await wallet(shop) == 300


# ---- payments.max_amount ------------------------------------------------------------------------------

async def test_a_payment_above_the_maximum_is_held_never_credited_and_assigned_once_confirmed(shop):
    at_limit = await payments.record_payment(shop, notice("RKTQDM7W61", "KES 250000.00"))
    assert at_limit.status == "credited"
    above = await payments.record_payment(shop, notice("RKTQDM7W62", "KES 250000.01"))
    assert (above.status, above.reason, above.tvu) == ("suspense", ABOVE_MAX, 0)
    assert await wallet(shop) == 250000
    held = {p.txid: p for p in await payments.suspense(shop)}
    assert held["RKTQDM7W62"].reason == ABOVE_MAX
    with pytest.raises(Conflict, match="max_amount"):
        await payments.assign_payment(shop, "RKTQDM7W62", CARD, operator="ops")
    assigned = await payments.assign_payment(shop, "RKTQDM7W62", CARD, operator="ops", confirmed=True)
    assert (assigned.status, assigned.tvu) == ("assigned", 250000)
    assert await wallet(shop) == 500000
    await balanced(shop)


async def test_a_hundred_and_twenty_absurd_payments_are_held_and_every_report_still_adds_up(shop, clock):
    for i in range(120):
        held = await payments.record_payment(shop, notice(f"HUGE{i:06d}", HUGE))
        assert (held.status, held.reason) == ("suspense", ABOVE_MAX)
    assert await wallet(shop) == 0
    assert len(await payments.suspense(shop)) == 120
    await balanced(shop)  # held above the maximum: not in the ledger until an operator confirms
    lines = await reports.sales_report(shop, by=("day", "channel"))
    assert all(line.amount_minor < 10**12 for line in lines)
    refund = await payments.refund_payment(shop, "HUGE000000", operator="ops", confirmed=True)
    assert refund.status == "refund"
    await balanced(shop)


async def test_sums_in_reports_are_exact_beyond_64_bits(shop, clock):
    """Rows whose sum passes 2**63 (written straight to the tables: no use case lets one
    wallet hold that much): sales, the trial balance and the dashboard's figures are exact."""
    minor = Money.parse(HUGE).minor
    rows = [{"provider": "mpesa", "provider_txid": f"BIG{i:07d}", "account_ref": CARD, "card": CARD,
             "amount_minor": minor, "currency": "KES", "tvu": minor // 100, "status": "credited",
             "received_at": clock.now, "created_at": clock.now, "updated_at": clock.now} for i in range(120)]

    def write(conn):
        conn.execute(insert(payments_table), rows)
        account = conn.execute(insert(accounts).values(code="test:big", unit="KES", slots=4, created_at=clock.now)
                               .returning(accounts.c.id)).scalar_one()
        conn.execute(insert(account_balances), [{"account_id": account, "slot": s, "balance": 2**62}
                                                for s in range(4)])

    await shop.db.write(write)
    sold = await reports.sales_report(shop, by=("channel",))
    kes = [line for line in sold if line.currency == "KES"]
    assert sum(line.amount_minor for line in kes) == 120 * minor > 2**63
    assert all(type(line.amount_minor) is int and type(line.tvu) is int for line in kes)
    assert reports.sales_totals(sold)["KES"].amount_minor == 120 * minor
    big = [line for line in await reports.trial_balance(shop) if line.account == "test:big"]
    assert [line.balance for line in big] == [2**64]


# ---- what the operator sees: report suspense, the admin suspense page and dashboard ---------------------

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORD = "correct horse battery"


def cli(args, db_url):
    """``tvtopup ARGS --json`` against ``db_url``; its parsed output."""
    from gateway.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.MonkeyPatch.context() as mp:
        mp.setenv("TVTOPUP_DATABASE_URL", db_url)
        assert main([*args, "--json"]) == 0
    return json.loads(out.getvalue())


async def test_the_operator_sees_conflicts_and_confirms_a_held_amount(gateway_client, db_url):
    client = await gateway_client()
    billing = client.app[BILLING]
    assert billing.max_amounts == {"KES": 25_000_000, "UGX": 7_000_000, "TZS": 500_000_000}  # the defaults
    await subs.add_package(billing, "BASIC", "Basic", 30, 10**9)
    await subs.add_subscriber(billing, CARD, PHONE, package="BASIC")
    await admin_users.add_user(billing, "olga", "operator", PASSWORD)
    await payments.record_payment(billing, notice("RKTQDM7W6S", "KES 500"))
    await payments.record_payment(billing, notice("RKTQDM7W6S", "KES 5000", card=OTHER))
    for i in range(120):
        await payments.record_payment(billing, notice(f"HUGE{i:06d}", HUGE))

    printed = await asyncio.to_thread(cli, ["report", "suspense"], db_url)
    assert [(r["txid"], r["status"]) for r in printed if r["status"] == "conflict"] == [("RKTQDM7W6S", "conflict")]
    assert sum(r["reason"] == ABOVE_MAX for r in printed) == 120
    ledger = await asyncio.to_thread(cli, ["report", "ledger"], db_url)
    assert all(abs(line["balance"]) < 10**9 for line in ledger)

    page = await client.get("/admin/login")
    token = CSRF.search(await page.text()).group(1)
    resp = await client.post("/admin/login", data={"csrf": token, "name": "olga", "password": PASSWORD},
                             allow_redirects=False)
    assert resp.status == 303
    assert (await client.get("/admin")).status == 200  # the dashboard sums without overflow
    page = await (await client.get("/admin/suspense")).text()
    assert re.search(rf'<table id="conflicts">.*data-txid="mpesa:RKTQDM7W6S".*{OTHER}.*KES 5000.00.*'
                     rf'KES 500.00 for {CARD}', page, re.S)
    token = CSRF.search(page).group(1)
    form = {"csrf": token, "txid": "mpesa:HUGE000000", "card": CARD}
    refused = await client.post("/admin/suspense/assign", data=form)
    assert refused.status == 409 and "max_amount" in await refused.text()
    assert await wallet(billing) == 500
    done = await client.post("/admin/suspense/assign", data={**form, "confirm_amount": "1"})
    assert done.status == 200 and done.url.path == f"/admin/subscribers/{CARD}"
    assert await wallet(billing) == 500 + Money.parse(HUGE).minor // 100 - 10**9  # less the renewal it paid
    assert (await client.get("/admin")).status == 200
    await balanced(billing)
