"""Africa's Talking payment notifications end to end, on SQLite and PostgreSQL."""
from __future__ import annotations

from billing_core import payments, subscriptions
from gateway.keys import BILLING

CARD = "10000001"
PATH = "/mobile-money/africastalking/notification"
TOKEN = "at-s3cret"


def notification(**changes):
    doc = {"transactionId": "ATPid_SampleTxnId123", "category": "MobileC2B", "provider": "Mpesa",
           "providerRefId": "SAMPLE_MPESA_CODE", "providerChannel": "525900", "productName": "tvtopup",
           "sourceType": "PhoneNumber", "source": "+254711222333", "destinationType": "Wallet",
           "destination": "PaymentWallet", "value": "KES 1000.00", "transactionFee": "KES 1.00",
           "providerFee": "KES 10.00", "status": "Success", "description": "Received payment",
           "requestMetadata": {}, "transactionDate": "2024-05-01T10:00:00.000Z", "clientAccount": CARD}
    doc.update(changes)
    return doc


async def start(gateway_client):
    client = await gateway_client(**{"africastalking.payments_callback_token": TOKEN})
    await subscriptions.add_subscriber(client.app[BILLING], CARD, "+254712345678")
    return client


async def post(client, body, token=TOKEN):
    resp = await client.post(PATH, params={"token": token}, json=body)
    return resp.status, await resp.json()


async def wallet(client) -> int:
    return (await subscriptions.show_subscriber(client.app[BILLING], CARD)).wallet_tvu


async def test_success_credits_once_whatever_the_retries(gateway_client):
    client = await start(gateway_client)
    assert await post(client, notification()) == (200, {"status": "ok", "payment": "credited"})
    assert await post(client, notification()) == (200, {"status": "duplicate", "payment": "credited"})
    assert await wallet(client) == 1000
    checkout = notification(transactionId="ATPid_Checkout1", category="MobileCheckout", clientAccount=None,
                            requestMetadata={"card": CARD}, value="KES 50.00")
    assert await post(client, checkout) == (200, {"status": "ok", "payment": "credited"})
    assert await wallet(client) == 1050


async def test_failed_outgoing_and_unknown_card(gateway_client):
    client = await start(gateway_client)
    assert await post(client, notification(status="Failed")) == (200, {"status": "failed"})
    assert await post(client, notification(transactionId="ATPid_B2C", category="MobileB2C")) == \
        (200, {"status": "ignored"})
    assert await wallet(client) == 0
    assert await post(client, notification(transactionId="ATPid_Lost", clientAccount="99999999")) == \
        (200, {"status": "ok", "payment": "suspense"})
    [held] = await payments.suspense(client.app[BILLING])
    assert (held.provider, held.txid, held.account, held.reason) == \
        ("africastalking", "ATPid_Lost", "99999999", "unknown_card")
    assert await post(client, notification()) == (200, {"status": "ok", "payment": "credited"})


async def test_malformed_and_forbidden(gateway_client):
    client = await start(gateway_client)
    status, body = await post(client, notification(value="1000"))
    assert status == 400 and body["error"] == "bad_request"
    resp = await client.post(PATH, params={"token": TOKEN}, data=b"transactionId=1")
    assert resp.status == 400
    status, _ = await post(client, notification(), token="wrong")
    assert status == 403
    assert await wallet(client) == 0 and await payments.suspense(client.app[BILLING]) == []
