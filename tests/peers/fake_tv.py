"""A local TV system: a webhook receiver and a Ministra (Stalker REST API v1) portal.

Serve ``FakeTv().app`` (``aiohttp_server``, or :func:`serve` for a subprocess
gateway); point ``tv.url`` at ``/hook`` (webhook) or ``/stalker_portal/api/``
(Ministra).

Webhook ``POST /hook``: checks ``X-Tvtopup-Signature`` against ``secret`` (a bad
or missing one is ``401`` and counted in ``bad_signatures``), parses the JSON and
answers ``200``. Every accepted body is appended to ``received``, duplicates
included: receivers de-duplicate by ``id``, tests count.

Ministra, HTTP Basic auth (``401`` otherwise), form fields, replies
``{"status": "OK"|"ERROR", "results", "error"}``:
``PUT accounts/{account}`` (``status``, ``tariff_plan``, ``end_date``) updates
``accounts``; ``POST send_event/{account}`` with ``event=send_msg&msg=…`` appends to
``messages``. Each accepted call is appended to ``received`` too, as
``{"path", "card", "fields"}``.

Faults, for both:
- ``fail_first = n``: the next n requests fail (webhook ``500``; Ministra ``200``
  with ``{"status": "ERROR"}``), nothing recorded;
- ``hang_first = n``: the next n requests hang for ``hang_s`` and then answer ``503``
  (the client has timed out long before); nothing recorded;
- ``delay_s``: every request is answered that late (recorded, then answered);
- ``fail_card = {card: n}``: the next n requests for that card fail.

``overlaps`` counts accepted requests that arrived for a card while another accepted
request for the same card was still being handled (within ``delay_s``): in-order
delivery keeps it at 0. (A hung request is not counted: its client gave up on it.)
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections import defaultdict
from typing import Any

from aiohttp import web

SIGNATURE_HEADER = "X-Tvtopup-Signature"


class FakeTv:
    def __init__(self, *, secret: str = "tv-secret", username: str = "billing", password: str = "ministra-pw"):
        self.secret, self.username, self.password = secret, username, password
        self.received: list[dict[str, Any]] = []
        self.accounts: dict[str, dict[str, str]] = {}
        self.messages: list[tuple[str, str]] = []
        self.requests = 0
        self.bad_signatures = 0
        self.bad_auth = 0
        self.fail_first = 0
        self.hang_first = 0
        self.hang_s = 30.0
        self.delay_s = 0.0
        self.fail_card: dict[str, int] = {}
        self.overlaps = 0
        self._in_flight: dict[str, int] = defaultdict(int)
        self._arrived = asyncio.Condition()
        self.app = web.Application()
        self.app.router.add_post("/hook", self._hook)
        self.app.router.add_put("/stalker_portal/api/accounts/{card}", self._account)
        self.app.router.add_post("/stalker_portal/api/send_event/{card}", self._send_event)

    # ---- what tests read ------------------------------------------------------------------------

    def ids(self, card: str | None = None) -> list[str]:
        """Event ids accepted by the webhook, in arrival order (duplicates included)."""
        return [b["id"] for b in self.received if "id" in b and (card is None or b.get("card") == card)]

    async def wait_for(self, condition, timeout_s: float) -> None:
        """Until ``condition(self)`` holds (checked at each accepted request)."""
        async def waiting():
            async with self._arrived:
                await self._arrived.wait_for(lambda: condition(self))
        await asyncio.wait_for(waiting(), timeout_s)

    # ---- faults ------------------------------------------------------------------------------------

    async def _fault(self, card: str) -> str | None:
        """``"fail"``, ``"hang"`` (already waited) or None; the request's delay is taken here."""
        self.requests += 1
        if self.hang_first > 0:
            self.hang_first -= 1
            await asyncio.sleep(self.hang_s)
            return "hang"
        if self.fail_first > 0:
            self.fail_first -= 1
            return "fail"
        if self.fail_card.get(card, 0) > 0:
            self.fail_card[card] -= 1
            return "fail"
        return None

    async def _accepted(self, card: str, record: dict[str, Any]) -> None:
        """Record an accepted request, after ``delay_s`` (during which it counts as in flight)."""
        if self._in_flight[card]:
            self.overlaps += 1
        self._in_flight[card] += 1
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            async with self._arrived:
                self.received.append(record)
                self._arrived.notify_all()
        finally:
            self._in_flight[card] -= 1

    # ---- webhook -----------------------------------------------------------------------------------

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get(SIGNATURE_HEADER, ""), expected):
            self.bad_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        event = json.loads(body)
        card = str(event.get("card", ""))
        fault = await self._fault(card)
        if fault == "hang":
            return web.json_response({"error": "too late"}, status=503)
        if fault == "fail":
            return web.json_response({"error": "try again"}, status=500)
        await self._accepted(card, event)
        return web.json_response({"ok": True})

    # ---- Ministra ----------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if request.headers.get("Authorization", "") != expected:
            self.bad_auth += 1
            return False
        return True

    async def _ministra(self, request: web.Request, apply) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401, text="Unauthorized")
        card = request.match_info["card"]
        fields = dict(await request.post())
        fault = await self._fault(card)
        if fault == "hang":
            return web.json_response({"status": "ERROR", "error": "too late"}, status=503)
        if fault == "fail":
            return web.json_response({"status": "ERROR", "results": None, "error": "Account is busy"})
        error = apply(card, fields)
        if error:
            return web.json_response({"status": "ERROR", "results": None, "error": error})
        await self._accepted(card, {"path": request.path, "card": card, "fields": fields})
        return web.json_response({"status": "OK", "results": True})

    async def _account(self, request: web.Request) -> web.Response:
        def apply(card: str, fields: dict[str, str]) -> str | None:
            if fields.get("status") not in ("0", "1"):
                return "status must be 0 or 1"
            self.accounts.setdefault(card, {}).update(fields)
            return None

        return await self._ministra(request, apply)

    async def _send_event(self, request: web.Request) -> web.Response:
        def apply(card: str, fields: dict[str, str]) -> str | None:
            if fields.get("event") != "send_msg" or not fields.get("msg"):
                return "event must be send_msg with a msg"
            self.messages.append((card, fields["msg"]))
            return None

        return await self._ministra(request, apply)


__all__ = ["FakeTv", "SIGNATURE_HEADER"]
