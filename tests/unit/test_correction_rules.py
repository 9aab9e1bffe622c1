"""The pure decisions of payment corrections."""
from __future__ import annotations

import pytest

from billing_core import ledger
from billing_core.corrections import correction_entry, plan_reversal, renewal_unused
from billing_core.db.correction_store import RenewalFacts
from billing_core.errors import InsufficientWallet
from billing_core.money import Money, Rates
from billing_core.renewal import DAY_S

NOW = 1_800_000_000
RENEWAL = RenewalFacts(id=7, entry_id=70, tvu=150, starts_at=NOW - 3600, ends_at=NOW - 3600 + 30 * DAY_S, latest=True)


def test_an_unused_latest_renewal_is_undone_and_its_tvu_cover_the_reversal():
    plan = plan_reversal(200, 50, RENEWAL, RENEWAL.ends_at, NOW, allow_negative=False)
    assert (plan.undo_renewal, plan.renewal_tvu, plan.shortfall_tvu) == (True, 150, 0)


@pytest.mark.parametrize("renewal, expires_at, now", [
    (RENEWAL, RENEWAL.ends_at, RENEWAL.starts_at + DAY_S),  # a day watched
    (RENEWAL, RENEWAL.ends_at + 5 * DAY_S, NOW),  # free days or a stacked renewal after it
    (RenewalFacts(7, 70, 150, NOW - 60, NOW + 30 * DAY_S, latest=False), NOW + 30 * DAY_S, NOW),
    (None, None, NOW),
])
def test_a_renewal_stands_once_anything_used_or_followed_it(renewal, expires_at, now):
    assert not renewal_unused(renewal, expires_at, now)


def test_refused_with_the_tvu_missing_unless_a_negative_wallet_is_allowed():
    with pytest.raises(InsufficientWallet, match="150 TVU missing"):
        plan_reversal(200, 50, None, None, NOW, allow_negative=False)
    assert plan_reversal(200, 50, None, None, NOW, allow_negative=True).shortfall_tvu == 150


def test_the_correction_mirrors_the_payment_and_a_refund_owes_the_money():
    paid = ledger.purchase_of_tvu("12345678", "mpesa", Money(20050, "KES"), Rates({"KES": 100}).to_tvu(
        Money(20050, "KES")), "mpesa:X")
    back = correction_entry(paid, "reverse", "why")
    assert back.postings == ledger.reversal(paid).postings
    refund = correction_entry(paid, "refund", "why", money_to=ledger.REFUNDS_PAYABLE)
    assert ledger.Posting(ledger.REFUNDS_PAYABLE, "KES", -20050) in refund.postings
    assert all(p.account != "cash:mpesa" for p in refund.postings)
