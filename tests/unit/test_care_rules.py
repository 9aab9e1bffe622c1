"""The pure decisions of customer care."""
from __future__ import annotations

from billing_core.care import days_lapsed, resume_plan, spread_s
from billing_core.money import Money
from billing_core.renewal import DAY_S, Status

NOW = 1_800_000_000


def test_resume_credits_only_the_paid_time_the_suspension_took():
    suspended = NOW - 10 * DAY_S
    plan = resume_plan(NOW + 5 * DAY_S, suspended, NOW, credit=True)
    assert (plan.status, plan.expires_at, plan.credited_s) == (Status.ACTIVE, NOW + 15 * DAY_S, 10 * DAY_S)
    ran_out = resume_plan(NOW - 6 * DAY_S, suspended, NOW, credit=True)  # 4 paid days inside the suspension
    assert (ran_out.status, ran_out.expires_at, ran_out.credited_s) == (Status.EXPIRED, NOW - 2 * DAY_S, 4 * DAY_S)


def test_resume_without_credit_or_never_activated():
    assert resume_plan(NOW - DAY_S, NOW - 9 * DAY_S, NOW, credit=False).status is Status.EXPIRED
    assert resume_plan(None, NOW - DAY_S, NOW, credit=True).status is Status.NEW
    lapsed_before = resume_plan(NOW - 20 * DAY_S, NOW - 10 * DAY_S, NOW, credit=True)
    assert lapsed_before.credited_s == 0  # nothing paid was running when it was suspended


def test_days_lapsed_and_the_broadcast_spread():
    assert days_lapsed(NOW - 5 * DAY_S - 1, NOW) == 5 and days_lapsed(NOW + 1, NOW) == 0
    assert spread_s(5, 2) == [0, 0, 1, 1, 2] and spread_s(0, 20) == []


def test_receipts_fit_one_sms_in_every_language():
    from billing_core.receipts import REF_MAX, Receipt
    from gateway.sms import replies
    from tv_notify.texts import NOTICES

    worst = {"card": "9" * 20, "package": "W" * replies.PACKAGE_NAME_MAX, "date": "2100-01-01",
             "wallet": -999_999_999, "tvu": 999_999_999, "price": 999_999_999,
             **Receipt.of(Money(100_000_000, "KES"), "mpesa:" + "R" * 64).values()}
    assert len(worst["ref"]) == REF_MAX
    for lang in NOTICES:
        for code in ("paid", "paid_inactive", "paid_renewed", "payment_reversed", "suspended", "resumed",
                     "terminated"):
            text = NOTICES[lang][code].format(**worst)
            assert text.isascii() and replies.gsm_length(text) <= 160, (lang, code, len(text))
