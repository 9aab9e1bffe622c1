"""Persistence of the ledger: accounts, entries, postings and balances.

``post(conn, entry, now)`` writes one entry and moves the balances in the same
transaction. Balance rows are updated in (account, slot) order, so concurrent
transactions on PostgreSQL always lock them in one global order and cannot
deadlock. A wallet's single balance row carries ``CHECK balance <= 0``: the
database itself refuses an overdraft whatever the concurrency.
"""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from billing_core.db import group_commit, unit
from billing_core.db.dialect import exact_sum, insert_ignore
from billing_core.db.fast import Fast, insert_of
from billing_core.db.schema import account_balances, accounts, journal_entries, postings
from billing_core.errors import AlreadyReversed, InsufficientWallet, UnknownEntry
from billing_core.ledger import Entry, Posting, reversal

SYSTEM_SLOTS = 32  # balance rows of a busy system account


@dataclass(frozen=True, slots=True)
class AccountRef:
    id: int
    slots: int


class _AccountCache:
    """(code, unit) -> AccountRef. Accounts are never deleted or renumbered, so a
    cached id stays true in every process."""

    def __init__(self) -> None:
        self._refs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> {(code, unit): ref}
        self._lock = threading.Lock()

    def get(self, conn: Connection, code: str, unit: str) -> AccountRef | None:
        refs = self._refs.get(conn.engine)
        return refs.get((code, unit)) if refs is not None else None

    def put(self, conn: Connection, code: str, unit: str, ref: AccountRef) -> None:
        with self._lock:
            self._refs.setdefault(conn.engine, {})[(code, unit)] = ref

    def clear(self) -> None:
        with self._lock:
            self._refs.clear()


_cache = _AccountCache()
group_commit.ROLLBACK_HOOKS.append(_cache.clear)


def is_credit_only(code: str) -> bool:
    """Wallets may never be overdrawn: their balance stays <= 0."""
    return code.startswith("wallet:")


def account(conn: Connection, code: str, unit: str, now: int) -> AccountRef:
    """The account (code, unit), created with its balance rows on first use."""
    ref = _cache.get(conn, code, unit)
    if ref is not None:
        return ref
    credit_only = is_credit_only(code)
    slots = 1 if credit_only else SYSTEM_SLOTS
    created = conn.execute(insert_ignore(conn, accounts).values(
        code=code, unit=unit, slots=slots, credit_only=credit_only, created_at=now,
    ).returning(accounts.c.id)).scalar_one_or_none() is not None
    row = conn.execute(select(accounts.c.id, accounts.c.slots)
                       .where(accounts.c.code == code, accounts.c.unit == unit)).one()
    conn.execute(insert_ignore(conn, account_balances),
                 [{"account_id": row.id, "slot": s, "balance": 0, "credit_only": credit_only}
                  for s in range(row.slots)])
    ref = AccountRef(row.id, row.slots)
    if not created:  # only committed accounts are cached: this transaction may still roll back
        _cache.put(conn, code, unit, ref)
    return ref


_INSERT_ENTRY = Fast(insert_of(journal_entries, "kind", "ref", "memo", "reverses_id", "created_by", "created_at")
                     .returning(journal_entries.c.id))
_INSERT_POSTINGS = Fast(insert_of(postings, "entry_id", "account_id", "amount"))
_MOVE_BALANCE = Fast(
    update(account_balances)
    .where(account_balances.c.account_id == bindparam("a"), account_balances.c.slot == bindparam("s"))
    .values(balance=account_balances.c.balance + bindparam("x"))
)


def post(conn: Connection, entry: Entry, now: int, *, reverses_id: int | None = None, created_by: str = "") -> int:
    """Write ``entry`` and move the balances; returns the entry id.

    The postings and balance moves are written at the end of the transaction
    (:mod:`billing_core.db.unit`); a wallet that would go below zero then raises
    :class:`InsufficientWallet` and the transaction is rolled back whole. A
    transaction that moves a wallet locks it first (``lock_subscriber``).
    """
    refs = [account(conn, p.account, p.unit, now) for p in entry.postings]
    entry_id = _INSERT_ENTRY.scalar(conn, {
        "kind": entry.kind, "ref": entry.ref[:128], "memo": entry.memo[:255], "reverses_id": reverses_id,
        "created_by": created_by, "created_at": now})
    pending = unit.deferred(conn)
    rows = pending.setdefault("postings", [])
    moves = pending.setdefault("moves", {})
    for ref, p in zip(refs, entry.postings):
        rows.append({"entry_id": entry_id, "account_id": ref.id, "amount": p.amount})
        key = (ref.id, entry_id % ref.slots)
        moves[key] = moves.get(key, 0) + p.amount
    return entry_id


def _flush(conn: Connection, pending: dict) -> None:
    """Postings, then balance moves in (account, slot) order: the global lock order."""
    _INSERT_POSTINGS.many(conn, pending.get("postings", ()))
    moves = pending.get("moves", {})
    try:
        _MOVE_BALANCE.many(conn, [{"a": a, "s": s, "x": x} for (a, s), x in sorted(moves.items()) if x])
    except IntegrityError as exc:
        if "no_overdraft" in str(exc.orig):
            raise InsufficientWallet("not enough TVU in the wallet") from None
        raise


unit.FLUSHERS.append(_flush)


def balance(conn: Connection, code: str, unit_code: str) -> int:
    """Current balance of an account (0 when it does not exist yet)."""
    unit.flush(conn)
    return conn.execute(
        select(func.coalesce(func.sum(account_balances.c.balance), 0))
        .select_from(account_balances.join(accounts, accounts.c.id == account_balances.c.account_id))
        .where(accounts.c.code == code, accounts.c.unit == unit_code)
    ).scalar_one()


def load_entry(conn: Connection, entry_id: int) -> tuple[Entry, int | None]:
    """An entry as written, and the id of the entry it reverses (if any)."""
    head = conn.execute(select(journal_entries).where(journal_entries.c.id == entry_id)).one_or_none()
    if head is None:
        raise UnknownEntry(f"no journal entry {entry_id}")
    rows = conn.execute(
        select(accounts.c.code, accounts.c.unit, postings.c.amount)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(postings.c.entry_id == entry_id).order_by(postings.c.id)
    ).all()
    entry = Entry(head.kind, tuple(Posting(r.code, r.unit, r.amount) for r in rows), head.ref, head.memo)
    return entry, head.reverses_id


def reverse(conn: Connection, entry_id: int, now: int, memo: str, created_by: str = "") -> int:
    """Post the reversal of entry ``entry_id``; an entry is reversed at most once."""
    entry, reverses_id = load_entry(conn, entry_id)
    if reverses_id is not None:
        raise AlreadyReversed(f"entry {entry_id} is itself a reversal")
    already = conn.execute(select(journal_entries.c.id).where(journal_entries.c.reverses_id == entry_id)).first()
    if already is not None:
        raise AlreadyReversed(f"entry {entry_id} was reversed by entry {already.id}")
    _lock_wallets(conn, entry)
    try:
        with conn.begin_nested():
            reversed_id = post(conn, reversal(entry, memo), now, reverses_id=entry_id, created_by=created_by)
            unit.flush(conn)
            return reversed_id
    except IntegrityError:  # a concurrent reversal won the unique constraint on reverses_id
        raise AlreadyReversed(f"entry {entry_id} was reversed already") from None


def _lock_wallets(conn: Connection, entry: Entry) -> None:
    """Lock the wallet balances an entry moves, before any system balance (the lock order)."""
    wallets = sorted({p.account for p in entry.postings if is_credit_only(p.account)})
    if wallets and conn.dialect.name == "postgresql":
        conn.execute(select(account_balances.c.balance)
                     .join(accounts, accounts.c.id == account_balances.c.account_id)
                     .where(accounts.c.code.in_(wallets)).order_by(accounts.c.id)
                     .with_for_update(of=account_balances))


def trial_balance(conn: Connection) -> list[tuple[str, str, int]]:
    """(account, unit, balance) of every account with a non-zero balance, by unit then account."""
    unit.flush(conn)
    rows = conn.execute(
        select(accounts.c.code, accounts.c.unit, exact_sum(account_balances.c.balance).label("balance"))
        .join(account_balances, account_balances.c.account_id == accounts.c.id)
        .group_by(accounts.c.code, accounts.c.unit)
        .order_by(accounts.c.unit, accounts.c.code)
    ).all()
    return [(r.code, r.unit, int(r.balance)) for r in rows if int(r.balance) != 0]


def postings_sum_by_unit(conn: Connection) -> dict[str, int]:
    """Sum of every posting per unit, straight from the journal (must be all zero)."""
    unit.flush(conn)
    rows = conn.execute(
        select(accounts.c.unit, exact_sum(postings.c.amount))
        .join(accounts, accounts.c.id == postings.c.account_id)
        .group_by(accounts.c.unit)
    ).all()
    return {unit: int(total) for unit, total in rows}
