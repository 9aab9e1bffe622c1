"""A local TV system: a webhook receiver (the Ministra portal is ``tests/peers/fake_stalker.py``).

Serve ``FakeTv().app`` (``aiohttp_server``, or :func:`serve` for a subprocess
gateway); point ``tv.url`` at ``/hook``.

Webhook ``POST /hook``: checks ``X-Tvtopup-Signature`` against ``secret`` (a bad
or missing one is ``401`` and counted in ``bad_signatures``), parses the JSON and
answers ``200``. Every accepted body is appended to ``received``, duplicates
included: receivers de-duplicate by ``id``, tests count. Every signed request,
accepted or not, is appended to ``calls`` as ``(body id, body attempt,
X-Tvtopup-Event-Id, X-Tvtopup-Attempt)``.

Faults:
- ``fail_first = n``: the next n requests fail (``500``), nothing recorded;
- ``hang_first = n``: the next n requests hang for ``hang_s`` (or until the server shuts
  down, so a test never waits for them at its end) and then answer ``503`` (the client
  has timed out long before); nothing recorded;
- ``delay_s``: every request is answered that late (recorded, then answered);
- ``fail_card = {card: n}``: the next n requests for that card fail;
- ``pause_once_s``: the first accepted request stops the whole process (``time.sleep``)
  that long, as a full garbage collection or a starved CPU does to every request in flight.

``overlaps`` counts accepted requests that arrived for a card while another accepted
request for the same card was still being handled (within ``delay_s``): in-order
delivery keeps it at 0. (A hung request is not counted: its client gave up on it.)
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections import defaultdict
from typing import Any

from aiohttp import web

SIGNATURE_HEADER = "X-Tvtopup-Signature"


class FakeTv:
    def __init__(self, *, secret: str = "tv-secret"):
        self.secret = secret
        self.received: list[dict[str, Any]] = []
        self.calls: list[tuple[Any, Any, str | None, str | None]] = []
        self.requests = 0
        self.bad_signatures = 0
        self.fail_first = 0
        self.hang_first = 0
        self.hang_s = 30.0
        self.delay_s = 0.0
        self.fail_card: dict[str, int] = {}
        self.pause_once_s = 0.0
        self.overlaps = 0
        self._in_flight: dict[str, int] = defaultdict(int)
        self._arrived = asyncio.Condition()
        self._shutdown = asyncio.Event()
        self.app = web.Application()
        self.app.on_shutdown.append(self._release)
        self.app.router.add_post("/hook", self._hook)

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

    async def _release(self, app: web.Application) -> None:
        self._shutdown.set()

    async def _fault(self, card: str) -> str | None:
        """``"fail"``, ``"hang"`` (already waited) or None; the request's delay is taken here."""
        self.requests += 1
        if self.hang_first > 0:
            self.hang_first -= 1
            try:
                await asyncio.wait_for(self._shutdown.wait(), self.hang_s)
            except TimeoutError:
                pass
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
        if self.pause_once_s:
            time.sleep(self.pause_once_s)  # blocks the event loop: client, server and timers alike
            self.pause_once_s = 0.0
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
        self.calls.append((event.get("id"), event.get("attempt"), request.headers.get("X-Tvtopup-Event-Id"),
                           request.headers.get("X-Tvtopup-Attempt")))
        card = str(event.get("card", ""))
        fault = await self._fault(card)
        if fault == "hang":
            return web.json_response({"error": "too late"}, status=503)
        if fault == "fail":
            return web.json_response({"error": "try again"}, status=500)
        await self._accepted(card, event)
        return web.json_response({"ok": True})


__all__ = ["FakeTv", "SIGNATURE_HEADER"]
