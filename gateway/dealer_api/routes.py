"""The dealer top-up API: thin handlers over :mod:`billing_core.dealers`.

Every ``/api/v1`` call is authenticated before anything else is read or done
(:func:`authenticate`): a known key format, a timestamp within
``dealers.signature_window_s`` of our clock, a signature over the request as sent
(``signing``), a signature never seen before (``replay``: kept in the database, so a
captured request cannot be played again after a restart or on another process), and
the key's rate limit. Whether the key is still valid (not revoked) and whose it is
is checked inside the use case's own transaction: one hop to the database per call.
Every query is scoped to the calling dealer: another dealer's top-up is a 404.

A client that retries a top-up sends the same ``Idempotency-Key`` and body and gets the
first response: signed anew (a new timestamp), or the very same signed request resent
within the window (after a lost response).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from aiohttp import web

from billing_core import dealers
from billing_core.errors import DomainError, InvalidInput, RateLimited, Unauthorized, UnknownTopup
from billing_core.renewal import parse_iso
from gateway.dealer_api import alerts, openapi, signing
from gateway.dealer_api.replay import SeenSignatures
from gateway.keys import BILLING, METRICS, SETTINGS, STATE
from gateway.state.limits import RateLimit
from gateway.state.store import StateUnavailable

log = logging.getLogger("tvtopup.dealers")
PREFIX = "/api/v1"
BODY_MAX = 4096


class StateDown(DomainError):
    code = "unavailable"
    http_status = 503


@dataclass(frozen=True, slots=True)
class ApiConfig:
    master_key: str
    window_s: int
    rate: int
    timezone: str
    alerts: alerts.AlertRules


CONFIG = web.AppKey("dealer_api", ApiConfig)
SEEN = web.AppKey("dealer_signatures", SeenSignatures)
SOLD = {"topups": 0, "replayed": 0}  # by this process, for /metrics


def setup(app: web.Application) -> None:
    settings = app[SETTINGS]
    d = settings.dealers
    app[CONFIG] = ApiConfig(d.secret_key.reveal(), d.signature_window_s, d.requests_per_minute,
                            settings.operator.timezone, alerts.AlertRules.from_settings(settings))
    app.on_startup.append(_seen_signatures)  # after the cleanup contexts: the billing context exists
    app.router.add_get("/api/openapi.json", openapi_document)
    app.router.add_post(f"{PREFIX}/topups", create_topup)
    app.router.add_get(f"{PREFIX}/topups/{{id}}", get_topup)
    app.router.add_get(f"{PREFIX}/subscribers/{{card}}", get_subscriber)
    app.router.add_get(f"{PREFIX}/balance", get_balance)
    app.router.add_get(f"{PREFIX}/statement", get_statement)
    metrics = app[METRICS]
    metrics.gauge("tvtopup_dealer_topups", "Dealer top-ups sold by this process", lambda: SOLD["topups"])
    metrics.gauge("tvtopup_dealer_alerts", "Dealer fraud alerts raised by this process (see the log)",
                  lambda: sum(alerts.RAISED.values()))


async def _seen_signatures(app: web.Application) -> None:
    hours = app[SETTINGS].dealers.idempotency_hours
    app[SEEN] = SeenSignatures(app[BILLING], app[CONFIG].window_s, hours * 3600)


async def authenticate(request: web.Request) -> tuple[str, bytes]:
    """The key id of a correctly signed, fresh request, and its body; 401 otherwise.

    A request is first seen, or the very same request again under the same non-empty
    ``Idempotency-Key`` (which then gets the first response from ``dealer_topup``).
    """
    cfg = request.app[CONFIG]
    key_id = request.headers.get("X-Dealer-Key", "")
    stamp = request.headers.get("X-Timestamp", "")
    signature = request.headers.get("X-Signature", "")
    if not (dealers.KEY_ID.fullmatch(key_id) and signing.TIMESTAMP.fullmatch(stamp)
            and signing.SIGNATURE.fullmatch(signature)):
        raise Unauthorized("X-Dealer-Key, X-Timestamp and X-Signature are required")
    now = request.app[BILLING].now()
    if abs(now - int(stamp)) > cfg.window_s:
        raise Unauthorized(f"X-Timestamp is more than {cfg.window_s} s from the server's clock")
    body = await _body(request)
    if not cfg.master_key:
        log.warning("dealer API call refused: dealers.secret_key is not set")
        raise Unauthorized("bad signature")
    secret = dealers.derive_secret(cfg.master_key, key_id)
    if not signing.valid(secret, signature, request.method, request.raw_path, stamp, body):
        raise Unauthorized("bad signature")
    if not await request.app[SEEN].admit(key_id, int(stamp), signature, _idempotency_key(request)):
        raise Unauthorized("this request was seen already under another Idempotency-Key: sign each request anew")
    try:
        limit = RateLimit(request.app[STATE], "dealer", cfg.rate, 60)
        if not await limit.hit(key_id):
            raise _rate_limited(await limit.retry_after_s(key_id))
    except StateUnavailable:
        raise StateDown("try again shortly") from None
    return key_id, body


def _idempotency_key(request: web.Request) -> str:
    """A POST's well-formed Idempotency-Key, else "" (a GET resent is a replay)."""
    key = request.headers.get("Idempotency-Key", "") if request.method == "POST" else ""
    return key if dealers.IDEMPOTENCY_KEY.fullmatch(key) else ""


class _RateLimited(RateLimited):
    def __init__(self, retry_after_s: int):
        super().__init__(f"more than the allowed requests per minute; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


def _rate_limited(retry_after_s: int) -> RateLimited:
    return _RateLimited(max(1, retry_after_s))


async def _body(request: web.Request) -> bytes:
    if (request.content_length or 0) > BODY_MAX:
        raise web.HTTPRequestEntityTooLarge(max_size=BODY_MAX, actual_size=request.content_length)
    body = await request.read()
    if len(body) > BODY_MAX:
        raise web.HTTPRequestEntityTooLarge(max_size=BODY_MAX, actual_size=len(body))
    return body


def _json(doc: dict, status: int = 200, **headers: str) -> web.Response:
    return web.json_response(doc, status=status, headers=headers or None)


def _guarded(handler):
    """Rate-limit refusals carry Retry-After (the middleware renders the rest)."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except _RateLimited as exc:
            return _json({"error": exc.code, "detail": exc.detail}, 429, **{"Retry-After": str(exc.retry_after_s)})

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


@_guarded
async def create_topup(request: web.Request) -> web.Response:
    key_id, body = await authenticate(request)
    billing, cfg = request.app[BILLING], request.app[CONFIG]
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the body is not JSON") from None
    order = dealers.parse_order(billing, doc, key_id=key_id,
                                idempotency_key=request.headers.get("Idempotency-Key", ""),
                                body_hash=signing.body_hash(body))
    sold = await dealers.dealer_topup(billing, order, timezone=cfg.timezone)
    if sold.replayed:
        SOLD["replayed"] += 1
        return _json(sold.body, sold.status, **{"Idempotent-Replayed": "true"})
    SOLD["topups"] += 1
    await alerts.observe(request.app[STATE], cfg.alerts, sold.body["dealer"], order.card, sold.body["face_value"],
                         billing.now())
    return _json(sold.body, sold.status)


@_guarded
async def get_topup(request: web.Request) -> web.Response:
    key_id, _ = await authenticate(request)
    text = request.match_info["id"]
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise UnknownTopup(f"no top-up {text[:32]}")
    return _json(await dealers.topup_status(request.app[BILLING], key_id, int(text)))


@_guarded
async def get_subscriber(request: web.Request) -> web.Response:
    key_id, _ = await authenticate(request)
    return _json(await dealers.subscriber_for_sale(request.app[BILLING], key_id, request.match_info["card"]))


@_guarded
async def get_balance(request: web.Request) -> web.Response:
    key_id, _ = await authenticate(request)
    return _json(await dealers.dealer_balance(request.app[BILLING], key_id))


@_guarded
async def get_statement(request: web.Request) -> web.Response:
    key_id, _ = await authenticate(request)
    since, until = _date(request, "from"), _date(request, "to")
    return _json(await dealers.dealer_statement(request.app[BILLING], key_id, since, until))


def _date(request: web.Request, name: str) -> int | None:
    text = request.query.get(name, "")
    if not text:
        return None
    try:
        return parse_iso(text[:40])
    except (ValueError, OverflowError):
        raise InvalidInput(f"{name} is an ISO 8601 date: 2026-11-01 or 2026-11-01T00:00:00Z") from None


async def openapi_document(request: web.Request) -> web.Response:
    return _json(openapi.document())
