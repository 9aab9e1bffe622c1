"""Renewal rules of the contract, as pure arithmetic on a subscription's state.

- A credit renews at once when the subscription is not active and the wallet
  now covers the package; the period starts now.
- An explicit renewal renews at once and stacks: the period starts at the current
  expiry when still active, now otherwise.
- At expiry the scheduler renews from the wallet when it covers the price;
  otherwise the subscription expires.
- A suspended subscriber keeps their credit but is never renewed.

Times are integer seconds since the epoch, UTC.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum

DAY_S = 86_400


class Status(str, Enum):
    NEW = "new"
    ACTIVE = "active"
    EXPIRED = "expired"
    SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class Subscription:
    status: Status
    expires_at: int | None
    wallet_tvu: int
    price_tvu: int
    days: int

    def is_active(self, now: int) -> bool:
        return self.status is Status.ACTIVE and self.expires_at is not None and self.expires_at > now

    def effective_status(self, now: int) -> Status:
        """What the subscriber sees: an active period that has run out is expired."""
        if self.status is Status.ACTIVE and not self.is_active(now):
            return Status.EXPIRED
        return self.status


@dataclass(frozen=True, slots=True)
class Period:
    starts_at: int
    ends_at: int


def period(sub: Subscription, now: int) -> Period:
    """The next period: stacked on the current one while active, from now otherwise."""
    start = sub.expires_at if sub.is_active(now) and sub.expires_at is not None else now
    return Period(start, start + sub.days * DAY_S)


def renews_after_credit(sub: Subscription, now: int) -> bool:
    """Whether a credit that left ``sub.wallet_tvu`` in the wallet renews at once."""
    return (
        sub.status is not Status.SUSPENDED
        and not sub.is_active(now)
        and sub.price_tvu > 0
        and sub.wallet_tvu >= sub.price_tvu
    )


def can_renew(sub: Subscription) -> bool:
    """Whether an explicit renewal (or the one at expiry) can be paid from the wallet."""
    return sub.status is not Status.SUSPENDED and sub.wallet_tvu >= sub.price_tvu


class AtExpiry(str, Enum):
    WAIT = "wait"
    RENEW = "renew"
    EXPIRE = "expire"


def at_expiry(sub: Subscription, now: int) -> AtExpiry:
    """The scheduler's decision for one subscription at ``now``."""
    if sub.status is not Status.ACTIVE or sub.is_active(now):
        return AtExpiry.WAIT
    return AtExpiry.RENEW if can_renew(sub) else AtExpiry.EXPIRE


def iso(ts: int | None) -> str | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` as the contract prints times, or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> int:
    """Parse an ISO 8601 date or date-time (naive means UTC) into epoch seconds."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp())
