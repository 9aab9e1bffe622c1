"""Overload is answered at once with 503 and Retry-After, never with a hang; a request
that takes too long is answered 503 at the deadline; health is always answered."""
from __future__ import annotations

import asyncio
import time

from aiohttp import web

from gateway.app import create_app
from gateway.middleware import ADMISSION


async def test_requests_beyond_max_in_flight_get_503_at_once(aiohttp_client, make_settings) -> None:
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"ok": True})

    app = create_app(make_settings(**{"server.max_in_flight": 3}), workers=False)
    app.router.add_get("/slow", slow)
    client = await aiohttp_client(app)
    held = [asyncio.create_task(client.get("/slow")) for _ in range(3)]
    while app[ADMISSION].in_flight < 3:
        await asyncio.sleep(0.01)
    started = time.perf_counter()
    resp = await client.get("/slow")
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    assert (await resp.json())["error"] == "overloaded"
    assert time.perf_counter() - started < 0.5
    assert (await client.get("/healthz")).status == 200  # health is never shed
    release.set()
    assert [r.status for r in await asyncio.gather(*held)] == [200, 200, 200]
    assert (await client.get("/slow")).status == 200 and app[ADMISSION].shed == 1


async def test_a_request_past_its_deadline_gets_503(aiohttp_client, make_settings) -> None:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(text="late")

    app = create_app(make_settings(**{"server.request_timeout_s": 0.3}), workers=False)
    app.router.add_get("/hang", hang)
    client = await aiohttp_client(app)
    started = time.perf_counter()
    resp = await client.get("/hang")
    assert resp.status == 503 and (await resp.json())["error"] == "overloaded"
    assert 0.25 < time.perf_counter() - started < 2
    assert app[ADMISSION].timed_out == 1 and app[ADMISSION].in_flight == 0
