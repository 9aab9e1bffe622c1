"""Money and TV units.

Money is an integer number of minor units plus an ISO 4217 code; never a float.
TV units (TVU) are plain non-negative integers at the edges and in storage; money
becomes TVU only through :class:`Rates`, which floors and returns the remainder so
that no minor unit is ever created or lost.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Mapping

from billing_core.errors import InvalidAmount, UnknownCurrency

# ISO 4217 minor-unit exponents for the currencies an operator in Africa meets.
EXPONENTS: Mapping[str, int] = {
    "AOA": 2, "BIF": 0, "BWP": 2, "CDF": 2, "CVE": 2, "DJF": 0, "DZD": 2, "EGP": 2,
    "ERN": 2, "ETB": 2, "EUR": 2, "GBP": 2, "GHS": 2, "GMD": 2, "GNF": 0, "KES": 2,
    "KMF": 0, "LRD": 2, "LSL": 2, "LYD": 3, "MAD": 2, "MGA": 2, "MRU": 2, "MUR": 2,
    "MWK": 2, "MZN": 2, "NAD": 2, "NGN": 2, "RWF": 0, "SCR": 2, "SDG": 2, "SLE": 2,
    "SOS": 2, "SSP": 2, "STN": 2, "SZL": 2, "TND": 3, "TZS": 2, "UGX": 0, "USD": 2,
    "XAF": 0, "XOF": 0, "ZAR": 2, "ZMW": 2, "ZWG": 2,
}

_CODE = re.compile(r"[A-Z]{3}")
_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,14})(?:\.([0-9]{1,3}))?")


def exponent(currency: str) -> int:
    """Minor-unit exponent of an ISO 4217 code; unknown codes are refused."""
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise UnknownCurrency(currency) from None


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in integer minor units of one currency (``Money(150000, "KES")`` is KES 1500.00)."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.minor) is not int:
            raise TypeError(f"Money.minor must be int, got {type(self.minor).__name__}")
        exponent(self.currency)

    @classmethod
    def parse(cls, text: str) -> Money:
        """Parse ``"KES 1500"`` or ``"KES 1500.00"``: code, one space, a plain decimal."""
        code, sep, amount = text.strip().partition(" ")
        if not sep or not _CODE.fullmatch(code):
            raise InvalidAmount(f"expected 'CODE AMOUNT', got {text!r}")
        return cls.of(amount.strip(), code)

    @classmethod
    def of(cls, amount: str, currency: str) -> Money:
        """Parse a plain decimal string in ``currency``: no sign, exponent or extra decimals."""
        match = _AMOUNT.fullmatch(amount)
        if not match:
            raise InvalidAmount(f"not a plain amount: {amount!r}")
        exp = exponent(currency)
        decimals = match.group(2) or ""
        if len(decimals) > exp:
            raise InvalidAmount(f"{currency} has {exp} decimals: {amount!r}")
        return cls(int(Decimal(amount).scaleb(exp)), currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __str__(self) -> str:
        exp = exponent(self.currency)
        sign = "-" if self.minor < 0 else ""
        whole, frac = divmod(abs(self.minor), 10**exp)
        return f"{self.currency} {sign}{whole}" + (f".{frac:0{exp}d}" if exp else "")


@dataclass(frozen=True, slots=True)
class Conversion:
    """Result of converting money to TVU: the units, and the money they cost."""

    tvu: int
    used: Money
    remainder: Money


class Rates:
    """Minor units of each currency per TVU (``{"KES": 100}``: 1 TVU = KES 1.00)."""

    def __init__(self, rates: Mapping[str, int]):
        for code, rate in rates.items():
            exponent(code)
            if type(rate) is not int or rate <= 0:
                raise ValueError(f"rate for {code} must be a positive integer")
        self._rates = dict(rates)

    def rate(self, currency: str) -> int:
        try:
            return self._rates[currency]
        except KeyError:
            raise UnknownCurrency(currency, "no TVU rate configured") from None

    def to_tvu(self, money: Money) -> Conversion:
        """Floor ``money`` to whole TVU; the remainder (less than one TVU) is returned."""
        if money.minor < 0:
            raise InvalidAmount("negative amount")
        rate = self.rate(money.currency)
        tvu, rest = divmod(money.minor, rate)
        return Conversion(tvu, Money(money.minor - rest, money.currency), Money(rest, money.currency))

    def to_money(self, tvu: int, currency: str) -> Money:
        return Money(tvu * self.rate(currency), currency)

    def __contains__(self, currency: str) -> bool:
        return currency in self._rates
