"""Replay protection of the dealer API: each signed request is good once, across processes.

Seen signatures are kept in the database (``billing_core.db.signature_store``), which every
gateway process shares and which survives a restart, for as long as their timestamp is
acceptable (``dealers.signature_window_s``). The very same request resent under the same
``Idempotency-Key`` passes, so that a client that lost a response gets the first one; a
captured request under another key, or none, is refused.
"""
from __future__ import annotations

import logging

from billing_core.context import Billing
from billing_core.db import signature_store
from billing_core.db.signature_store import Seen

log = logging.getLogger("tvtopup.dealers")
PRUNE_EVERY_S = 60


class SeenSignatures:
    """Admits signed requests once (see the module); prunes old ones now and then."""

    def __init__(self, billing: Billing, window_s: int, prune_every_s: int = PRUNE_EVERY_S):
        self._billing, self._window_s, self._prune_every_s = billing, window_s, prune_every_s
        self._next_prune_at = 0

    async def admit(self, key_id: str, stamp: int, signature: str, idempotency_key: str) -> bool:
        """True when this request may go on (first seen, or the same request under the same key)."""
        now = self._billing.now()
        if now >= self._next_prune_at:
            self._next_prune_at = now + self._prune_every_s
            await self._prune(now)
        seen = Seen(key_id, signature.lower(), idempotency_key, stamp + self._window_s + 1)
        return await self._billing.db.write(signature_store.admit, seen)

    async def _prune(self, now: int) -> None:
        try:
            count = await self._billing.db.write(signature_store.prune, now)
        except Exception:  # pruning is housekeeping: the request is not refused for it
            log.warning("could not prune seen dealer signatures; trying again in %d s", self._prune_every_s,
                        exc_info=True)
            return
        if count:
            log.debug("pruned %d seen dealer signatures", count)


__all__ = ["SeenSignatures"]
