"""Receipts: what a subscriber is told when a payment is credited (SMS and on-screen).

A receipt names the amount and currency paid, the provider's (or agency's) reference and
the new expiry, in the subscriber's language (``paid``, ``paid_inactive``,
``paid_renewed`` in ``tv_notify.texts``). Value that is not a payment (scratch cards,
free grants) keeps the plain ``credited``/``renewed`` notices.
"""
from __future__ import annotations

from dataclasses import dataclass

from billing_core.money import Money

REF_MAX = 20  # a long bank or agency reference is cut so the receipt stays one SMS


@dataclass(frozen=True, slots=True)
class Receipt:
    amount: str  # "KES 1500.00"
    ref: str  # the provider's transaction id or the agency's receipt number

    @classmethod
    def of(cls, amount: Money, ref: str) -> Receipt:
        """From a ledger reference (``mpesa:QAB1234567``, ``assign:mpesa:QAB…``): its last part."""
        tail = ref.rsplit(":", 1)[-1]
        return cls(str(amount), tail if len(tail) <= REF_MAX else tail[:REF_MAX - 2] + "..")

    def values(self) -> dict[str, str]:
        return {"amount": self.amount, "ref": self.ref}


__all__ = ["Receipt", "REF_MAX"]
