"""Receipts: a credited payment tells the subscriber the amount, the currency, the provider's
reference and the new expiry, in their language (SQLite and PostgreSQL)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from billing_core import payments, subscriptions
from billing_core.db.payment_store import PaymentNotice
from billing_core.db.schema import outbox
from billing_core.money import Money
from tv_notify.texts import day

CARD = "50000001"


async def texts(billing, kind: str) -> list[str]:
    rows = await billing.db.read(lambda c: c.execute(select(outbox.c.payload).where(
        outbox.c.card == CARD, outbox.c.kind == kind).order_by(outbox.c.id)).all())
    return [json.loads(r.payload)["text"] for r in rows]


@pytest.mark.parametrize("lang, words", [("en", "Paid"), ("fr", "Paye"), ("sw", "Umelipa")])
async def test_a_renewing_payment_sends_a_receipt_by_sms_and_on_screen(billing, lang, words):
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 150, ("101",))
    await subscriptions.add_subscriber(billing, CARD, "+254712345678", package="BASIC", lang=lang)

    await payments.record_payment(billing, PaymentNotice("mpesa", "QAB1234567", CARD, Money(20000, "KES")))

    expiry = day((await subscriptions.show_subscriber(billing, CARD)).expires_at)
    [sms] = await texts(billing, "sms.send")
    [osd] = await texts(billing, "osd.message")
    assert sms == osd
    assert sms.startswith(f"{words} KES 200.00 ") and "QAB1234567" in sms and expiry in sms


async def test_a_payment_that_does_not_renew_sends_a_receipt_with_the_price_missing(billing):
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 150, ("101",))
    await subscriptions.add_subscriber(billing, CARD, "+254712345678", package="BASIC", lang="en")

    await payments.record_manual(billing, CARD, "KES 100", "cash", "AGENCY-RECEIPT-000123456789", operator="ann")

    [sms] = await texts(billing, "sms.send")
    assert sms == "Paid KES 100.00 ref AGENCY-RECEIPT-000..: 100 TVU on card 50000001. Wallet 100 TVU. " \
                  "Basic needs 150 TVU."
