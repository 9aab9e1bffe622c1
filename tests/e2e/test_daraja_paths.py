"""Daraja's callback paths and the phone numbers it sends, through the running app.

Daraja's URL registration refuses a URL containing "mpesa", "m-pesa", "safaricom" (any case)
and filters "exe", "exec", "cmd", "sql", "query" (developer.safaricom.co.ke, Customer To
Business Register URL, "URL Requirements"). Our M-Pesa callbacks therefore live under
``/mobile-money/daraja/``; the old ``/mobile-money/mpesa/`` paths stay only as aliases for
deployments that registered them before. The callback token travels in the query
(``?token=``), never in the path, and the STK ``CallBackURL`` adds ``?ref=``: neither word is
refused, and register-urls refuses a token that happens to contain one (tested there).
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from billing_core import payments, subscriptions
from billing_core.db import payment_store as store
from gateway.keys import BILLING
from gateway.providers.mpesa import registration

ROOT = Path(__file__).resolve().parents[2]
ALIASES = "/mobile-money/mpesa/"  # exempt: for deployments registered before the move
CARD, PHONE = "10000001", "+254712345678"


def c2b(trans_id: str, msisdn) -> dict:
    """Daraja's C2B v2 example (Customer To Business API, "Masked version"), our card as account."""
    return {"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20231121121325",
            "TransAmount": "5.00", "BusinessShortCode": "600966", "BillRefNumber": CARD, "InvoiceNumber": "",
            "OrgAccountBalance": "25.00", "ThirdPartyTransID": "", "MSISDN": msisdn, "FirstName": "NICHOLAS",
            "MiddleName": "", "LastName": ""}


async def test_no_registered_callback_path_contains_a_word_daraja_refuses(gateway_client):
    client = await gateway_client()
    paths = {r.resource.canonical for r in client.app.router.routes() if r.resource is not None}
    offending = {p: registration.forbidden_words(p) for p in paths if not p.startswith(ALIASES) and registration.forbidden_words(p)}
    assert offending == {}
    for leaf in ("c2b/validation", "c2b/confirmation", "stk/callback"):
        assert f"/mobile-money/daraja/{leaf}" in paths
        assert f"/mobile-money/mpesa/{leaf}" in paths  # the alias


@pytest.mark.parametrize("word", ["mpesa", "M-Pesa", "SAFARICOM", "exe", "Exec", "cmd", "SQL", "query"])
def test_the_word_check_finds_each_refused_word_in_any_case(word):
    assert registration.forbidden_words(f"https://pay.example.com/x{word}y/c2b") != ()


def test_default_urls_in_config_readme_and_docs_avoid_the_refused_words():
    mpesa = tomllib.loads((ROOT / "config" / "default.toml").read_text())["mpesa"]
    for key in ("callback_url", "confirmation_url", "validation_url"):
        assert not registration.forbidden_words(mpesa[key]), key
    for doc in [ROOT / "README.md", ROOT / "config" / "default.toml", *sorted((ROOT / "docs").rglob("*.md"))]:
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            for url in re.findall(r"/mobile-money/[A-Za-z0-9_./{}-]+", line):
                # the old paths may be named only where they are called aliases
                alias = url.startswith(ALIASES.rstrip("/")) and "alias" in line
                assert alias or not registration.forbidden_words(url), (doc.name, number, url)


@pytest.mark.parametrize("msisdn", [
    "2547 ***** 126",  # C2B v2 documentation (masked, with spaces)
    "2547****4149", "25470****149",  # masked without spaces (v1 documentation)
    "254708374149", 254708374149,  # plain, as text or as a JSON number
    "94c2c311d522da950619227b3361752a42042db7e1e699b26e628305c68a88",  # the C2B v1 FAQ's hash, as printed
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # a full SHA-256
    "", None,
])
async def test_every_msisdn_form_daraja_sends_is_validated_and_credited_once(gateway_client, msisdn):
    client = await gateway_client()
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic bouquet", 30, 300, ("p1",))
    await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC")
    doc = c2b("RKL51ZDR4F", msisdn)
    if msisdn is None:
        doc.pop("MSISDN")
    for path in ("/mobile-money/daraja/c2b/validation", "/mobile-money/mpesa/c2b/validation"):
        resp = await client.post(path, json=doc)
        assert (resp.status, await resp.json()) == (200, {"ResultCode": "0", "ResultDesc": "Accepted"})
    for path in ("/mobile-money/daraja/c2b/confirmation", "/mobile-money/mpesa/c2b/confirmation"):
        resp = await client.post(path, json=doc)
        assert (resp.status, await resp.json()) == (200, {"ResultCode": 0, "ResultDesc": "Success"})
    paid = await payments.suspense(billing)
    assert paid == []
    payment = await billing.db.read(store.by_txid, "mpesa", "RKL51ZDR4F")
    assert (payment.status, payment.tvu) == ("credited", 5)
