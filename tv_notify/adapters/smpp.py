"""The ``smpp`` SMS sender: ``sms.send`` events out through the process's SMPP link.

Each event becomes one or more ``submit_sm`` (GSM 7-bit or UCS2, long texts
concatenated), each with a delivery receipt requested, recorded in
``sms_messages`` under (event id, part). A retried event sends only the parts no
earlier attempt handed to the SMSC, with the same concatenation reference.

Failures (see ``tv_notify.adapters.base``): the link not bound, a full queue or
an SMSC that does not answer in ``timeout_s`` are retryable at once, so the
dispatcher's backoff holds the event while the link is away; a refusal of the
message itself (bad destination, a text that cannot be encoded) is not.
"""
from __future__ import annotations

from typing import Any, Callable

from billing_core.db import sms_store
from billing_core.db.database import Database
from billing_core.db.outbox_store import StoredEvent
from billing_core.db.schema_sms import FAILED, QUEUED
from gateway.providers.smpp import coding
from gateway.providers.smpp.link import LinkUnavailable, SmppLink, refusal
from gateway.providers.smpp.session import Submission
from tv_notify.adapters.base import DeliveryError

PROVIDER = "smpp"


class SmppSender:
    def __init__(self, link_of: Callable[[], SmppLink | None] | None, db: Database, clock: Callable[[], int], *,
                 source_addr: str, timeout_s: float) -> None:
        self._link_of = link_of
        self._db, self._clock = db, clock
        self._source = source_addr
        self._timeout_s = timeout_s

    async def deliver(self, event: StoredEvent) -> None:
        link = self._link()
        msisdn, text = str(event.payload.get("msisdn") or ""), str(event.payload.get("text") or "")
        if not msisdn.lstrip("+").isdigit():
            raise DeliveryError("no phone number to send to", retryable=False)
        try:
            encoded = coding.encode(text, coding.reference(event.event_id))
        except ValueError as exc:
            raise DeliveryError(str(exc), retryable=False) from None
        statuses = await self._db.write(sms_store.prepare, event.event_id, PROVIDER, msisdn, len(encoded.parts),
                                        self._clock())
        todo = [Submission(self._params(msisdn, encoded, data), tag=(event.event_id, part))
                for part, data in enumerate(encoded.parts, 1) if statuses.get(part) in (QUEUED, FAILED)]
        if not todo:
            return  # an earlier attempt handed every part over
        try:
            outcomes = await link.submit(todo, self._timeout_s)
        except LinkUnavailable as exc:
            raise DeliveryError(str(exc)) from None
        except TimeoutError:
            raise DeliveryError(f"the SMSC did not answer within {self._timeout_s:g} s") from None
        refused = [o for o in outcomes if not o.accepted]
        if refused:
            reason, retryable = refusal(refused[0].status)
            raise DeliveryError(reason, retryable=retryable)

    async def close(self) -> None:
        return None  # the link belongs to the application

    def _link(self) -> SmppLink:
        link = self._link_of() if self._link_of is not None else None
        if link is None:
            raise DeliveryError("the SMPP link does not run in this process")
        if not link.bound:
            raise DeliveryError(f"SMPP link is {link.state}" + (f": {link.detail}" if link.detail else ""))
        return link

    def _params(self, msisdn: str, encoded: coding.Encoded, data: bytes) -> dict[str, Any]:
        source = self._source
        alphanumeric = not source.isdigit()
        return {"source_addr_ton": 5 if alphanumeric else 0, "source_addr_npi": 0 if alphanumeric else 1,
                "source_addr": source, "dest_addr_ton": 1, "dest_addr_npi": 1,
                "destination_addr": msisdn.lstrip("+"), "short_message": data,
                "data_coding": encoded.data_coding, "esm_class": encoded.esm_class, "registered_delivery": 1}


__all__ = ["SmppSender"]
