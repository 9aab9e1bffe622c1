"""Parsers for what a subscriber types on a USSD screen: text in, a clean value or None.

Pure; a None sends the subscriber back to the same screen with a hint. The billing core
checks each value again (a PIN's check digit, a card's length): these only stop what can
never be right before anything is looked up.
"""
from __future__ import annotations

import re
from typing import Callable

_SEPARATORS = re.compile(r"[\s\-.]")


def digits(text: str, low: int, high: int) -> str | None:
    value = _SEPARATORS.sub("", text or "")
    return value if value.isascii() and value.isdigit() and low <= len(value) <= high else None


def pin(text: str) -> str | None:
    """A scratch-card PIN: 10 to 20 digits, spaces and dashes allowed between groups."""
    return digits(text, 10, 20)


def card(text: str) -> str | None:
    """A smartcard number: 6 to 20 digits (the operator's exact length is checked later)."""
    return digits(text, 6, 20)


PARSERS: dict[str, Callable[[str], str | None]] = {"pin": pin, "card": card}

__all__ = ["PARSERS", "pin", "card", "digits"]
