"""Confirming a payment request with its provider: ask once, now, and settle on the answer.

For the collections whose callbacks are only hints (MTN MoMo, Airtel Money): a
callback's handler calls :func:`confirm` with the provider's status function
``status(request) -> Settlement | None`` (None: still pending), the same function its
:class:`~gateway.providers.poller.Poller` asks later. Only the question is cut short
at ``deadline_s``, never the settling: a final answer, once received, is applied.
"""
from __future__ import annotations

import asyncio

from billing_core import payments
from billing_core.context import Billing
from billing_core.db.payment_store import Payment, PaymentRequest
from billing_core.errors import NotFound
from gateway.providers.http import ProviderUnavailable
from gateway.providers.poller import StatusFn


async def confirm(billing: Billing, provider: str, status: StatusFn, reference: str, *, deadline_s: float | None,
                  unavailable: type[ProviderUnavailable], name: str) -> tuple[PaymentRequest, Payment | None]:
    """Ask ``provider`` about request ``reference`` and settle it if final.

    Raises NotFound ("no such <name> request") for a reference that is not one of
    ``provider``'s requests, ``unavailable`` when no answer comes within ``deadline_s``
    (None: no limit), and whatever ``status`` raises.
    """
    request = await payments.find_request(billing, reference=reference)
    if request.provider != provider:
        raise NotFound(f"no such {name} request")
    try:
        async with asyncio.timeout(deadline_s):
            outcome = await status(request)
    except TimeoutError:
        raise unavailable("timeout", f"no answer within {deadline_s}s") from None
    if outcome is None:
        return request, None
    return await payments.settle_request(billing, request, outcome)
