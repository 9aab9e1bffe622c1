"""MTN MoMo wire format: literal bodies in the documented shapes."""
import pytest

from billing_core.money import Money
from gateway.providers.mtn_momo import wire
from gateway.providers.mtn_momo.collection import settlement

REF = "0f2c1d6e-4b5a-4e3f-9a8b-7c6d5e4f3a2b"


def test_request_to_pay_body_is_mtns_shape():
    body = wire.request_to_pay_body(Money.of("15000", "UGX"), "+256772123456", REF, "TV card 10000001")
    assert body == {"amount": "15000", "currency": "UGX", "externalId": REF,
                    "payer": {"partyIdType": "MSISDN", "partyId": "256772123456"},
                    "payerMessage": "TV card 10000001", "payeeNote": "TV card 10000001"}
    assert wire.request_to_pay_body(Money.of("5.5", "EUR"), "+256772123456", REF, "x" * 500)["amount"] == "5.50"
    assert len(wire.request_to_pay_body(Money.of("5", "EUR"), "+256772123456", REF, "x" * 500)["payeeNote"]) == 160


def test_successful_status_gives_amount_and_transaction_id():
    status = wire.parse_status({"amount": "15000", "currency": "UGX", "externalId": REF,
                                "payer": {"partyIdType": "MSISDN", "partyId": "256772123456"},
                                "status": "SUCCESSFUL", "financialTransactionId": "7300129913"})
    assert (status.status, status.amount, status.financial_transaction_id, status.party_id) == \
        ("SUCCESSFUL", Money(15000, "UGX"), "7300129913", "256772123456")
    assert '"financialTransactionId": "7300129913"' in status.raw
    outcome = settlement(status)
    assert outcome.success and outcome.txid == "7300129913" and outcome.amount == Money(15000, "UGX")


def test_failed_and_pending_statuses():
    failed = wire.parse_status({"amount": "100", "currency": "UGX", "externalId": REF, "status": "FAILED",
                                "reason": "APPROVAL_REJECTED"})
    assert failed.status == "FAILED" and failed.reason == "APPROVAL_REJECTED"
    outcome = settlement(failed)
    assert (outcome.success, outcome.result_code, outcome.result_desc) == (False, "FAILED", "APPROVAL_REJECTED")
    old_style = wire.parse_status({"status": "FAILED", "reason": {"code": "PAYER_NOT_FOUND", "message": "…"}})
    assert old_style.reason == "PAYER_NOT_FOUND"
    assert settlement(wire.parse_status({"status": "PENDING", "amount": "100", "currency": "UGX"})) is None


def test_mtns_documented_status_with_json_numbers_is_read():
    """The portal's own example (requesttopay GET) writes amount and ids as JSON numbers."""
    status = wire.parse_status({"amount": 100, "currency": "UGX", "financialTransactionId": 23503452,
                                "externalId": 947354, "payer": {"partyIdType": "MSISDN", "partyId": 4656473839},
                                "status": "SUCCESSFUL"})
    assert (status.amount, status.financial_transaction_id, status.external_id, status.party_id) == \
        (Money.of("100", "UGX"), "23503452", "947354", "4656473839")


@pytest.mark.parametrize("body", [
    [], "SUCCESSFUL", {}, {"status": "DONE"},
    {"status": "SUCCESSFUL", "amount": "100", "currency": "UGX"},  # no transaction id
    {"status": "SUCCESSFUL", "amount": "100", "currency": "UGX", "financialTransactionId": "a b"},
    {"status": "SUCCESSFUL", "amount": "1e3", "currency": "UGX", "financialTransactionId": "1"},
    {"status": "SUCCESSFUL", "amount": "-100", "currency": "UGX", "financialTransactionId": "1"},
    {"status": "SUCCESSFUL", "amount": 100.5, "currency": "UGX", "financialTransactionId": "1"},  # a float
    {"status": "SUCCESSFUL", "amount": True, "currency": "UGX", "financialTransactionId": "1"},
    {"status": "SUCCESSFUL", "amount": "100.5", "currency": "UGX", "financialTransactionId": "1"},
    {"status": "SUCCESSFUL", "amount": "100", "currency": "XXX", "financialTransactionId": "1"},
    {"status": "PENDING", "payer": "256772123456"},
])
def test_malformed_status_is_refused(body):
    with pytest.raises(wire.WireError):
        wire.parse_status(body)


def test_amount_allows_only_zero_decimals_past_the_currency():
    assert wire.parse_amount("100.00", "UGX") == Money(100, "UGX")
    assert wire.parse_amount("5.50", "EUR") == Money(550, "EUR")
    with pytest.raises(wire.WireError):
        wire.parse_amount("5.505", "EUR")


def test_token_and_error_bodies():
    assert wire.parse_token({"access_token": "eyJ0", "token_type": "access_token", "expires_in": 3600}) == \
        wire.Token("eyJ0", 3600)
    for bad in ({"access_token": "", "expires_in": 3600}, {"access_token": "x", "expires_in": 0}, None):
        with pytest.raises(wire.WireError):
            wire.parse_token(bad)
    assert wire.parse_error({"code": "PAYER_NOT_FOUND", "message": "Payee does not exist"}) == \
        ("PAYER_NOT_FOUND", "Payee does not exist")
    assert wire.parse_error(None) == ("error", "")


def test_references_and_party_ids():
    assert wire.is_reference(REF) and not wire.is_reference("not-a-uuid") and not wire.is_reference(REF.upper() + "x")
    with pytest.raises(wire.WireError):
        wire.party_id("0772123456")
    assert wire.parse_callback({"status": "SUCCESSFUL", "externalId": REF}) == wire.CallbackHint(REF, "SUCCESSFUL")
    with pytest.raises(wire.WireError):
        wire.parse_callback(["SUCCESSFUL"])
