"""Airtel Money Open API (collection): the wire format, pure, no I/O.

Field names here are Airtel's and stay in this package. Shapes::

    token      POST /auth/oauth2/token  {"client_id", "client_secret", "grant_type": "client_credentials"}
               -> {"access_token", "expires_in": "180" (a string or a number), "token_type"}
    collection POST /merchant/v1/payments/  {"reference", "subscriber": {"country", "currency",
               "msisdn" (national, no country code)}, "transaction": {"amount", "country",
               "currency", "id" (our reference)}}  -> {"data": {...}, "status": {"success",
               "response_code", "message", ...}}
    enquiry    GET /standard/v1/payments/{id} -> {"data": {"transaction": {"airtel_money_id", "id",
               "message", "status": "TS|TF|TA|TIP"}}, "status": {...}}
    callback   {"transaction": {"id", "message", "status_code": "TS|TF", "airtel_money_id"}, "hash"?}
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import phonenumbers

from billing_core.money import Money, exponent
# Airtel's token reply and body errors are read the shared way; callers find them here too.
from gateway.providers.json_fields import TXID, Token, WireError, parse_token, raw, text_field

TS, TF, TA, TIP = "TS", "TF", "TA", "TIP"  # success, failed, ambiguous, in progress
_STATUSES = (TS, TF, TA, TIP)
# Collection answers that leave the outcome open (ambiguous, in process): not refusals.
OPEN_RESPONSE_CODES = ("DP00800001000", "DP00800001006")
REFERENCE_MAX = 64
_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


@dataclass(frozen=True, slots=True)
class Reply:
    """Airtel's ``status`` block: whether the call did what was asked."""

    success: bool
    response_code: str
    message: str


@dataclass(frozen=True, slots=True)
class Enquiry:
    """A collection as Airtel reports it on enquiry."""

    status: str  # TS | TF | TA | TIP
    id: str
    airtel_money_id: str
    message: str
    response_code: str
    raw: str = ""


@dataclass(frozen=True, slots=True)
class CallbackHint:
    """What a callback claims; never credited from, only a reason to ask Airtel."""

    id: str
    status_code: str


def is_reference(text: object) -> bool:
    return isinstance(text, str) and bool(_ID.fullmatch(text))


def national_msisdn(msisdn: str, country: str) -> str:
    """An E.164 number of ``country`` as Airtel wants it: national digits, no country code."""
    try:
        parsed = phonenumbers.parse(msisdn, None)
    except phonenumbers.NumberParseException:
        raise WireError(f"not an E.164 number: {msisdn!r}") from None
    if phonenumbers.region_code_for_number(parsed) != country:
        raise WireError(f"not a number of {country}")
    return str(parsed.national_number)


def whole_amount(money: Money) -> int:
    """Airtel's amount is a JSON number; we send whole units only (never a float)."""
    whole, rest = divmod(money.minor, 10 ** exponent(money.currency))
    if rest:
        raise WireError(f"Airtel collects whole amounts, not {money}")
    return whole


def payment_body(reference: str, msisdn: str, amount: Money, country: str, text: str) -> dict[str, Any]:
    return {"reference": text[:REFERENCE_MAX],
            "subscriber": {"country": country, "currency": amount.currency, "msisdn": national_msisdn(msisdn, country)},
            "transaction": {"amount": whole_amount(amount), "country": country, "currency": amount.currency,
                            "id": reference}}


def token_body(client_id: str, client_secret: str) -> dict[str, str]:
    return {"client_id": client_id, "client_secret": client_secret, "grant_type": "client_credentials"}


def parse_reply(body: object) -> Reply:
    """The ``status`` block of any answer."""
    status = _object(_object(body).get("status"), "status")
    success = status.get("success")
    if not isinstance(success, bool):
        raise WireError("status.success must be true or false")
    return Reply(success, text_field(status, "response_code")[:64], text_field(status, "message"))


def parse_enquiry(body: object) -> Enquiry:
    doc = _object(body)
    reply = parse_reply(doc)
    tx = _object(_object(doc.get("data"), "data").get("transaction"), "data.transaction")
    status = tx.get("status")
    if status not in _STATUSES:
        raise WireError(f"unknown transaction status {str(status)[:16]!r}")
    money_id = text_field(tx, "airtel_money_id")
    if status == TS and not TXID.fullmatch(money_id):
        raise WireError("a TS transaction needs its airtel_money_id")
    return Enquiry(status, text_field(tx, "id"), money_id, text_field(tx, "message"), reply.response_code,
                   raw(doc))


def parse_callback(body: object) -> CallbackHint:
    tx = _object(_object(body).get("transaction"), "transaction")
    reference = tx.get("id")
    if not is_reference(reference):
        raise WireError("transaction.id is not one of our references")
    return CallbackHint(reference, text_field(tx, "status_code")[:4])  # type: ignore[arg-type]


def parse_error(body: object) -> tuple[str, str]:
    """(code, message) from whatever error body Airtel sent."""
    try:
        reply = parse_reply(body)
    except WireError:
        return "error", ""
    return reply.response_code or "error", reply.message


def _object(value: object, name: str = "body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(f"{name} must be a JSON object")
    return value
