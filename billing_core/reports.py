"""Reports over the books. The trial balance is the ledger's own check: every unit sums to zero."""
from __future__ import annotations

from dataclasses import dataclass

from billing_core.context import Billing
from billing_core.db import ledger_store


@dataclass(frozen=True, slots=True)
class LedgerLine:
    account: str
    unit: str
    balance: int

    def to_json(self) -> dict:
        return {"account": self.account, "unit": self.unit, "balance": self.balance}


async def trial_balance(billing: Billing) -> list[LedgerLine]:
    """Every account with a balance, by unit then account (debits positive)."""
    rows = await billing.db.read(ledger_store.trial_balance)
    return [LedgerLine(*row) for row in rows]


async def reverse_entry(billing: Billing, entry_id: int, reason: str, operator: str = "") -> int:
    """Correct a posted entry by a new, mirroring one; returns the reversal's id."""
    return await billing.db.write(ledger_store.reverse, entry_id, billing.now(), reason, created_by=operator)
