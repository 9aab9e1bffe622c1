"""Scratch-card numbers: serials, PINs, their check digits and the PIN's keyed hash (pure, no I/O).

Serial (printed on the card, not secret): ``BBBBB SSSSSSS C``, 13 digits: the batch
number (5), the card's sequence in its batch (7, from 1) and a Damm check digit.
Operators type serials (activation ranges, blocking a stolen box); the check digit
catches their typos before anything is looked up.

PIN (under the scratch panel, secret): ``pin_length`` digits (12-16, 14 by default):
``pin_length - 1`` digits from :mod:`secrets` (independent of the serial), then a
Damm check digit. Damm's check digit catches every single-digit error and every
transposition of two adjacent digits, so a subscriber's typo is answered
``pin_malformed`` before any lookup, and is not counted as a guess: the check digit
is public arithmetic, so that answer tells a guesser nothing about the cards.

The database keeps only ``HMAC-SHA256(key, pin)`` and the key's version. The key
lives in configuration (``security.pin_key``), never in the database, so a copy of
the database alone does not let anyone enumerate the 10^13 PINs.

Key rotation (``security.pin_key_version`` is stored with every card):

1. set ``security.pin_key_previous`` to the current key, ``security.pin_key`` to a new
   random key (32 bytes of hex, say) and add 1 to ``security.pin_key_version``;
2. restart: new batches are hashed with the new key; cards of the previous version
   still redeem (redemption tries the current key, then the previous one);
3. once ``tvtopup report cards`` shows no outstanding card of the old version
   (redeemed, blocked or expired), empty ``security.pin_key_previous``. Cards of
   older versions than the previous one no longer redeem.
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable

from billing_core.errors import DomainError, InvalidInput

# Damm's table: a quasigroup of order 10 that is weakly totally anti-symmetric.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)
_DIGIT = {chr(48 + d): d for d in range(10)}

SERIAL_BATCH_DIGITS = 5
SERIAL_SEQ_DIGITS = 7
SERIAL_LENGTH = SERIAL_BATCH_DIGITS + SERIAL_SEQ_DIGITS + 1
BATCH_MAX = 10 ** SERIAL_BATCH_DIGITS - 1
SEQ_MAX = 10 ** SERIAL_SEQ_DIGITS - 1
PIN_LENGTH_MIN, PIN_LENGTH_MAX = 12, 16
PIN_KEY_MIN_CHARS = 16


class PinMalformed(InvalidInput):
    """Not a PIN: wrong length, not digits, or the check digit is wrong (a typo)."""

    code = "pin_malformed"


class PinKeyMissing(DomainError):
    """``security.pin_key`` is not set (or too short): cards cannot be generated."""

    code = "pin_key_missing"
    http_status = 503


def damm(digits: str) -> int:
    """The Damm check digit of ``digits`` (ASCII digits)."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][_DIGIT[ch]]
    return interim


def damm_ok(digits: str) -> bool:
    """Whether ``digits`` ends with its correct check digit."""
    return len(digits) >= 2 and damm(digits) == 0


def _digits_only(text: str) -> str | None:
    if not text.isascii() or not text.isdigit():
        return None
    return text


# ---- serials --------------------------------------------------------------------------

def serial(batch_no: int, seq: int) -> str:
    """The printed serial of card ``seq`` of batch ``batch_no``."""
    if not 1 <= batch_no <= BATCH_MAX or not 1 <= seq <= SEQ_MAX:
        raise ValueError(f"no serial for batch {batch_no}, card {seq}")
    body = f"{batch_no:0{SERIAL_BATCH_DIGITS}d}{seq:0{SERIAL_SEQ_DIGITS}d}"
    return body + str(damm(body))


def parse_serial(text: str) -> tuple[int, int]:
    """(batch number, sequence) of a printed serial; InvalidInput naming what is wrong."""
    raw = (text or "").strip().replace(" ", "")
    digits = _digits_only(raw)
    if digits is None or len(digits) != SERIAL_LENGTH:
        raise InvalidInput(f"a card serial is {SERIAL_LENGTH} digits, got {raw[:20]!r}")
    if not damm_ok(digits):
        raise InvalidInput(f"serial {digits}: wrong check digit (a typo?)")
    batch_no, seq = int(digits[:SERIAL_BATCH_DIGITS]), int(digits[SERIAL_BATCH_DIGITS:-1])
    if batch_no == 0 or seq == 0:
        raise InvalidInput(f"serial {digits} names no card")
    return batch_no, seq


# ---- PINs -----------------------------------------------------------------------------

def new_pin(length: int, randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    """A fresh PIN of ``length`` digits: random digits, then the check digit.

    ``randbelow`` is :func:`secrets.randbelow`; tests pass a seeded one.
    """
    if not PIN_LENGTH_MIN <= length <= PIN_LENGTH_MAX:
        raise ValueError(f"PIN length must be {PIN_LENGTH_MIN}-{PIN_LENGTH_MAX}")
    body = f"{randbelow(10 ** (length - 1)):0{length - 1}d}"
    return body + str(damm(body))


def parse_pin(text: str) -> str:
    """The digits of a PIN as typed (spaces and dashes between groups allowed).

    Any length from 12 to 16 is accepted, so cards printed before a change of
    ``security.pin_length`` still redeem. Raises :class:`PinMalformed`.
    """
    raw = (text or "").strip().replace(" ", "").replace("-", "")
    digits = _digits_only(raw)
    if digits is None or not PIN_LENGTH_MIN <= len(digits) <= PIN_LENGTH_MAX:
        raise PinMalformed(f"a PIN is {PIN_LENGTH_MIN} to {PIN_LENGTH_MAX} digits")
    if not damm_ok(digits):
        raise PinMalformed("the PIN's check digit is wrong: please check the digits")
    return digits


def mask_pin(pin: str) -> str:
    """For logs: every digit but the last two hidden (``************34``)."""
    text = pin or ""
    return "*" * max(len(text) - 2, 0) + text[-2:] if len(text) > 4 else "*" * len(text)


# ---- keyed hash -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PinKey:
    version: int
    key: bytes = field(repr=False)

    def hash(self, pin: str) -> bytes:
        """HMAC-SHA256 of the PIN's digits: 32 bytes, what the database stores."""
        return hmac.digest(self.key, pin.encode("ascii"), "sha256")


@dataclass(frozen=True, slots=True)
class PinPolicy:
    """How PINs are made, hashed and watched, from ``[security]``.

    ``current`` is None when ``security.pin_key`` is empty: nothing can be generated
    and no PIN matches. ``previous`` (version ``current.version - 1``) is kept while
    a rotation is under way.
    """

    current: PinKey | None = None
    previous: PinKey | None = None
    pin_length: int = 14
    spike_per_minute: int = 100

    @classmethod
    def from_settings(cls, security: Any) -> PinPolicy:
        def key(secret: Any, version: int) -> PinKey | None:
            text = secret.reveal() if secret else ""
            return PinKey(version, text.encode("utf-8")) if text else None

        current = key(security.pin_key, security.pin_key_version)
        previous = key(security.pin_key_previous, security.pin_key_version - 1) if current else None
        return cls(current, previous, security.pin_length, security.pin_spike_per_minute)

    def generation_key(self) -> PinKey:
        """The key new cards are hashed with; refuses when none (or a weak one) is set."""
        if self.current is None:
            raise PinKeyMissing("security.pin_key is not set: configure a random key of at least "
                                f"{PIN_KEY_MIN_CHARS} characters (TVTOPUP_SECURITY__PIN_KEY) to generate cards")
        if len(self.current.key) < PIN_KEY_MIN_CHARS:
            raise PinKeyMissing(f"security.pin_key is shorter than {PIN_KEY_MIN_CHARS} characters")
        return self.current

    def candidates(self, pin: str) -> tuple[tuple[int, bytes], ...]:
        """(key version, hash) to look ``pin`` up with: current key first; empty without a key."""
        return tuple((k.version, k.hash(pin)) for k in (self.current, self.previous) if k is not None)


__all__ = ["PinMalformed", "PinKeyMissing", "PinKey", "PinPolicy", "damm", "damm_ok", "serial", "parse_serial",
           "new_pin", "parse_pin", "mask_pin", "SERIAL_LENGTH", "BATCH_MAX", "SEQ_MAX", "PIN_LENGTH_MIN",
           "PIN_LENGTH_MAX"]
