"""The operator's reports against figures worked out by hand, on SQLite and PostgreSQL.

The story (operator time zone Africa/Nairobi, UTC+3):
- T1 = 2027-01-15 20:30Z (23:30 local, the 15th): A pays KES 200 (M-Pesa), D pays KES 150
  (M-Pesa), C pays UGX 10000 (MTN, 50 UGX per TVU = 200 TVU); each renews BASIC (150 TVU).
- T2 = 2027-01-15 21:30Z (00:30 local, already the 16th): B pays KES 50 (M-Pesa) and KES 10.55
  cash (10 TVU, 55 cents rounding); KES 30 by Airtel for an unknown card is held, then
  assigned to B; a dealer sells C KES 100 (100 TVU) at its "Main" site in region Coast.
- S = T1 + 30 days + 60 s: the expiry sweep renews C from its wallet and expires A and D.
- S + 2 days: A pays KES 200 again and renews (won back); D never comes back (churn).
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from billing_core import dealers, payments, reports
from billing_core import subscriptions as subs
from billing_core.db import subscriber_store
from billing_core.db.payment_store import PaymentNotice
from billing_core.money import Money
from billing_core.renewal import DAY_S

TZ = "Africa/Nairobi"
T1 = int(datetime(2027, 1, 15, 20, 30, tzinfo=timezone.utc).timestamp())
T2 = int(datetime(2027, 1, 15, 21, 30, tzinfo=timezone.utc).timestamp())
S = T1 + 30 * DAY_S + 60
A, B, C, D = "12345678", "23456789", "34567890", "45678901"
MASTER = "m" * 32


async def pay(billing, clock, at, provider, txid, card, amount):
    clock.now = at
    return await payments.record_payment(billing, PaymentNotice(provider, txid, card, Money.parse(amount),
                                                                received_at=at))


@pytest.fixture
async def story(billing, clock):
    clock.now = T1 - 3600
    await subs.add_package(billing, "BASIC", "Basic", 30, 150)
    for card, phone in ((A, "0712000001"), (B, "0712000002"), (C, "0712000003"), (D, "0712000004")):
        await subs.add_subscriber(billing, card, phone, package="BASIC")
    await pay(billing, clock, T1, "mpesa", "TXA1", A, "KES 200")
    await pay(billing, clock, T1, "mpesa", "TXD1", D, "KES 150")
    await pay(billing, clock, T1, "mtn", "TXC1", C, "UGX 10000")
    await pay(billing, clock, T2, "mpesa", "TXB1", B, "KES 50")
    await payments.record_manual(billing, B, "KES 10.55", "cash", "R-1", operator="clerk")
    held = await pay(billing, clock, T2, "airtel", "TXH1", "99999999", "KES 30")
    assert held.status == "suspense"
    await payments.assign_payment(billing, "airtel:TXH1", B, operator="ops")
    creds = await dealers.add_dealer(billing, "Corner shop", "KES", master_key=MASTER, site="Main", region="Coast")
    await dealers.fund_dealer(billing, creds.dealer.id, "KES 1000")
    order = dealers.parse_order(billing, {"card": C, "amount": "KES 100", "site": "Main"}, key_id=creds.key_id,
                                idempotency_key="k1", body_hash="h1")
    await dealers.dealer_topup(billing, order, timezone=TZ)
    clock.now = S
    swept = await billing.db.write(subscriber_store.sweep_expiry_batch, S, 0, 100)
    assert (swept["renewed"], swept["expired"]) == (1, 2)
    await pay(billing, clock, S + 2 * DAY_S, "mpesa", "TXA2", A, "KES 200")
    clock.now = S + 10 * DAY_S
    return billing


def rows(lines):
    return [line.to_json() for line in lines]


def slim(lines, *keys):
    return [{k: r[k] for k in (*keys, "currency", "count", "amount_minor", "tvu")} for r in rows(lines)]


async def test_sales(story):
    """One story, several cuts of it (each cut costs a fresh database otherwise)."""
    await sales_by_day_follow_the_operators_time_zone(story)
    await sales_never_add_currencies_and_filter_by_one(story)
    await sales_by_provider_dealer_package_and_region(story)
    await a_period_is_local_days_and_to_is_excluded(story)


async def test_renewals_and_expiring(story, clock):
    await renewals_against_expiries_and_churn(story)
    await expiring_lists_what_ends_within_the_days(story, clock)


async def sales_by_day_follow_the_operators_time_zone(story):
    lines = await reports.sales_report(story, since=T1 - DAY_S, until=T1 + DAY_S, by=["day", "channel"],
                                       timezone=TZ)
    assert slim(lines, "day", "channel") == [
        {"day": "2027-01-15", "channel": "mpesa", "currency": "KES", "count": 2, "amount_minor": 35000, "tvu": 350},
        {"day": "2027-01-15", "channel": "mtn", "currency": "UGX", "count": 1, "amount_minor": 10000, "tvu": 200},
        {"day": "2027-01-16", "channel": "airtel", "currency": "KES", "count": 1, "amount_minor": 3000, "tvu": 30},
        {"day": "2027-01-16", "channel": "cash", "currency": "KES", "count": 1, "amount_minor": 1055, "tvu": 10},
        {"day": "2027-01-16", "channel": "dealer", "currency": "KES", "count": 1, "amount_minor": 10000, "tvu": 100},
        {"day": "2027-01-16", "channel": "mpesa", "currency": "KES", "count": 1, "amount_minor": 5000, "tvu": 50},
    ]
    utc = await reports.sales_report(story, since=T1 - DAY_S, until=T1 + DAY_S, by=["day"], timezone="UTC")
    assert [(r["day"], r["currency"], r["amount_minor"]) for r in rows(utc)] == [
        ("2027-01-15", "KES", 54055), ("2027-01-15", "UGX", 10000)]


async def sales_never_add_currencies_and_filter_by_one(story):
    lines = await reports.sales_report(story, by=["channel"], timezone=TZ)
    totals = {ccy: (t.count, t.amount_minor, t.tvu) for ccy, t in reports.sales_totals(lines).items()}
    assert totals == {"KES": (7, 74055, 740), "UGX": (1, 10000, 200)}
    assert rows(lines)[-1]["amount"] == "UGX 10000"
    kes = await reports.sales_report(story, by=["channel"], currency="kes", timezone=TZ)
    assert {r["channel"]: r["amount_minor"] for r in rows(kes)} == {
        "airtel": 3000, "cash": 1055, "dealer": 10000, "mpesa": 60000}


async def sales_by_provider_dealer_package_and_region(story):
    period = {"since": T1 - DAY_S, "until": T1 + DAY_S, "timezone": TZ, "region": "KE"}
    by_dealer = await reports.sales_report(story, by=["dealer"], **period)
    assert slim(by_dealer, "dealer") == [
        {"dealer": "-", "currency": "KES", "count": 5, "amount_minor": 44055, "tvu": 440},
        {"dealer": "-", "currency": "UGX", "count": 1, "amount_minor": 10000, "tvu": 200},
        {"dealer": "Corner shop", "currency": "KES", "count": 1, "amount_minor": 10000, "tvu": 100}]
    by_region = await reports.sales_report(story, by=["region"], currency="KES", **period)
    assert [(r["region"], r["amount_minor"]) for r in rows(by_region)] == [("Coast", 10000), ("KE", 44055)]
    by_package = await reports.sales_report(story, by=["package", "provider"], currency="UGX", **period)
    assert [(r["package"], r["provider"], r["tvu"]) for r in rows(by_package)] == [("BASIC", "mtn", 200)]


async def a_period_is_local_days_and_to_is_excluded(story):
    since, until = reports.local_period("2027-01-16", "2027-01-17", TZ)
    assert since == T2 - 30 * 60 and until == since + DAY_S
    lines = await reports.sales_report(story, since=since, until=until, by=[], timezone=TZ)
    assert {ccy: t.amount_minor for ccy, t in reports.sales_totals(lines).items()} == {"KES": 19055}


async def renewals_against_expiries_and_churn(story):
    lines = await reports.renewals_report(story, churn_days=7, timezone=TZ)
    assert [line.to_json() for line in lines] == [
        {"day": "2027-01-15", "renewals": 3, "renewal_tvu": 450, "by_credit": 3, "explicit": 0, "at_expiry": 0,
         "expiries": 0, "won_back": 0, "churned": 0, "open": 0},
        {"day": "2027-02-14", "renewals": 1, "renewal_tvu": 150, "by_credit": 0, "explicit": 0, "at_expiry": 1,
         "expiries": 2, "won_back": 1, "churned": 1, "open": 0},
        {"day": "2027-02-16", "renewals": 1, "renewal_tvu": 150, "by_credit": 1, "explicit": 0, "at_expiry": 0,
         "expiries": 0, "won_back": 0, "churned": 0, "open": 0}]
    longer = await reports.renewals_report(story, by="package", churn_days=30, timezone=TZ)
    assert [(r.key, r.renewals, r.expiries, r.won_back, r.churned, r.open) for r in longer] == [
        ("BASIC", 5, 2, 1, 0, 1)]


async def expiring_lists_what_ends_within_the_days(story, clock):
    clock.now = S + 25 * DAY_S
    soon = await reports.expiring_report(story, days=6)
    assert [(e.card, e.days_left, e.wallet_tvu, e.renews) for e in soon] == [(C, 5, 0, False)]
    week = await reports.expiring_report(story, days=7)
    assert [(e.card, e.days_left, e.wallet_tvu) for e in week] == [(C, 5, 0), (A, 7, 100)]  # 50 left + 200 - 150


async def test_bad_grouping_or_period_is_refused(billing):
    from billing_core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        await reports.sales_report(billing, by=["colour"])
    with pytest.raises(InvalidInput):
        reports.local_period("15/01/2027", None, TZ)
    with pytest.raises(InvalidInput):
        await reports.expiring_report(billing, days=0)
