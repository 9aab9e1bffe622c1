"""Dealers: prepaid float, commission, sub-dealers, API keys and top-ups.

A dealer funds a float in its currency first and sells out of it: each top-up
debits the float by the face value less the dealer's commission (a percentage,
optionally another one per package), credits the subscriber's wallet with the TVU
and applies the renewal rules (a ``package`` top-up renews at once, stacked), all in
one transaction with its ledger entries and notices. A master dealer hands float
down to its sub-dealers. A top-up is corrected by a reversal (new entries), only
while the subscriber still holds the credit.

API credentials: a key id is random and stored; its secret is derived,
``hex(HMAC-SHA256(dealers.secret_key, "tvtopup/dealer-key/" + key_id))``, so the
database holds nothing that signs a request (a stolen copy of it cannot sell), and
the API checks a signature without reading the database first. The secret is shown
once, when the key is made. Changing ``dealers.secret_key`` changes every secret.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from billing_core.context import Billing
from billing_core.db import dealer_store as store
from billing_core.db.dealer_store import Dealer, NewDealer, Order, Sold
from billing_core.errors import InvalidAmount, InvalidInput, UnknownDealer
from billing_core.money import Money
from billing_core.renewal import iso

KEY_ID = re.compile(r"dk_[0-9a-f]{24}")
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")
SITE = re.compile(r"[\w .,'&()/-]{1,64}")
NAME_MAX = 128
TVU_MAX = 10_000_000  # one top-up; far above any package, far below an overflow
_PCT = re.compile(r"(100|[0-9]{1,2})(\.[0-9]{1,2})?")


def derive_secret(master_key: str, key_id: str) -> str:
    """The API secret of ``key_id`` (64 hex digits)."""
    return hmac.new(master_key.encode(), b"tvtopup/dealer-key/" + key_id.encode(), hashlib.sha256).hexdigest()


def new_key_id() -> str:
    return "dk_" + secrets.token_hex(12)


def _master(master_key: Any) -> str:
    value = master_key.reveal() if hasattr(master_key, "reveal") else (master_key or "")
    if not value:
        raise InvalidInput("dealers.secret_key is not set: dealer API secrets are derived from it "
                           "(set TVTOPUP_DEALERS__SECRET_KEY to a long random string, kept outside the database)")
    return value


def commission_bp(pct: str | int | None) -> int:
    """``"5"`` or ``"2.5"`` percent -> basis points (500, 250); 0 to 100 with at most 2 decimals."""
    text = str(pct if pct is not None else "0").strip()
    if not _PCT.fullmatch(text) or Decimal(text) > 100:
        raise InvalidInput(f"a commission is a percentage from 0 to 100 (at most 2 decimals), not {text!r}")
    return int(Decimal(text) * 100)


def dealer_id(text: str | int) -> int:
    value = str(text).strip()
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise UnknownDealer(f"no dealer {value}")
    return int(value)


def sales_day(now: int, timezone: str) -> str:
    """The operator's calendar day of ``now`` (daily limits reset at local midnight)."""
    return datetime.fromtimestamp(now, ZoneInfo(timezone)).strftime("%Y-%m-%d")


def _money(text: str) -> Money:
    money = Money.parse(text)
    if money.minor <= 0:
        raise InvalidAmount("an amount must be more than zero")
    return money


@dataclass(frozen=True, slots=True)
class Credentials:
    dealer: Dealer
    key_id: str
    secret: str
    revoked: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"id": self.dealer.id, "name": self.dealer.name, "key_id": self.key_id, "secret": self.secret,
                "revoked": list(self.revoked)}


def dealer_json(dealer: Dealer) -> dict:
    daily = dealer.daily_limit_minor
    return {"id": dealer.id, "name": dealer.name, "currency": dealer.currency, "balance": str(dealer.balance),
            "commission_pct": f"{Decimal(dealer.commission_bp) / 100:f}", "parent": dealer.parent_id,
            "status": dealer.status, "daily_limit": str(Money(daily, dealer.currency)) if daily else None}


# ---- operator's use cases ---------------------------------------------------------------------

async def add_dealer(billing: Billing, name: str, currency: str, *, master_key: Any, commission_pct: str = "0",
                     parent: str | None = None, site: str = "", region: str = "",
                     daily_limit: str | None = None) -> Credentials:
    """A new dealer with an empty float and one API key; the secret is returned here only."""
    master = _master(master_key)
    name, currency, site, region = (name or "").strip(), (currency or "").strip().upper(), site.strip(), region.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise InvalidInput(f"a dealer's name is 1 to {NAME_MAX} characters")
    billing.rates.rate(currency)  # a currency without a TVU rate cannot buy TVU
    if site and not SITE.fullmatch(site) or len(region) > 64:
        raise InvalidInput("a site name is 1-64 letters, digits, spaces or .,'&()/-; a region at most 64")
    limit = _money(daily_limit) if daily_limit else None
    if limit is not None and limit.currency != currency:
        raise InvalidAmount(f"the daily limit is in the dealer's currency, {currency}")
    key_id = new_key_id()
    new = NewDealer(name, currency, commission_bp(commission_pct), dealer_id(parent) if parent else None,
                    limit.minor if limit else None, site, region, key_id)
    dealer = await billing.db.write(store.insert_dealer, new, billing.now())
    return Credentials(dealer, key_id, derive_secret(master, key_id))


async def rotate_key(billing: Billing, dealer: str | int, *, master_key: Any, revoke_old: bool = False) -> Credentials:
    """A new key; the previous one stays valid until ``revoke_old`` or the next rotation."""
    master, did, key_id = _master(master_key), dealer_id(dealer), new_key_id()
    revoked = await billing.db.write(store.add_key, did, key_id, billing.now(), revoke_old=revoke_old)
    found = await billing.db.read(store.dealer_by_id, did)
    return Credentials(found, key_id, derive_secret(master, key_id), tuple(revoked))


async def fund_dealer(billing: Billing, dealer: str | int, amount: str, *, ref: str = "", operator: str = "") -> Dealer:
    """Money the dealer paid in: the float grows by ``amount`` (``"KES 50000"``)."""
    did = dealer_id(dealer)
    return await billing.db.write(store.fund, did, _money(amount), (ref.strip() or f"dealer:{did}")[:128],
                                  billing.now(), operator[:64])


async def transfer_float(billing: Billing, source: str | int, target: str | int, amount: str, *,
                         operator: str = "") -> tuple[Dealer, Dealer]:
    """A master dealer hands ``amount`` of its float to one of its sub-dealers."""
    return await billing.db.write(store.transfer, dealer_id(source), dealer_id(target), _money(amount),
                                  billing.now(), operator[:64])


async def set_dealer_status(billing: Billing, dealer: str | int, status: str) -> Dealer:
    if status not in ("active", "suspended"):
        raise InvalidInput("a dealer is active or suspended")
    return await billing.db.write(store.set_status, dealer_id(dealer), status, billing.now())


async def set_commission(billing: Billing, dealer: str | int, pct: str, *, package: str | None = None) -> Dealer:
    code = package.strip().upper() if package else None
    return await billing.db.write(store.set_commission, dealer_id(dealer), commission_bp(pct), code, billing.now())


async def add_site(billing: Billing, dealer: str | int, name: str, region: str = "") -> dict:
    name, region = name.strip(), region.strip()
    if not SITE.fullmatch(name) or len(region) > 64:
        raise InvalidInput("a site name is 1-64 letters, digits, spaces or .,'&()/-; a region at most 64")
    await billing.db.write(store.add_site, dealer_id(dealer), name, region, billing.now())
    return await show_dealer(billing, dealer)


async def show_dealer(billing: Billing, dealer: str | int) -> dict:
    details = await billing.db.read(store.dealer_details, dealer_id(dealer))
    pct = {code: f"{Decimal(bp) / 100:f}" for code, bp in details.pop("package_commissions").items()}
    return {**dealer_json(details.pop("dealer")), **details, "package_commission_pct": pct}


async def list_dealers(billing: Billing) -> list[Dealer]:
    return await billing.db.read(store.list_dealers)


async def reverse_topup(billing: Billing, topup: str | int, reason: str, *, operator: str = "") -> dict:
    """Reverse a top-up whose credit the subscriber still holds (not one that renewed)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a reversal needs a reason")
    text = str(topup).strip()
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput("a top-up id is a number")
    return await billing.db.write(store.reverse, int(text), reason, billing.now(), operator[:64])


async def report(billing: Billing, since: int | None = None, until: int | None = None) -> list[dict]:
    """Per dealer: sales, commission and float movements of the period; cards activated for it."""
    return await billing.db.read(store.report, since, until)


# ---- the dealer's own use cases (the signed API) ---------------------------------------------

def parse_order(billing: Billing, doc: Any, *, key_id: str, idempotency_key: str, body_hash: str) -> Order:
    """A top-up request body: ``{"card", one of "tvu" | "package" | "amount", "site"?}``."""
    if not isinstance(doc, dict):
        raise InvalidInput("the body is a JSON object")
    unknown = set(doc) - {"card", "tvu", "package", "amount", "site"}
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))}")
    given = [k for k in ("tvu", "package", "amount") if doc.get(k) is not None]
    if len(given) != 1:
        raise InvalidInput("give exactly one of tvu, package or amount")
    if not IDEMPOTENCY_KEY.fullmatch(idempotency_key or ""):
        raise InvalidInput("the Idempotency-Key header is required: 1-64 letters, digits or ._:-")
    card = doc.get("card")
    if not isinstance(card, str):
        raise InvalidInput("card is a string of digits")
    site = doc.get("site") or ""
    if not isinstance(site, str) or site and not SITE.fullmatch(site):
        raise InvalidInput("site names one of the dealer's sales points")
    order = Order(key_id, idempotency_key, body_hash, billing.card(card), site=site)
    return _with_value(order, given[0], doc[given[0]])


def _with_value(order: Order, kind: str, value: Any) -> Order:
    from dataclasses import replace

    if kind == "tvu":
        if type(value) is not int or not 1 <= value <= TVU_MAX:
            raise InvalidInput(f"tvu is a whole number from 1 to {TVU_MAX}")
        return replace(order, tvu=value)
    if kind == "package":
        if not isinstance(value, str) or not 1 <= len(value.strip()) <= 32:
            raise InvalidInput("package is a package code")
        return replace(order, package=value.strip().upper())
    if not isinstance(value, str):
        raise InvalidAmount('amount is a string: "KES 500"')
    return replace(order, amount=_money(value))


async def dealer_topup(billing: Billing, order: Order, *, timezone: str = "UTC") -> Sold:
    """Sell ``order`` once per (dealer, idempotency key): one transaction, or a stored response."""
    now = billing.now()
    return await billing.db.write(store.sell, order, billing.rates, now, sales_day(now, timezone))


async def topup_status(billing: Billing, key_id: str, topup: int) -> dict:
    return await billing.db.read(store.topup_of, key_id, topup)


async def subscriber_for_sale(billing: Billing, key_id: str, card: str) -> dict:
    return await billing.db.read(store.subscriber_for_sale, key_id, billing.card(card), billing.now())


async def dealer_balance(billing: Billing, key_id: str) -> dict:
    dealer = await billing.db.read(store.balance_of, key_id)
    return {"dealer": dealer.id, "name": dealer.name, "currency": dealer.currency, "balance": str(dealer.balance),
            "balance_minor": dealer.balance_minor, "status": dealer.status, "at": iso(billing.now())}


async def dealer_statement(billing: Billing, key_id: str, since: int | None, until: int | None) -> dict:
    if since is not None and until is not None and until <= since:
        raise InvalidInput("to must be after from")

    def tx(conn):
        return store.statement(conn, store.authenticate(conn, key_id), since, until)

    return await billing.db.read(tx)


async def statement_of(billing: Billing, dealer: str | int, since: int | None, until: int | None) -> dict:
    """The statement of any dealer (operators)."""
    did = dealer_id(dealer)

    def tx(conn):
        return store.statement(conn, store.dealer_by_id(conn, did), since, until)

    return await billing.db.read(tx)


__all__ = ["Credentials", "Order", "Sold", "derive_secret", "new_key_id", "commission_bp", "dealer_id", "sales_day",
           "add_dealer", "rotate_key", "fund_dealer", "transfer_float", "set_dealer_status", "set_commission",
           "add_site", "show_dealer", "list_dealers", "reverse_topup", "report", "parse_order", "dealer_topup",
           "topup_status", "subscriber_for_sale", "dealer_balance", "dealer_statement", "statement_of", "dealer_json"]
