"""The ``ministra`` adapter: Ministra (Stalker) middleware, REST API v1.

``tv.url`` is the API base (``https://portal.example/stalker_portal/api/``),
``tv.username`` / ``tv.secret`` its HTTP Basic credentials. The smartcard number is
the Ministra ``account_number``.

- ``entitlement.grant``: ``PUT accounts/{card}`` with ``status=1``, ``tariff_plan``
  (the package's first product id: create Ministra tariff plans with those
  external ids) and ``end_date`` (``YYYY-MM-DD HH:MM:SS`` in ``operator.timezone``).
- ``entitlement.revoke``: ``PUT accounts/{card}`` with ``status=0``.
- ``osd.message``: ``POST send_event/{card}`` with ``event=send_msg&msg=…``.

Fields go form-encoded. A reply ``{"status": "OK", …}`` is delivery; ``"ERROR"``
(its ``error`` kept as the reason), another HTTP status, a body that is not that
JSON, a timeout or a connection failure are retryable failures. Each call states
the whole state ("active until T"), so a repeated delivery changes nothing.
"""
from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from billing_core.db.outbox_store import StoredEvent
from billing_core.renewal import parse_iso
from tv_notify.adapters.base import DeliveryError
from tv_notify.adapters.http import HttpAdapter
from tv_notify.events import GRANT, OSD, REVOKE

END_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def account_update(event: StoredEvent, tz: ZoneInfo) -> dict[str, str]:
    """The ``accounts/{card}`` fields for a grant or a revoke."""
    payload = event.payload
    if event.kind == REVOKE:
        return {"status": "0"}
    fields = {"status": "1"}
    products = [str(p) for p in payload.get("products") or ()]
    if products:
        fields["tariff_plan"] = products[0]
    if payload.get("until"):
        until = datetime.fromtimestamp(parse_iso(payload["until"]), tz)
        fields["end_date"] = until.strftime(END_DATE_FORMAT)
    return fields


class MinistraAdapter(HttpAdapter):
    def __init__(self, url: str, username: str, password: Any, *, timeout_s: float, session: Any = None,
                 timezone: str = "UTC") -> None:
        super().__init__(timeout_s=timeout_s, session=session)
        self._base = url.rstrip("/") + "/"
        self._username = username
        self._password = password  # config.settings.Secret (or str)
        self._tz = ZoneInfo(timezone)

    async def deliver(self, event: StoredEvent) -> None:
        card = quote(event.card, safe="")
        if event.kind in (GRANT, REVOKE):
            await self._call("PUT", f"accounts/{card}", account_update(event, self._tz))
        elif event.kind == OSD:
            await self._call("POST", f"send_event/{card}", {"event": "send_msg", "msg": event.payload.get("text") or ""})
        else:
            raise DeliveryError(f"ministra does not take {event.kind} events", retryable=False)

    def _authorization(self) -> str:
        password = self._password.reveal() if hasattr(self._password, "reveal") else str(self._password)
        return "Basic " + base64.b64encode(f"{self._username}:{password}".encode()).decode()

    async def _call(self, method: str, path: str, fields: dict[str, str]) -> None:
        status, body = await self.request(method, self._base + path, data=fields,
                                          headers={"Authorization": self._authorization()})
        if status == 401:
            raise DeliveryError("ministra refused the credentials (HTTP 401): check tv.username and tv.secret")
        if not 200 <= status < 300:
            raise DeliveryError(f"ministra answered HTTP {status}")
        try:
            reply = json.loads(body)
        except ValueError:
            raise DeliveryError("ministra answered something that is not JSON") from None
        if not isinstance(reply, dict) or reply.get("status") != "OK":
            error = reply.get("error") if isinstance(reply, dict) else None
            raise DeliveryError(f"ministra: {str(error or 'status is not OK')[:200]}")


__all__ = ["MinistraAdapter", "account_update"]
