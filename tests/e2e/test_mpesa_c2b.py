"""M-Pesa C2B through the running app's HTTP contract, on SQLite and on PostgreSQL.

Payloads are Daraja's documented C2B example with our card as the account.
"""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

from sqlalchemy import func, select

from billing_core import payments, reports, subscriptions
from billing_core.db import outbox_store
from billing_core.db import payment_store as store
from billing_core.db.schema import journal_entries, payment_requests
from billing_core.db.schema import payments as payments_table
from billing_core.renewal import DAY_S
from gateway.keys import BILLING
from tv_notify.events import GRANT, OSD, SMS

VALIDATION = "/mobile-money/daraja/c2b/validation"
CONFIRMATION = "/mobile-money/daraja/c2b/confirmation"
STK = "/mobile-money/daraja/stk/callback"
CARD, PHONE = "10000001", "+254712345678"
TXID = "RKTQDM7W6S"
PRICE, DAYS = 300, 30
ACK = {"ResultCode": 0, "ResultDesc": "Success"}
TRANS_TIME = "20270115103000"  # Nairobi time: 07:30:00 UTC


def daraja(**changes) -> dict:
    """Daraja's documented C2B payload (confirmation: OrgAccountBalance filled)."""
    doc = {"TransactionType": "Pay Bill", "TransID": TXID, "TransTime": TRANS_TIME, "TransAmount": "500.00",
           "BusinessShortCode": "600638", "BillRefNumber": CARD, "InvoiceNumber": "", "OrgAccountBalance": "49197.00",
           "ThirdPartyTransID": "", "MSISDN": "25470****149", "FirstName": "John", "MiddleName": "", "LastName": "Doe"}
    doc.update(changes)
    return doc


async def subscriber(billing, card: str = CARD) -> None:
    await subscriptions.add_package(billing, "BASIC", "Basic bouquet", DAYS, PRICE, ("p1",))
    await subscriptions.add_subscriber(billing, card, PHONE, package="BASIC", name="Wanjiku")


async def stored(billing) -> dict[str, int]:
    """How many payments, payment requests and journal entries exist."""
    def count(conn):
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (payments_table, payment_requests, journal_entries)}

    return await billing.db.read(count)


async def balanced(billing) -> bool:
    totals: dict[str, int] = {}
    for line in await reports.trial_balance(billing):
        totals[line.unit] = totals.get(line.unit, 0) + line.balance
    return all(total == 0 for total in totals.values())


async def post(client, path: str, doc: dict, **params):
    resp = await client.post(path, json=doc, params=params)
    return resp.status, await resp.json()


# ---- validation -------------------------------------------------------------------------------

async def test_validation_accepts_a_payable_card_and_rejects_others_with_darajas_codes(gateway_client):
    client = await gateway_client()
    billing = client.app[BILLING]
    await subscriber(billing)
    before = await stored(billing)
    assert await post(client, VALIDATION, daraja()) == (200, {"ResultCode": "0", "ResultDesc": "Accepted"})
    rejected_card = (200, {"ResultCode": "C2B00012", "ResultDesc": "Rejected"})
    assert await post(client, VALIDATION, daraja(BillRefNumber="10000009")) == rejected_card
    assert await post(client, VALIDATION, daraja(BillRefNumber="invoice008")) == rejected_card
    rejected_amount = (200, {"ResultCode": "C2B00013", "ResultDesc": "Rejected"})
    # 0.50: less than one TVU; 250000.01: above payments.max_amount (KES 250,000.00), which would only be held
    for amount in ("-1", "1e3", "15.001", "0", "0.50", "250000.01", "999999999999999"):
        assert await post(client, VALIDATION, daraja(TransAmount=amount)) == rejected_amount, amount
    malformed = (400, {"ResultCode": 1, "ResultDesc": "TransID must be a string"})
    assert await post(client, VALIDATION, daraja(TransID=1234567890)) == malformed
    assert await stored(billing) == before  # validation moves nothing


# ---- confirmation -------------------------------------------------------------------------------

async def test_confirmation_credits_renews_and_writes_the_events(gateway_client, clock):
    client = await gateway_client()
    billing = client.app[BILLING]
    await subscriber(billing)
    body = json.dumps(daraja())
    resp = await client.post(CONFIRMATION, data=body, headers={"Content-Type": "application/json"})
    assert (resp.status, await resp.json()) == (200, ACK)
    sub = await subscriptions.show_subscriber(billing, CARD)
    assert (sub.status, sub.wallet_tvu, sub.expires_at) == ("active", 500 - PRICE, clock.now + DAYS * DAY_S)
    kinds = {e.kind for e in await billing.db.read(outbox_store.for_card, CARD)}
    assert {GRANT, OSD, SMS} <= kinds
    paid = await billing.db.read(store.by_txid, "mpesa", TXID)
    assert (paid.status, paid.card, paid.tvu, str(paid.amount)) == ("credited", CARD, 500, "KES 500.00")
    assert paid.received_at == int(datetime(2027, 1, 15, 7, 30, tzinfo=timezone.utc).timestamp())
    assert await balanced(billing)


async def test_unknown_card_is_held_in_suspense_then_assigned(gateway_client):
    client = await gateway_client()
    billing = client.app[BILLING]
    assert await post(client, CONFIRMATION, daraja(BillRefNumber="10000002")) == (200, ACK)
    held = await payments.suspense(billing)
    assert [(p.txid, p.account, p.reason, str(p.amount)) for p in held] == \
        [(TXID, "10000002", "unknown_card", "KES 500.00")]
    await subscriber(billing, "10000002")
    assigned = await payments.assign_payment(billing, TXID, "10000002", operator="ops")
    assert (assigned.status, assigned.tvu) == ("assigned", 500)
    assert (await subscriptions.show_subscriber(billing, "10000002")).status == "active"
    assert await payments.suspense(billing) == []
    assert await balanced(billing)


async def test_fifty_concurrent_repeats_of_one_transid_credit_once(gateway_client):
    client = await gateway_client()
    billing = client.app[BILLING]
    await subscriber(billing)
    before = await stored(billing)
    answers = await asyncio.gather(*(post(client, CONFIRMATION, daraja()) for _ in range(50)))
    assert answers == [(200, ACK)] * 50
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 500 - PRICE
    after = await stored(billing)
    assert after["payments"] == before["payments"] + 1
    assert after["journal_entries"] == before["journal_entries"] + 2  # the payment, and the renewal
    assert await balanced(billing)


# ---- refused callers and bodies -----------------------------------------------------------------

async def test_forged_callbacks_are_forbidden_and_store_nothing(gateway_client):
    client = await gateway_client(**{"mpesa.callback_token": "s3cret-token"})
    billing = client.app[BILLING]
    await subscriber(billing)
    before = await stored(billing)
    for path in (VALIDATION, CONFIRMATION, STK):
        for params in ({}, {"token": "wrong"}, {"token": "s3cret-token "}):
            status, answer = await post(client, path, daraja(), **params)
            assert (status, answer["error"]) == (403, "forbidden"), (path, params)
    elsewhere = await gateway_client(**{"mpesa.callback_token": "s3cret-token",
                                        "mpesa.allow_ips": ["196.201.214.0/24"]})
    status, answer = await post(elsewhere, CONFIRMATION, daraja(), token="s3cret-token")
    assert status == 403 and "127.0.0.1" in answer["detail"]  # the token alone is not enough
    assert await stored(billing) == before
    assert await post(client, CONFIRMATION, daraja(), token="s3cret-token") == (200, ACK)


MALFORMED = [
    (b'{"TransID": "RKTQDM7W6S", ', "application/json", "body is not JSON"),
    (b"[]", "application/json", "body is not a JSON object"),
    (b"TransID=RKTQDM7W6S&TransAmount=10", "application/x-www-form-urlencoded",
     "Content-Type must be application/json"),
    (json.dumps(daraja(TransAmount="-500")).encode(), "application/json", "TransAmount is not a plain amount: '-500'"),
    (json.dumps(daraja(TransID="RKTQDM7W6")).encode(), "application/json", "TransID is malformed"),
    (json.dumps(daraja(BillRefNumber=None)).encode(), "application/json", "BillRefNumber is missing"),
]


async def test_malformed_or_oversize_confirmation_is_refused_and_stores_nothing(gateway_client):
    client = await gateway_client(**{"server.max_body_bytes": 2048})
    billing = client.app[BILLING]
    await subscriber(billing)
    before = await stored(billing)
    for body, content_type, reason in MALFORMED:
        resp = await client.post(CONFIRMATION, data=body, headers={"Content-Type": content_type})
        assert (resp.status, await resp.json()) == (400, {"ResultCode": 1, "ResultDesc": reason})
    resp = await client.post(CONFIRMATION, json=daraja(Padding="x" * 4096))
    assert resp.status == 413
    assert await stored(billing) == before
    assert await post(client, CONFIRMATION, daraja()) == (200, ACK)  # a well-formed one still passes
