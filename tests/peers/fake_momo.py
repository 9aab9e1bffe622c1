"""A local MTN MoMo collection API for tests, speaking the Open API's documented shapes.

    momo = FakeMomo()
    server = await aiohttp_server(momo.app())      # mtn.base_url = str(server.make_url(""))
    ...the gateway sends a request to pay...
    momo.succeed(reference, "7300129913")           # what the status call will answer
    await momo.send_callback(reference, gateway)    # PUT the callback, as MTN would

It checks what MTN checks (Basic credentials and subscription key on the token call;
bearer token, subscription key, target environment and a UUID ``X-Reference-Id`` on
the others; a reused reference gets 409), counts calls in ``calls``, and can be made
slow (``delay_s[endpoint]``), refuse the next request to pay (``refuse_next``), fail
with a 5xx (``broken``), or revoke its tokens (``revoke_tokens``).
"""
from __future__ import annotations

import asyncio
import base64
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

API_USER = "3c1f5a8e-2d8b-4c39-9b6e-7f0b1c2d3e4f"
API_KEY = "f1d2c3b4a5968778695a4b3c2d1e0f9a"
SUBSCRIPTION_KEY = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
ENVIRONMENT = "sandbox"


@dataclass
class RequestToPay:
    reference: str
    body: dict[str, Any]
    callback_url: str
    status: dict[str, Any] = field(default_factory=dict)


class FakeMomo:
    def __init__(self, *, api_user: str = API_USER, api_key: str = API_KEY,
                 subscription_key: str = SUBSCRIPTION_KEY, environment: str = ENVIRONMENT,
                 token_ttl_s: int = 3600) -> None:
        self.api_user, self.api_key, self.subscription_key = api_user, api_key, subscription_key
        self.environment, self.token_ttl_s = environment, token_ttl_s
        self.requests: dict[str, RequestToPay] = {}
        self.calls: Counter[str] = Counter()
        self.delay_s: dict[str, float] = {}
        self.refuse_next: tuple[int, dict[str, Any]] | None = None
        self.broken = False
        self._tokens: set[str] = set()
        self._released = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/collection/token/", self._token)
        app.router.add_post("/collection/v1_0/requesttopay", self._request_to_pay)
        app.router.add_get("/collection/v1_0/requesttopay/{reference}", self._status)
        app.on_shutdown.append(self._release)
        return app

    # ---- what the test controls ------------------------------------------------------

    def succeed(self, reference: str, financial_transaction_id: str, amount: str | None = None) -> None:
        status = self.requests[reference].status
        status.update(status="SUCCESSFUL", financialTransactionId=financial_transaction_id)
        if amount is not None:
            status["amount"] = amount

    def fail(self, reference: str, reason: str = "APPROVAL_REJECTED") -> None:
        status = self.requests[reference].status
        status.update(status="FAILED", reason=reason)
        status.pop("financialTransactionId", None)

    def revoke_tokens(self) -> None:
        self._tokens.clear()

    async def send_callback(self, reference: str, gateway: str | URL, *, method: str = "PUT",
                            body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """Deliver the callback to the URL given with the request; ``gateway`` stands in for
        its host (the test plays DNS). The body is the current status unless given."""
        registered = URL(self.requests[reference].callback_url)
        target = URL(str(gateway)).with_path(registered.path).with_query(registered.query)
        payload = self.requests[reference].status if body is None else body
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            async with session.request(method, target, json=payload) as resp:
                return resp.status, await resp.json(content_type=None)

    # ---- the API ---------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        self.calls["token"] += 1
        await self._pause("token")
        expected = "Basic " + base64.b64encode(f"{self.api_user}:{self.api_key}".encode()).decode()
        if request.headers.get("Authorization") != expected or not self._subscribed(request):
            return web.json_response({"error": "login_failed", "error_description": "Login failed"}, status=401)
        token = uuid.uuid4().hex
        self._tokens.add(token)
        return web.json_response({"access_token": token, "token_type": "access_token",
                                  "expires_in": self.token_ttl_s})

    async def _request_to_pay(self, request: web.Request) -> web.Response:
        self.calls["requesttopay"] += 1
        await self._pause("requesttopay")
        refused = self._refusal(request)
        if refused is not None:
            return refused
        reference = request.headers.get("X-Reference-Id", "")
        if reference in self.requests:
            return web.json_response({"code": "RESOURCE_ALREADY_EXIST",
                                      "message": "Duplicated reference id. Creation of resource failed."},
                                     status=409)
        if self.refuse_next is not None:
            (status, body), self.refuse_next = self.refuse_next, None
            return web.json_response(body, status=status)
        body = await request.json()
        self.requests[reference] = RequestToPay(reference, body, request.headers.get("X-Callback-Url", ""),
                                                _pending(body))
        return web.Response(status=202)

    async def _status(self, request: web.Request) -> web.Response:
        self.calls["status"] += 1
        await self._pause("status")
        refused = self._refusal(request)
        if refused is not None:
            return refused
        known = self.requests.get(request.match_info["reference"])
        if known is None:
            return web.json_response({"code": "RESOURCE_NOT_FOUND",
                                      "message": "Requested resource was not found."}, status=404)
        return web.json_response(known.status)

    def _refusal(self, request: web.Request) -> web.Response | None:
        if self.broken:
            return web.json_response({"code": "INTERNAL_PROCESSING_ERROR", "message": "boom"}, status=500)
        auth = request.headers.get("Authorization", "")
        if not self._subscribed(request) or auth.removeprefix("Bearer ") not in self._tokens:
            return web.json_response({"code": "401", "message": "Access token is missing or invalid"}, status=401)
        if request.headers.get("X-Target-Environment") != self.environment:
            return web.json_response({"code": "NOT_ALLOWED_TARGET_ENVIRONMENT",
                                      "message": "Access to target environment is forbidden."}, status=403)
        if request.method == "POST" and not _is_uuid(request.headers.get("X-Reference-Id", "")):
            return web.json_response({"code": "RESOURCE_NOT_FOUND", "message": "bad X-Reference-Id"}, status=400)
        return None

    def _subscribed(self, request: web.Request) -> bool:
        return request.headers.get("Ocp-Apim-Subscription-Key") == self.subscription_key

    async def _pause(self, endpoint: str) -> None:
        delay = self.delay_s.get(endpoint, 0)
        if delay:
            try:
                await asyncio.wait_for(self._released.wait(), delay)
            except TimeoutError:
                pass

    async def _release(self, _app: web.Application) -> None:
        self._released.set()


def _pending(body: dict[str, Any]) -> dict[str, Any]:
    return {"amount": body["amount"], "currency": body["currency"], "externalId": body["externalId"],
            "payer": body["payer"], "payerMessage": body.get("payerMessage", ""),
            "payeeNote": body.get("payeeNote", ""), "status": "PENDING"}


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
