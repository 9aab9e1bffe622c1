"""Pure rules for reminders, the grace period and free days (beside ``renewal``; no I/O).

- Reminders go out ``days`` before expiry for each configured ``days`` (default 3
  and 1), once each. A subscription that enters a window late (renewed for a short
  period, or the scheduler was down) gets only the reminder of the window it is in:
  with 20 hours left, the 1-day reminder, not also the 3-day one.
- The grace period delays the *expiry* only: at expiry a covering wallet still
  renews at once; a wallet that falls short is revoked ``grace_s`` later (a credit
  in between renews at once, as for any lapsed subscription).
- Free days extend a running period, or start one now for a subscription that is
  not running; the wallet is not touched.

Times are integer seconds since the epoch, UTC.
"""
from __future__ import annotations

from dataclasses import dataclass

from billing_core.renewal import DAY_S, AtExpiry, Status, Subscription, at_expiry

HOUR_S = 3_600


@dataclass(frozen=True, slots=True)
class Window:
    """Subscriptions expiring in ``(now + after_s, now + until_s]`` are due the ``days`` reminder."""

    days: int
    after_s: int
    until_s: int


def windows(reminder_days: tuple[int, ...] | list[int]) -> list[Window]:
    """One window per configured reminder, nearest expiry first: [3, 1] -> (0, 1 d], (1 d, 3 d]."""
    ordered = sorted(set(reminder_days))
    return [Window(d, (ordered[i - 1] if i else 0) * DAY_S, d * DAY_S) for i, d in enumerate(ordered)]


def reminder_due(expires_at: int | None, now: int, reminder_days: tuple[int, ...] | list[int]) -> int | None:
    """Which reminder (its ``days``) a subscription expiring at ``expires_at`` is due now, if any."""
    if expires_at is None or expires_at <= now:
        return None
    left = expires_at - now
    for window in windows(reminder_days):
        if window.after_s < left <= window.until_s:
            return window.days
    return None


def expiry_decision(sub: Subscription, now: int, grace_s: int = 0) -> AtExpiry:
    """The scheduler's decision with a grace period: renew at expiry, expire ``grace_s`` after it."""
    decision = at_expiry(sub, now)
    if decision is AtExpiry.EXPIRE and sub.expires_at is not None and sub.expires_at + grace_s > now:
        return AtExpiry.WAIT
    return decision


def granted_until(sub: Subscription, now: int, days: int) -> int:
    """The expiry after ``days`` free days: stacked on a running period, from now otherwise."""
    start = sub.expires_at if sub.is_active(now) and sub.expires_at is not None else now
    return start + days * DAY_S


def can_grant(sub: Subscription) -> bool:
    """Free days go to any subscription but a suspended one."""
    return sub.status is not Status.SUSPENDED


__all__ = ["HOUR_S", "Window", "can_grant", "expiry_decision", "granted_until", "reminder_due", "windows"]
