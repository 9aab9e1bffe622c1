"""The SMPP link (python-smpplib in its own thread) against a real SMSC (smpp34) over TCP."""
from __future__ import annotations

import asyncio
import time

import pytest
from smpplib import consts

from gateway.providers.smpp.link import LinkUnavailable, SmppLink
from gateway.providers.smpp.session import LinkConfig, Submission
from tests.peers.smsc import RefusingSmsc, TcpProxy, TestSmsc


def config(port: int, **changes) -> LinkConfig:
    values = dict(host="127.0.0.1", port=port, system_id="tvtopup", password="secret", system_type="",
                  rate_per_s=200, window=10, enquire_link_s=30, timeout_s=5, backoff_first_s=0.2, backoff_max_s=1.0)
    values.update(changes)
    return LinkConfig(**values)


def message(n: int) -> Submission:
    return Submission({"source_addr": "22333", "destination_addr": "254712345678", "registered_delivery": 1,
                       "short_message": f"message {n:03d}".encode()}, tag=n)


async def eventually(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


class Inbox:
    """The link's ``on_deliver``: records what came, answers ``status`` (or raises)."""

    def __init__(self) -> None:
        self.pdus: list[dict] = []
        self.status = consts.SMPP_ESME_ROK
        self.fail = False

    async def __call__(self, pdu: dict) -> int:
        self.pdus.append(pdu)
        if self.fail:
            raise RuntimeError("handler broke")
        return self.status


@pytest.fixture
async def smsc():
    server = TestSmsc()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def running():
    links: list[SmppLink] = []

    async def start(cfg: LinkConfig, inbox: Inbox | None = None, *, bound: bool = True) -> SmppLink:
        link = SmppLink(cfg, on_deliver=inbox or Inbox())
        links.append(link)
        await link.start()
        if bound:
            assert await link.wait_state("bound", 5), link.detail
        return link

    yield start
    for link in links:
        await link.stop()


async def test_submit_gets_the_smscs_id_and_delivers_reach_the_handler(smsc, running):
    inbox = Inbox()
    link = await running(config(smsc.port), inbox)
    [outcome] = await link.submit([message(1)], timeout_s=5)
    [submit] = smsc.accepted
    assert outcome.accepted and outcome.message_id == submit.message_id
    assert (submit.destination_addr, submit.registered_delivery, submit.short_message) == \
        ("254712345678", 1, b"message 001")

    assert await smsc.send_receipt(submit.message_id) == consts.SMPP_ESME_ROK
    assert await smsc.send_mo("254712345678", "BAL") == consts.SMPP_ESME_ROK
    receipt, text = inbox.pdus
    assert (receipt["esm_class"], receipt["receipted_message_id"], receipt["message_state"]) == \
        (0x04, submit.message_id, 2)
    assert (text["esm_class"], text["source_addr"], text["short_message"]) == (0, "254712345678", b"BAL")


async def test_a_deliver_the_gateway_cannot_handle_is_answered_temporary_error(smsc, running):
    inbox = Inbox()
    link = await running(config(smsc.port), inbox)
    inbox.fail = True
    assert await smsc.send_mo("254712345678", "BAL") == consts.SMPP_ESME_RX_T_APPN
    inbox.fail = False
    assert await smsc.send_mo("254712345678", "BAL") == consts.SMPP_ESME_ROK
    assert link.bound and link.delivers == 2


async def test_the_configured_rate_is_held(smsc, running):
    link = await running(config(smsc.port, rate_per_s=50, window=20))
    outcomes = await link.submit([message(n) for n in range(51)], timeout_s=10)
    assert all(o.accepted for o in outcomes)
    times = [s.at for s in smsc.accepted]
    elapsed = times[-1] - times[0]
    assert 0.95 <= elapsed <= 1.5, elapsed  # 50 intervals of 20 ms
    assert max(b - a for a, b in zip(times[10:], times[11:])) < 0.2
    # never more than a message of catch-up: no 10 within a fifth of a second
    assert all(times[i + 10] - times[i] >= 0.15 for i in range(len(times) - 10))


async def test_the_window_bounds_unanswered_submits_and_a_hung_smsc_is_left(smsc, running):
    link = await running(config(smsc.port, window=4, timeout_s=1))
    smsc.silent = True
    sending = asyncio.create_task(link.submit([message(n) for n in range(12)], timeout_s=15))
    await asyncio.sleep(0.5)
    assert len(smsc.submits) == 0 and len(smsc._held) == 4  # four in flight, none answered
    smsc.silent = False
    outcomes = await sending  # the link gave up on the silent session, bound again, sent all
    assert all(o.accepted for o in outcomes)
    assert link.binds == 2
    assert sorted({s.short_message for s in smsc.accepted}) == [f"message {n:03d}".encode() for n in range(12)]


async def test_throttling_pauses_and_resends_in_order(smsc, running):
    link = await running(config(smsc.port, window=1, rate_per_s=100))
    smsc.throttle_next = 3
    started = time.monotonic()
    outcomes = await link.submit([message(n) for n in range(8)], timeout_s=10)
    assert all(o.accepted for o in outcomes)
    assert link.throttled == 3
    assert [s.short_message for s in smsc.accepted] == [f"message {n:03d}".encode() for n in range(8)]
    refused = [s for s in smsc.submits if s.status == consts.SMPP_ESME_RTHROTTLED]
    assert [s.short_message for s in refused] == [b"message 000"] * 3
    # pauses of 0.2, 0.4 and 0.8 s after each refusal
    assert time.monotonic() - started >= 1.3
    assert smsc.submits[1].at - smsc.submits[0].at >= 0.18


async def test_a_dropped_connection_loses_no_message(smsc, running):
    proxy = TcpProxy(smsc.port)
    await proxy.start()
    try:
        link = await running(config(proxy.port, rate_per_s=100, window=5))
        sending = asyncio.create_task(link.submit([message(n) for n in range(40)], timeout_s=15))
        await smsc.wait_submits(10)
        proxy.cut()
        outcomes = await sending
    finally:
        await proxy.stop()
    assert all(o.accepted for o in outcomes)
    bodies = [s.short_message for s in smsc.accepted]
    assert set(bodies) == {f"message {n:03d}".encode() for n in range(40)}
    assert len(bodies) - 40 <= 5  # at most the window sent twice: those whose answer was lost
    assert link.binds == 2 and proxy.connections == 2


async def test_the_link_survives_the_smsc_restarting(smsc, running):
    link = await running(config(smsc.port))
    await smsc.wait_bound()
    await smsc.restart(down_s=1.0)
    await eventually(lambda: link.binds == 2 and link.bound)
    assert smsc.binds == 2 and link.bind_failures >= 1  # refused while the SMSC was away
    [outcome] = await link.submit([message(1)], timeout_s=5)
    assert outcome.accepted


async def test_an_unbind_from_the_smsc_is_answered_and_the_link_binds_again(smsc, running):
    link = await running(config(smsc.port))
    await smsc.wait_bound()  # the SMSC has seen the bind too
    await smsc.unbind_all()
    await eventually(lambda: link.binds == 2 and link.bound)
    await eventually(lambda: smsc.binds == 2)


async def test_keep_alive_holds_an_idle_link(smsc, running):
    link = await running(config(smsc.port, enquire_link_s=0.2, timeout_s=0.5))
    await asyncio.sleep(1.5)  # seven enquire_link; an unanswered one would drop the link after 0.5 s
    assert link.bound and link.binds == 1


async def test_a_wrong_password_is_reported_and_retried_with_backoff(running):
    smsc = RefusingSmsc()
    await smsc.start()
    try:
        link = await running(config(smsc.port, backoff_first_s=0.2, backoff_max_s=0.8), bound=False)
        await asyncio.sleep(2.0)
        assert link.state in ("down", "binding")
        assert "Invalid Password" in link.detail or link.state == "binding"
        with pytest.raises(LinkUnavailable):
            await link.submit([message(1)], timeout_s=1)
    finally:
        await smsc.stop()
    gaps = [b - a for a, b in zip(smsc.attempts, smsc.attempts[1:])]
    assert 3 <= len(smsc.attempts) <= 6
    assert gaps[0] >= 0.18 and gaps[1] >= 0.36  # 0.2 s, then doubling
    assert link.bind_failures >= 3 and link.binds == 0
