"""What the HTTP adapters share: a client session (the application's, or their own) and errors.

A session of its own is opened on the first delivery, never in a constructor, and
closed by ``close()``; the application's session is left to the application.
Every request carries its own total timeout. Failures become
:class:`~tv_notify.adapters.base.DeliveryError` with a reason that names neither
the URL's credentials nor the secret.
"""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tv_notify.adapters.base import DeliveryError

CONNECTIONS_MAX = 32
BODY_MAX_BYTES = 64 * 1024  # a receiver's reply beyond this is not read


class HttpAdapter:
    def __init__(self, *, timeout_s: float, session: aiohttp.ClientSession | None = None) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session = session
        self._own: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is not None:
            return self._session
        if self._own is None or self._own.closed:
            self._own = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONNECTIONS_MAX),
                                              timeout=self._timeout, raise_for_status=False)
        return self._own

    async def request(self, method: str, url: str, **kwargs: Any) -> tuple[int, bytes]:
        """``(status, body)``; a connection failure or timeout raises DeliveryError."""
        try:
            async with self.session().request(method, url, timeout=self._timeout, **kwargs) as resp:
                return resp.status, await resp.content.read(BODY_MAX_BYTES)
        except asyncio.TimeoutError:
            raise DeliveryError(f"timed out after {self._timeout.total:g} s") from None
        except aiohttp.ClientError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {_quiet(exc)}") from None

    async def close(self) -> None:
        if self._own is not None:
            await self._own.close()
            self._own = None


def _quiet(exc: Exception) -> str:
    """The error without a URL (which may carry credentials)."""
    text = str(exc)
    return "connection failed" if "://" in text or "@" in text else text[:200]


__all__ = ["HttpAdapter", "BODY_MAX_BYTES"]
