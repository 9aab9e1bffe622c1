"""Rows of the ``lockouts`` table: counting attempts, locking, lifting, listing (see
:mod:`billing_core.lockouts` for the rules).

Every change is one conditional statement, correct with several gateway processes on
one database: :func:`reserve` is an ``INSERT … ON CONFLICT DO UPDATE … WHERE`` that
counts an attempt only while the key is neither locked nor at its limit, and takes
the row until the transaction ends (PostgreSQL locks it even when the ``WHERE`` says
no; SQLite runs one writer at a time).
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Connection, Integer, and_, bindparam, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from billing_core.db.schema_lockouts import lockouts as t
from billing_core.lockouts import LockedOut, Lockout, LockoutPolicy, refusal_text

PRUNE_MAX = 500
_NOW = bindparam("now", type_=BigInteger)
_STMTS: dict[str, object] = {}


def _reserve_stmt(dialect: str):
    """One attempt counted against ``:key``, or no row when the key refuses it."""
    stmt = _STMTS.get(dialect)
    if stmt is None:
        window, limit = bindparam("window_s", type_=BigInteger), bindparam("limit", type_=Integer)
        fresh = t.c.window_until <= _NOW  # the last window is over: this attempt starts one
        insert = postgresql.insert(t) if dialect == "postgresql" else sqlite.insert(t)
        stmt = _STMTS[dialect] = insert.values(
            key=bindparam("key"), failures=1, window_until=_NOW + window, locked_until=0,
        ).on_conflict_do_update(
            index_elements=[t.c.key],
            set_={"failures": case((fresh, 1), else_=t.c.failures + 1),
                  "window_until": case((fresh, _NOW + window), else_=t.c.window_until)},
            where=and_(t.c.locked_until <= _NOW, or_(fresh, t.c.failures < limit)),
        ).returning(t.c.failures)
    return stmt


def reserve(conn: Connection, keys: tuple[str, ...], now: int, policy: LockoutPolicy) -> dict[str, int]:
    """Count one attempt against each of ``keys`` (in their order): key -> attempts in its
    window. Raises :class:`LockedOut` (the caller's transaction rolls back, so nothing is
    counted) when a key is locked or at its limit."""
    counts = {}
    stmt = _reserve_stmt(conn.dialect.name)
    for key in keys:
        count = conn.execute(stmt, {"key": key, "now": now, "window_s": policy.window_s,
                                    "limit": policy.failures}).scalar()
        if count is None:
            locked_until, window_until = conn.execute(
                select(t.c.locked_until, t.c.window_until).where(t.c.key == key)).one()
            raise LockedOut(refusal_text(key), key=key, until=max(locked_until, window_until))
        counts[key] = count
    return counts


def give_back(conn: Connection, keys: tuple[str, ...]) -> None:
    """The attempt was right: it does not count."""
    conn.execute(update(t).where(t.c.key.in_(keys), t.c.failures > 0).values(failures=t.c.failures - 1))


def lock_reached(conn: Connection, counts: dict[str, int], now: int, policy: LockoutPolicy) -> dict[str, int]:
    """The attempts were wrong: lock each key whose count reached the limit (and start its
    count afresh for after the lock-out). Returns key -> locked until."""
    locked = {}
    for key, count in counts.items():
        if count >= policy.failures:
            until = now + policy.lockout_s
            conn.execute(update(t).where(t.c.key == key).values(
                locked_at=now, locked_until=until, failures=0, window_until=0))
            locked[key] = until
    return locked


def locked(conn: Connection, now: int, limit: int = 2000) -> list[Lockout]:
    """The keys locked out now, oldest lock first."""
    rows = conn.execute(select(t.c.key, t.c.locked_at, t.c.locked_until).where(t.c.locked_until > now)
                        .order_by(t.c.locked_at, t.c.key).limit(limit)).all()
    return [Lockout(key, locked_at or 0, until - now) for key, locked_at, until in rows]


def unlock(conn: Connection, keys: list[str], now: int) -> list[str]:
    """Lift the lock-outs of ``keys`` and forget their failures; the keys that were locked."""
    was = conn.execute(select(t.c.key).where(t.c.key.in_(keys), t.c.locked_until > now)).scalars().all()
    conn.execute(delete(t).where(t.c.key.in_(keys)))
    return [key for key in keys if key in set(was)]


def prune(conn: Connection, now: int, limit: int = PRUNE_MAX) -> int:
    """Delete up to ``limit`` rows that count nothing any more; rows other transactions
    hold are skipped (PostgreSQL), so pruning never waits on an attempt."""
    dead = select(t.c.key).where(t.c.locked_until <= now, t.c.window_until <= now).limit(limit)
    if conn.dialect.name == "postgresql":
        dead = dead.with_for_update(skip_locked=True)
    result = conn.execute(delete(t).where(t.c.key.in_(dead), t.c.locked_until <= now, t.c.window_until <= now))
    return result.rowcount or 0


__all__ = ["reserve", "give_back", "lock_reached", "locked", "unlock", "prune"]
