"""Promotions: operator-defined rules with a window (``starts_at`` to ``ends_at``) and a budget.

Four kinds, applied by the billing core inside the transaction of what triggers them:

=============  ====================================  =========================  ==================
kind           does                                  when                       budget counts
=============  ====================================  =========================  ==================
``bonus``      ``percent`` more TVU on a top-up      a payment is credited      TVU given
               (of at least ``min`` when set)
``free_addon`` the products of package ``package``   a payment is credited      grants (once per
               for ``days`` days (7), via the outbox (of at least ``min``)       card)
``discount``   the price of ``package`` (any when    a renewal                  TVU given
               unset) less ``percent``
``reconnect``  ``days`` free days on top of the      a lapsed subscription      grants (once per
               renewed period                        renews (ended ``lapsed_    card)
                                                     days`` ago or more)
=============  ====================================  =========================  ==================

TVU a promotion gives come from its own ledger account ``promo:NAME``, so the ledger shows
what each one cost. The budget is spent by a conditional ``UPDATE … WHERE spent + x <=
budget`` in the database: however many payments race, a promotion never gives more than
its budget; an application that does not fit in what is left is skipped whole.

The pure rules (which promotion applies, how much) are here; the storage and the hooks
called by the payment and renewal paths are in :mod:`billing_core.db.promo_store`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from billing_core.context import Billing
from billing_core.db import promo_store
from billing_core.errors import InvalidInput
from billing_core.money import Money
from billing_core.renewal import DAY_S, iso

KINDS = ("bonus", "free_addon", "discount", "reconnect")
PAYMENT_KINDS = ("bonus", "free_addon")
RENEWAL_KINDS = ("discount", "reconnect")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
PERCENT = re.compile(r"((?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,2})?)%?")
BP_MAX = {"bonus": 100_000, "discount": 10_000}  # a bonus up to 1000 %, a discount up to 100 %
DAYS_MAX = 366
BUDGET_MAX = 10**12
ADDON_DAYS = 7


@dataclass(frozen=True, slots=True)
class Promotion:
    id: int
    name: str
    kind: str
    starts_at: int
    ends_at: int
    budget: int
    spent: int = 0
    percent_bp: int = 0
    min_amount: Money | None = None
    package_code: str = ""
    days: int = 0
    lapsed_days: int = 0
    status: str = "active"
    created_by: str = ""
    created_at: int = 0
    ended_at: int | None = None

    def is_open(self, now: int) -> bool:
        """Running at ``now``: not ended, inside its window, budget not known to be spent."""
        return self.status == "active" and self.starts_at <= now < self.ends_at and self.spent < self.budget

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "from": iso(self.starts_at), "to": iso(self.ends_at),
                "budget": self.budget, "spent": self.spent, "left": self.budget - self.spent,
                "percent": percent_text(self.percent_bp) if self.percent_bp else None,
                "min": str(self.min_amount) if self.min_amount else None, "package": self.package_code or None,
                "days": self.days or None, "lapsed_days": self.lapsed_days if self.kind == "reconnect" else None,
                "status": self.status, "created_by": self.created_by, "ended_at": iso(self.ended_at)}


# ---- the rules (pure) ----------------------------------------------------------------------

def qualifies(promo: Promotion, amount: Money) -> bool:
    """A payment of ``amount`` is enough for ``promo`` (a minimum only counts in its currency)."""
    if promo.min_amount is None:
        return True
    return amount.currency == promo.min_amount.currency and amount.minor >= promo.min_amount.minor


def bonus_tvu(promo: Promotion, payment_tvu: int, amount: Money) -> int:
    """Bonus TVU on a top-up that bought ``payment_tvu``: ``percent`` of it, floored."""
    if promo.kind != "bonus" or payment_tvu <= 0 or not qualifies(promo, amount):
        return 0
    return payment_tvu * promo.percent_bp // 10_000


def discount_tvu(promo: Promotion, package_code: str, price_tvu: int) -> int:
    """TVU off a renewal of ``package_code`` at ``price_tvu``: ``percent`` of it, floored."""
    if promo.kind != "discount" or price_tvu <= 0 or promo.package_code not in ("", package_code):
        return 0
    return price_tvu * promo.percent_bp // 10_000


def is_lapsed(expires_at: int | None, now: int, lapsed_days: int) -> bool:
    """A subscription that ran (``expires_at`` set) and ended ``lapsed_days`` days ago or more."""
    return expires_at is not None and expires_at <= now - lapsed_days * DAY_S


def percent_bp(text: str | int | None) -> int:
    """``"10"`` or ``"7.5"`` (per cent) as basis points (1000, 750); at most two decimals."""
    match = PERCENT.fullmatch(str(text or "").strip())
    bp = int(Decimal(match.group(1)).scaleb(2)) if match else 0
    if bp <= 0:
        raise InvalidInput(f"a percentage is a number more than 0 with at most two decimals (10, 7.5), not {text!r}")
    return bp


def percent_text(bp: int) -> str:
    whole, rest = divmod(bp, 100)
    return f"{whole}%" if not rest else f"{whole}.{rest:02d}".rstrip("0") + "%"


def new_promotion(name: str, kind: str, *, starts_at: int, ends_at: int, budget: int, percent: str | None = None,
                  min_amount: str | None = None, package: str | None = None, days: int | None = None,
                  lapsed_days: int | None = None, operator: str = "") -> Promotion:
    """A checked, not yet stored promotion (``id`` 0). Refuses what a kind does not use."""
    name = (name or "").strip()
    if not NAME.fullmatch(name):
        raise InvalidInput("a promotion name is 1-32 letters, digits, '-' or '_', starting with a letter or digit")
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
    if type(starts_at) is not int or type(ends_at) is not int or ends_at <= starts_at:
        raise InvalidInput("a promotion ends after it starts")
    if type(budget) is not int or not 0 < budget <= BUDGET_MAX:
        raise InvalidInput("the budget is a whole number more than 0")
    _unused(kind, percent=percent, min_amount=min_amount, package=package, days=days, lapsed_days=lapsed_days)
    bp = percent_bp(percent) if kind in BP_MAX else 0
    if kind in BP_MAX and bp > BP_MAX[kind]:
        raise InvalidInput(f"a {kind} is at most {BP_MAX[kind] // 100}%")
    minimum = Money.parse(min_amount) if min_amount else None
    if minimum is not None and minimum.minor <= 0:
        raise InvalidInput("a minimum payment is more than zero")
    package = (package or "").strip().upper()
    if kind == "free_addon" and not package:
        raise InvalidInput("a free_addon promotion names the add-on's package (--package CODE)")
    days = _days(kind, days)
    lapsed = 0 if lapsed_days is None else lapsed_days
    if type(lapsed) is not int or not 0 <= lapsed <= DAYS_MAX:
        raise InvalidInput(f"--lapsed-days is a whole number from 0 to {DAYS_MAX}")
    return Promotion(0, name, kind, starts_at, ends_at, budget, 0, bp, minimum, package, days, lapsed,
                     created_by=(operator or "")[:64])


# What each kind reads; anything else given is refused rather than silently ignored.
_OPTIONS = {"bonus": {"percent", "min_amount"}, "free_addon": {"min_amount", "package", "days"},
            "discount": {"percent", "package"}, "reconnect": {"days", "lapsed_days"}}


def _unused(kind: str, **given: Any) -> None:
    extra = sorted(k for k, v in given.items() if v not in (None, "") and k not in _OPTIONS[kind])
    if extra:
        raise InvalidInput(f"a {kind} promotion takes no {', '.join(e.replace('_', '-') for e in extra)}")
    if kind in BP_MAX and given.get("percent") in (None, ""):
        raise InvalidInput(f"a {kind} promotion needs --percent")
    if kind == "reconnect" and given.get("days") is None:
        raise InvalidInput("a reconnect promotion needs --days")


def _days(kind: str, days: int | None) -> int:
    if kind not in ("free_addon", "reconnect"):
        return 0
    days = ADDON_DAYS if days is None else days
    if type(days) is not int or not 1 <= days <= DAYS_MAX:
        raise InvalidInput(f"--days is a whole number from 1 to {DAYS_MAX}")
    return days


# ---- use cases -----------------------------------------------------------------------------

async def add_promotion(billing: Billing, promo: Promotion) -> Promotion:
    """Store a promotion made by :func:`new_promotion`; a free add-on's package must exist."""
    stored = await billing.db.write(promo_store.insert_promotion, promo, billing.now())
    promo_store.forget()
    return stored


async def list_promotions(billing: Billing) -> list[Promotion]:
    return await billing.db.read(promo_store.list_promotions)


async def end_promotion(billing: Billing, name: str) -> Promotion:
    """Stop a promotion now (its history and ledger account stay)."""
    ended = await billing.db.write(promo_store.end_promotion, (name or "").strip(), billing.now())
    promo_store.forget()
    return ended


async def report(billing: Billing, since: int | None = None, until: int | None = None) -> list[dict]:
    """Per promotion: budget, spent, uses, TVU and days given in the period, its ledger balance."""
    return await billing.db.read(promo_store.report, since, until)


__all__ = ["KINDS", "Promotion", "new_promotion", "qualifies", "bonus_tvu", "discount_tvu", "is_lapsed",
           "percent_bp", "add_promotion", "list_promotions", "end_promotion", "report"]
