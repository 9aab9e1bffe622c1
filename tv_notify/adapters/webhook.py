"""The ``webhook`` adapter: each TV event is POSTed as signed JSON to ``tv.url``.

Body: ``{"id", "event", "card", "products", "until", "text", "lang", "attempt"}`` (the
event's payload plus its stable id, then the delivery attempt: 1 the first time, counting
on when the same event is sent again after a failure or after a crash), compact JSON in UTF-8; a grant
that begins later (a pay-per-view event not yet started) adds ``"starts"`` (ISO 8601)
after ``until``. Headers ``X-Tvtopup-Signature: hex(HMAC-SHA256(tv.secret, body))`` over
those exact bytes, ``X-Tvtopup-Event-Id`` (the ``id``) and ``X-Tvtopup-Attempt``. A 2xx
reply is delivery; any other status, a timeout or a connection failure is a retryable
:class:`DeliveryError` (the contract: anything else is retried with backoff and never
dropped). Receivers de-duplicate by ``id`` (``docs/tv-integration.md``).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from billing_core.db.outbox_store import StoredEvent
from tv_notify.adapters.base import DeliveryError
from tv_notify.adapters.http import HttpAdapter

SIGNATURE_HEADER = "X-Tvtopup-Signature"
EVENT_ID_HEADER = "X-Tvtopup-Event-Id"
ATTEMPT_HEADER = "X-Tvtopup-Attempt"
WIRE_KEYS = ("id", "event", "card", "products", "until", "text", "lang")


def wire_body(event: StoredEvent) -> bytes:
    """The bytes POSTed for ``event``: the contract's keys in the contract's order, then ``attempt``."""
    body = event.body()
    wire = {key: body.get(key) for key in WIRE_KEYS}
    wire["products"] = list(wire["products"] or [])
    wire["text"] = wire["text"] or ""
    if body.get("starts"):
        wire = {**{k: wire[k] for k in WIRE_KEYS[:5]}, "starts": body["starts"],
                **{k: wire[k] for k in WIRE_KEYS[5:]}}
    wire["attempt"] = attempt(event)
    return json.dumps(wire, separators=(",", ":"), ensure_ascii=False).encode()


def attempt(event: StoredEvent) -> int:
    """This delivery's number: 1 for the first; every earlier one counts, a failed one (recorded
    in ``attempts``) or one cut short by a crash (counted in ``sends`` when it was claimed)."""
    return max(event.attempts + 1, event.sends)


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookAdapter(HttpAdapter):
    def __init__(self, url: str, secret: Any, *, timeout_s: float, session: Any = None) -> None:
        super().__init__(timeout_s=timeout_s, session=session)
        self._url = url
        self._secret = secret  # config.settings.Secret (or str); revealed only to sign

    async def deliver(self, event: StoredEvent) -> None:
        body = wire_body(event)
        secret = self._secret.reveal() if hasattr(self._secret, "reveal") else str(self._secret)
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body),
                   EVENT_ID_HEADER: event.event_id, ATTEMPT_HEADER: str(attempt(event))}
        status, _ = await self.request("POST", self._url, data=body, headers=headers)
        if not 200 <= status < 300:
            raise DeliveryError(f"webhook answered HTTP {status}")


__all__ = ["ATTEMPT_HEADER", "EVENT_ID_HEADER", "SIGNATURE_HEADER", "WebhookAdapter", "attempt", "sign", "wire_body"]
