"""What the outbox dispatcher asks of a receiver: the TV system, or the SMS sender.

An adapter delivers one stored event (``event.body()`` is what a receiver gets:
the payload plus the event id) and either returns, which means delivered, or
raises :class:`DeliveryError`.

The contract, for every adapter (log, webhook, Ministra, a DVB CAS connector,
SMPP, Africa's Talking):

- At least once. The dispatcher records a delivery only after ``deliver``
  returns, so a crash or a lost reply means the same event comes again, with the
  same ``event.event_id``. Receivers de-duplicate by that id; an adapter whose
  receiver cannot (a CAS that only takes commands) makes the command idempotent
  (grant "until T", not "add N days").
- In order per card. The dispatcher never calls ``deliver`` for a card's next
  event before the previous one is delivered (or dead), per adapter. An adapter
  must not reorder behind the dispatcher's back (queue internally and return early).
- Bounded. The dispatcher wraps each call in ``asyncio.wait_for(timeout_s)``; an
  adapter also sets its own I/O timeouts and must tolerate being cancelled.
- Failures: ``DeliveryError(reason, retryable=True)`` is retried with backoff;
  ``retryable=False`` (the receiver refused the event itself) makes the event
  dead at once. Any other exception counts as a retryable failure and is logged
  as a bug. ``reason`` is stored and shown to operators: no secrets, no full
  phone numbers.
- ``close()`` releases connections; it is called once, after the last ``deliver``.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from billing_core.db.outbox_store import StoredEvent


class DeliveryError(Exception):
    """Delivery of one event failed; ``retryable`` says whether trying again may help."""

    def __init__(self, reason: str, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@runtime_checkable
class TvAdapter(Protocol):
    """Receives ``entitlement.grant``, ``entitlement.revoke`` and ``osd.message``."""

    async def deliver(self, event: StoredEvent) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class SmsSender(Protocol):
    """Receives ``sms.send`` (payload ``msisdn``, ``text``, ``lang``)."""

    async def deliver(self, event: StoredEvent) -> None: ...

    async def close(self) -> None: ...


__all__ = ["DeliveryError", "SmsSender", "TvAdapter"]
