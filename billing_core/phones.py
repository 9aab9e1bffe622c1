"""Phone numbers (MSISDN): always E.164, parsed with phonenumbers in the operator's region."""
from __future__ import annotations

import functools

import phonenumbers

from billing_core.errors import InvalidMsisdn


def normalize_msisdn(text: str, region: str) -> str:
    """``0712 345678`` or ``254712345678`` in region KE -> ``+254712345678``.

    Valid numbers are remembered (parsing costs about a millisecond and every USSD hop,
    SMS and payment carries one); invalid ones raise each time."""
    return _normalize(text or "", region)


@functools.lru_cache(maxsize=100_000)
def _normalize(text: str, region: str) -> str:
    raw = text.strip()
    if not raw or len(raw) > 32:
        raise InvalidMsisdn(f"not a phone number: {raw[:32]!r}")
    if raw[0].isdigit() and len(raw) > 10:
        # Providers send international numbers without the plus (254712345678).
        candidate = "+" + raw
        try:
            parsed = phonenumbers.parse(candidate, None)
            if phonenumbers.is_valid_number(parsed):
                return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            pass
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidMsisdn(f"not a phone number: {mask(raw)}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidMsisdn(f"not a valid number: {mask(raw)}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask(msisdn: str | None) -> str:
    """For logs: ``+254712345678`` -> ``+2547*****678``."""
    if not msisdn:
        return ""
    keep_head = 5 if len(msisdn) > 9 else 2
    if len(msisdn) <= keep_head + 3:
        return "*" * len(msisdn)
    return msisdn[:keep_head] + "*" * (len(msisdn) - keep_head - 3) + msisdn[-3:]
