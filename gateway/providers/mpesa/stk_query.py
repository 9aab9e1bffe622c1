"""Settling STK pushes whose result callback never came: Daraja's STK query, polled.

A push is recorded as a pending payment request (``start_stk_push``) whose first poll is
due ``mpesa.query_after_s`` after it was sent. The shared :class:`~gateway.providers.poller.Poller`
then asks Daraja (``POST /mpesa/stkpushquery/v1/query``) about each due request, again after
``mpesa.poll_s`` seconds, doubling up to ``mpesa.poll_max_s``, at most ``mpesa.polls_max`` times:

- ``ResultCode`` 0: paid. Credited once, under the CheckoutRequestID (the query names no
  receipt); a callback arriving afterwards finds the request settled and credits nothing.
- any other ``ResultCode`` (1032 cancelled, 1037 phone unreachable, 1 insufficient funds,
  2001 wrong PIN, …): failed; a success callback arriving later still credits.
- the "being processed" error answer: still pending, asked again later.
- anything else (no answer, a 5xx, spike arrest): counted as a poll without an answer.
"""
from __future__ import annotations

import functools

from billing_core.context import Billing
from billing_core.db.payment_store import PaymentRequest, Settlement
from gateway.providers import http
from gateway.providers.http import ProviderError
from gateway.providers.mpesa import wire
from gateway.providers.mpesa.client import DarajaClient
from gateway.providers.poller import Poller


async def probe(client: DarajaClient, request: PaymentRequest) -> Settlement | None:
    """The poller's status function: Daraja's final word on ``request``, None while pending.
    A request whose push was never answered has no CheckoutRequestID to ask about: it stays
    pending until the poller gives it up (its callback, if any, still finds it by ``ref``)."""
    if not request.provider_ref:
        return None
    answer, raw = await client.stk_query(request.provider_ref)
    return wire.query_settlement(answer, request.provider_ref, raw)


def poller(billing: Billing, client: DarajaClient) -> Poller:
    s = client.settings
    # a query is at most four calls (token, query, and both again after a 401), each bounded
    return Poller(billing, wire.PROVIDER, functools.partial(probe, client), poll_s=s.poll_s, polls_max=s.polls_max,
                  timeout_s=http.AUTHORIZED_CALLS_MAX * s.timeout_s, transient=(ProviderError,),
                  backoff_max_s=s.poll_max_s)
