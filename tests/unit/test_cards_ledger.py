"""Card entries: balanced, and a package card always credits the price of one period."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from billing_core import card_ledger
from billing_core.ledger import sums_by_unit


def test_activation_and_blocking_move_value_through_the_liability() -> None:
    on = card_ledger.activation(7, 1000)
    off = card_ledger.blocking(7, 300)
    balances = {}
    for entry in (on, off):
        assert entry.ref == "cards:batch:7"
        for p in entry.postings:
            balances[p.account] = balances.get(p.account, 0) + p.amount
    assert balances == {"cards:issued": 700, "cards:liability": -700}


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_redemption_is_balanced_and_credits_what_it_says(value: int, credit: int) -> None:
    entry = card_ledger.redemption(3, "12345678", value, credit, "0000300000017")
    if value == credit == 0:
        assert entry is None
        return
    assert set(sums_by_unit(entry.postings).values()) == {0}
    moved = {p.account: p.amount for p in entry.postings}
    assert moved.get("wallet:12345678", 0) == -credit
    assert moved.get("cards:liability", 0) == value
    assert entry.kind == card_ledger.REDEEM and "0000300000017" in entry.memo
