"""Which mobile-money call a USSD "pay" queues, by ``ussd.pay_provider``.

Called once the provider's client is in place (its cleanup context runs before the
USSD one); when the provider is not configured there is no starter, and the menu tells
the subscriber the service is busy instead of promising a prompt that never comes.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from aiohttp import web

from billing_core.errors import InvalidInput
from billing_core.money import Money
from gateway.keys import BILLING, SETTINGS

log = logging.getLogger("tvtopup.ussd")
Start = Callable[[str, str, Money], Any]


def starter_for(app: web.Application, provider: str) -> Start | None:
    if provider == "none":
        return None
    if not _configured(app, provider):
        log.warning("ussd.pay_provider is %s but %s is not configured: mobile money is off in the menu",
                    provider, provider)
        return None

    async def start(card: str, msisdn: str, amount: Money) -> Any:
        billing = app[BILLING]
        if provider == "mpesa":
            from gateway.providers.mpesa.client import DARAJA, start_stk_push
            return await start_stk_push(billing, _client(app, DARAJA, provider), card, msisdn, amount)
        if provider == "mtn":
            from gateway.providers.mtn_momo.collection import start_request_to_pay
            from gateway.providers.mtn_momo.routes import MOMO
            return await start_request_to_pay(billing, _client(app, MOMO, provider), card, msisdn, amount)
        from gateway.providers.airtel.collection import start_collection
        from gateway.providers.airtel.routes import AIRTEL
        return await start_collection(billing, _client(app, AIRTEL, provider), card, msisdn, amount)

    return start


def _configured(app: web.Application, provider: str) -> bool:
    if provider == "mpesa":  # the Daraja client always exists (C2B needs no credentials)
        m = app[SETTINGS].mpesa
        return bool(m.consumer_key and m.shortcode and m.passkey.reveal() and m.callback_url)
    return app.get(_key(provider)) is not None


def _key(provider: str) -> web.AppKey:
    if provider == "mpesa":
        from gateway.providers.mpesa.client import DARAJA
        return DARAJA
    if provider == "mtn":
        from gateway.providers.mtn_momo.routes import MOMO
        return MOMO
    from gateway.providers.airtel.routes import AIRTEL
    return AIRTEL


def _client(app: web.Application, key: web.AppKey, provider: str) -> Any:
    client = app.get(key)
    if client is None:
        raise InvalidInput(f"{provider} is not configured")
    return client


__all__ = ["starter_for"]
