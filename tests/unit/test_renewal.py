"""Renewal arithmetic of the contract's billing rules, times in the contract's format, and phones."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.errors import InvalidMsisdn
from billing_core.phones import mask, normalize_msisdn
from billing_core.renewal import (
    DAY_S,
    AtExpiry,
    Period,
    Status,
    Subscription,
    at_expiry,
    can_renew,
    iso,
    parse_iso,
    period,
    renews_after_credit,
)

NOW = 1_800_000_000
PRICE, DAYS = 300, 30
LATER = NOW + 5 * DAY_S
EARLIER = NOW - 5 * DAY_S


def sub(status: Status, expires_at: int | None = None, wallet_tvu: int = 0, price_tvu: int = PRICE) -> Subscription:
    return Subscription(status, expires_at, wallet_tvu, price_tvu, DAYS)


# ------------------------------------------------------------------------------ periods

def test_an_active_period_stacks_on_the_current_expiry() -> None:
    assert period(sub(Status.ACTIVE, LATER), NOW) == Period(LATER, LATER + DAYS * DAY_S)


@pytest.mark.parametrize("subscription", [
    sub(Status.NEW),
    sub(Status.EXPIRED, EARLIER),
    sub(Status.ACTIVE, EARLIER),  # ran out, the scheduler has not seen it yet
    sub(Status.ACTIVE, NOW),  # runs out this very second
])
def test_a_period_of_a_lapsed_subscription_starts_now(subscription: Subscription) -> None:
    assert period(subscription, NOW) == Period(NOW, NOW + DAYS * DAY_S)


# ----------------------------------------------------------------------- after a credit

@pytest.mark.parametrize(("subscription", "renews"), [
    (sub(Status.NEW, wallet_tvu=PRICE), True),
    (sub(Status.NEW, wallet_tvu=PRICE + 1), True),
    (sub(Status.NEW, wallet_tvu=PRICE - 1), False),
    (sub(Status.EXPIRED, EARLIER, wallet_tvu=PRICE), True),
    (sub(Status.ACTIVE, EARLIER, wallet_tvu=PRICE), True),
    (sub(Status.ACTIVE, LATER, wallet_tvu=PRICE * 10), False),
    (sub(Status.SUSPENDED, wallet_tvu=PRICE * 10), False),
    (sub(Status.SUSPENDED, EARLIER, wallet_tvu=PRICE * 10), False),
    (sub(Status.NEW, wallet_tvu=5, price_tvu=0), False),  # no price, nothing to pay for
])
def test_renews_after_credit(subscription: Subscription, renews: bool) -> None:
    assert renews_after_credit(subscription, NOW) is renews


@pytest.mark.parametrize(("subscription", "ok"), [
    (sub(Status.ACTIVE, LATER, wallet_tvu=PRICE), True),
    (sub(Status.ACTIVE, LATER, wallet_tvu=PRICE - 1), False),
    (sub(Status.NEW, wallet_tvu=PRICE), True),
    (sub(Status.SUSPENDED, wallet_tvu=PRICE), False),
])
def test_can_renew_explicitly_when_the_wallet_covers(subscription: Subscription, ok: bool) -> None:
    assert can_renew(subscription) is ok


# -------------------------------------------------------------------------- at expiry

@pytest.mark.parametrize(("subscription", "decision"), [
    (sub(Status.ACTIVE, LATER, wallet_tvu=PRICE), AtExpiry.WAIT),
    (sub(Status.ACTIVE, NOW, wallet_tvu=PRICE), AtExpiry.RENEW),
    (sub(Status.ACTIVE, EARLIER, wallet_tvu=PRICE), AtExpiry.RENEW),
    (sub(Status.ACTIVE, NOW, wallet_tvu=PRICE - 1), AtExpiry.EXPIRE),
    (sub(Status.ACTIVE, EARLIER, wallet_tvu=0), AtExpiry.EXPIRE),
    (sub(Status.EXPIRED, EARLIER, wallet_tvu=PRICE), AtExpiry.WAIT),
    (sub(Status.NEW, wallet_tvu=PRICE), AtExpiry.WAIT),
    (sub(Status.SUSPENDED, EARLIER, wallet_tvu=PRICE), AtExpiry.WAIT),
])
def test_at_expiry(subscription: Subscription, decision: AtExpiry) -> None:
    assert at_expiry(subscription, NOW) is decision


@pytest.mark.parametrize(("subscription", "status"), [
    (sub(Status.ACTIVE, LATER), Status.ACTIVE),
    (sub(Status.ACTIVE, NOW), Status.EXPIRED),
    (sub(Status.ACTIVE, EARLIER), Status.EXPIRED),
    (sub(Status.ACTIVE, None), Status.EXPIRED),
    (sub(Status.NEW), Status.NEW),
    (sub(Status.EXPIRED, EARLIER), Status.EXPIRED),
    (sub(Status.SUSPENDED, LATER), Status.SUSPENDED),
])
def test_effective_status(subscription: Subscription, status: Status) -> None:
    assert subscription.effective_status(NOW) is status


# ---------------------------------------------------------------------------- times

def test_iso_prints_the_contract_format() -> None:
    assert iso(0) == "1970-01-01T00:00:00Z"
    assert iso(NOW) == "2027-01-15T08:00:00Z"
    assert iso(None) is None


@given(st.integers(min_value=0, max_value=253_402_300_799))  # up to 9999-12-31T23:59:59Z
def test_iso_then_parse_iso_is_the_identity(ts: int) -> None:
    assert parse_iso(iso(ts)) == ts


@pytest.mark.parametrize(("text", "ts"), [
    ("2027-01-15", 1_799_971_200),
    ("2027-01-15T08:00:00", NOW),
    ("2027-01-15T08:00:00Z", NOW),
    ("2027-01-15T11:00:00+03:00", NOW),
    (" 2027-01-15T08:00:00Z ", NOW),
])
def test_parse_iso_reads_dates_and_offsets(text: str, ts: int) -> None:
    assert parse_iso(text) == ts


@pytest.mark.parametrize("text", ["", "15/01/2027", "2027-13-01", "tomorrow"])
def test_parse_iso_refuses_other_formats(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso(text)


# ---------------------------------------------------------------------------- phones

@pytest.mark.parametrize("text", ["0712345678", "254712345678", "+254712345678", " 0712 345678 ",
                                  "+254 712 345 678"])
def test_kenyan_numbers_normalize_to_e164(text: str) -> None:
    assert normalize_msisdn(text, "KE") == "+254712345678"


def test_an_international_number_keeps_its_country_in_another_region() -> None:
    assert normalize_msisdn("256712345678", "KE") == "+256712345678"
    assert normalize_msisdn("0712345678", "UG") == "+256712345678"


@pytest.mark.parametrize("text", ["", "   ", None, "abc", "12345", "0712", "07123456789012",
                                  "+999712345678", "0012345678", "x" * 40])
def test_invalid_numbers_are_refused(text: str | None) -> None:
    with pytest.raises(InvalidMsisdn):
        normalize_msisdn(text, "KE")  # type: ignore[arg-type]


def test_invalid_number_message_does_not_echo_the_whole_number() -> None:
    with pytest.raises(InvalidMsisdn) as info:
        normalize_msisdn("0000123456789", "KE")
    assert "0000123456789" not in str(info.value)


def test_mask_hides_the_middle() -> None:
    masked = mask("+254712345678")
    assert masked == "+2547*****678"
    assert len(masked) == len("+254712345678")
    assert "12345" not in masked


@pytest.mark.parametrize(("msisdn", "masked"), [(None, ""), ("", ""), ("12345", "*****"),
                                                ("123456789", "12****789")])
def test_mask_of_short_values_hides_them(msisdn: str | None, masked: str) -> None:
    assert mask(msisdn) == masked
