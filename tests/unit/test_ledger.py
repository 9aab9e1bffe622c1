"""Journal entries: balanced in every unit, at least two non-zero postings, corrected by mirrors."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core import ledger
from billing_core.ledger import Entry, Posting, UnbalancedEntry, reversal, sums_by_unit, trial_balance_ok
from billing_core.money import EXPONENTS, Money, Rates

CARD = "12345678"


def kes(account: str, amount: int) -> Posting:
    return Posting(account, "KES", amount)


def tvu(account: str, amount: int) -> Posting:
    return Posting(account, ledger.TVU, amount)


# ------------------------------------------------------------------------------ entries

def test_a_balanced_entry_is_accepted() -> None:
    entry = Entry("payment", (kes("cash:mpesa", 500), kes("sales:tvu", -300), kes("sales:rounding", -200)))
    assert sums_by_unit(entry.postings) == {"KES": 0}


@pytest.mark.parametrize("postings", [
    (kes("cash:mpesa", 500), kes("sales:tvu", -499)),
    (kes("cash:mpesa", 500), tvu("wallet:1", -500)),  # balanced in amount, not per unit
    (kes("cash:mpesa", 500), kes("sales:tvu", -500), tvu("tvu:issued", 5)),
])
def test_an_unbalanced_entry_is_refused(postings: tuple[Posting, ...]) -> None:
    with pytest.raises(UnbalancedEntry, match="postings sum to"):
        Entry("payment", postings)


@pytest.mark.parametrize("postings", [(), (kes("cash:mpesa", 5),)])
def test_an_entry_needs_two_postings(postings: tuple[Posting, ...]) -> None:
    with pytest.raises(UnbalancedEntry, match="at least two postings"):
        Entry("payment", postings)


def test_a_zero_posting_is_refused() -> None:
    with pytest.raises(ValueError, match="zero posting"):
        kes("cash:mpesa", 0)


@pytest.mark.parametrize("amount", [1.0, "5", None])
def test_a_posting_amount_is_an_int(amount: object) -> None:
    with pytest.raises(TypeError):
        Posting("cash:mpesa", "KES", amount)  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [0, -5])
def test_a_transfer_moves_a_positive_amount(amount: int) -> None:
    with pytest.raises(ValueError):
        ledger.transfer("grant", ledger.TVU, ledger.TVU_OPENING, ledger.wallet_account(CARD), amount)


# ---------------------------------------------------------------------------- reversal

def test_reversal_mirrors_every_posting() -> None:
    original = ledger.wallet_credit(CARD, 250, ledger.TVU_OPENING, "import:7", "opening")
    mirror = reversal(original, "typo in import")
    assert mirror.kind == "reversal"
    assert (mirror.ref, mirror.memo) == ("import:7", "typo in import")
    assert [(p.account, p.unit, p.amount) for p in mirror.postings] == [
        (p.account, p.unit, -p.amount) for p in original.postings]
    assert set(mirror.postings) == {tvu(ledger.wallet_account(CARD), 250), tvu(ledger.TVU_OPENING, -250)}


def test_an_entry_and_its_reversal_cancel_out() -> None:
    original = ledger.package_sale(CARD, 300, "renewal:1")
    totals: dict[tuple[str, str], int] = {}
    for p in original.postings + reversal(original).postings:
        totals[(p.account, p.unit)] = totals.get((p.account, p.unit), 0) + p.amount
    assert set(totals.values()) == {0}


# -------------------------------------------------------------------------- purchases

@given(
    currency=st.sampled_from(sorted(EXPONENTS)),
    minor=st.integers(min_value=1, max_value=10**15),
    rate=st.integers(min_value=1, max_value=100_000),
)
def test_purchase_of_tvu_balances_in_each_unit_and_keeps_the_remainder(currency: str, minor: int,
                                                                       rate: int) -> None:
    paid = Money(minor, currency)
    conversion = Rates({currency: rate}).to_tvu(paid)
    entry = ledger.purchase_of_tvu(CARD, "mpesa", paid, conversion, "QKX1234567")
    amounts = {(p.account, p.unit): p.amount for p in entry.postings}
    assert sums_by_unit(entry.postings) == ({currency: 0, ledger.TVU: 0} if conversion.tvu else {currency: 0})
    assert amounts[("cash:mpesa", currency)] == minor
    assert amounts.get((ledger.SALES_TVU, currency), 0) == -conversion.tvu * rate
    assert amounts.get((ledger.SALES_ROUNDING, currency), 0) == -(minor % rate)
    assert amounts.get((ledger.wallet_account(CARD), ledger.TVU), 0) == -(minor // rate)
    assert amounts.get((ledger.TVU_ISSUED, ledger.TVU), 0) == minor // rate
    assert all(p.amount != 0 for p in entry.postings)


def test_purchase_below_one_tvu_goes_to_rounding_only() -> None:
    paid = Money(99, "KES")
    entry = ledger.purchase_of_tvu(CARD, "mpesa", paid, Rates({"KES": 100}).to_tvu(paid), "ref")
    assert entry.postings == (kes("cash:mpesa", 99), kes(ledger.SALES_ROUNDING, -99))


def test_purchase_with_a_conversion_of_another_amount_is_refused() -> None:
    rates = Rates({"KES": 100})
    with pytest.raises(UnbalancedEntry):
        ledger.purchase_of_tvu(CARD, "mpesa", Money(500, "KES"), rates.to_tvu(Money(400, "KES")), "ref")


# ----------------------------------------------------------------------- trial balance

def test_trial_balance_ok_when_every_unit_sums_to_zero() -> None:
    assert trial_balance_ok([])
    assert trial_balance_ok([("cash:mpesa", "KES", 500), ("sales:tvu", "KES", -500),
                             ("tvu:issued", "TVU", 5), ("wallet:1", "TVU", -3), ("tvu:earned", "TVU", -2)])


@pytest.mark.parametrize("balances", [
    [("cash:mpesa", "KES", 500), ("sales:tvu", "KES", -499)],
    [("cash:mpesa", "KES", 5), ("wallet:1", "TVU", -5)],  # zero overall, not per unit
    [("tvu:issued", "TVU", 1)],
])
def test_trial_balance_not_ok_when_a_unit_is_off(balances: list[tuple[str, str, int]]) -> None:
    assert not trial_balance_ok(balances)
