"""A local Airtel Money Open API (collection) for tests, speaking its documented shapes.

    airtel = FakeAirtel()
    server = await aiohttp_server(airtel.app())     # airtel.base_url = str(server.make_url(""))
    ...the gateway pushes a collection...
    airtel.succeed(reference, "MP210603.1234.A12345")   # what the enquiry will answer
    await airtel.send_callback(reference, url)          # POST the callback, as Airtel would

It checks what Airtel checks (client credentials on the token call; bearer token,
``X-Country`` and ``X-Currency`` on the others), counts calls in ``calls``, and can be
made slow (``delay_s[endpoint]``), refuse the next collection (``refuse_next``: a
``response_code`` and message) or fail with a 5xx (``broken``). ``answers[id]`` makes the
enquiry for ``id`` answer a given body verbatim (the documented ones in
tests/provider_fixtures/airtel/). The callback and enquiry shapes were checked against the
bodies of Airtel's developer portal (Collection API: Callback, Transaction Enquiry) as
listed in tests/provider_fixtures/airtel/SOURCES.md.
"""
from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

CLIENT_ID = "5f0e7c52-airtel-client"
CLIENT_SECRET = "9a8b7c6d5e4f3a2b1c0d"
OK = {"code": "200", "message": "SUCCESS", "result_code": "ESB000010", "response_code": "DP00800001006",
      "success": True}


@dataclass
class Collection:
    id: str
    body: dict[str, Any]
    status: str = "TIP"
    airtel_money_id: str = ""
    message: str = "In process"
    response_code: str = "DP00800001006"


class FakeAirtel:
    def __init__(self, *, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET, country: str = "KE",
                 currency: str = "KES", token_ttl_s: int = 180) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.country, self.currency, self.token_ttl_s = country, currency, token_ttl_s
        self.collections: dict[str, Collection] = {}
        self.answers: dict[str, dict[str, Any]] = {}  # id -> enquiry body to answer verbatim
        self.calls: Counter[str] = Counter()
        self.delay_s: dict[str, float] = {}
        self.refuse_next: tuple[str, str] | None = None
        self.broken = False
        self._tokens: set[str] = set()
        self._released = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/auth/oauth2/token", self._token)
        app.router.add_post("/merchant/v1/payments/", self._collect)
        app.router.add_get("/standard/v1/payments/{id}", self._enquiry)
        app.on_shutdown.append(self._release)
        return app

    # ---- what the test controls ------------------------------------------------------

    def succeed(self, id: str, airtel_money_id: str) -> None:
        tx = self.collections[id]
        tx.status, tx.airtel_money_id, tx.message, tx.response_code = "TS", airtel_money_id, "success", \
            "DP00800001001"

    def fail(self, id: str, message: str = "Insufficient funds", response_code: str = "DP00800001007") -> None:
        tx = self.collections[id]
        tx.status, tx.message, tx.response_code = "TF", message, response_code

    def revoke_tokens(self) -> None:
        self._tokens.clear()

    def callback_body(self, id: str, status_code: str | None = None) -> dict[str, Any]:
        tx = self.collections[id]
        return {"transaction": {"id": id, "message": tx.message, "status_code": status_code or tx.status,
                                "airtel_money_id": tx.airtel_money_id or "MP000000.0000.A00000"}}

    async def send_callback(self, id: str, url: str | URL, *, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """POST the callback to ``url`` (registered with Airtel, token included)."""
        payload = self.callback_body(id) if body is None else body
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            async with session.post(URL(str(url)), json=payload) as resp:
                return resp.status, await resp.json(content_type=None)

    # ---- the API ---------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        self.calls["token"] += 1
        await self._pause("token")
        body = await request.json()
        if (body.get("client_id"), body.get("client_secret"), body.get("grant_type")) != \
                (self.client_id, self.client_secret, "client_credentials"):
            return web.json_response({"error_description": "Invalid client credentials", "error": "invalid_client"},
                                     status=401)
        token = uuid.uuid4().hex
        self._tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": str(self.token_ttl_s),
                                  "token_type": "bearer"})

    async def _collect(self, request: web.Request) -> web.Response:
        self.calls["collect"] += 1
        await self._pause("collect")
        refused = self._refusal(request)
        if refused is not None:
            return refused
        body = await request.json()
        tx_id = body["transaction"]["id"]
        if self.refuse_next is not None:
            (code, message), self.refuse_next = self.refuse_next, None
            return web.json_response({"data": {}, "status": {"code": "200", "message": message,
                                                             "response_code": code, "success": False}})
        self.collections[tx_id] = Collection(tx_id, body)
        return web.json_response({"data": {"transaction": {"id": tx_id, "status": "Success."}}, "status": OK})

    async def _enquiry(self, request: web.Request) -> web.Response:
        self.calls["enquiry"] += 1
        await self._pause("enquiry")
        refused = self._refusal(request)
        if refused is not None:
            return refused
        if request.match_info["id"] in self.answers:  # a documented body, as given by the test
            return web.json_response(self.answers[request.match_info["id"]])
        tx = self.collections.get(request.match_info["id"])
        if tx is None:
            return web.json_response({"data": {}, "status": {"code": "200", "message": "Transaction not found",
                                                             "response_code": "DP00800001025", "success": False}})
        return web.json_response({"data": {"transaction": {
            "airtel_money_id": tx.airtel_money_id or None, "id": tx.id, "message": tx.message,
            "status": tx.status}}, "status": {**OK, "response_code": tx.response_code}})

    def _refusal(self, request: web.Request) -> web.Response | None:
        if self.broken:
            return web.json_response({"status": {"message": "boom", "success": False}}, status=500)
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self._tokens:
            return web.json_response({"status": {"message": "Invalid token", "success": False}}, status=401)
        if (request.headers.get("X-Country"), request.headers.get("X-Currency")) != (self.country, self.currency):
            return web.json_response({"status": {"code": "400", "message": "Invalid country or currency",
                                                 "response_code": "DP00800001005", "success": False}}, status=400)
        return None

    async def _pause(self, endpoint: str) -> None:
        delay = self.delay_s.get(endpoint, 0)
        if delay:
            try:
                await asyncio.wait_for(self._released.wait(), delay)
            except TimeoutError:
                pass

    async def _release(self, _app: web.Application) -> None:
        self._released.set()
