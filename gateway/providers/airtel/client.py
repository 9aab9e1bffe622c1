"""Airtel Money collection client: access token, USSD-push collection, enquiry.

Every HTTP call has a total timeout (``airtel.timeout_s``); a refused token (401)
is renewed and the call tried once more, never more. Errors, by what the caller can do:

    AirtelError              no usable answer from Airtel
    ├── AirtelUnavailable    timeout, network error, 5xx, 429, unreadable reply, an
    │                        ambiguous or unknown transaction: keep the request pending
    └── AirtelRefused        a definite refusal (4xx or ``success: false``, with Airtel's
                             ``code``): nothing will be taken
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

import aiohttp

from billing_core.money import Money
from config.settings import AirtelSettings
from gateway.providers.airtel import wire

BODY_MAX = 64 * 1024
TOKEN_MARGIN_S = 30  # Airtel tokens live minutes, not hours: renew a little early
_UNSURE = (401, 408, 409, 429)


class AirtelError(Exception):
    """No usable answer from Airtel."""

    code = "error"


class AirtelUnavailable(AirtelError):
    code = "unavailable"


class AirtelRefused(AirtelError):
    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code, self.message = code, message


class AirtelClient:
    """One per application; shares the app's outbound session. Safe for concurrent use."""

    def __init__(self, session: aiohttp.ClientSession, settings: AirtelSettings, clock: Callable[[], int]) -> None:
        self._session, self._settings, self._clock = session, settings, clock
        self._base = settings.base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        self._token, self._token_until = "", 0
        self._token_lock = asyncio.Lock()

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
            raise AirtelUnavailable(f"unreadable collection reply: {exc}") from None
        if not answer.success:
            if answer.response_code in wire.OPEN_RESPONSE_CODES:
                raise AirtelUnavailable(f"collection {reference} is {answer.response_code}")
            raise AirtelRefused(answer.response_code or "refused", answer.message)

    async def enquiry(self, reference: str) -> wire.Enquiry:
        """Airtel's current word on transaction ``reference``."""
        status, reply = await self._authorized("GET", f"/standard/v1/payments/{reference}")
        if status != 200:
            raise AirtelUnavailable(f"enquiry of {reference}: HTTP {status}")
        try:
            return wire.parse_enquiry(reply)
        except wire.WireError as exc:
            raise AirtelUnavailable(f"unreadable enquiry of {reference}: {exc}") from None

    async def token(self) -> str:
        """A valid access token, fetched once for all concurrent callers until it expires."""
        async with self._token_lock:
            if self._token and self._clock() < self._token_until:
                return self._token
            token = await self._fetch_token()
            self._token = token.access_token
            self._token_until = self._clock() + max(1, token.expires_in_s - TOKEN_MARGIN_S)
            return self._token

    def _forget(self, token: str) -> None:
        if self._token == token:
            self._token = ""

    async def _fetch_token(self) -> wire.Token:
        body = wire.token_body(self._settings.client_id, self._settings.client_secret.reveal())
        status, reply = await self._call("POST", "/auth/oauth2/token", {"Content-Type": "application/json"},
                                         data=json.dumps(body))
        if status != 200:
            raise _error(status, reply, unsure=(408, 429))
        try:
            return wire.parse_token(reply)
        except wire.WireError as exc:
            raise AirtelUnavailable(f"unreadable token reply: {exc}") from None

    async def _authorized(self, method: str, path: str, **kwargs: Any) -> tuple[int, object]:
        for attempt in (1, 2):
            token = await self.token()
            headers = {"Accept": "*/*", "Content-Type": "application/json", "X-Country": self._settings.country,
                       "X-Currency": self._settings.currency, "Authorization": f"Bearer {token}"}
            status, reply = await self._call(method, path, headers, **kwargs)
            if status != 401 or attempt == 2:
                return status, reply
            self._forget(token)
        raise AssertionError("unreachable")

    async def _call(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> tuple[int, object]:
        try:
            async with self._session.request(method, self._base + path, headers=headers, timeout=self._timeout,
                                             **kwargs) as resp:
                return resp.status, _decode(await _read(resp))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AirtelUnavailable(f"{method} {path}: {type(exc).__name__} {exc}".strip()) from None


async def _read(resp: aiohttp.ClientResponse) -> bytes:
    body = bytearray()
    async for chunk in resp.content.iter_chunked(8192):
        body += chunk
        if len(body) > BODY_MAX:
            raise AirtelUnavailable(f"reply larger than {BODY_MAX} bytes")
    return bytes(body)


def _decode(raw: bytes) -> object:
    """JSON, or None for an empty or non-JSON body (the status code then speaks alone)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _error(status: int, reply: object, unsure: tuple[int, ...] = _UNSURE) -> AirtelError:
    """The error an unexpected answer means: a 4xx refuses, anything else leaves it open."""
    if 400 <= status < 500 and status not in unsure:
        code, message = wire.parse_error(reply)
        return AirtelRefused(code if code != "error" else f"http_{status}", message)
    return AirtelUnavailable(f"Airtel answered HTTP {status}")
