"""One outbound HTTP client session per application, with bounded timeouts.

Every outbound call (payment providers, TV systems, SMS APIs) goes through it;
each call site still passes its own total timeout.
"""
from __future__ import annotations

from typing import AsyncIterator

import aiohttp
from aiohttp import web

CLIENT = web.AppKey("http_client", aiohttp.ClientSession)
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5, sock_read=10)
CONNECTIONS_MAX = 100


def new_session(timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=CONNECTIONS_MAX),
                                 raise_for_status=False)


async def client_ctx(app: web.Application) -> AsyncIterator[None]:
    app[CLIENT] = new_session()
    yield
    await app[CLIENT].close()
