"""Calling a payment provider over HTTP: one bounded call, a cached access token, and
the errors, by what the caller can do.

    ProviderError              no usable answer (``code``, ``message``, and the HTTP
    │                          ``status`` when there was one)
    ├── ProviderUnavailable    timeout, network error, 5xx, a reply too large or unreadable:
    │                          the outcome is unknown; keep the request pending
    └── ProviderRefused        a definite refusal, with the provider's code: nothing was taken

A provider names these for its callers (``MomoUnavailable(ProviderUnavailable, MomoError)``)
and passes its own ``unavailable`` class to :func:`call_json`, so that everything its
client raises is its own.

Every call has a total timeout and every reply is read to at most ``body_max`` bytes.
A :class:`TokenCache` fetches a token once for all concurrent callers and renews it
before it expires; :func:`authorized` renews a token the provider refuses and makes the
call once more, never more (so at most :data:`AUTHORIZED_CALLS_MAX` HTTP calls in all).
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable, TypeVar

import aiohttp

from gateway.providers.json_fields import Token

AUTHORIZED_CALLS_MAX = 4  # token, call, and both again after the token was refused
_CHUNK_BYTES = 8192
_MESSAGE_MAX = 255
Reply = TypeVar("Reply")


class ProviderError(Exception):
    """No usable answer from a provider."""

    def __init__(self, code: str, message: str = "", status: int | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code, self.message, self.status = code, message, status


class ProviderUnavailable(ProviderError):
    """The outcome is unknown: keep the request pending."""


class ProviderRefused(ProviderError):
    """A definite refusal: nothing was taken."""


async def call_json(session: aiohttp.ClientSession, method: str, url: str, *,
                    headers: dict[str, str] | None = None, timeout: aiohttp.ClientTimeout, body_max: int,
                    unavailable: type[ProviderUnavailable] = ProviderUnavailable,
                    **kwargs: Any) -> tuple[int, object]:
    """(HTTP status, the reply's JSON, or None for an empty or non-JSON reply) of one call.

    ``kwargs`` go to ``session.request`` (``json``, ``data``, ``params``). Raises
    ``unavailable`` on a timeout (code ``timeout``), a network error (``network``) or a
    reply over ``body_max`` bytes (``bad_answer``); any status is returned, not raised.
    """
    try:
        async with session.request(method, url, headers=headers, timeout=timeout, **kwargs) as resp:
            return resp.status, _decode(await _read(resp, body_max, unavailable))
    except TimeoutError:
        raise unavailable("timeout", f"no answer within {timeout.total} s") from None
    except aiohttp.ClientError as exc:
        raise unavailable("network", f"{type(exc).__name__}: {exc}"[:_MESSAGE_MAX]) from None


async def _read(resp: aiohttp.ClientResponse, body_max: int, unavailable: type[ProviderUnavailable]) -> bytes:
    body = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK_BYTES):
        body += chunk
        if len(body) > body_max:
            raise unavailable("bad_answer", "answer too large", resp.status)
    return bytes(body)


def _decode(raw: bytes) -> object:
    """JSON, or None for an empty or non-JSON body (the status code then speaks alone)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


class TokenCache:
    """One access token for all callers of a client.

    Fetched by one caller at a time (the others wait for it, then use it); kept until
    ``margin_s`` before it expires, or half its life for a short-lived token, so that it
    never dies in flight; dropped as soon as the provider refuses it (:meth:`forget`).
    """

    def __init__(self, fetch: Callable[[], Awaitable[Token]], clock: Callable[[], int], *, margin_s: int) -> None:
        self._fetch, self._clock, self._margin_s = fetch, clock, margin_s
        self._token, self._until = "", 0
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        """A valid access token, from the cache or fetched."""
        if self._fresh():
            return self._token
        async with self._lock:
            if not self._fresh():
                token = await self._fetch()
                self._token = token.access_token
                self._until = self._clock() + token.expires_in_s - min(self._margin_s, token.expires_in_s // 2)
            return self._token

    def forget(self, token: str) -> None:
        """Drop ``token``, refused by the provider (unless another caller already renewed it)."""
        if self._token == token:
            self._token, self._until = "", 0

    def _fresh(self) -> bool:
        return bool(self._token) and self._clock() < self._until


def _status_401(status: int, _reply: object) -> bool:
    return status == 401


async def authorized(tokens: TokenCache, call: Callable[[str], Awaitable[tuple[int, Reply]]], *,
                     token_refused: Callable[[int, Reply], bool] = _status_401) -> tuple[int, Reply]:
    """``call(token)`` with a valid token: (status, reply) of its last attempt.

    When the answer says the token was refused (by default: HTTP 401) the token is
    dropped and the call made once more with a fresh one, never more.
    """
    for _attempt in range(2):
        token = await tokens.get()
        status, reply = await call(token)
        if not token_refused(status, reply):
            break
        tokens.forget(token)
    return status, reply
