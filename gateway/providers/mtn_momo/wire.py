"""MTN MoMo Open API (collection product): the wire format, pure, no I/O.

Field names here are MTN's and stay in this package. Builders take our values
and return MTN's JSON; ``parse_*`` take MTN's JSON and return frozen values, or
raise :class:`WireError` when the body is not the documented shape.

Status and callback bodies share one shape::

    {"amount": "1000", "currency": "UGX", "externalId": "…", "payer": {"partyIdType": "MSISDN",
     "partyId": "256772123456"}, "status": "PENDING|SUCCESSFUL|FAILED",
     "financialTransactionId": "…", "reason": "…"}
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from billing_core.errors import InvalidAmount, UnknownCurrency
from billing_core.money import Money
# MTN's token reply and body errors are read the shared way; callers find them here too.
from gateway.providers.json_fields import TEXT_MAX, TXID, Token, WireError, parse_token, raw, text_field

PENDING, SUCCESSFUL, FAILED = "PENDING", "SUCCESSFUL", "FAILED"
# PENDING, SUCCESSFUL and FAILED are documented; some markets also answer the others.
_STATUSES = {"PENDING": PENDING, "ONGOING": PENDING, "SUCCESSFUL": SUCCESSFUL,
             "FAILED": FAILED, "REJECTED": FAILED, "TIMEOUT": FAILED}
NOTE_MAX = 160
_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,14})(?:\.([0-9]{1,6}))?")
_PARTY = re.compile(r"[1-9][0-9]{6,14}")


@dataclass(frozen=True, slots=True)
class PayStatus:
    """A request-to-pay as MTN reports it (status call or callback)."""

    status: str  # PENDING | SUCCESSFUL | FAILED
    amount: Money | None  # read only from a SUCCESSFUL body
    external_id: str
    party_id: str
    financial_transaction_id: str
    reason: str
    raw: str = ""  # the body as received, kept with the payment for audit


@dataclass(frozen=True, slots=True)
class CallbackHint:
    """What a callback claims; never credited from, only a reason to ask MTN."""

    external_id: str
    status: str


def is_reference(text: str) -> bool:
    """Whether ``text`` is a reference id we could have made (a canonical UUID)."""
    try:
        return str(uuid.UUID(text)) == text.lower()
    except (ValueError, AttributeError, TypeError):
        return False


def party_id(msisdn: str) -> str:
    """An E.164 number as MTN's ``partyId``: country code and number, no plus."""
    digits = msisdn.removeprefix("+")
    if not _PARTY.fullmatch(digits):
        raise WireError(f"not an E.164 number: {msisdn!r}")
    return digits


def amount_text(money: Money) -> str:
    """``UGX 1000`` -> ``"1000"``; ``EUR 5.50`` -> ``"5.50"`` (MTN's amount is a string)."""
    return str(money).partition(" ")[2]


def parse_amount(text: object, currency: object) -> Money:
    """MTN's amount in ``currency``: a string, or a whole JSON number as in MTN's own status
    example (``"amount": 100``); zeros past the currency's decimals are allowed."""
    if type(text) is int:
        text = str(text)
    if not isinstance(text, str) or not isinstance(currency, str):
        raise WireError("amount must be a string or a whole number, currency a string")
    match = _AMOUNT.fullmatch(text)
    if not match:
        raise WireError(f"not a plain amount: {text[:32]!r}")
    whole, fraction = match.group(1), (match.group(2) or "").rstrip("0")
    try:
        return Money.of(f"{whole}.{fraction}" if fraction else whole, currency)
    except (InvalidAmount, UnknownCurrency) as exc:
        raise WireError(f"amount {text!r} {currency!r}: {exc}") from None


def request_to_pay_body(amount: Money, msisdn: str, external_id: str, note: str) -> dict[str, Any]:
    note = note[:NOTE_MAX]
    return {"amount": amount_text(amount), "currency": amount.currency, "externalId": external_id,
            "payer": {"partyIdType": "MSISDN", "partyId": party_id(msisdn)},
            "payerMessage": note, "payeeNote": note}


def parse_status(body: object) -> PayStatus:
    """A status or callback body; a success must name its amount and transaction id."""
    doc = _object(body)
    status = _STATUSES.get(doc.get("status"))  # type: ignore[arg-type]
    if status is None:
        raise WireError(f"unknown status {str(doc.get('status'))[:32]!r}")
    txid = _id_field(doc, "financialTransactionId")
    amount = None
    if status == SUCCESSFUL:
        amount = parse_amount(doc.get("amount"), doc.get("currency"))
        if not TXID.fullmatch(txid):
            raise WireError("a SUCCESSFUL request needs a financialTransactionId")
    return PayStatus(status, amount, _id_field(doc, "externalId"), _payer(doc.get("payer")), txid,
                     _reason(doc.get("reason")), raw(doc))


def parse_callback(body: object) -> CallbackHint:
    """A callback body: a JSON object; its claims are only logged and used as a fallback id."""
    doc = _object(body)
    status = doc.get("status")
    return CallbackHint(_id_field(doc, "externalId"), status[:16] if isinstance(status, str) else "")


def parse_error(body: object) -> tuple[str, str]:
    """MTN's error body ``{"code": "PAYER_NOT_FOUND", "message": "…"}`` as (code, message)."""
    doc = body if isinstance(body, dict) else {}
    code, message = doc.get("code"), doc.get("message")
    return (code[:64] if isinstance(code, str) and code else "error",
            message[:TEXT_MAX] if isinstance(message, str) else "")


def _object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise WireError("expected a JSON object")
    return body


def _payer(payer: object) -> str:
    if payer is None:
        return ""
    if not isinstance(payer, dict):
        raise WireError("payer must be an object")
    return _id_field(payer, "partyId")


def _id_field(doc: dict[str, Any], key: str) -> str:
    """An id MTN writes as a string or, in its own documented status example, as a JSON
    number (``"financialTransactionId": 23503452``, ``"externalId": 947354``)."""
    value = doc.get(key)
    if type(value) is int:
        return str(value)
    return text_field(doc, key)


def _reason(reason: object) -> str:
    """``"APPROVAL_REJECTED"``, or in older versions ``{"code": …, "message": …}``."""
    if isinstance(reason, dict):
        reason = reason.get("code") or reason.get("message")
    return reason[:TEXT_MAX] if isinstance(reason, str) else ""
