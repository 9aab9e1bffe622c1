"""Free TV days granted by an operator (outages, promotions): ``tvtopup subscriber grant-days``.

One transaction: the subscription is extended (stacked on a running period, or
active from now), the grant is recorded with who, why and when, and the
entitlement, an on-screen notice and an SMS are written to the outbox. The wallet
and the ledger are not touched: no value moves.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing_core.context import Billing
from billing_core.db import subscriber_store as store
from billing_core.errors import InvalidInput
from billing_core.renewal import iso

DAYS_MAX = 366
REASON_MAX = 255
OPERATOR_MAX = 64


@dataclass(frozen=True, slots=True)
class Granted:
    id: int
    card: str
    days: int
    reason: str
    created_by: str
    expires_before: int | None
    expires_at: int
    created_at: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "card": self.card, "days": self.days, "reason": self.reason,
                "created_by": self.created_by, "expires_before": iso(self.expires_before),
                "expires_at": iso(self.expires_at), "created_at": iso(self.created_at)}


async def grant_days(billing: Billing, card: str, days: int, *, reason: str, operator: str) -> Granted:
    """Give ``days`` free days to ``card``; refuses a suspended card or one without a package."""
    card = billing.card(card)
    if type(days) is not int or not 1 <= days <= DAYS_MAX:
        raise InvalidInput(f"days must be a whole number from 1 to {DAYS_MAX}")
    reason = (reason or "").strip()
    if not reason or len(reason) > REASON_MAX:
        raise InvalidInput(f"a grant needs a reason of at most {REASON_MAX} characters")
    operator = (operator or "").strip()[:OPERATOR_MAX]
    done = await billing.db.write(store.grant_days, card, days, reason, operator, billing.now())
    return Granted(done.id, card, days, reason, operator, done.expires_before, done.subscriber.expires_at,
                   done.created_at)


__all__ = ["Granted", "grant_days"]
