"""Daraja's wire formats, parsed and built without I/O. Payloads are Daraja's documented examples."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from billing_core.errors import InvalidAmount, InvalidInput
from billing_core.money import Money
from gateway.providers.mpesa import wire

# Daraja's C2B validation example (developer.safaricom.co.ke, C2B API)
C2B_VALIDATION = """{
   "TransactionType": "Pay Bill",
   "TransID": "RKTQDM7W6S",
   "TransTime": "20191122063845",
   "TransAmount": "10",
   "BusinessShortCode": "600638",
   "BillRefNumber": "invoice008",
   "InvoiceNumber": "",
   "OrgAccountBalance": "",
   "ThirdPartyTransID": "",
   "MSISDN": "25470****149",
   "FirstName": "John",
   "MiddleName": "",
   "LastName": "Doe"
}"""

# Daraja's STK push result examples (M-Pesa Express API)
STK_SUCCESS = """{
  "Body": {
    "stkCallback": {
      "MerchantRequestID": "29115-34620561-1",
      "CheckoutRequestID": "ws_CO_191220191020363925",
      "ResultCode": 0,
      "ResultDesc": "The service request is processed successfully.",
      "CallbackMetadata": {
        "Item": [
          {"Name": "Amount", "Value": 1.00},
          {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
          {"Name": "TransactionDate", "Value": 20191219102115},
          {"Name": "PhoneNumber", "Value": 254708374149}
        ]
      }
    }
  }
}"""

STK_CANCELLED = """{
  "Body": {
    "stkCallback": {
      "MerchantRequestID": "29115-34620561-1",
      "CheckoutRequestID": "ws_CO_191220191020363925",
      "ResultCode": 1032,
      "ResultDesc": "Request cancelled by user."
    }
  }
}"""


def c2b(**changes) -> dict:
    """The documented payload with fields changed (None removes one)."""
    doc = wire.decode(C2B_VALIDATION.encode())
    for key, value in changes.items():
        if value is None:
            doc.pop(key)
        else:
            doc[key] = value
    return doc


def stk(text: str = STK_SUCCESS) -> dict:
    return wire.decode(text.encode())


def utc(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=timezone.utc).timestamp())


# ---- C2B -------------------------------------------------------------------------------------

def test_documented_c2b_payload_parses_to_our_words():
    payment = wire.parse_c2b(c2b())
    assert payment.trans_id == "RKTQDM7W6S"
    assert payment.amount == Money(1000, "KES")
    assert payment.bill_ref == "invoice008"
    assert payment.msisdn == "25470****149"  # masked by Safaricom: kept as given
    assert payment.short_code == "600638"
    assert (payment.first_name, payment.last_name) == ("John", "Doe")
    assert payment.received_at == utc(2019, 11, 22, 3, 38, 45)  # 06:38:45 in Nairobi is 03:38:45 UTC


def test_notice_carries_card_txid_amount_time_and_raw_body():
    notice = wire.notice(wire.parse_c2b(c2b(BillRefNumber="10000001")), raw="{raw}")
    assert (notice.provider, notice.txid, notice.account) == ("mpesa", "RKTQDM7W6S", "10000001")
    assert notice.amount == Money(1000, "KES")
    assert notice.msisdn == "25470****149"
    assert notice.received_at == utc(2019, 11, 22, 3, 38, 45)
    assert notice.raw == "{raw}"


@pytest.mark.parametrize("value, minor", [
    ("1500", 150000), ("1500.00", 150000), ("1500.5", 150050), ("0.01", 1), ("0150", 15000),
    (1500, 150000), (1500.0, 150000), (1500.5, 150050), (Decimal("1500.00"), 150000),
])
def test_amounts_in_every_documented_form(value, minor):
    assert wire.parse_c2b(c2b(TransAmount=value)).amount == Money(minor, "KES")


@pytest.mark.parametrize("value", [
    "-1", "1e3", "15.001", "", " 1500", "1500 ", "1,500", "+1500", "1500.", ".5", "0", "0.00", "KES 10",
    0, -5, 15.001, float("nan"), float("inf"), 1e16, True, [1500], {"v": 1},
])
def test_bad_amounts_are_refused_as_bad_amounts(value):
    with pytest.raises(wire.BadAmount):
        wire.parse_c2b(c2b(TransAmount=value))


@pytest.mark.parametrize("body", [b'{"TransAmount": 1e3}', b'{"TransAmount": -1}', b'{"TransAmount": 15.001}'])
def test_json_numbers_are_read_as_written(body):
    doc = c2b()
    doc.update(wire.decode(body))
    with pytest.raises(wire.BadAmount):
        wire.parse_c2b(doc)


def test_json_number_with_zero_cents_is_read_as_written():
    doc = c2b()
    doc.update(wire.decode(b'{"TransAmount": 1500.00}'))
    assert wire.parse_c2b(doc).amount == Money(150000, "KES")


@pytest.mark.parametrize("key", ["TransactionType", "TransID", "TransTime", "TransAmount", "BusinessShortCode",
                                 "BillRefNumber"])
def test_missing_required_field_is_malformed_not_a_bad_amount(key):
    with pytest.raises(wire.WireError) as caught:
        wire.parse_c2b(c2b(**{key: None}))
    assert type(caught.value) is wire.WireError
    assert key in caught.value.reason


@pytest.mark.parametrize("key", ["InvoiceNumber", "OrgAccountBalance", "ThirdPartyTransID", "MSISDN", "FirstName",
                                 "MiddleName", "LastName"])
def test_optional_fields_may_be_absent(key):
    assert wire.parse_c2b(c2b(**{key: None})).trans_id == "RKTQDM7W6S"


@pytest.mark.parametrize("changes", [
    {"TransID": "rktqdm7w6s"}, {"TransID": "RKTQDM7W6"}, {"TransID": "RKTQDM7W6SX"}, {"TransID": "RKTQ-M7W6S"},
    {"TransID": 1234567890}, {"TransTime": "2019-11-22 06:38:45"}, {"TransTime": "20191322063845"},
    {"TransTime": "20191122246045"}, {"BusinessShortCode": "60 0638"}, {"BusinessShortCode": True},
    {"BillRefNumber": ["10000001"]}, {"BillRefNumber": "1" * 41}, 
    {"OrgAccountBalance": "9" * 33},
])
def test_wrong_types_bad_formats_and_oversize_strings_are_malformed(changes):
    with pytest.raises(wire.WireError) as caught:
        wire.parse_c2b(c2b(**changes))
    assert type(caught.value) is wire.WireError


def test_a_malformed_payload_with_a_bad_amount_is_malformed_first():
    with pytest.raises(wire.WireError) as caught:
        wire.parse_c2b(c2b(TransID=None, TransAmount="-1"))
    assert type(caught.value) is wire.WireError


@pytest.mark.parametrize("msisdn, kept", [
    ("25470****149", "25470****149"), ("2547****4149", "2547****4149"), ("254708374149", "254708374149"),
    (254708374149, "254708374149"),
    ("2547 ***** 126", "2547 ***** 126"),  # C2B v2 documentation: masked, with spaces
    ("a1b2" * 16, "a1b2" * 16),  # a SHA-256 hash in hex
    ("94c2c311d522da950619227b3361752a42042db7e1e699b26e628305c68a88",  # the C2B FAQ's example, 62 hex
     "94c2c311d522da950619227b3361752a42042db7e1e699b26e628305c68a88"),
])
def test_masked_or_hashed_msisdn_is_kept_as_given(msisdn, kept):
    assert wire.parse_c2b(c2b(MSISDN=msisdn)).msisdn == kept


@pytest.mark.parametrize("msisdn", [None, "", "2" * 65, "2547\u00a0***\u00a0126", ["254708374149"], True, 2.5])
def test_no_form_of_msisdn_refuses_a_payment(msisdn):
    """The phone number identifies nobody (BillRefNumber does): an odd one is dropped, never a refusal."""
    payment = wire.parse_c2b(c2b(MSISDN=msisdn))
    assert payment.trans_id == "RKTQDM7W6S" and len(payment.msisdn) <= 64


@pytest.mark.parametrize("name", ["", "NICHOLAS", "JOHN KAMAU DOE", "J" * 65, 7, None])
def test_names_in_any_form_are_no_reason_to_refuse(name):
    payment = wire.parse_c2b(c2b(FirstName=name, MiddleName=name, LastName=name))
    assert len(payment.first_name) <= 64 and payment.amount == Money(1000, "KES")


def test_numbers_for_numeric_ids_are_taken():
    payment = wire.parse_c2b(c2b(BusinessShortCode=600638, TransTime=20191122063845, OrgAccountBalance=49197))
    assert (payment.short_code, payment.org_balance) == ("600638", "49197")


@pytest.mark.parametrize("body, reason", [
    (b"TransID=RKTQDM7W6S", "body is not JSON"), (b"[1, 2]", "body is not a JSON object"),
    (b'{"TransAmount": NaN}', "body is not JSON"), (b"\xff\xfe{}", "body is not UTF-8"), (b"", "body is not JSON"),
])
def test_bodies_that_are_not_a_json_object(body, reason):
    with pytest.raises(wire.WireError, match=reason):
        wire.decode(body)


# ---- STK push --------------------------------------------------------------------------------

def test_documented_stk_success():
    result = wire.parse_stk_callback(stk())
    assert result.success
    assert result.checkout_request_id == "ws_CO_191220191020363925"
    assert result.merchant_request_id == "29115-34620561-1"
    assert (result.receipt, result.amount, result.phone) == ("NLJ7RT61SV", Money(100, "KES"), "254708374149")
    assert result.paid_at == utc(2019, 12, 19, 7, 21, 15)
    settled = wire.settlement(result, raw="{raw}")
    assert (settled.success, settled.txid, settled.amount) == (True, "NLJ7RT61SV", Money(100, "KES"))
    assert (settled.result_code, settled.raw, settled.msisdn) == ("0", "{raw}", "")


@pytest.mark.parametrize("code, desc", [(1032, "Request cancelled by user."),
                                        (1, "The balance is insufficient for the transaction."),
                                        (1037, "DS timeout user cannot be reached")])
def test_documented_stk_failures_carry_no_metadata(code, desc):
    doc = stk(STK_CANCELLED)
    doc["Body"]["stkCallback"].update(ResultCode=code, ResultDesc=desc)
    result = wire.parse_stk_callback(doc)
    assert not result.success and result.amount is None and result.receipt == ""
    settled = wire.settlement(result, raw="")
    assert (settled.success, settled.result_code, settled.result_desc) == (False, str(code), desc)


def test_metadata_item_without_value_is_tolerated():
    doc = stk()
    doc["Body"]["stkCallback"]["CallbackMetadata"]["Item"].append({"Name": "Balance"})
    assert wire.parse_stk_callback(doc).receipt == "NLJ7RT61SV"


def _broken(path: tuple, value) -> dict:
    doc = stk()
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is None:
        node.pop(path[-1])
    else:
        node[path[-1]] = value
    return doc


CB = ("Body", "stkCallback")


@pytest.mark.parametrize("path, value", [
    (("Body",), None), (("Body",), []), (CB, None), (CB + ("CheckoutRequestID",), None),
    (CB + ("CheckoutRequestID",), "ws CO 1"), (CB + ("ResultCode",), None), (CB + ("ResultCode",), "abc"),
    (CB + ("ResultCode",), True), (CB + ("ResultCode",), -1), (CB + ("ResultDesc",), None),
    (CB + ("CallbackMetadata",), None), (CB + ("CallbackMetadata", "Item"), {"Name": "Amount"}),
    (CB + ("CallbackMetadata", "Item", 1), {"Name": "MpesaReceiptNumber", "Value": "nlj7rt61sv"}),
    (CB + ("CallbackMetadata", "Item", 1), {"Name": "Amount", "Value": 1}),
    (CB + ("CallbackMetadata", "Item", 0), {"Name": "Amount", "Value": -1}),
    (CB + ("CallbackMetadata", "Item", 0), {"Value": 1}),
    (CB + ("CallbackMetadata", "Item", 2), {"Name": "TransactionDate", "Value": 2019121910211}),
])
def test_malformed_stk_results(path, value):
    with pytest.raises(wire.WireError):
        wire.parse_stk_callback(_broken(path, value))


def test_stk_push_body_follows_the_password_formula():
    push = wire.StkPush(short_code="174379", passkey="pk", stamp="20261120140311", amount=Money(150000, "KES"),
                        msisdn="+254712345678", callback_url="https://pay.example.com/cb?ref=r",
                        card="10000001", description="TV top-up for card")
    body = wire.stk_push_body(push)
    assert base64.b64decode(body["Password"]).decode() == "174379pk20261120140311"
    assert body == {"BusinessShortCode": "174379", "Password": body["Password"], "Timestamp": "20261120140311",
                    "TransactionType": "CustomerPayBillOnline", "Amount": 1500, "PartyA": "254712345678",
                    "PartyB": "174379", "PhoneNumber": "254712345678",
                    "CallBackURL": "https://pay.example.com/cb?ref=r", "AccountReference": "10000001",
                    "TransactionDesc": "TV top-up for"}


@pytest.mark.parametrize("amount", [Money(150050, "KES"), Money(0, "KES"), Money(50, "KES"), Money(1500, "UGX")])
def test_stk_push_takes_whole_shillings_only(amount):
    with pytest.raises(InvalidAmount):
        wire.whole_shillings(amount)


def test_stk_push_refuses_an_account_reference_over_twelve_characters():
    assert wire.account_reference("123456789012") == "123456789012"
    with pytest.raises(InvalidInput):
        wire.account_reference("1234567890123")


def test_daraja_timestamp_is_nairobi_time_and_parses_back():
    epoch = utc(2026, 11, 20, 11, 3, 11)
    assert wire.timestamp(epoch) == "20261120140311"
    assert wire.parse_time("20261120140311", "TransTime") == epoch


def test_token_and_push_answers():
    assert wire.parse_token({"access_token": "c9SQxWWhmdVRlyh0zh8gZDTkubVF", "expires_in": "3599"}) == \
        ("c9SQxWWhmdVRlyh0zh8gZDTkubVF", 3599)
    accepted = {"MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": "ws_CO_191220191020363925",
                "ResponseCode": "0", "ResponseDescription": "Success. Request accepted for processing",
                "CustomerMessage": "Success. Request accepted for processing"}
    assert wire.parse_push_accepted(accepted) == "ws_CO_191220191020363925"
    with pytest.raises(wire.WireError):
        wire.parse_push_accepted({**accepted, "ResponseCode": "1"})
    error = {"requestId": "11728-2929992-1", "errorCode": "401.002.01",
             "errorMessage": "Error Occurred - Invalid Access Token"}
    assert wire.error_of(error) == ("401.002.01", "Error Occurred - Invalid Access Token")
    assert wire.error_of({}) == ("", "")


def test_replies_are_darajas_shapes():
    assert wire.accept() == {"ResultCode": "0", "ResultDesc": "Accepted"}
    assert wire.reject(wire.REJECT_ACCOUNT) == {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}
    assert (wire.REJECT_MSISDN, wire.REJECT_AMOUNT, wire.REJECT_OTHER) == ("C2B00011", "C2B00013", "C2B00016")
    assert wire.ack() == {"ResultCode": 0, "ResultDesc": "Success"}
    assert json.dumps(wire.malformed("TransID is missing")) == '{"ResultCode": 1, "ResultDesc": "TransID is missing"}'
