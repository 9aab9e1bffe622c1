"""Airtel Money collection client: access token, USSD-push collection, enquiry.

Every HTTP call has a total timeout (``airtel.timeout_s``); a refused token (401)
is renewed and the call tried once more, never more (``gateway.providers.http``).
Errors, by what the caller can do:

    AirtelError              no usable answer from Airtel (a ProviderError)
    ├── AirtelUnavailable    timeout, network error, 5xx, 429, unreadable reply, an
    │                        ambiguous or unknown transaction: keep the request pending
    └── AirtelRefused        a definite refusal (4xx or ``success: false``, with Airtel's
                             ``code``): nothing will be taken
"""
from __future__ import annotations

import json
from typing import Any, Callable

import aiohttp

from billing_core.money import Money
from config.settings import AirtelSettings
from gateway.providers import http
from gateway.providers.airtel import wire
from gateway.providers.http import ProviderError, ProviderRefused, ProviderUnavailable

BODY_MAX = 64 * 1024
TOKEN_MARGIN_S = 30  # Airtel tokens live minutes, not hours: renew a little early
_UNSURE = (401, 408, 409, 429)


class AirtelError(ProviderError):
    """No usable answer from Airtel."""


class AirtelUnavailable(ProviderUnavailable, AirtelError):
    """Airtel's answer, if any, leaves the outcome unknown."""


class AirtelRefused(ProviderRefused, AirtelError):
    """Airtel refused: nothing will be taken."""


class AirtelClient:
    """One per application; shares the app's outbound session. Safe for concurrent use."""

    def __init__(self, session: aiohttp.ClientSession, settings: AirtelSettings, clock: Callable[[], int]) -> None:
        self._session, self._settings = session, settings
        self._base = settings.base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        self._tokens = http.TokenCache(self._fetch_token, clock, margin_s=TOKEN_MARGIN_S)

    @property
    def settings(self) -> AirtelSettings:
        return self._settings

    async def collect(self, reference: str, msisdn: str, amount: Money, text: str) -> None:
        """Push a payment prompt to ``msisdn``; ``reference`` is Airtel's transaction id."""
        body = wire.payment_body(reference, msisdn, amount, self._settings.country, text)
        status, reply = await self._authorized("POST", "/merchant/v1/payments/", data=json.dumps(body))
        if not 200 <= status < 300:
            raise _error(status, reply)
        try:
            answer = wire.parse_reply(reply)
        except wire.WireError as exc:
            raise AirtelUnavailable("bad_answer", f"unreadable collection reply: {exc}") from None
        if not answer.success:
            if answer.response_code in wire.OPEN_RESPONSE_CODES:
                raise AirtelUnavailable(answer.response_code, f"collection {reference} is still open")
            raise AirtelRefused(answer.response_code or "refused", answer.message)

    async def enquiry(self, reference: str) -> wire.Enquiry:
        """Airtel's current word on transaction ``reference``."""
        status, reply = await self._authorized("GET", f"/standard/v1/payments/{reference}")
        if status != 200:
            raise AirtelUnavailable(f"http_{status}", f"enquiry of {reference}: HTTP {status}", status)
        try:
            return wire.parse_enquiry(reply)
        except wire.WireError as exc:
            raise AirtelUnavailable("bad_answer", f"unreadable enquiry of {reference}: {exc}") from None

    async def token(self) -> str:
        """A valid access token, fetched once for all concurrent callers until it expires."""
        return await self._tokens.get()

    async def _fetch_token(self) -> wire.Token:
        body = wire.token_body(self._settings.client_id, self._settings.client_secret.reveal())
        status, reply = await self._call("POST", "/auth/oauth2/token", {"Content-Type": "application/json"},
                                         data=json.dumps(body))
        if status != 200:
            raise _error(status, reply, unsure=(408, 429))
        try:
            return wire.parse_token(reply)
        except wire.WireError as exc:
            raise AirtelUnavailable("bad_answer", f"unreadable token reply: {exc}") from None

    async def _authorized(self, method: str, path: str, **kwargs: Any) -> tuple[int, object]:
        async def call(token: str) -> tuple[int, object]:
            headers = {"Accept": "*/*", "Content-Type": "application/json", "X-Country": self._settings.country,
                       "X-Currency": self._settings.currency, "Authorization": f"Bearer {token}"}
            return await self._call(method, path, headers, **kwargs)

        return await http.authorized(self._tokens, call)

    async def _call(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> tuple[int, object]:
        return await http.call_json(self._session, method, self._base + path, headers=headers, timeout=self._timeout,
                                    body_max=BODY_MAX, unavailable=AirtelUnavailable, **kwargs)


def _error(status: int, reply: object, unsure: tuple[int, ...] = _UNSURE) -> AirtelError:
    """The error an unexpected answer means: a 4xx refuses, anything else leaves it open."""
    if 400 <= status < 500 and status not in unsure:
        code, message = wire.parse_error(reply)
        return AirtelRefused(code if code != "error" else f"http_{status}", message, status)
    return AirtelUnavailable(f"http_{status}", f"Airtel answered HTTP {status}", status)
