"""Airtel Money wire format: literal bodies in the documented shapes."""
import pytest

from billing_core.money import Money
from gateway.providers.airtel import wire
from gateway.providers.airtel.collection import settlement

REF = "5d41402abc4b2a76b9719d911017c592"


def test_collection_body_uses_national_msisdn_and_whole_amount():
    body = wire.payment_body(REF, "+254733123456", Money.of("300", "KES"), "KE", "TV card 10000001")
    assert body == {"reference": "TV card 10000001",
                    "subscriber": {"country": "KE", "currency": "KES", "msisdn": "733123456"},
                    "transaction": {"amount": 300, "country": "KE", "currency": "KES", "id": REF}}
    with pytest.raises(wire.WireError):
        wire.payment_body(REF, "+254733123456", Money.of("300.50", "KES"), "KE", "x")
    with pytest.raises(wire.WireError):
        wire.national_msisdn("+256752123456", "KE")


def test_enquiry_statuses():
    def enquiry(status, money_id="MP210603.1234.A12345"):
        return {"data": {"transaction": {"airtel_money_id": money_id, "id": REF, "message": "m", "status": status}},
                "status": {"code": "200", "message": "SUCCESS", "result_code": "ESB000010",
                           "response_code": "DP00800001001", "success": True}}

    done = wire.parse_enquiry(enquiry("TS"))
    assert (done.status, done.airtel_money_id, done.id) == ("TS", "MP210603.1234.A12345", REF)
    assert settlement(done).success and settlement(done).txid == "MP210603.1234.A12345"
    assert settlement(wire.parse_enquiry(enquiry("TF", None))).success is False
    assert settlement(wire.parse_enquiry(enquiry("TIP", None))) is None
    assert settlement(wire.parse_enquiry(enquiry("TA", None))) is None
    for bad in (enquiry("TS", None), enquiry("OK"), {"data": {}, "status": {"success": False}}, {"data": {}}, []):
        with pytest.raises(wire.WireError):
            wire.parse_enquiry(bad)


def test_callback_token_and_reply():
    hint = wire.parse_callback({"transaction": {"id": REF, "message": "Paid", "status_code": "TS",
                                                "airtel_money_id": "MP210603.1234.A12345"}, "hash": "abc"})
    assert hint == wire.CallbackHint(REF, "TS")
    for bad in ({"transaction": {"id": "../etc"}}, {"transaction": "TS"}, {}, "x"):
        with pytest.raises(wire.WireError):
            wire.parse_callback(bad)
    assert wire.parse_token({"access_token": "t", "expires_in": "180", "token_type": "bearer"}) == \
        wire.Token("t", 180)
    reply = wire.parse_reply({"data": {}, "status": {"response_code": "DP00800001007", "message": "Not enough",
                                                     "success": False}})
    assert reply == wire.Reply(False, "DP00800001007", "Not enough")
