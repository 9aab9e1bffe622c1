"""What a ``deliver_sm`` means to the gateway: a delivery receipt, or a text from a phone.

- A receipt (``esm_class`` receipt bits) updates ``sms_messages`` by (``smpp``,
  message id). A receipt can overtake the record of its message when another
  gateway process sent it: one that matches nothing is tried again a few times
  over ``RETRY_S`` seconds (at most ``UNMATCHED_MAX`` held), then logged and dropped.
- A text (``esm_class`` 0, or 0x40 with a concatenation header) goes to
  ``gateway.sms.inbound.handle_inbound(app, msisdn, text, channel="smpp", to=…)``
  once whole: parts of a long text are held (at most ``PARTIALS_MAX`` messages, each
  for ``PARTIAL_TTL_S``) until every part is in.

The answer to the SMSC is ``ESME_ROK`` once the receipt is stored or the command
has run; an exception propagates (the link answers ``ESME_RX_T_APPN`` and the SMSC
delivers again).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any, Callable

from aiohttp import web
from smpplib import consts

from billing_core.db import sms_store
from billing_core.errors import DomainError
from billing_core.phones import mask
from gateway.keys import BILLING
from gateway.providers.smpp import coding
from gateway.providers.smpp.receipts import is_receipt, parse_receipt

log = logging.getLogger("tvtopup.smpp")

PROVIDER = "smpp"
RETRY_S = (1.0, 2.0, 4.0)
UNMATCHED_MAX = 1000
PARTIALS_MAX = 1000
PARTIAL_TTL_S = 300.0


class Reassembly:
    """Parts of concatenated texts, by (sender, reference, total); bounded and expiring."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._parts: OrderedDict[tuple[str, int, int], tuple[float, dict[int, str]]] = OrderedDict()

    def add(self, sender: str, segment: coding.Segment, text: str) -> str | None:
        """The whole text once its last part is in, else None."""
        now = self._clock()
        while self._parts and (len(self._parts) >= PARTIALS_MAX
                               or next(iter(self._parts.values()))[0] < now - PARTIAL_TTL_S):
            self._parts.popitem(last=False)
        key = (sender, segment.ref, segment.total)
        _, parts = self._parts.setdefault(key, (now, {}))
        parts[segment.seq] = text
        if len(parts) < segment.total:
            return None
        del self._parts[key]
        return "".join(parts[i] for i in sorted(parts))


class DeliverHandler:
    """``await handler(fields) -> command status`` for :class:`~gateway.providers.smpp.link.SmppLink`."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._parts = Reassembly()
        self._unmatched = 0
        self.receipts = 0
        self.receipts_unmatched = 0
        self.texts = 0

    async def __call__(self, pdu: dict[str, Any]) -> int:
        if is_receipt(pdu["esm_class"]):
            await self._receipt(pdu)
        else:
            await self._text(pdu)
        return consts.SMPP_ESME_ROK

    async def _receipt(self, pdu: dict[str, Any]) -> None:
        text = coding.decode(pdu["short_message"], 0)
        receipt = parse_receipt(text, pdu["receipted_message_id"], pdu["message_state"])
        if receipt is None:
            log.warning("SMPP: a delivery receipt without a message id: %r", text[:120])
            return
        self.receipts += 1
        if await self._apply(receipt):
            return
        if self._unmatched >= UNMATCHED_MAX:
            self.receipts_unmatched += 1
            log.warning("SMPP: receipt for unknown message %s (%s) dropped", receipt.message_id, receipt.state)
            return
        self._unmatched += 1
        asyncio.get_running_loop().create_task(self._retry(receipt))

    async def _apply(self, receipt) -> bool:
        billing = self._app[BILLING]
        return await billing.db.write(sms_store.apply_receipt, PROVIDER, receipt.message_id, receipt.status,
                                      receipt.state, receipt.error, billing.now())

    async def _retry(self, receipt) -> None:
        try:
            for delay_s in RETRY_S:
                await asyncio.sleep(delay_s)
                if await self._apply(receipt):
                    return
            self.receipts_unmatched += 1
            log.warning("SMPP: receipt for unknown message %s (%s) dropped", receipt.message_id, receipt.state)
        except Exception:
            log.exception("SMPP: storing a receipt failed")
        finally:
            self._unmatched -= 1

    async def _text(self, pdu: dict[str, Any]) -> None:
        data, sender = pdu["short_message"], pdu["source_addr"]
        segment = None
        if pdu["esm_class"] & coding.UDHI:
            segment, data = coding.split_udh(data)
        text = coding.decode(data, pdu["data_coding"])
        if segment is not None and segment.total > 1:
            whole = self._parts.add(sender, segment, text)
            if whole is None:
                return
            text = whole
        try:
            msisdn = self._msisdn(sender)
        except DomainError:
            log.warning("SMPP: text from an address that is not a phone number (%s) ignored", mask(sender))
            return
        self.texts += 1
        from gateway.sms import inbound  # looked up per call: the command layer is its own module

        await inbound.handle_inbound(self._app, msisdn, text, channel=PROVIDER, to=pdu["destination_addr"])

    def _msisdn(self, address: str) -> str:
        """E.164 from an SMPP address (international digits without ``+``, or a national number)."""
        return self._app[BILLING].msisdn(address)


__all__ = ["DeliverHandler", "Reassembly", "PROVIDER"]
