"""Reminder windows, the grace period and free days: pure arithmetic."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from billing_core.reminders import Window, expiry_decision, granted_until, reminder_due, windows
from billing_core.renewal import DAY_S, AtExpiry, Status, Subscription

NOW = 1_800_000_000
HOUR = 3_600


def sub(status: Status = Status.ACTIVE, expires_at: int | None = NOW, wallet: int = 0, price: int = 150) -> Subscription:
    return Subscription(status, expires_at, wallet, price, 30)


def test_windows_run_from_the_nearest_reminder_outwards():
    assert windows((3, 1)) == [Window(1, 0, DAY_S), Window(3, DAY_S, 3 * DAY_S)]
    assert windows([7]) == [Window(7, 0, 7 * DAY_S)]


def test_the_reminder_due_is_the_one_of_the_window_the_expiry_is_in():
    days = (3, 1)
    assert reminder_due(NOW + 3 * DAY_S + 1, NOW, days) is None
    assert reminder_due(NOW + 3 * DAY_S, NOW, days) == 3
    assert reminder_due(NOW + DAY_S + 1, NOW, days) == 3
    assert reminder_due(NOW + DAY_S, NOW, days) == 1
    assert reminder_due(NOW + 20 * HOUR, NOW, days) == 1  # late: only the nearest one
    assert reminder_due(NOW, NOW, days) is None
    assert reminder_due(None, NOW, days) is None


@given(st.integers(min_value=1, max_value=10 * DAY_S), st.lists(st.integers(1, 60), min_size=1, max_size=5,
                                                                unique=True))
def test_each_moment_before_expiry_is_in_at_most_one_window(left_s, days):
    due = reminder_due(NOW + left_s, NOW, days)
    inside = [w.days for w in windows(days) if w.after_s < left_s <= w.until_s]
    assert inside == ([] if due is None else [due])
    assert (due is not None) == (left_s <= max(days) * DAY_S)


def test_grace_delays_the_expiry_but_not_the_renewal():
    lapsed = sub(expires_at=NOW - HOUR)
    assert expiry_decision(lapsed, NOW, grace_s=0) is AtExpiry.EXPIRE
    assert expiry_decision(lapsed, NOW, grace_s=2 * HOUR) is AtExpiry.WAIT
    assert expiry_decision(lapsed, NOW, grace_s=HOUR) is AtExpiry.EXPIRE
    covered = sub(expires_at=NOW - HOUR, wallet=150)
    assert expiry_decision(covered, NOW, grace_s=2 * HOUR) is AtExpiry.RENEW
    assert expiry_decision(sub(expires_at=NOW + 1), NOW, grace_s=0) is AtExpiry.WAIT


def test_free_days_stack_on_a_running_period_or_start_now():
    assert granted_until(sub(expires_at=NOW + DAY_S), NOW, 7) == NOW + 8 * DAY_S
    assert granted_until(sub(expires_at=NOW - DAY_S), NOW, 7) == NOW + 7 * DAY_S
    assert granted_until(sub(Status.NEW, None), NOW, 2) == NOW + 2 * DAY_S
    assert granted_until(sub(Status.EXPIRED, NOW + DAY_S), NOW, 1) == NOW + DAY_S
