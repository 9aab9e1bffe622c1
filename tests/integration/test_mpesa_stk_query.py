"""STK pushes with no result callback, settled by Daraja's STK query through the shared poller:
the running gateway, a local Daraja answering as the M-Pesa Express Query page documents, and
both backends. The clock is the test's: nothing waits for real time."""
from __future__ import annotations

import pytest

from billing_core import payments, subscriptions
from billing_core.db import payment_store as store
from billing_core.errors import NotFound
from gateway.keys import BILLING
from gateway.providers.mpesa import stk_query
from gateway.providers.mpesa.client import DARAJA, start_stk_push
from tests.integration.test_mpesa_stk import ACK, CARD, KES_500, PHONE, daraja, mpesa  # noqa: F401 (fixture)

QUERY_AFTER_S, POLL_S, POLL_MAX_S, POLLS_MAX = 90, 30, 100, 4
SETTINGS = {"mpesa.query_after_s": QUERY_AFTER_S, "mpesa.poll_s": POLL_S, "mpesa.poll_max_s": POLL_MAX_S,
            "mpesa.polls_max": POLLS_MAX}


async def gateway(gateway_client, fake):
    client = await gateway_client(**mpesa(fake, **SETTINGS))
    billing = client.app[BILLING]
    await subscriptions.add_package(billing, "BASIC", "Basic bouquet", 30, 300, ("p1",))
    await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC")
    return client, billing, stk_query.poller(billing, client.app[DARAJA])


async def request_now(billing, reference):
    return await payments.find_request(billing, reference=reference)


async def test_nothing_is_asked_before_query_after_s(gateway_client, daraja, clock):
    client, billing, poller = await gateway(gateway_client, daraja)
    await start_stk_push(billing, client.app[DARAJA], CARD, PHONE, KES_500)
    clock.advance(QUERY_AFTER_S - 1)
    assert (await poller.run_once()).pending == 0 and daraja.queries == 0
    clock.advance(1)
    assert (await poller.run_once()).pending == 1 and daraja.queries == 1


async def test_success_by_query_credits_once_and_a_late_callback_credits_nothing_more(gateway_client, daraja, clock):
    client, billing, poller = await gateway(gateway_client, daraja)
    request = await start_stk_push(billing, client.app[DARAJA], CARD, PHONE, KES_500)
    daraja.finish(request.provider_ref, 0)
    clock.advance(QUERY_AFTER_S)
    assert (await poller.run_once()).settled == 1
    settled = await request_now(billing, request.reference)
    assert (settled.status, settled.result_code) == ("successful", "0")
    paid = await billing.db.read(store.by_txid, "mpesa", request.provider_ref)  # the query names no receipt
    assert (paid.status, paid.tvu, paid.amount) == ("credited", 500, KES_500)
    for _ in range(2):  # the lost callback turns up after all, twice
        assert await daraja.send_result(request.provider_ref, client.make_url("/")) == (200, ACK)
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 200  # 500 TVU once, 300 renewed
    with pytest.raises(NotFound):
        await billing.db.read(store.by_txid, "mpesa", "NLJ7RT61SV")
    assert (await poller.run_once()).settled == 0  # settled requests are never asked about again


@pytest.mark.parametrize("code", [1032, 1037, 1, 2001])
async def test_a_failure_by_query_credits_nothing(gateway_client, daraja, clock, code):
    client, billing, poller = await gateway(gateway_client, daraja)
    request = await start_stk_push(billing, client.app[DARAJA], CARD, PHONE, KES_500)
    daraja.finish(request.provider_ref, code)
    clock.advance(QUERY_AFTER_S)
    assert (await poller.run_once()).settled == 1
    settled = await request_now(billing, request.reference)
    assert (settled.status, settled.result_code, settled.payment_id) == ("failed", str(code), None)
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 0


async def test_being_processed_stays_pending_backs_off_and_gives_up_after_polls_max(gateway_client, daraja, clock):
    client, billing, poller = await gateway(gateway_client, daraja)
    request = await start_stk_push(billing, client.app[DARAJA], CARD, PHONE, KES_500)
    clock.advance(QUERY_AFTER_S)
    assert (await poller.run_once()).pending == 1
    waits = []
    for _ in range(POLLS_MAX - 1):
        waited = 0
        while (await poller.run_once()).pending == 0 and waited < 1000:
            clock.advance(1)
            waited += 1
        waits.append(waited)
    # 30 s, then doubling up to the 100 s cap; the last poll gave the request up
    assert waits == [POLL_S, 2 * POLL_S, POLL_MAX_S]
    given_up = await request_now(billing, request.reference)
    assert (given_up.status, given_up.result_code, given_up.polls) == ("failed", "timeout", POLLS_MAX)
    assert daraja.queries == POLLS_MAX
    # money that moved after all is never lost: the late success callback still credits, once
    assert await daraja.send_result(request.provider_ref, client.make_url("/")) == (200, ACK)
    assert await daraja.send_result(request.provider_ref, client.make_url("/")) == (200, ACK)
    paid = await billing.db.read(store.by_txid, "mpesa", "NLJ7RT61SV")
    assert (paid.status, paid.tvu) == ("credited", 500)
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 200


async def test_callback_first_then_the_poller_never_asks(gateway_client, daraja, clock):
    client, billing, poller = await gateway(gateway_client, daraja)
    request = await start_stk_push(billing, client.app[DARAJA], CARD, PHONE, KES_500)
    assert await daraja.send_result(request.provider_ref, client.make_url("/")) == (200, ACK)
    daraja.finish(request.provider_ref, 0)
    clock.advance(QUERY_AFTER_S)
    report = await poller.run_once()
    assert (report.settled, report.pending, report.errors) == (0, 0, 0)
    assert daraja.queries == 0
    assert (await subscriptions.show_subscriber(billing, CARD)).wallet_tvu == 200


async def test_daraja_errors_count_as_polls_without_an_answer(gateway_client, daraja, clock):
    client, billing, poller = await gateway(gateway_client, daraja)
    request = await start_stk_push(billing, client.app[DARAJA], CARD, PHONE, KES_500)
    daraja.pushes.pop(request.provider_ref)  # Daraja no longer knows it: 400.002.02
    clock.advance(QUERY_AFTER_S)
    report = await poller.run_once()
    assert (report.errors, report.settled) == (1, 0)
    assert (await request_now(billing, request.reference)).polls == 1
