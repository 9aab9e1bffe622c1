"""MTN MoMo on the app: the callback route, the client, and the status poller.

``PUT``/``POST /mobile-money/mtn/callback?ref=<reference>&token=<secret>``: the
guard checks the token (and addresses); the reference comes from the query (the
URL we gave MTN with the request), else from the body's ``externalId``. The body
is never believed: the handler asks MTN for the status, within ``mtn.timeout_s``,
and settles only on that answer. Without an answer it still replies 200: the
request stays pending and the poller asks again.

The client (``app[MOMO]``) exists when MTN is configured; the poller runs when,
in addition, this process runs the workers.
"""
from __future__ import annotations

import json
import logging

from aiohttp import web

from config.settings import MtnSettings
from gateway.http_client import CLIENT
from gateway.keys import BILLING, SETTINGS
from gateway.middleware import json_error
from gateway.providers import lifecycle
from gateway.providers.guard import CallbackGuard
from gateway.providers.mtn_momo import collection, wire
from gateway.providers.mtn_momo.client import MomoClient, MomoError

log = logging.getLogger("tvtopup.mtn")
CALLBACK_PATH = "/mobile-money/mtn/callback"
MOMO = web.AppKey("mtn_momo_client", MomoClient)
_GUARD = web.AppKey("mtn_momo_guard", CallbackGuard)


def configured(settings: MtnSettings) -> bool:
    return bool(settings.base_url and settings.api_user and settings.api_key and settings.subscription_key)


def setup(app: web.Application) -> None:
    """Add the callback route, and the client and poller (when configured) to ``app``."""
    mtn = app[SETTINGS].mtn
    app[_GUARD] = CallbackGuard("mtn", mtn.callback_token, mtn.allow_ips)
    app.router.add_route("PUT", CALLBACK_PATH, callback)
    app.router.add_route("POST", CALLBACK_PATH, callback)
    lifecycle.add_client(app, MOMO, _client, collection.poller)


def _client(app: web.Application) -> MomoClient | None:
    mtn = app[SETTINGS].mtn
    return MomoClient(app[CLIENT], mtn, app[BILLING].clock) if configured(mtn) else None


async def callback(request: web.Request) -> web.Response:
    request.app[_GUARD].check(request)
    client = request.app.get(MOMO)
    if client is None:
        return json_error(404, "not_configured", "MTN MoMo is not configured")
    reference = await _reference(request)
    try:
        settled, payment = await collection.confirm(request.app[BILLING], client, reference,
                                                       deadline_s=client.settings.timeout_s)
    except MomoError as exc:
        log.warning("MTN callback for %s not confirmed yet (%s): left to the poller", reference, exc)
        return web.json_response({"status": "pending"})
    if payment is not None:
        log.info("MTN request %s confirmed: payment %s %s", reference, payment.txid, payment.status)
    return web.json_response({"status": settled.status})


async def _reference(request: web.Request) -> str:
    """Our reference for the request the callback is about; 400 when there is none."""
    try:
        hint = wire.parse_callback(json.loads(await request.read() or b"{}"))
    except (ValueError, wire.WireError) as exc:
        raise web.HTTPBadRequest(text=f"not an MTN callback body: {exc}") from None
    reference = request.query.get("ref") or hint.external_id
    if not wire.is_reference(reference):
        raise web.HTTPBadRequest(text="the callback names no request (?ref= or externalId)")
    log.info("MTN callback for %s claims %s", reference, hint.status or "nothing")
    return reference
