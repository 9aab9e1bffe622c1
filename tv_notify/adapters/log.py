"""The ``log`` adapter: each event becomes one log line instead of a call to a receiver.

What ``tvtopup serve`` uses with no configuration. TV events (entitlements and
on-screen messages) go to the logger ``tvtopup.tv``, SMS to ``tvtopup.sms``, at
INFO, as ``key=value`` pairs; text values are JSON-quoted so a line stays one
line. Phone numbers are masked. It never fails.
"""
from __future__ import annotations

import json
import logging

from billing_core.db.outbox_store import StoredEvent
from billing_core.phones import mask
from tv_notify.events import SMS

TV_LOG = logging.getLogger("tvtopup.tv")
SMS_LOG = logging.getLogger("tvtopup.sms")


class LogAdapter:
    """Logs events; one instance may serve TV events, SMS, or both."""

    async def deliver(self, event: StoredEvent) -> None:
        logger = SMS_LOG if event.kind == SMS else TV_LOG
        logger.info("%s", describe(event))

    async def close(self) -> None:
        return None


def describe(event: StoredEvent) -> str:
    """``event=… id=… card=…`` and the fields that matter for the event's kind."""
    payload = event.payload
    pairs: list[tuple[str, object]] = [("event", event.kind), ("id", event.event_id), ("card", event.card)]
    if event.kind == SMS:
        pairs.append(("msisdn", mask(str(payload.get("msisdn") or ""))))
    else:
        pairs.append(("products", ",".join(str(p) for p in payload.get("products") or ())))
        pairs.append(("until", payload.get("until") or "-"))
    pairs.append(("lang", payload.get("lang") or "-"))
    if payload.get("text"):
        pairs.append(("text", json.dumps(str(payload["text"]), ensure_ascii=False)))
    return " ".join(f"{key}={value}" for key, value in pairs)


__all__ = ["LogAdapter", "describe"]
