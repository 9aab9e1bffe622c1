"""MTN MoMo collection client: access token, request to pay, status.

Every HTTP call has a total timeout (``mtn.timeout_s``); a refused token (401) is
renewed and the call tried once more, never more. Errors, by what the caller can do:

    MomoError              no usable answer from MTN
    ├── MomoUnavailable    timeout, network error, 5xx, 429, unreadable reply, unknown
    │                      reference: the outcome is unknown; keep the request pending
    └── MomoRefused        a definite refusal (4xx, with MTN's ``code``): nothing was taken
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any, Callable

import aiohttp
from yarl import URL

from billing_core.money import Money
from config.settings import MtnSettings
from gateway.providers.mtn_momo import wire

log = logging.getLogger("tvtopup.mtn")
BODY_MAX = 64 * 1024
TOKEN_MARGIN_S = 60  # renew this long before MTN's expiry, so a token never dies in flight
_UNSURE = (401, 408, 429)  # 4xx answers that say nothing final about the request


class MomoError(Exception):
    """No usable answer from MTN."""

    code = "error"


class MomoUnavailable(MomoError):
    code = "unavailable"


class MomoRefused(MomoError):
    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code, self.message = code, message


class MomoClient:
    """One per application; shares the app's outbound session. Safe for concurrent use."""

    def __init__(self, session: aiohttp.ClientSession, settings: MtnSettings, clock: Callable[[], int]) -> None:
        self._session, self._settings, self._clock = session, settings, clock
        self._base = settings.base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        self._token, self._token_until = "", 0
        self._token_lock = asyncio.Lock()

    @property
    def settings(self) -> MtnSettings:
        return self._settings

    async def request_to_pay(self, reference: str, msisdn: str, amount: Money, external_id: str,
                             note: str) -> None:
        """Ask ``msisdn`` to approve paying ``amount``; ``reference`` is the idempotency key
        (MTN answering 409, already accepted, counts as sent)."""
        body = wire.request_to_pay_body(amount, msisdn, external_id, note)
        headers = {"X-Reference-Id": reference, "Content-Type": "application/json"}
        if self._settings.callback_url:
            headers["X-Callback-Url"] = self.callback_url(reference)
        status, reply = await self._authorized("POST", "/collection/v1_0/requesttopay", headers,
                                               data=json.dumps(body))
        if status not in (202, 409):
            raise _error(status, reply)

    async def status(self, reference: str) -> wire.PayStatus:
        """MTN's current word on request ``reference``."""
        status, reply = await self._authorized("GET", f"/collection/v1_0/requesttopay/{reference}", {})
        if status == 404:
            raise MomoUnavailable(f"MTN does not know request {reference}")
        if status != 200:
            raise _error(status, reply)
        try:
            return wire.parse_status(reply)
        except wire.WireError as exc:
            raise MomoUnavailable(f"unreadable status of {reference}: {exc}") from None

    def callback_url(self, reference: str) -> str:
        """Our callback URL for one request: MTN's callback may not name the request."""
        query = {"ref": reference}
        if self._settings.callback_token:
            query["token"] = self._settings.callback_token.reveal()
        return str(URL(self._settings.callback_url).update_query(query))

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
        status, reply = await self._call("POST", "/collection/token/",
                                         {**self._common_headers(), "Authorization": self._basic_auth()})
        if status != 200:
            raise _error(status, reply, unsure=(408, 429))
        try:
            return wire.parse_token(reply)
        except wire.WireError as exc:
            raise MomoUnavailable(f"unreadable token reply: {exc}") from None

    async def _authorized(self, method: str, path: str, headers: dict[str, str],
                          **kwargs: Any) -> tuple[int, object]:
        for attempt in (1, 2):
            token = await self.token()
            all_headers = {**self._common_headers(), **headers, "Authorization": f"Bearer {token}",
                           "X-Target-Environment": self._settings.target_environment}
            status, reply = await self._call(method, path, all_headers, **kwargs)
            if status != 401 or attempt == 2:
                return status, reply
            self._forget(token)
        raise AssertionError("unreachable")

    def _basic_auth(self) -> str:
        user_key = f"{self._settings.api_user}:{self._settings.api_key.reveal()}".encode()
        return "Basic " + base64.b64encode(user_key).decode("ascii")

    def _common_headers(self) -> dict[str, str]:
        return {"Ocp-Apim-Subscription-Key": self._settings.subscription_key.reveal()}

    async def _call(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> tuple[int, object]:
        try:
            async with self._session.request(method, self._base + path, headers=headers, timeout=self._timeout,
                                             **kwargs) as resp:
                return resp.status, _decode(await _read(resp))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise MomoUnavailable(f"{method} {path}: {type(exc).__name__} {exc}".strip()) from None


async def _read(resp: aiohttp.ClientResponse) -> bytes:
    body = bytearray()
    async for chunk in resp.content.iter_chunked(8192):
        body += chunk
        if len(body) > BODY_MAX:
            raise MomoUnavailable(f"reply larger than {BODY_MAX} bytes")
    return bytes(body)


def _decode(raw: bytes) -> object:
    """JSON, or None for an empty or non-JSON body (the status code then speaks alone)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _error(status: int, reply: object, unsure: tuple[int, ...] = _UNSURE) -> MomoError:
    """The error an unexpected answer means: a 4xx refuses, anything else leaves it open."""
    if 400 <= status < 500 and status not in unsure:
        code, message = wire.parse_error(reply)
        return MomoRefused(code if code != "error" else f"http_{status}", message)
    return MomoUnavailable(f"MTN answered HTTP {status}")
