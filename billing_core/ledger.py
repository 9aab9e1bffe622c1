"""Double-entry ledger: accounts, postings and journal entries (pure, no I/O).

Every movement of value is one :class:`Entry` whose postings sum to zero in each
unit (a currency code or ``TVU``). Amounts are signed integers, debits positive.
Entries are append-only: a correction is a new entry that mirrors the original
(:func:`reversal`). Account balances follow the same sign convention, so a
liability such as a subscriber's wallet has a balance <= 0 and the trial balance
of every unit is zero.

Accounts are named by a code and a unit. The chart used by the billing core:

==========================  =====  =================================================
code                        unit   meaning
==========================  =====  =================================================
``wallet:CARD``             TVU    TVU owed to the subscriber (credit balance)
``tvu:issued``              TVU    TVU put into wallets (debit balance)
``tvu:earned``              TVU    TVU spent on packages (credit balance)
``tvu:opening``             TVU    opening wallets imported from another system
``tvu:ppv``                 TVU    TVU spent on pay-per-view events (credit balance)
``tvu:addons``              TVU    TVU spent on add-on packages (credit balance)
``cash:METHOD``             CCY    money received through a channel (debit balance)
``sales:tvu``               CCY    money taken for TVU sold (credit balance)
``sales:rounding``          CCY    money below one TVU, kept rather than lost
``suspense:payments``       CCY    money received that could not be applied yet
``refunds:payable``         CCY    suspense money an operator decided to give back
``float:DEALER``            CCY    a dealer's prepaid float: owed to the dealer (credit)
``commission:DEALER``       CCY    commission a dealer earned on its sales (debit)
``cash:dealers``            CCY    money dealers paid in to fund their float (debit)
==========================  =====  =================================================
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

from billing_core.money import Conversion, Money

TVU = "TVU"

TVU_ISSUED = "tvu:issued"
TVU_EARNED = "tvu:earned"
TVU_OPENING = "tvu:opening"
TVU_PPV = "tvu:ppv"
TVU_ADDONS = "tvu:addons"
SALES_TVU = "sales:tvu"
SALES_ROUNDING = "sales:rounding"
SUSPENSE = "suspense:payments"
REFUNDS_PAYABLE = "refunds:payable"


def wallet_account(card: str) -> str:
    return f"wallet:{card}"


def cash_account(method: str) -> str:
    return f"cash:{method}"


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    unit: str
    amount: int  # debit positive, credit negative

    def __post_init__(self) -> None:
        if type(self.amount) is not int:
            raise TypeError("posting amounts are integers")
        if self.amount == 0:
            raise ValueError(f"zero posting to {self.account}")


class UnbalancedEntry(ValueError):
    """Postings of one unit do not sum to zero: a bug in the caller."""


@dataclass(frozen=True, slots=True)
class Entry:
    """A journal entry: what happened (``kind``), a reference and balanced postings."""

    kind: str
    postings: tuple[Posting, ...]
    ref: str = ""
    memo: str = ""

    def __post_init__(self) -> None:
        if len(self.postings) < 2:
            raise UnbalancedEntry(f"{self.kind}: an entry needs at least two postings")
        for unit, total in sums_by_unit(self.postings).items():
            if total != 0:
                raise UnbalancedEntry(f"{self.kind}: {unit} postings sum to {total}")


def sums_by_unit(postings: Iterable[Posting]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for posting in postings:
        totals[posting.unit] += posting.amount
    return dict(totals)


def reversal(original: Entry, memo: str = "") -> Entry:
    """The entry that undoes ``original``: the same postings with the signs flipped."""
    return Entry(
        kind="reversal",
        postings=tuple(Posting(p.account, p.unit, -p.amount) for p in original.postings),
        ref=original.ref,
        memo=memo,
    )


def transfer(kind: str, unit: str, debit: str, credit: str, amount: int, ref: str = "", memo: str = "") -> Entry:
    """Move ``amount`` of ``unit`` from ``credit`` to ``debit``: the simplest entry."""
    if amount <= 0:
        raise ValueError("transfer amount must be positive")
    return Entry(kind, (Posting(debit, unit, amount), Posting(credit, unit, -amount)), ref, memo)


def purchase_of_tvu(card: str, method: str, paid: Money, conversion: Conversion, ref: str, kind: str = "payment",
                    *, source: str | None = None) -> Entry:
    """Money received for TVU: the money side in its currency, the TVU side into the wallet.

    The money comes from ``cash:METHOD`` (or ``source``, e.g. suspense when a held
    payment is assigned). The part of ``paid`` below one TVU is kept in
    ``sales:rounding``; it is never lost.
    """
    ccy = paid.currency
    postings = [Posting(source or cash_account(method), ccy, paid.minor)]
    if conversion.used.minor:
        postings.append(Posting(SALES_TVU, ccy, -conversion.used.minor))
    if conversion.remainder.minor:
        postings.append(Posting(SALES_ROUNDING, ccy, -conversion.remainder.minor))
    if conversion.tvu:
        postings += [Posting(TVU_ISSUED, TVU, conversion.tvu), Posting(wallet_account(card), TVU, -conversion.tvu)]
    return Entry(kind, tuple(postings), ref)


def to_suspense(method: str, paid: Money, ref: str) -> Entry:
    """Money received that cannot be applied now: held, never lost."""
    return transfer("suspense", paid.currency, cash_account(method), SUSPENSE, paid.minor, ref)


def suspense_to_refund(paid: Money, ref: str) -> Entry:
    """An operator decided a held payment goes back to the payer."""
    return transfer("refund", paid.currency, SUSPENSE, REFUNDS_PAYABLE, paid.minor, ref)


def wallet_credit(card: str, tvu: int, source: str, ref: str, kind: str) -> Entry:
    """TVU put into a wallet from a TVU source account (opening balance, grant)."""
    return transfer(kind, TVU, source, wallet_account(card), tvu, ref)


def package_sale(card: str, tvu: int, ref: str) -> Entry:
    """A renewal paid from the wallet: the TVU leave the wallet and are earned."""
    return transfer("renewal", TVU, wallet_account(card), TVU_EARNED, tvu, ref)


def ppv_sale(card: str, tvu: int, ref: str) -> Entry:
    """A pay-per-view event bought from the wallet (a refund is its :func:`reversal`)."""
    return transfer("ppv", TVU, wallet_account(card), TVU_PPV, tvu, ref)


def addon_sale(card: str, tvu: int, ref: str) -> Entry:
    """An add-on package bought or renewed from the wallet."""
    return transfer("addon", TVU, wallet_account(card), TVU_ADDONS, tvu, ref)


def upgrade_credit(card: str, tvu: int, ref: str) -> Entry:
    """The unused part of the old package given back to the wallet on an upgrade: no longer earned."""
    return transfer("upgrade_credit", TVU, TVU_EARNED, wallet_account(card), tvu, ref)


def trial_balance_ok(balances: Iterable[tuple[str, str, int]]) -> bool:
    """True when the balances (account, unit, balance) sum to zero in every unit."""
    totals: dict[str, int] = defaultdict(int)
    for _account, unit, balance in balances:
        totals[unit] += balance
    return all(total == 0 for total in totals.values())


# ---- dealers -------------------------------------------------------------------------------

DEALER_FUNDING = "cash:dealers"


def float_account(dealer_id: int) -> str:
    return f"float:{dealer_id}"


def commission_account(dealer_id: int) -> str:
    return f"commission:{dealer_id}"


def dealer_funding(dealer_id: int, paid: Money, ref: str) -> Entry:
    """A dealer paid money in: it is owed to the dealer as float until spent on top-ups."""
    return transfer("dealer_fund", paid.currency, DEALER_FUNDING, float_account(dealer_id), paid.minor, ref)


def float_transfer(from_id: int, to_id: int, amount: Money, ref: str) -> Entry:
    """A master dealer hands float down to one of its sub-dealers."""
    return transfer("dealer_transfer", amount.currency, float_account(from_id), float_account(to_id), amount.minor,
                    ref)


def dealer_sale(dealer_id: int, card: str, face: Money, commission: Money, conversion: Conversion, ref: str) -> Entry:
    """A dealer sold ``face`` worth of TVU to ``card``.

    The dealer's float pays the face value less the commission; the commission is
    recorded as the dealer's (an expense of the operator); the face value is sold
    TVU (and ``sales:rounding`` for any part below one TVU); the TVU go into the
    wallet as for any purchase.
    """
    ccy = face.currency
    paid = face.minor - commission.minor
    postings = []
    if paid:
        postings.append(Posting(float_account(dealer_id), ccy, paid))
    if commission.minor:
        postings.append(Posting(commission_account(dealer_id), ccy, commission.minor))
    if conversion.used.minor:
        postings.append(Posting(SALES_TVU, ccy, -conversion.used.minor))
    if conversion.remainder.minor:
        postings.append(Posting(SALES_ROUNDING, ccy, -conversion.remainder.minor))
    postings += [Posting(TVU_ISSUED, TVU, conversion.tvu), Posting(wallet_account(card), TVU, -conversion.tvu)]
    return Entry("dealer_sale", tuple(postings), ref)


# ---- promotions and products -------------------------------------------------------------------
# ``promo:NAME``  TVU  TVU a promotion gave away (bonus on a top-up, discount at renewal): debit
# ``cash:site:CODE``  CCY  money a site took for products (debit)
# ``sales:products:CODE``  CCY  money taken for a product or service (credit)

def promo_account(name: str) -> str:
    return f"promo:{name}"


def site_cash_account(site_code: str) -> str:
    return f"cash:site:{site_code}"


def product_sales_account(product_code: str) -> str:
    return f"sales:products:{product_code}"


def promo_credit(name: str, card: str, tvu: int, ref: str, kind: str = "promo_bonus") -> Entry:
    """TVU a promotion puts into a wallet (a bonus, or the discounted part of a renewal)."""
    return transfer(kind, TVU, promo_account(name), wallet_account(card), tvu, ref)


def product_sale(product_code: str, total: Money, payer: str, ref: str) -> Entry:
    """A product or service sold for ``total``: ``payer`` (a site's cash, a dealer's float) pays
    ``sales:products:CODE``, in the sale's one currency."""
    return transfer("product_sale", total.currency, payer, product_sales_account(product_code), total.minor, ref)
