"""Money and TV units: strict parsing, exact printing, no mixing, conversion without loss."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.errors import InvalidAmount, UnknownCurrency
from billing_core.money import EXPONENTS, Money, Rates, exponent

CURRENCIES = st.sampled_from(sorted(EXPONENTS))
PARSE_WHOLE_DIGITS_MAX = 15  # the longest whole part a provider string may carry


@st.composite
def parsable_money(draw) -> Money:
    """Any non-negative amount whose printed form is within what parse accepts."""
    currency = draw(CURRENCIES)
    limit = 10 ** (PARSE_WHOLE_DIGITS_MAX + exponent(currency)) - 1
    return Money(draw(st.integers(min_value=0, max_value=limit)), currency)


# ----------------------------------------------------------------------------- parsing

@pytest.mark.parametrize(("text", "minor", "currency"), [
    ("KES 1500", 150000, "KES"),
    ("KES 1500.00", 150000, "KES"),
    ("KES 1500.5", 150050, "KES"),
    ("KES 0.01", 1, "KES"),
    ("KES 0", 0, "KES"),
    ("UGX 10", 10, "UGX"),
    ("LYD 1.234", 1234, "LYD"),
    ("XOF 999999999999999", 999999999999999, "XOF"),
])
def test_parse_reads_code_then_plain_decimal(text: str, minor: int, currency: str) -> None:
    assert Money.parse(text) == Money(minor, currency)


@pytest.mark.parametrize("text", [
    "",
    " ",
    "KES",
    "KES ",
    "1500 KES",
    "kes 1500",
    "KESS 1500",
    "KES1500",
    "KES -1500",
    "KES +1500",
    "KES 1e3",
    "KES 1E3",
    "KES 1500.001",
    "UGX 10.5",
    "UGX 10.0",
    "XOF 1.",
    "KES .5",
    "KES 1500.",
    "KES 01500",
    "KES 1,500",
    "KES 1 500",
    "KES 1_500",
    "KES NaN",
    "KES Infinity",
    "KES 0x10",
    "KES \u0661\u0665\u0660\u0660",  # Arabic-Indic digits
    "KES 1500 00",
    "KES 1234567890123456",  # a sixteen-digit whole part
])
def test_parse_refuses_anything_but_a_plain_amount(text: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(text)


@pytest.mark.parametrize("amount", ["-1", "+1", "1e3", " 1", "1 ", "", "1.2345", "1.000"])
def test_of_refuses_signs_exponents_spaces_and_extra_decimals(amount: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.of(amount, "KES")


@pytest.mark.parametrize(("amount", "currency"), [("10.5", "UGX"), ("1.5", "XOF"), ("1.001", "KES"),
                                                  ("1.50", "RWF")])
def test_of_refuses_more_decimals_than_the_currency_has(amount: str, currency: str) -> None:
    with pytest.raises(InvalidAmount, match=f"{currency} has {EXPONENTS[currency]} decimals"):
        Money.of(amount, currency)


@pytest.mark.parametrize("text", ["XYZ 10", "ABC 1.00"])
def test_parse_refuses_an_unknown_currency(text: str) -> None:
    with pytest.raises(UnknownCurrency):
        Money.parse(text)


def test_unknown_currency_is_refused_everywhere() -> None:
    with pytest.raises(UnknownCurrency):
        Money(100, "XYZ")
    with pytest.raises(UnknownCurrency):
        Money.of("1", "XYZ")
    with pytest.raises(UnknownCurrency):
        exponent("kes")


@pytest.mark.parametrize("minor", [1.0, 1.5, Decimal("1"), "100", True, None])
def test_minor_units_must_be_an_int(minor: object) -> None:
    with pytest.raises(TypeError):
        Money(minor, "KES")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- printing

@pytest.mark.parametrize(("money", "text"), [
    (Money(150000, "KES"), "KES 1500.00"),
    (Money(5, "KES"), "KES 0.05"),
    (Money(0, "KES"), "KES 0.00"),
    (Money(10, "UGX"), "UGX 10"),
    (Money(1005, "TND"), "TND 1.005"),
    (Money(-150, "KES"), "KES -1.50"),
])
def test_str_prints_every_minor_unit(money: Money, text: str) -> None:
    assert str(money) == text


@given(parsable_money())
def test_str_then_parse_is_the_identity(money: Money) -> None:
    assert Money.parse(str(money)) == money


@given(CURRENCIES, st.integers(min_value=1, max_value=10**20))
def test_negative_amounts_print_but_do_not_parse(currency: str, minor: int) -> None:
    text = str(Money(-minor, currency))
    assert "-" in text
    with pytest.raises(InvalidAmount):
        Money.parse(text)


# -------------------------------------------------------------------------- arithmetic

def test_same_currency_adds_and_subtracts_exactly() -> None:
    a, b = Money(150050, "KES"), Money(50, "KES")
    assert a + b == Money(150100, "KES")
    assert a - b == Money(150000, "KES")
    assert -b == Money(-50, "KES")


def test_arithmetic_across_currencies_raises() -> None:
    with pytest.raises(ValueError, match="currency mismatch"):
        Money(100, "KES") + Money(100, "UGX")
    with pytest.raises(ValueError, match="currency mismatch"):
        Money(100, "KES") - Money(100, "UGX")


@pytest.mark.parametrize("other", [1, 1.5, Decimal("1.5"), "1"])
def test_arithmetic_with_a_non_money_raises(other: object) -> None:
    with pytest.raises(TypeError):
        Money(100, "KES") + other  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(100, "KES") - other  # type: ignore[operator]
    with pytest.raises(TypeError):
        other + Money(100, "KES")  # type: ignore[operator]


# --------------------------------------------------------------------------- rates

def test_to_tvu_floors_and_keeps_the_remainder() -> None:
    conversion = Rates({"KES": 100}).to_tvu(Money(15050, "KES"))
    assert conversion.tvu == 150
    assert conversion.used == Money(15000, "KES")
    assert conversion.remainder == Money(50, "KES")


def test_less_than_one_tvu_is_all_remainder() -> None:
    conversion = Rates({"KES": 100}).to_tvu(Money(99, "KES"))
    assert (conversion.tvu, conversion.used, conversion.remainder) == (0, Money(0, "KES"), Money(99, "KES"))


@given(CURRENCIES, st.integers(min_value=0, max_value=10**18), st.integers(min_value=1, max_value=10**6))
def test_to_tvu_loses_no_minor_unit(currency: str, minor: int, rate: int) -> None:
    conversion = Rates({currency: rate}).to_tvu(Money(minor, currency))
    assert conversion.tvu * rate + conversion.remainder.minor == minor
    assert conversion.used + conversion.remainder == Money(minor, currency)
    assert conversion.used == Rates({currency: rate}).to_money(conversion.tvu, currency)
    assert 0 <= conversion.remainder.minor < rate
    assert conversion.tvu == minor // rate


def test_to_tvu_refuses_a_negative_amount() -> None:
    with pytest.raises(InvalidAmount):
        Rates({"KES": 100}).to_tvu(Money(-1, "KES"))


def test_a_currency_without_a_rate_is_refused() -> None:
    rates = Rates({"KES": 100})
    assert "KES" in rates and "UGX" not in rates
    with pytest.raises(UnknownCurrency):
        rates.to_tvu(Money(100, "UGX"))
    with pytest.raises(UnknownCurrency):
        rates.to_money(1, "UGX")


def test_rates_refuse_unknown_currencies_and_bad_rates() -> None:
    with pytest.raises(UnknownCurrency):
        Rates({"XYZ": 1})
    for bad in (0, -1, 1.5, "100"):
        with pytest.raises(ValueError):
            Rates({"KES": bad})  # type: ignore[dict-item]
