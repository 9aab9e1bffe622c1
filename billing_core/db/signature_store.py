"""Seen request signatures of the dealer API (``dealer_signatures``), shared by every process.

A signature is inserted with ``ON CONFLICT DO NOTHING`` on its primary key, so of any
number of copies, in any process, before or after a restart, exactly one is first. A
later copy may go on only when it is the very same request under the same, non-empty
``Idempotency-Key``: the first response is then found by that key (``dealer_store``).
Rows whose timestamp has left the signature window are pruned; a request that old is
refused on its timestamp alone.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, select

from billing_core.db.dialect import insert_ignore
from billing_core.db.schema_dealers import dealer_signatures


@dataclass(frozen=True, slots=True)
class Seen:
    """One signed request: its key id, signature (lower-case hex), Idempotency-Key ("" for
    none) and the time after which its timestamp is refused anyway."""

    key_id: str
    signature: str
    idempotency_key: str
    expires_at: int


def admit(conn: Connection, seen: Seen) -> bool:
    """True for a signature never seen, or the same request again under the same key."""
    inserted = conn.execute(insert_ignore(conn, dealer_signatures, "signature").values(
        signature=seen.signature, key_id=seen.key_id, idempotency_key=seen.idempotency_key,
        expires_at=seen.expires_at).returning(dealer_signatures.c.signature)).scalar_one_or_none()
    if inserted is not None:
        return True
    first = conn.execute(select(dealer_signatures.c.key_id, dealer_signatures.c.idempotency_key)
                         .where(dealer_signatures.c.signature == seen.signature)).one_or_none()
    return (first is not None and bool(seen.idempotency_key) and first.key_id == seen.key_id
            and first.idempotency_key == seen.idempotency_key)


def prune(conn: Connection, now: int) -> int:
    """Forget the signatures whose timestamps are past the window; how many."""
    return conn.execute(delete(dealer_signatures).where(dealer_signatures.c.expires_at < now)).rowcount


__all__ = ["Seen", "admit", "prune"]
