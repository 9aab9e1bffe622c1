"""Products sold at sites and by dealers, on SQLite and PostgreSQL: per currency, in the ledger,
in the site report; a dealer's float pays and never goes below zero."""
from __future__ import annotations

from collections import Counter

import pytest

from billing_core import dealers, products, sites, stock
from billing_core.context import Billing
from billing_core.db import ledger_store
from billing_core.errors import (AlreadyExists, InsufficientFloat, InvalidAmount, InvalidInput, UnknownProduct,
                                 UnknownSite)

MASTER = "m" * 32


async def books_balance(billing: Billing) -> None:
    totals = Counter()
    for _code, unit, amount in await billing.db.read(ledger_store.trial_balance):
        totals[unit] += amount
    assert set(totals.values()) <= {0}, totals


async def balance(billing: Billing, account: str, unit: str) -> int:
    return await billing.db.read(ledger_store.balance, account, unit)


async def catalogue(billing: Billing) -> None:
    await sites.add_site(billing, "NBO1", name="Nairobi agency", region="Nairobi")
    await sites.add_site(billing, "KLA1", name="Kampala agency", region="Kampala")
    await products.add_product(billing, "install", name="Installation", prices=["KES 2500", "UGX 90000"])


async def test_sales_in_two_currencies_are_never_added(billing: Billing) -> None:
    await catalogue(billing)
    assert (await products.list_products(billing))[0]["prices"] == ["KES 2500.00", "UGX 90000"]
    await products.sell_product(billing, "INSTALL", site="NBO1", card="40000001", by="olga")
    sold = await products.sell_product(billing, "INSTALL", site="KLA1", qty=2, currency="UGX")
    assert sold["total"] == "UGX 180000"
    assert await balance(billing, "sales:products:INSTALL", "KES") == -250000
    assert await balance(billing, "sales:products:INSTALL", "UGX") == -180000
    assert await balance(billing, "cash:site:KLA1", "UGX") == 180000
    lines = [(r["region"], r["site"], r["what"], r["currency"], r["count"], r["amount"])
             for r in await sites.report(billing)]
    assert lines == [("Kampala", "KLA1", "product_sales", "UGX", 2, "UGX 180000"),
                     ("Nairobi", "NBO1", "product_sales", "KES", 1, "KES 2500.00")]
    await books_balance(billing)


async def test_a_dealer_sale_is_paid_from_its_float(billing: Billing) -> None:
    await catalogue(billing)
    made = await dealers.add_dealer(billing, "Corner shop", "KES", master_key=MASTER, site="Main street",
                                    region="Nairobi")
    dealer_id = made.dealer.id
    await dealers.fund_dealer(billing, dealer_id, "KES 3000")
    await products.sell_product(billing, "INSTALL", dealer=str(dealer_id))
    assert (await dealers.show_dealer(billing, dealer_id))["balance"] == "KES 500.00"
    with pytest.raises(InsufficientFloat):
        await products.sell_product(billing, "INSTALL", dealer=dealer_id)
    with pytest.raises(InvalidAmount):
        await products.sell_product(billing, "INSTALL", dealer=dealer_id, currency="UGX")
    assert (await dealers.show_dealer(billing, dealer_id))["balance"] == "KES 500.00"
    assert await balance(billing, f"float:{dealer_id}", "KES") == -50000
    assert await balance(billing, "sales:products:INSTALL", "KES") == -250000
    [line] = [r for r in await sites.report(billing) if r["what"] == "product_sales"]
    assert (line["site"], line["amount"]) == (f"dealer:{dealer_id}", "KES 2500.00")
    await books_balance(billing)


async def test_bad_products_and_sales_are_refused(billing: Billing) -> None:
    await catalogue(billing)
    with pytest.raises(AlreadyExists):
        await products.add_product(billing, "INSTALL", name="Again", prices=["KES 1"])
    with pytest.raises(InvalidInput):
        await products.add_product(billing, "KIT", name="Kit", prices=["KES 10", "KES 20"])
    with pytest.raises(InvalidInput):
        await products.add_product(billing, "KIT", name="Kit", prices=[])
    with pytest.raises(InvalidAmount):
        await products.sell_product(billing, "INSTALL", site="NBO1", currency="XOF")  # no price in XOF
    with pytest.raises(InvalidInput):
        await products.sell_product(billing, "INSTALL", site="NBO1", dealer=1)
    with pytest.raises(InvalidInput):
        await products.sell_product(billing, "INSTALL", site="NBO1", qty=0)
    with pytest.raises(UnknownProduct):
        await products.sell_product(billing, "NOPE", site="NBO1")
    with pytest.raises(UnknownSite):
        await products.sell_product(billing, "INSTALL", site="NOPE")
    assert await billing.db.read(ledger_store.trial_balance) == []


async def test_the_site_report_adds_payments_decoders_and_dealer_sales_by_region(billing: Billing, clock) -> None:
    from billing_core import payments, subscriptions

    await catalogue(billing)
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 100)
    await subscriptions.add_subscriber(billing, "40000001", "+254712345678", package="BASIC")
    await payments.record_manual(billing, "40000001", "KES 150", "cash", "R-1", operator="olga", site="NBO1")
    await stock.add_decoder(billing, "DEC-0001", site="NBO1")
    clock.advance(86_400)
    await products.sell_product(billing, "INSTALL", site="NBO1")
    lines = {(r["site"], r["what"], r["currency"]): (r["count"], r["amount"]) for r in await sites.report(billing)}
    assert lines[("NBO1", "payments", "KES")] == (1, "KES 150.00")
    assert lines[("NBO1", "decoder_movements", None)] == (1, None)
    since = clock.now  # the period excludes yesterday's payment and decoder
    later = {(r["site"], r["what"]) for r in await sites.report(billing, since, since + 60)}
    assert later == {("NBO1", "product_sales")}


async def test_dealer_top_ups_are_reported_by_the_region_of_their_sales_point(billing: Billing) -> None:
    from billing_core import subscriptions
    from billing_core.db.dealer_store import Order

    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 100)
    await subscriptions.add_subscriber(billing, "40000001", "+254712345678", package="BASIC")
    made = await dealers.add_dealer(billing, "Corner shop", "KES", master_key=MASTER, site="Main street",
                                    region="Rift")
    await dealers.fund_dealer(billing, made.dealer.id, "KES 1000")
    for key, site in (("k1", "Main street"), ("k2", "")):
        await dealers.dealer_topup(billing, Order(made.key_id, key, key, "40000001", tvu=100, site=site))
    lines = {(r["region"], r["what"], r["currency"]): (r["count"], r["amount"]) for r in await sites.report(billing)}
    assert lines == {("Rift", "dealer_sales", "KES"): (1, "KES 100.00"), ("", "dealer_sales", "KES"): (1, "KES 100.00")}
