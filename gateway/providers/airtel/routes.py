"""Airtel Money on the app: the callback route, the client, and the enquiry poller.

``POST /mobile-money/airtel/callback?token=<secret>`` with Airtel's body
``{"transaction": {"id", "status_code", "airtel_money_id", "message"}}``: the guard
checks the token (and addresses); ``transaction.id`` names our request. The body is
never believed: the handler asks Airtel by enquiry, within ``airtel.timeout_s``, and
settles only on that answer. Without an answer it still replies 200: the request
stays pending and the poller asks again.

The client (``app[AIRTEL]``) exists when Airtel is configured; the poller runs when,
in addition, this process runs the workers.
"""
from __future__ import annotations

import json
import logging

from aiohttp import web

from config.settings import AirtelSettings
from gateway.http_client import CLIENT
from gateway.keys import BILLING, SETTINGS
from gateway.middleware import json_error
from gateway.providers import lifecycle
from gateway.providers.airtel import collection, wire
from gateway.providers.airtel.client import AirtelClient, AirtelError
from gateway.providers.guard import CallbackGuard

log = logging.getLogger("tvtopup.airtel")
CALLBACK_PATH = "/mobile-money/airtel/callback"
AIRTEL = web.AppKey("airtel_client", AirtelClient)
_GUARD = web.AppKey("airtel_guard", CallbackGuard)


def configured(settings: AirtelSettings) -> bool:
    return bool(settings.base_url and settings.client_id and settings.client_secret)


def setup(app: web.Application) -> None:
    """Add the callback route, and the client and poller (when configured) to ``app``."""
    airtel = app[SETTINGS].airtel
    app[_GUARD] = CallbackGuard("airtel", airtel.callback_token, airtel.allow_ips)
    app.router.add_post(CALLBACK_PATH, callback)
    lifecycle.add_client(app, AIRTEL, _client, collection.poller)


def _client(app: web.Application) -> AirtelClient | None:
    airtel = app[SETTINGS].airtel
    return AirtelClient(app[CLIENT], airtel, app[BILLING].clock) if configured(airtel) else None


async def callback(request: web.Request) -> web.Response:
    request.app[_GUARD].check(request)
    client = request.app.get(AIRTEL)
    if client is None:
        return json_error(404, "not_configured", "Airtel Money is not configured")
    try:
        hint = wire.parse_callback(json.loads(await request.read()))
    except (ValueError, wire.WireError) as exc:
        raise web.HTTPBadRequest(text=f"not an Airtel callback body: {exc}") from None
    log.info("Airtel callback for %s claims %s", hint.id, hint.status_code or "nothing")
    try:
        settled, payment = await collection.confirm(request.app[BILLING], client, hint.id,
                                                       deadline_s=client.settings.timeout_s)
    except AirtelError as exc:
        log.warning("Airtel callback for %s not confirmed yet (%s): left to the poller", hint.id, exc)
        return web.json_response({"status": "pending"})
    if payment is not None:
        log.info("Airtel request %s confirmed: payment %s %s", hint.id, payment.txid, payment.status)
    return web.json_response({"status": settled.status})
