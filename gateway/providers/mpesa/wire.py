"""Safaricom Daraja's wire formats: parse what M-Pesa sends, build what we send and reply.

Pure and synchronous, no I/O. Daraja's field names (``TransID``, ``BillRefNumber``,
``ResultCode``, …) live in this module only: the handlers see :class:`C2BPayment` and
:class:`StkResult`; billing_core sees a ``PaymentNotice`` or a ``Settlement``.

    WireError       the body is not a well-formed Daraja payload (``.reason`` says why)
    └── BadAmount   well-formed, but the amount is not a plain amount of more than zero

Amounts follow the contract: text or a JSON number, read through its written form
(``1500``, ``"1500.00"``, ``1500.5``), matching ``\\d+(\\.\\d{1,2})?``: no sign, no exponent,
at most two decimals. Daraja's times (``TransTime``) are Kenyan local time, UTC+3.
"""
from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Mapping

from billing_core.db.payment_store import PaymentNotice, Settlement
from billing_core.errors import InvalidAmount, InvalidInput
from billing_core.money import Money

PROVIDER = "mpesa"
CURRENCY = "KES"
NAIROBI = timezone(timedelta(hours=3), "EAT")  # Kenya keeps no daylight saving time

TRANS_ID = re.compile(r"[A-Z0-9]{10}")
AMOUNT = re.compile(r"[0-9]{1,15}(\.[0-9]{1,2})?")
DIGITS = re.compile(r"[0-9]{1,20}")
STAMP = re.compile(r"[0-9]{14}")
REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MSISDN_GIVEN = re.compile(r"[0-9A-Za-z*+]{0,64}")  # STK PhoneNumber: digits (masked or hashed tolerated)
INFO_MAX = 64  # an informational field (phone number, names) is kept up to this length

REJECT_MSISDN = "C2B00011"
REJECT_ACCOUNT = "C2B00012"
REJECT_AMOUNT = "C2B00013"
REJECT_OTHER = "C2B00016"

ACCOUNT_REFERENCE_MAX = 12
TRANSACTION_DESC_MAX = 13
METADATA_ITEMS_MAX = 20


class WireError(ValueError):
    """A Daraja payload we cannot take; ``reason`` goes back in ``ResultDesc``."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class BadAmount(WireError):
    """The amount of an otherwise well-formed payload is unacceptable."""


# ---- the JSON body ------------------------------------------------------------------------

def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def decode(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body; numbers with a fraction stay as written (Decimal)."""
    try:
        doc = json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise WireError("body is not UTF-8") from None
    except (ValueError, RecursionError):
        raise WireError("body is not JSON") from None
    if not isinstance(doc, dict):
        raise WireError("body is not a JSON object")
    return doc


def _text(doc: Mapping[str, Any], key: str, *, max_len: int = 64, pattern: re.Pattern | None = None,
          required: bool = True, numbers: bool = False) -> str:
    """A text field; ``numbers`` also takes a JSON integer (some senders write ids as numbers)."""
    value = doc.get(key)
    if value is None:
        if required:
            raise WireError(f"{key} is missing")
        return ""
    if numbers and type(value) is int:
        value = str(value)
    if not isinstance(value, str):
        raise WireError(f"{key} must be a string")
    if len(value) > max_len:
        raise WireError(f"{key} is longer than {max_len} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise WireError(f"{key} is malformed")
    return value


def _object(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise WireError(f"{key} must be an object")
    return value


def amount_text(value: object, key: str) -> str:
    """An amount as written: a string, or a JSON number in its decimal form."""
    if type(value) is int or isinstance(value, Decimal):
        return str(value)
    if type(value) is float:
        return repr(value) if math.isfinite(value) else "nan"
    if isinstance(value, str):
        return value
    raise BadAmount(f"{key} must be a string or a number")


def plain_amount(text: str, key: str) -> Money:
    """A plain KES amount (zero allowed); BadAmount for anything else."""
    if not AMOUNT.fullmatch(text):
        raise BadAmount(f"{key} is not a plain amount: {text[:24]!r}")
    return Money.of(str(Decimal(text)), CURRENCY)  # Decimal drops leading zeros ("0150")


def parse_amount(value: object, key: str) -> Money:
    """A positive KES amount, from a string or a JSON number."""
    if value is None:
        raise WireError(f"{key} is missing")
    amount = plain_amount(amount_text(value, key), key)
    if amount.minor <= 0:
        raise BadAmount(f"{key} must be more than zero")
    return amount


def parse_time(value: object, key: str) -> int:
    """``YYYYMMDDHHmmss`` in Kenyan time (text or JSON integer) -> epoch seconds."""
    text = _text({key: value}, key, max_len=14, pattern=STAMP, numbers=True)
    try:
        local = datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                         int(text[12:14]), tzinfo=NAIROBI)
    except ValueError:
        raise WireError(f"{key} is not a valid date and time") from None
    return int(local.timestamp())


def timestamp(epoch_s: int) -> str:
    """Epoch seconds -> Daraja's ``YYYYMMDDHHmmss`` in Kenyan time."""
    return datetime.fromtimestamp(epoch_s, NAIROBI).strftime("%Y%m%d%H%M%S")


# ---- C2B validation and confirmation ------------------------------------------------------

@dataclass(frozen=True, slots=True)
class C2BPayment:
    """A C2B (paybill) payment as Daraja reports it; ``received_at`` is ``TransTime`` in epoch s."""

    transaction_type: str
    trans_id: str
    received_at: int
    amount: Money
    short_code: str
    bill_ref: str
    invoice: str
    org_balance: str
    third_party_id: str
    msisdn: str
    first_name: str
    middle_name: str
    last_name: str


def _org_balance(doc: Mapping[str, Any]) -> str:
    value = doc.get("OrgAccountBalance")
    if type(value) is int or isinstance(value, Decimal):
        value = str(value)
    return _text({"OrgAccountBalance": value}, "OrgAccountBalance", max_len=32, required=False)


def _informational(value: object) -> str:
    """A field that identifies nobody and decides nothing (``MSISDN``, the names), as given:
    plain (254708374149, also a JSON number), masked with or without spaces (``2547 ***** 126``,
    ``25470****149``), hashed (hex), empty or absent. Never a reason to refuse a payment: a
    value that is not printable text is dropped, a long one cut to ``INFO_MAX``."""
    if type(value) is int:
        value = str(value)
    if not isinstance(value, str) or not value.isprintable():
        return ""
    return value.strip()[:INFO_MAX]


def parse_c2b(doc: Mapping[str, Any]) -> C2BPayment:
    """A validation or confirmation payload, C2B v1 or v2. Strict on what decides the payment
    (``TransID``, ``TransTime``, ``TransAmount``, ``BillRefNumber``, the short code); lenient on
    what only describes the payer (:func:`_informational`). The amount is read last, so that
    BadAmount means "well-formed, but that amount": validation rejects it with ``C2B00013``."""
    fields = dict(
        transaction_type=_text(doc, "TransactionType", max_len=32),
        trans_id=_text(doc, "TransID", pattern=TRANS_ID),
        received_at=parse_time(doc.get("TransTime"), "TransTime"),
        short_code=_text(doc, "BusinessShortCode", pattern=DIGITS, numbers=True),
        bill_ref=_text(doc, "BillRefNumber", max_len=40),
        invoice=_text(doc, "InvoiceNumber", max_len=40, required=False),
        org_balance=_org_balance(doc),
        third_party_id=_text(doc, "ThirdPartyTransID", required=False),
        msisdn=_informational(doc.get("MSISDN")),
        first_name=_informational(doc.get("FirstName")),
        middle_name=_informational(doc.get("MiddleName")),
        last_name=_informational(doc.get("LastName")),
    )
    return C2BPayment(amount=parse_amount(doc.get("TransAmount"), "TransAmount"), **fields)


def notice(payment: C2BPayment, raw: str) -> PaymentNotice:
    """The payment in billing's words: ``BillRefNumber`` is the card, ``TransID`` the key."""
    return PaymentNotice(provider=PROVIDER, txid=payment.trans_id, account=payment.bill_ref, amount=payment.amount,
                         msisdn=payment.msisdn, received_at=payment.received_at, raw=raw)


# ---- STK push (M-Pesa Express) ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StkResult:
    """``Body.stkCallback``: the final word on one STK push. Metadata only on success."""

    merchant_request_id: str
    checkout_request_id: str
    result_code: int
    result_desc: str
    amount: Money | None = None
    receipt: str = ""
    paid_at: int | None = None
    phone: str = ""

    @property
    def success(self) -> bool:
        return self.result_code == 0


def _result_code(doc: Mapping[str, Any]) -> int:
    value = doc.get("ResultCode")
    if isinstance(value, str) and DIGITS.fullmatch(value):
        value = int(value)
    if type(value) is not int or not 0 <= value < 10**9:
        raise WireError("ResultCode must be a whole number")
    return value


def _metadata(callback: Mapping[str, Any]) -> dict[str, Any]:
    """``CallbackMetadata.Item`` as ``{Name: Value}`` (an item may come without a Value)."""
    items = _object(callback, "CallbackMetadata").get("Item")
    if not isinstance(items, list) or len(items) > METADATA_ITEMS_MAX:
        raise WireError(f"CallbackMetadata.Item must be a list of at most {METADATA_ITEMS_MAX} items")
    named: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise WireError("each CallbackMetadata item needs a Name")
        if item["Name"] in named:
            raise WireError(f"CallbackMetadata names {item['Name']} twice")
        named[item["Name"]] = item.get("Value")
    return named


def parse_stk_callback(doc: Mapping[str, Any]) -> StkResult:
    callback = _object(_object(doc, "Body"), "stkCallback")
    head = dict(merchant_request_id=_text(callback, "MerchantRequestID", pattern=REQUEST_ID),
                checkout_request_id=_text(callback, "CheckoutRequestID", pattern=REQUEST_ID),
                result_code=_result_code(callback),
                result_desc=_text(callback, "ResultDesc", max_len=255))
    if head["result_code"] != 0:
        return StkResult(**head)
    items = _metadata(callback)
    paid_at = items.get("TransactionDate")
    return StkResult(**head, receipt=_text(items, "MpesaReceiptNumber", pattern=TRANS_ID),
                     amount=parse_amount(items.get("Amount"), "Amount"),
                     paid_at=None if paid_at is None else parse_time(paid_at, "TransactionDate"),
                     phone=_text(items, "PhoneNumber", pattern=MSISDN_GIVEN, required=False, numbers=True))


def settlement(result: StkResult, raw: str) -> Settlement:
    """The request's outcome in billing's words (the payer's number stays the request's)."""
    return Settlement(success=result.success, txid=result.receipt, amount=result.amount,
                      result_code=str(result.result_code), result_desc=result.result_desc, raw=raw)


def whole_shillings(amount: Money) -> int:
    """STK push takes whole shillings only."""
    if amount.currency != CURRENCY:
        raise InvalidAmount(f"M-Pesa takes {CURRENCY}, not {amount.currency}")
    shillings, cents = divmod(amount.minor, 100)
    if cents or shillings <= 0:
        raise InvalidAmount(f"M-Pesa takes whole shillings of at least 1, not {amount}")
    return shillings


def account_reference(card: str) -> str:
    if not card or len(card) > ACCOUNT_REFERENCE_MAX:
        raise InvalidInput(f"M-Pesa takes an account reference of at most {ACCOUNT_REFERENCE_MAX} characters")
    return card


def party(msisdn: str) -> str:
    """``+254712345678`` -> ``254712345678`` (Daraja's PartyA and PhoneNumber)."""
    digits = msisdn.removeprefix("+")
    if not digits.isascii() or not digits.isdigit() or not 9 <= len(digits) <= 15:
        raise InvalidInput("an STK push needs the payer's number in E.164")
    return digits


def password(short_code: str, passkey: str, stamp: str) -> str:
    return base64.b64encode(f"{short_code}{passkey}{stamp}".encode()).decode()


@dataclass(frozen=True, slots=True)
class StkPush:
    """What one STK push asks for, in our words."""

    short_code: str
    passkey: str
    stamp: str
    amount: Money
    msisdn: str
    callback_url: str
    card: str
    description: str


def stk_push_body(push: StkPush) -> dict[str, Any]:
    """The ``processrequest`` body (paybill: PartyB is the business short code)."""
    phone = party(push.msisdn)
    return {"BusinessShortCode": push.short_code, "Password": password(push.short_code, push.passkey, push.stamp),
            "Timestamp": push.stamp, "TransactionType": "CustomerPayBillOnline",
            "Amount": whole_shillings(push.amount), "PartyA": phone, "PartyB": push.short_code,
            "PhoneNumber": phone, "CallBackURL": push.callback_url,
            "AccountReference": account_reference(push.card),
            "TransactionDesc": push.description[:TRANSACTION_DESC_MAX]}


def parse_push_accepted(doc: Mapping[str, Any]) -> str:
    """The ``CheckoutRequestID`` of an accepted push (``ResponseCode`` "0")."""
    if str(doc.get("ResponseCode")) != "0":
        raise WireError("ResponseCode is not 0")
    return _text(doc, "CheckoutRequestID", pattern=REQUEST_ID)


def parse_token(doc: Mapping[str, Any]) -> tuple[str, int]:
    """``{"access_token", "expires_in": "3599"}`` -> (token, seconds)."""
    token = _text(doc, "access_token", max_len=4096)
    expires = _text(doc, "expires_in", max_len=9, pattern=DIGITS, numbers=True)
    if not token:
        raise WireError("access_token is empty")
    return token, int(expires)


def error_of(doc: Mapping[str, Any]) -> tuple[str, str]:
    """(code, message) of a Daraja error answer: ``errorCode/errorMessage``, or
    ``ResponseCode/ResponseDescription`` for a push that was answered but refused."""
    for code_key, message_key in (("errorCode", "errorMessage"), ("ResponseCode", "ResponseDescription")):
        code = doc.get(code_key)
        if isinstance(code, (str, int)) and type(code) is not bool:
            message = doc.get(message_key)
            return str(code)[:32], (message if isinstance(message, str) else "")[:255]
    return "", ""


# ---- STK query (M-Pesa Express Query) -------------------------------------------------------

# The query's answer while the push is still open: HTTP 500, errorCode 500.001.1001,
# errorMessage "The transaction is being processed" (safaricom/LNMOnlineAndroidSample issue 13,
# where Safaricom's developers call it the standard answer for a push still in progress).
STILL_PROCESSING = "being processed"
# A ResultCode some integrators report for a push still open ("The transaction is still under
# processing"); not in Daraja's result code table: an assumption, docs/providers/daraja.md.
RESULT_STILL_PROCESSING = 4999


def stk_query_body(short_code: str, passkey: str, stamp: str, checkout_id: str) -> dict[str, Any]:
    """The ``stkpushquery/v1/query`` body (Password as for the push)."""
    return {"BusinessShortCode": short_code, "Password": password(short_code, passkey, stamp),
            "Timestamp": stamp, "CheckoutRequestID": checkout_id}


@dataclass(frozen=True, slots=True)
class StkQueryAnswer:
    """Daraja's answer to an STK query: final (a ResultCode) or still open (``pending``)."""

    pending: bool
    result_code: int = -1
    result_desc: str = ""

    @property
    def success(self) -> bool:
        return not self.pending and self.result_code == 0


def parse_stk_query(status: int, doc: Mapping[str, Any]) -> StkQueryAnswer:
    """Read a query answer. WireError: neither a result nor the "being processed" error (the
    caller counts it as no answer this time)."""
    code, message = error_of(doc)
    if code == "500.001.1001" and STILL_PROCESSING in message.lower():
        return StkQueryAnswer(pending=True)
    if status != 200 or "ResultCode" not in doc:
        raise WireError(f"no STK query result (HTTP {status}, {code or 'no errorCode'} {message})".rstrip())
    result_code = _result_code(doc)
    if result_code == RESULT_STILL_PROCESSING:
        return StkQueryAnswer(pending=True)
    desc = doc.get("ResultDesc")
    return StkQueryAnswer(False, result_code, desc[:255] if isinstance(desc, str) else "")


def query_settlement(answer: StkQueryAnswer, checkout_id: str, raw: str) -> Settlement | None:
    """A final query answer in billing's words (None while pending). The query names no
    receipt: a success is recorded under the CheckoutRequestID, the amount is the request's."""
    if answer.pending:
        return None
    return Settlement(success=answer.success, txid=checkout_id if answer.success else "",
                      result_code=str(answer.result_code), result_desc=answer.result_desc, raw=raw)


# ---- our replies --------------------------------------------------------------------------

def accept() -> dict[str, Any]:
    return {"ResultCode": "0", "ResultDesc": "Accepted"}


def reject(code: str) -> dict[str, Any]:
    return {"ResultCode": code, "ResultDesc": "Rejected"}


def ack() -> dict[str, Any]:
    return {"ResultCode": 0, "ResultDesc": "Success"}


def malformed(reason: str) -> dict[str, Any]:
    return {"ResultCode": 1, "ResultDesc": reason}
