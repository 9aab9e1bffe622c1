"""Polling the status of the payment requests we sent: the fallback for lost callbacks.

One :class:`Poller` per provider, whatever the provider: it is given a status
function ``status(request) -> Settlement | None`` (None: still pending) and the
provider's errors that mean "no answer this time". Every ``poll_s`` it takes up to
``batch_max`` due pending requests, asks about each (at most ``concurrency_max`` at
once, each bounded by ``timeout_s``), settles the final ones and counts a poll on
the others; after ``polls_max`` polls a request is given up as failed (a success
that arrives later still credits). Settling is idempotent, so a callback and the
poller may race on one request.

A request still pending is asked again after ``poll_s`` seconds; with ``backoff_max_s``
the wait doubles with each poll of that request (``poll_s``, 2x, 4x, …) up to that cap.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable

from billing_core import payments
from billing_core.context import Billing
from billing_core.db.payment_store import PaymentRequest, Settlement
from billing_core.errors import DomainError

log = logging.getLogger("tvtopup.poller")
StatusFn = Callable[[PaymentRequest], Awaitable[Settlement | None]]
SETTLED, PENDING, ERROR = "settled", "pending", "error"


@dataclass(frozen=True, slots=True)
class PollReport:
    settled: int = 0
    pending: int = 0
    errors: int = 0


class Poller:
    def __init__(self, billing: Billing, provider: str, status: StatusFn, *, poll_s: float, polls_max: int,
                 timeout_s: float, transient: tuple[type[Exception], ...] = (), batch_max: int = 50,
                 concurrency_max: int = 8, backoff_max_s: float | None = None) -> None:
        self.provider = provider
        self._billing, self._status, self._transient = billing, status, transient
        self._poll_s, self._polls_max, self._timeout_s = poll_s, polls_max, timeout_s
        self._batch_max, self._concurrency_max, self._backoff_max_s = batch_max, concurrency_max, backoff_max_s

    def next_after_s(self, polls: int) -> int:
        """Seconds to the next poll of a request already polled ``polls`` times (whole seconds,
        like the database clock)."""
        wait_s = self._poll_s
        if self._backoff_max_s is not None:
            wait_s = min(self._poll_s * 2 ** min(polls, 32), max(self._backoff_max_s, self._poll_s))
        return max(1, math.ceil(wait_s))

    async def run_once(self) -> PollReport:
        """One round over the requests that are due now."""
        due = await payments.due_requests(self._billing, self.provider, self._batch_max)
        gate = asyncio.Semaphore(self._concurrency_max)
        results = await asyncio.gather(*(self._poll(r, gate) for r in due), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.error("%s poll failed", self.provider, exc_info=result)
        outcomes = [r if isinstance(r, str) else ERROR for r in results]
        return PollReport(outcomes.count(SETTLED), outcomes.count(PENDING), outcomes.count(ERROR))

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("%s poll round failed", self.provider)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._poll_s)

    async def _poll(self, request: PaymentRequest, gate: asyncio.Semaphore) -> str:
        async with gate:
            answered, outcome = await self._ask(request)
        if outcome is not None:
            try:
                await payments.settle_request(self._billing, request, outcome)
                return SETTLED
            except DomainError as exc:  # a final word we cannot apply: count it, never spin on it
                log.error("%s request %s: cannot settle: %s", self.provider, request.reference, exc)
                answered = False
        await payments.request_polled(self._billing, request.reference, next_in_s=self.next_after_s(request.polls),
                                      polls_max=self._polls_max)
        return PENDING if answered else ERROR

    async def _ask(self, request: PaymentRequest) -> tuple[bool, Settlement | None]:
        """(whether the provider answered, its final word or None)."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return True, await self._status(request)
        except TimeoutError:
            log.warning("%s request %s: no status within %.1fs", self.provider, request.reference, self._timeout_s)
        except self._transient as exc:
            log.warning("%s request %s: no status: %s", self.provider, request.reference, exc)
        except Exception:  # a bug: logged in full, and counted like any failed poll so it ends
            log.exception("%s request %s: status function failed", self.provider, request.reference)
        return False, None


@contextlib.asynccontextmanager
async def running(poller: Poller, stop_timeout_s: float) -> AsyncIterator[None]:
    """Run ``poller`` in the background for the body of the ``async with``; stop it cleanly."""
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run_forever(stop), name=f"poller-{poller.provider}")
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, stop_timeout_s)
        except TimeoutError:
            log.warning("%s poller did not stop within %.1fs; cancelled", poller.provider, stop_timeout_s)
