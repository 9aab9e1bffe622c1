"""Products and services sold with decoders (installation, antenna kit, assistance).

A product has a price in each currency it is sold in. A sale is made by a site (cash
taken at the site: ``cash:site:CODE``) or by a dealer (paid from its float, which never
goes below zero), and is one ledger entry ``payer -> sales:products:CODE`` in the sale's
one currency: amounts of different currencies are never added.
"""
from __future__ import annotations

import re

from billing_core.context import Billing
from billing_core.db import stock_store as store
from billing_core.errors import InvalidInput
from billing_core.money import Money
from billing_core.sites import site_code

CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")
QTY_MAX = 10_000


def product_code(text: str) -> str:
    code = (text or "").strip().upper()
    if not CODE.fullmatch(code):
        raise InvalidInput("a product code is 1-32 letters, digits, '-' or '_'")
    return code


async def add_product(billing: Billing, code: str, *, name: str, prices: list[str]) -> dict:
    """A product priced in one or more currencies (``["KES 2500", "UGX 90000"]``), one price each."""
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise InvalidInput("a product needs a name of at most 128 characters")
    parsed = [Money.parse(p) for p in prices]
    if not parsed:
        raise InvalidInput("a product needs at least one price (--price \"KES 2500\")")
    if any(p.minor <= 0 for p in parsed):
        raise InvalidInput("a price is more than zero")
    if len({p.currency for p in parsed}) != len(parsed):
        raise InvalidInput("one price per currency")
    return await billing.db.write(store.insert_product, product_code(code), name, parsed, billing.now())


async def list_products(billing: Billing) -> list[dict]:
    return await billing.db.read(store.list_products)


async def sell_product(billing: Billing, code: str, *, site: str | None = None, dealer: str | int | None = None,
                       card: str | None = None, qty: int = 1, currency: str | None = None, by: str = "") -> dict:
    """Sell ``qty`` of a product at a site or by a dealer (exactly one of them)."""
    if (site is None) == (dealer is None):
        raise InvalidInput("a sale is made by a site (--site CODE) or a dealer (--dealer ID)")
    if type(qty) is not int or not 1 <= qty <= QTY_MAX:
        raise InvalidInput(f"--qty is a whole number from 1 to {QTY_MAX}")
    dealer_id = None
    if dealer is not None:
        if not str(dealer).strip().isdigit():
            raise InvalidInput("a dealer is named by its id")
        dealer_id = int(str(dealer).strip())
    if currency is not None:
        currency = currency.strip().upper()
        Money(0, currency)  # refuses an unknown code
    sale = store.Sale(product_code(code), qty, site_code(site) if site is not None else None, dealer_id,
                      billing.card(card) if card else None, currency)
    return await billing.db.write(store.sell, sale, billing.currency, (by or "").strip()[:64], billing.now())


__all__ = ["product_code", "add_product", "list_products", "sell_product"]
