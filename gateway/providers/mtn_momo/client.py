"""MTN MoMo collection client: access token, request to pay, status.

Every HTTP call has a total timeout (``mtn.timeout_s``); a refused token (401) is
renewed and the call tried once more, never more (``gateway.providers.http``).
Errors, by what the caller can do:

    MomoError              no usable answer from MTN (a ProviderError)
    ├── MomoUnavailable    timeout, network error, 5xx, 429, unreadable reply, unknown
    │                      reference: the outcome is unknown; keep the request pending
    └── MomoRefused        a definite refusal (4xx, with MTN's ``code``): nothing was taken
"""
from __future__ import annotations

import base64
import json
import logging
from typing import Any, Callable

import aiohttp
from yarl import URL

from billing_core.money import Money
from config.settings import MtnSettings
from gateway.providers import http
from gateway.providers.http import ProviderError, ProviderRefused, ProviderUnavailable
from gateway.providers.mtn_momo import wire

log = logging.getLogger("tvtopup.mtn")
BODY_MAX = 64 * 1024
TOKEN_MARGIN_S = 60  # renew this long before MTN's expiry, so a token never dies in flight
_UNSURE = (401, 408, 429)  # 4xx answers that say nothing final about the request


class MomoError(ProviderError):
    """No usable answer from MTN."""


class MomoUnavailable(ProviderUnavailable, MomoError):
    """MTN's answer, if any, leaves the outcome unknown."""


class MomoRefused(ProviderRefused, MomoError):
    """MTN refused: nothing was taken."""


class MomoClient:
    """One per application; shares the app's outbound session. Safe for concurrent use."""

    def __init__(self, session: aiohttp.ClientSession, settings: MtnSettings, clock: Callable[[], int]) -> None:
        self._session, self._settings = session, settings
        self._base = settings.base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        self._tokens = http.TokenCache(self._fetch_token, clock, margin_s=TOKEN_MARGIN_S)

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
            raise MomoUnavailable("unknown_request", f"MTN does not know request {reference}", status)
        if status != 200:
            raise _error(status, reply)
        try:
            return wire.parse_status(reply)
        except wire.WireError as exc:
            raise MomoUnavailable("bad_answer", f"unreadable status of {reference}: {exc}") from None

    def callback_url(self, reference: str) -> str:
        """Our callback URL for one request: MTN's callback may not name the request."""
        query = {"ref": reference}
        if self._settings.callback_token:
            query["token"] = self._settings.callback_token.reveal()
        return str(URL(self._settings.callback_url).update_query(query))

    async def token(self) -> str:
        """A valid access token, fetched once for all concurrent callers until it expires."""
        return await self._tokens.get()

    async def _fetch_token(self) -> wire.Token:
        status, reply = await self._call("POST", "/collection/token/",
                                         {**self._common_headers(), "Authorization": self._basic_auth()})
        if status != 200:
            raise _error(status, reply, unsure=(408, 429))
        try:
            return wire.parse_token(reply)
        except wire.WireError as exc:
            raise MomoUnavailable("bad_answer", f"unreadable token reply: {exc}") from None

    async def _authorized(self, method: str, path: str, headers: dict[str, str],
                          **kwargs: Any) -> tuple[int, object]:
        async def call(token: str) -> tuple[int, object]:
            all_headers = {**self._common_headers(), **headers, "Authorization": f"Bearer {token}",
                           "X-Target-Environment": self._settings.target_environment}
            return await self._call(method, path, all_headers, **kwargs)

        return await http.authorized(self._tokens, call)

    def _basic_auth(self) -> str:
        user_key = f"{self._settings.api_user}:{self._settings.api_key.reveal()}".encode()
        return "Basic " + base64.b64encode(user_key).decode("ascii")

    def _common_headers(self) -> dict[str, str]:
        return {"Ocp-Apim-Subscription-Key": self._settings.subscription_key.reveal()}

    async def _call(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> tuple[int, object]:
        return await http.call_json(self._session, method, self._base + path, headers=headers, timeout=self._timeout,
                                    body_max=BODY_MAX, unavailable=MomoUnavailable, **kwargs)


def _error(status: int, reply: object, unsure: tuple[int, ...] = _UNSURE) -> MomoError:
    """The error an unexpected answer means: a 4xx refuses, anything else leaves it open."""
    if 400 <= status < 500 and status not in unsure:
        code, message = wire.parse_error(reply)
        return MomoRefused(code if code != "error" else f"http_{status}", message, status)
    return MomoUnavailable(f"http_{status}", f"MTN answered HTTP {status}", status)
