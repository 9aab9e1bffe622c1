"""A collection provider over the life of the app: its client, and its poller.

The client is at ``app[key]`` while the app runs, when the provider is configured
(without it, the provider's handlers answer 404 ``not_configured``); its poller runs
when, in addition, this process runs the workers, and is stopped within
``server.shutdown_timeout_s``. One aiohttp cleanup context holds both.
"""
from __future__ import annotations

from typing import AsyncIterator, Callable, TypeVar

from aiohttp import web

from billing_core.context import Billing
from gateway.keys import BILLING, SETTINGS, WORKERS
from gateway.providers import poller
from gateway.providers.poller import Poller

Client = TypeVar("Client")


def add_client(app: web.Application, key: web.AppKey[Client], client: Callable[[web.Application], Client | None],
               poller_of: Callable[[Billing, Client], Poller]) -> None:
    """Once ``app`` starts, put ``client(app)`` (None: not configured) at ``app[key]``, and run
    ``poller_of(billing, client)`` when this process runs the workers."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        made = client(app)
        if made is None:
            yield
            return
        app[key] = made
        if not app[WORKERS]:
            yield
            return
        async with poller.running(poller_of(app[BILLING], made), app[SETTINGS].server.shutdown_timeout_s):
            yield

    app.cleanup_ctx.append(ctx)
