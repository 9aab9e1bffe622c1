"""Africa's Talking payment notification: the documented body, parsed."""
import pytest

from billing_core.money import Money
from gateway.providers.africastalking.payments import WireError, notice, parse_notification


def body(**changes):
    doc = {"transactionId": "ATPid_SampleTxnId123", "category": "MobileC2B", "provider": "Mpesa",
           "providerRefId": "SAMPLE_MPESA_CODE", "providerChannel": "525900", "productName": "tvtopup",
           "sourceType": "PhoneNumber", "source": "+254711222333", "destinationType": "Wallet",
           "destination": "PaymentWallet", "value": "KES 1000.00", "transactionFee": "KES 1.00",
           "providerFee": "KES 10.00", "status": "Success", "description": "Received payment",
           "requestMetadata": {}, "transactionDate": "2024-05-01T10:00:00.000Z", "clientAccount": "10000001"}
    doc.update(changes)
    return doc


def test_c2b_success_names_the_card_it_was_paid_for():
    n = parse_notification(body())
    assert (n.transaction_id, n.status, n.value, n.account, n.source) == \
        ("ATPid_SampleTxnId123", "Success", Money(100000, "KES"), "10000001", "+254711222333")
    pn = notice(n)
    assert (pn.provider, pn.txid, pn.account, pn.amount) == \
        ("africastalking", "ATPid_SampleTxnId123", "10000001", Money(100000, "KES"))


def test_checkout_takes_the_card_from_request_metadata():
    n = parse_notification(body(category="MobileCheckout", clientAccount=None, requestMetadata={"card": "10000002"}))
    assert n.account == "10000002"
    assert parse_notification(body(clientAccount=None)).account == ""


@pytest.mark.parametrize("changes", [
    {"transactionId": None}, {"transactionId": "has space"}, {"status": "Pending"}, {"value": "1000.00"},
    {"value": "KES 10.001"}, {"value": "KES -5"}, {"value": 1000}, {"requestMetadata": "card=1"},
    {"clientAccount": 10000001},
])
def test_malformed_notifications_are_refused(changes):
    with pytest.raises(WireError):
        parse_notification(body(**changes))
