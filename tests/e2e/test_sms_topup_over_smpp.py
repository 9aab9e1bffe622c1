"""``TOPUP PIN CARD`` texted to the SMSC: the real command layer redeems the scratch card,
the wallet is credited, and the confirmation comes back as a submit_sm to the phone,
in the subscriber's language, with its delivery receipt tracked. Nothing is replaced:
the SMSC (smpp34), the link, the commands, the dispatcher and the database are real.
"""
from __future__ import annotations

from billing_core import cards, subscriptions
from gateway.keys import BILLING
from tests.e2e.test_sms_smpp import smsc, start, statuses, until  # noqa: F401  (fixtures and helpers)

CARD, MSISDN = "42000001", "+254712345678"


async def test_topup_by_sms_credits_the_wallet_and_the_confirmation_comes_back(gateway_client, smsc):  # noqa: F811
    client = await start(gateway_client, smsc, **{"security.pin_key": "sms-e2e-pin-key-0123456789"})
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic", 30, 500, ("101",))
    await subscriptions.add_subscriber(billing, CARD, MSISDN, package="BASIC", lang="sw")
    rows: list[tuple[str, str]] = []
    await cards.generate_batch(billing, name="SMS1", count=1, tvu=200, sink=rows.extend)
    await cards.activate_cards(billing, "SMS1")
    pin = rows[0][1]

    assert await smsc.send_mo("254712345678", f"topup {pin[:7]} {pin[7:]} {CARD}", to="22333") == 0
    [reply] = await smsc.wait_submits(1)
    text = reply.short_message.decode()
    assert reply.destination_addr == "254712345678" and reply.registered_delivery == 1
    assert text.startswith("TVU 200 zimeongezwa kwa kadi 42000001"), text  # Swahili, the subscriber's language
    view = await subscriptions.show_subscriber(billing, CARD)
    assert view.wallet_tvu == 200

    async def delivered():
        return await statuses(client) == ["delivered"]

    await until(delivered)
    # The same text again (a new message id) is a used card: refused, and the wallet is unchanged.
    assert await smsc.send_mo("254712345678", f"TOPUP {pin} {CARD}", to="22333") == 0
    [_, again] = await smsc.wait_submits(2)
    assert "PIN" in again.short_message.decode()
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 200
