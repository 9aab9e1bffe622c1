"""Scratch cards in the ledger: their accounts and journal entries (pure, no I/O).

==========================  =====  =================================================
code                        unit   meaning
==========================  =====  =================================================
``cards:issued``            TVU    value put into circulation by cards (debit balance)
``cards:liability``         TVU    value of activated cards not yet redeemed (credit)
==========================  =====  =================================================

- Activation (cards sold into the channel): ``cards:issued`` -> ``cards:liability``,
  the cards' value; the outstanding card value is the liability's balance.
- Redemption: ``cards:liability`` -> the wallet, the card's value as fixed at its
  activation. A package card credits the package's price *now*; when that differs
  from the value at activation the difference is settled against ``cards:issued``,
  so a package card always pays exactly one period.
- Blocking an activated card (a stolen box): its value goes back,
  ``cards:liability`` -> ``cards:issued``.

Every entry of a batch carries the reference ``cards:batch:ID`` (the serial is in the
memo), so the daily audit can compare, per batch, the value redeemed with the value
activated.
"""
from __future__ import annotations

from billing_core.ledger import TVU, Entry, Posting, transfer, wallet_account

CARDS_ISSUED = "cards:issued"
CARDS_LIABILITY = "cards:liability"

ACTIVATE = "card_activate"
REDEEM = "card_redeem"
BLOCK = "card_block"


def batch_ref(batch_id: int) -> str:
    return f"cards:batch:{batch_id}"


def activation(batch_id: int, tvu: int, memo: str = "") -> Entry:
    """Cards worth ``tvu`` in all were activated."""
    return transfer(ACTIVATE, TVU, CARDS_ISSUED, CARDS_LIABILITY, tvu, batch_ref(batch_id), memo)


def blocking(batch_id: int, tvu: int, memo: str = "") -> Entry:
    """Activated cards worth ``tvu`` in all were blocked: their value is withdrawn."""
    return transfer(BLOCK, TVU, CARDS_LIABILITY, CARDS_ISSUED, tvu, batch_ref(batch_id), memo)


def redemption(batch_id: int, card: str, value_tvu: int, credit_tvu: int, serial: str) -> Entry | None:
    """A card worth ``value_tvu`` (at activation) credits ``credit_tvu`` to ``card``'s wallet.

    None when nothing moves (a card worth nothing credited nothing).
    """
    if value_tvu < 0 or credit_tvu < 0:
        raise ValueError("card values are not negative")
    postings = []
    if value_tvu:
        postings.append(Posting(CARDS_LIABILITY, TVU, value_tvu))
    if credit_tvu:
        postings.append(Posting(wallet_account(card), TVU, -credit_tvu))
    if credit_tvu != value_tvu:
        postings.append(Posting(CARDS_ISSUED, TVU, credit_tvu - value_tvu))
    if not postings:
        return None
    return Entry(REDEEM, tuple(postings), batch_ref(batch_id), f"serial {serial}")


__all__ = ["CARDS_ISSUED", "CARDS_LIABILITY", "ACTIVATE", "REDEEM", "BLOCK", "batch_ref", "activation", "blocking",
           "redemption"]
