"""Calls to Safaricom Daraja: the OAuth token, STK push (M-Pesa Express), STK query, and
C2B URL registration (``registerurl`` v2).

Every call carries ``ClientTimeout(total=mpesa.timeout_s)``. The token is cached until
shortly before ``expires_in`` and fetched by one caller at a time; a token Daraja no
longer takes (HTTP 401 or ``404.001.03 Invalid Access Token``) is dropped and the call
retried once with a fresh one (``gateway.providers.http``, whose errors these are).

    ProviderError             Daraja did not take the request (``.code``, ``.message``)
    ├── ProviderRefused       Daraja answered with an error: nothing was started
    └── ProviderUnavailable   timeout, network error or an answer we cannot read: the
                              push may still reach the phone; its callback then finds the
                              request by the ``ref`` we put in the callback URL

:func:`start_stk_push` is the use case a menu calls: it records the request first,
then asks Daraja, then stores Daraja's ``CheckoutRequestID``.
"""
from __future__ import annotations

import base64
import json
import logging
import math
import uuid
from typing import Any, Callable

import aiohttp
from aiohttp import web
from yarl import URL

from billing_core import payments
from billing_core.context import Billing
from billing_core.db.payment_store import PaymentRequest, Settlement
from billing_core.errors import UnknownCard
from billing_core.money import Money
from billing_core.phones import mask
from config.settings import MpesaSettings
from gateway.providers import http
from gateway.providers.http import ProviderError, ProviderRefused, ProviderUnavailable
from gateway.providers.json_fields import Token
from gateway.providers.mpesa import registration, wire

log = logging.getLogger("tvtopup.mpesa")

TOKEN_PATH = "/oauth/v1/generate"
PUSH_PATH = "/mpesa/stkpush/v1/processrequest"
QUERY_PATH = "/mpesa/stkpushquery/v1/query"
REGISTER_PATH = "/mpesa/c2b/v2/registerurl"
TOKEN_MARGIN_S = 60  # refresh this long before Daraja's expiry
TOKEN_INVALID = "404.001.03"
ANSWER_MAX_BYTES = 64 * 1024
DESCRIPTION = "TV top-up"


def _refusal(status: int, doc: dict[str, Any]) -> ProviderError:
    """Daraja's own error (errorCode) is a refusal; a bare 5xx (a proxy, an outage) is not an answer."""
    code, message = wire.error_of(doc)
    if code:
        return ProviderRefused(code, message, status)
    kind = ProviderUnavailable if status >= 500 else ProviderRefused
    return kind(f"http_{status}", f"HTTP {status} without a Daraja error", status)


class DarajaClient:
    """One per application, on a shared ``aiohttp.ClientSession``; no I/O until called."""

    def __init__(self, session: aiohttp.ClientSession, settings: MpesaSettings, clock: Callable[[], int]):
        self._session, self._settings, self._clock = session, settings, clock
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        self._tokens = http.TokenCache(self._fetch_token, clock, margin_s=TOKEN_MARGIN_S)

    async def stk_push(self, card: str, msisdn: str, amount: Money, reference: str) -> str:
        """Ask the payer's phone to approve ``amount`` for ``card``; returns the CheckoutRequestID."""
        doc = await self._authorized_post(PUSH_PATH, wire.stk_push_body(self._push(card, msisdn, amount, reference)))
        try:
            return wire.parse_push_accepted(doc)
        except wire.WireError as exc:
            raise ProviderUnavailable("bad_answer", f"unexpected push answer: {exc.reason}") from None

    def _push(self, card: str, msisdn: str, amount: Money, reference: str) -> wire.StkPush:
        s = self._settings
        if not (s.shortcode and s.passkey and s.callback_url):
            raise ProviderRefused("not_configured", "mpesa.shortcode, passkey and callback_url must be set")
        query = {"ref": reference, **({"token": s.callback_token.reveal()} if s.callback_token else {})}
        callback = str(URL(s.callback_url).update_query(query))
        return wire.StkPush(s.shortcode, s.passkey.reveal(), wire.timestamp(self._clock()), amount, msisdn,
                            callback, card, DESCRIPTION)

    @property
    def settings(self) -> MpesaSettings:
        return self._settings

    async def stk_query(self, checkout_id: str) -> tuple[wire.StkQueryAnswer, str]:
        """Daraja's word on the push ``checkout_id``: (answer, its JSON text). ProviderUnavailable
        when Daraja gave neither a result nor its "being processed" answer (asked again later)."""
        s = self._settings
        if not (s.shortcode and s.passkey):
            raise ProviderRefused("not_configured", "mpesa.shortcode and passkey must be set")
        body = wire.stk_query_body(s.shortcode, s.passkey.reveal(), wire.timestamp(self._clock()), checkout_id)
        status, doc = await self._authorized(QUERY_PATH, body)
        try:
            return wire.parse_stk_query(status, doc), json.dumps(doc)
        except wire.WireError as exc:
            raise ProviderUnavailable(wire.error_of(doc)[0] or f"http_{status}", exc.reason, status) from None

    async def register_urls(self) -> str:
        """Register the C2B confirmation and validation URLs (``registerurl`` v2, with
        ``?token=`` when a callback token is set); returns Daraja's OriginatorCoversationID.
        InvalidInput, before any call, for a URL Daraja would refuse."""
        s = self._settings
        body = registration.register_url_body(s.shortcode, s.response_type, self._with_token(s.confirmation_url),
                                      self._with_token(s.validation_url))
        doc = await self._authorized_post(REGISTER_PATH, body)
        try:
            return registration.parse_registered(doc)
        except wire.WireError as exc:
            raise ProviderUnavailable("bad_answer", f"unexpected registration answer: {exc.reason}") from None

    def _with_token(self, url: str) -> str:
        token = self._settings.callback_token
        return str(URL(url).update_query({"token": token.reveal()})) if url and token else url

    async def token(self) -> str:
        """A valid access token, from the cache or fetched (one fetch at a time)."""
        return await self._tokens.get()

    async def _fetch_token(self) -> Token:
        s = self._settings
        if not (s.consumer_key and s.consumer_secret):
            raise ProviderRefused("not_configured", "mpesa.consumer_key and consumer_secret must be set")
        basic = base64.b64encode(f"{s.consumer_key}:{s.consumer_secret.reveal()}".encode()).decode()
        status, doc = await self._call("GET", TOKEN_PATH, params={"grant_type": "client_credentials"},
                                       headers={"Authorization": f"Basic {basic}"})
        if status != 200:
            raise _refusal(status, doc)
        try:
            return Token(*wire.parse_token(doc))
        except wire.WireError as exc:
            raise ProviderUnavailable("bad_answer", f"unexpected token answer: {exc.reason}") from None

    async def _authorized_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, doc = await self._authorized(path, body)
        if status != 200:
            raise _refusal(status, doc)
        return doc

    async def _authorized(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(status, reply) of a POST with the cached token (renewed once if Daraja dropped it);
        a token refused twice is a refusal."""
        async def post(token: str) -> tuple[int, dict[str, Any]]:
            return await self._call("POST", path, json=body, headers={"Authorization": f"Bearer {token}"})

        status, doc = await http.authorized(self._tokens, post, token_refused=_token_refused)
        if _token_refused(status, doc):
            raise _refusal(status, doc)
        return status, doc

    async def _call(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON object or {}) of one bounded call."""
        status, reply = await http.call_json(self._session, method, self._settings.base_url.rstrip("/") + path,
                                             timeout=self._timeout, body_max=ANSWER_MAX_BYTES, **kwargs)
        return status, reply if isinstance(reply, dict) else {}


def _token_refused(status: int, doc: dict[str, Any]) -> bool:
    """Daraja dropped the token before its time."""
    return status == 401 or wire.error_of(doc)[0] == TOKEN_INVALID


DARAJA = web.AppKey("mpesa_daraja", DarajaClient)


async def start_stk_push(billing: Billing, client: DarajaClient, card: str, msisdn: str, amount: Money, *,
                         new_reference: Callable[[], str] = lambda: uuid.uuid4().hex) -> PaymentRequest:
    """Ask ``msisdn`` to pay ``amount`` for ``card`` by STK push; returns the pending request.

    Refusals before anything is recorded: InvalidAmount (not whole shillings), InvalidInput,
    UnknownCard. The request is recorded before Daraja is called; if Daraja does not take
    it, the request is settled as failed and the ProviderError raised (a success callback
    arriving later still credits: money that moved is never lost).
    """
    wire.whole_shillings(amount)
    wire.account_reference(billing.card(card))
    if not await payments.card_is_payable(billing, card):
        raise UnknownCard(f"card {card} cannot take a payment")
    request = await payments.open_request(billing, wire.PROVIDER, card, msisdn, amount, reference=new_reference(),
                                          first_poll_in_s=math.ceil(client.settings.query_after_s))
    try:
        checkout_id = await client.stk_push(request.card, request.msisdn, amount, request.reference)
    except ProviderError as exc:
        log.warning("STK push %s to %s failed: %s", request.reference, mask(request.msisdn), exc)
        await payments.settle_request(billing, request, Settlement(success=False, result_code=exc.code,
                                                                   result_desc=exc.message))
        raise
    await payments.set_provider_ref(billing, request.reference, checkout_id)
    log.info("STK push %s to %s for %s: %s", request.reference, mask(request.msisdn), amount, checkout_id)
    return await payments.find_request(billing, reference=request.reference)
