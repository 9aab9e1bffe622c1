"""The SMPP link as asyncio sees it: one bind to the SMSC per process.

:class:`SmppLink` starts a :class:`~gateway.providers.smpp.session.Session` in its
own thread and bridges it to the event loop: :meth:`SmppLink.submit` queues
``submit_sm`` and waits for their responses; what the session reports comes back
through ``loop.call_soon_threadsafe`` into one queue, read by one task (the pump).

The pump keeps what matters in order: the outcome of a batch of ``submit_sm``
is handed to ``on_outcomes`` (the status table) before any ``deliver_sm`` that
came after it is handled, so a receipt never arrives before its message is known
as sent. Each ``deliver_sm`` then runs ``on_deliver`` (at most ``DELIVERS_MAX`` at
once, each within ``timeout_s``) and is answered with the status it returns:
``ESME_RX_T_APPN`` when it raised or took too long, so the SMSC delivers it again.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from smpplib import consts

from gateway.providers.smpp.session import LinkConfig, Report, Session, Submission

log = logging.getLogger("tvtopup.smpp")

DELIVERS_MAX = 64
BATCH_MAX = 500
DOWN, BINDING, BOUND = "down", "binding", "bound"
STATE_VALUES = {DOWN: 0, BINDING: 1, BOUND: 2}


class LinkUnavailable(Exception):
    """The link is not bound (or not running, or its queue is full): try later."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The SMSC's answer to one submission: ``message_id`` when accepted, else ``status``."""

    submission: Submission
    accepted: bool
    message_id: str = ""
    status: int = 0


OnOutcomes = Callable[[list[Outcome]], Awaitable[None]]
OnDeliver = Callable[[dict[str, Any]], Awaitable[int]]


class SmppLink:
    """Counters for metrics: ``submitted``, ``refused``, ``throttled``, ``delivers``, ``binds``,
    ``bind_failures``; ``state`` is ``down``, ``binding`` or ``bound`` (``detail`` says why)."""

    def __init__(self, config: LinkConfig, *, on_deliver: OnDeliver, on_outcomes: OnOutcomes | None = None) -> None:
        self.config = config
        self._on_deliver = on_deliver
        self._on_outcomes = on_outcomes
        self.state, self.detail = DOWN, "not started"
        self.submitted = self.refused = self.throttled = self.delivers = self.binds = self.bind_failures = 0
        self._session: Session | None = None
        self._thread: threading.Thread | None = None
        self._reports: asyncio.Queue[Report] = asyncio.Queue()
        self._waiters: dict[int, asyncio.Future[Outcome]] = {}
        self._pump: asyncio.Task[None] | None = None
        self._delivering: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(DELIVERS_MAX)
        self._state_changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def bound(self) -> bool:
        return self.state == BOUND

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._session = Session(self.config, self._from_thread)
        self._thread = threading.Thread(target=self._session.run, name="smpp-link", daemon=True)
        self._pump = asyncio.create_task(self._run_pump(), name="smpp-pump")
        self._thread.start()

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Unbind, stop the thread, answer nobody any more; waiting senders get LinkUnavailable."""
        if self._session is not None:
            self._session.stop()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, timeout_s)
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self._delivering:  # let handlers in flight finish their transaction, briefly
            await asyncio.wait(list(self._delivering), timeout=min(timeout_s, 2.0))
        for task in list(self._delivering):
            task.cancel()
        await asyncio.gather(*self._delivering, return_exceptions=True)
        for future in self._waiters.values():
            if not future.done():
                future.set_exception(LinkUnavailable("the SMPP link stopped"))
        self._waiters.clear()

    async def wait_state(self, state: str, timeout_s: float) -> bool:
        """Wait until the link is in ``state`` (tests, start-up); False after ``timeout_s``."""
        async def reached() -> None:
            while self.state != state:
                self._state_changed.clear()
                await self._state_changed.wait()

        try:
            await asyncio.wait_for(reached(), timeout_s)
            return True
        except TimeoutError:
            return False

    def waiting(self) -> int:
        """Messages queued in the session or awaiting their response."""
        return self._session.waiting() if self._session is not None else 0

    async def submit(self, submissions: list[Submission], timeout_s: float) -> list[Outcome]:
        """Send ``submissions`` in order; their outcomes, in the same order.

        Raises LinkUnavailable at once when the link is not bound, TimeoutError when
        the answers take longer than ``timeout_s``. Given up (timeout, cancellation),
        a message not yet sent is not sent; one already sent is still recorded by
        ``on_outcomes`` when its answer comes.
        """
        if not self.bound or self._session is None or self._loop is None:
            raise LinkUnavailable(f"SMPP link is {self.state}" + (f": {self.detail}" if self.detail else ""))
        futures = [self._loop.create_future() for _ in submissions]
        for sub, future in zip(submissions, futures):
            self._waiters[id(sub)] = future
        try:
            try:
                self._session.submit(submissions)
            except OverflowError as exc:
                raise LinkUnavailable(str(exc)) from None
            return list(await asyncio.wait_for(asyncio.gather(*futures), timeout_s))
        finally:
            for sub, future in zip(submissions, futures):
                self._waiters.pop(id(sub), None)
                if not future.done():
                    sub.cancelled = True
                    future.cancel()

    # ------------------------------------------------------------------ from the session thread

    def _from_thread(self, report: Report) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._reports.put_nowait, report)
        except RuntimeError:  # the loop closed meanwhile
            pass

    async def _run_pump(self) -> None:
        while True:
            batch = [await self._reports.get()]
            while not self._reports.empty() and len(batch) < BATCH_MAX:
                batch.append(self._reports.get_nowait())
            outcomes: list[Outcome] = []
            for report in batch:
                if report.kind in ("submitted", "refused"):
                    outcomes.append(self._outcome(report))
                    continue
                if outcomes:  # what was answered before this report is settled first
                    await self._settle(outcomes)
                    outcomes = []
                await self._apply(report)
            if outcomes:
                await self._settle(outcomes)

    def _outcome(self, report: Report) -> Outcome:
        assert report.submission is not None
        if report.kind == "submitted":
            self.submitted += 1
            return Outcome(report.submission, True, message_id=str(report.value))
        self.refused += 1
        return Outcome(report.submission, False, status=int(report.value))

    async def _apply(self, report: Report) -> None:
        if report.kind == "state":
            self._set_state(str(report.value), report.detail)
        elif report.kind == "throttled":
            self.throttled += 1
        elif report.kind == "deliver":
            self.delivers += 1
            await self._slots.acquire()
            task = asyncio.create_task(self._deliver(report))
            self._delivering.add(task)
            task.add_done_callback(self._delivering.discard)

    def _set_state(self, state: str, detail: str) -> None:
        if state == BOUND:
            self.binds += 1
        elif state == DOWN and self.state == BINDING:
            self.bind_failures += 1
        self.state, self.detail = state, detail
        self._state_changed.set()

    async def _settle(self, outcomes: list[Outcome]) -> None:
        """Record, then wake the senders; a failed record is logged (the SMS went out all the same)."""
        if self._on_outcomes is not None:
            try:
                await self._on_outcomes(outcomes)
            except Exception:
                log.exception("SMPP: recording %d submit outcomes failed", len(outcomes))
        for outcome in outcomes:
            future = self._waiters.get(id(outcome.submission))
            if future is not None and not future.done():
                future.set_result(outcome)

    async def _deliver(self, report: Report) -> None:
        status = consts.SMPP_ESME_RX_T_APPN
        try:
            status = await asyncio.wait_for(self._on_deliver(report.pdu), self.config.timeout_s)
        except TimeoutError:
            log.warning("SMPP: deliver_sm not handled within %g s; the SMSC will deliver it again",
                        self.config.timeout_s)
        except Exception:
            log.exception("SMPP: handling deliver_sm failed; the SMSC will deliver it again")
        finally:
            self._slots.release()
            if self._session is not None:
                self._session.ack(report.value, status)


# submit_sm refusals that sending again cannot cure: the message itself is wrong
_PERMANENT = frozenset({0x01, 0x0A, 0x0B, 0x43, 0x48, 0x49, 0x50, 0x51, 0x33, 0x34, 0x61, 0x62, -1})


def refusal(status: int) -> tuple[str, bool]:
    """``(reason, retryable)`` for a ``submit_sm_resp`` status."""
    if status == -1:
        return "the text could not be encoded for SMPP", False
    name = consts.DESCRIPTIONS.get(status, "unknown status")
    return f"SMSC refused: {name} (0x{status:08x})", status not in _PERMANENT


__all__ = ["BINDING", "BOUND", "DOWN", "LinkUnavailable", "Outcome", "SmppLink", "STATE_VALUES", "refusal"]
