"""The USSD session log (``ussd_steps``): written in batches, read for support, pruned."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select

from billing_core.db.schema_ussd import ussd_steps


@dataclass(frozen=True, slots=True)
class StepRow:
    session_id: str
    msisdn: str
    hop: int
    node: str
    input: str
    screen: str
    elapsed_us: int
    at: int


def insert_steps(conn: Connection, rows: list[StepRow]) -> None:
    if rows:
        conn.execute(insert(ussd_steps), [{k: getattr(r, k) for k in StepRow.__slots__} for r in rows])


def steps(conn: Connection, *, session_id: str | None = None, msisdn: str | None = None,
          limit: int = 200) -> list[StepRow]:
    """Steps of one session, or the latest of one phone, oldest first."""
    stmt = select(*(ussd_steps.c[k] for k in StepRow.__slots__))
    if session_id:
        stmt = stmt.where(ussd_steps.c.session_id == session_id).order_by(ussd_steps.c.hop).limit(limit)
        return [StepRow(*r) for r in conn.execute(stmt)]
    stmt = stmt.where(ussd_steps.c.msisdn == msisdn).order_by(ussd_steps.c.at.desc(), ussd_steps.c.id.desc())
    return [StepRow(*r) for r in reversed(conn.execute(stmt.limit(limit)).all())]


def prune(conn: Connection, before: int) -> int:
    return conn.execute(delete(ussd_steps).where(ussd_steps.c.at < before)).rowcount


__all__ = ["StepRow", "insert_steps", "steps", "prune"]
