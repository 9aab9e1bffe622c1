"""The audit trail of operators' actions: who, when, what and why, in the transaction that acts.

Every customer-care and correction use case writes its record through :func:`record`, in
the same transaction as the change, so an action and its record are committed together.
The CLI names the OS user (or ``--by``), the admin pages the logged-in user and address.
Records are rows of ``audit_log`` (``details`` holds ``why`` and the action's facts).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from billing_core.context import Billing
from billing_core.db import admin_store


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a user name (OS user, ``--by`` or admin login) and, from the web, the address."""

    name: str
    ip: str = ""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("an action needs someone who does it")


def record(conn: Connection, actor: Actor, action: str, target: str, now: int, why: str = "",
           **details: object) -> None:
    """One audit record, in the caller's transaction."""
    admin_store.audit(conn, actor.name, action, target, {"why": why, **details}, actor.ip, now)


async def record_done(billing: Billing, actor: Actor, action: str, target: str, why: str = "",
                      **details: object) -> None:
    """An audit record of an action already done by a use case that writes none itself."""
    await billing.db.write(record, actor, action, target, billing.now(), why, **details)


__all__ = ["Actor", "record", "record_done"]
