"""Reconcile an M-Pesa organisation portal statement (CSV) with our payments.

The statement's columns (``Receipt No.,Completion Time,Initiation Time,Details,
Transaction Status,Paid In,Withdrawn,Balance,Balance Confirmed,Reason Type,Other Party
Info,Linked Transaction ID,A/C No.``) are found by name, whatever their case, spacing or
trailing dot, below any title lines. A payment is a ``Completed`` row with ``Paid In``
above zero; ``A/C No.`` is the account the payer typed (the card). ``Completion Time`` is
Kenyan local time. A bad payment row stops everything, naming its line: nothing is
ingested from a file we could not read whole.

The report: payments only in the statement (``provider_only``, recorded with ``ingest``
through ``record_payment``, so a second run or a late callback credits nothing more),
payments only in our books within the statement's time span (``ours_only``), the
matched count, matched receipts whose amounts differ, and receipts the statement shows
as reversed that our books hold. A reversed payment is never ingested.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime

from billing_core import payments
from billing_core.context import Billing
from billing_core.db import payment_store as store
from billing_core.errors import InvalidImport, NotFound
from billing_core.money import Money
from gateway.providers.mpesa import wire

# columns, by their key (lower case, single spaces, no trailing dot)
RECEIPT, COMPLETED, STATUS, PAID_IN, ACCOUNT = "receipt no", "completion time", "transaction status", "paid in", \
    "a/c no"
DETAILS, REASON, PARTY, LINKED = "details", "reason type", "other party info", "linked transaction id"
ALIASES = {"receipt number": RECEIPT, "account no": ACCOUNT, "account number": ACCOUNT}
REQUIRED = (RECEIPT, COMPLETED, STATUS, PAID_IN, ACCOUNT)
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%d-%m-%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
ROWS_MAX = 200_000
CREATED_BY = "reconcile"


@dataclass(frozen=True, slots=True)
class StatementPayment:
    line: int
    receipt: str
    completed_at: int
    amount: Money
    account: str
    payer: str  # the number as the statement shows it (masked)
    raw: str

    def to_json(self) -> dict:
        return {"line": self.line, "receipt": self.receipt, "completed_at": _iso(self.completed_at),
                "amount": str(self.amount), "account": self.account, "payer": self.payer}


@dataclass(frozen=True, slots=True)
class Statement:
    payments: tuple[StatementPayment, ...]
    reversed: frozenset[str]  # receipts a reversal row names
    since: int | None  # first and last completion time of any row
    until: int | None


def _key(header: str) -> str:
    key = " ".join(header.replace("\ufeff", "").lower().split()).rstrip(".").strip()
    return ALIASES.get(key, key)


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, wire.NAIROBI).isoformat()


def _time(text: str, line: int) -> int:
    for fmt in TIME_FORMATS:
        try:
            return int(datetime.strptime(text.strip(), fmt).replace(tzinfo=wire.NAIROBI).timestamp())
        except ValueError:
            continue
    raise InvalidImport(f"line {line}: Completion Time {text.strip()[:32]!r} is not a date and time")


def _money(text: str, column: str, line: int) -> Money:
    """A statement amount (``1,500.00`` or ``1500``); zero when empty."""
    plain = text.strip().replace(",", "") if _grouped(text.strip()) else text.strip()
    try:
        return wire.plain_amount(plain or "0", column)
    except wire.WireError as exc:
        raise InvalidImport(f"line {line}: {exc.reason}") from None


def _grouped(text: str) -> bool:
    whole = text.split(".")[0]
    groups = whole.split(",")
    return len(groups) > 1 and 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])


def _rows(text: str) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    """The column index by key, and (line, cells) of each data row below the header."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    columns: dict[str, int] | None = None
    rows: list[tuple[int, list[str]]] = []
    ended = 0  # the line the previous row ended on (a quoted cell may span lines)
    for cells in reader:
        line, ended = ended + 1, reader.line_num
        if columns is None:
            keys = [_key(c) for c in cells]
            if RECEIPT in keys:
                columns = {k: i for i, k in reversed(list(enumerate(keys))) if k}
            continue
        if any(c.strip() for c in cells):
            rows.append((line, cells))
        if len(rows) > ROWS_MAX:
            raise InvalidImport(f"a statement has at most {ROWS_MAX} rows")
    if columns is None:
        raise InvalidImport("no header row with a 'Receipt No.' column")
    missing = [k for k in REQUIRED if k not in columns]
    if missing:
        raise InvalidImport(f"the statement has no column {', '.join(missing)}")
    return columns, rows


def parse_statement(text: str) -> Statement:
    """The payments of a statement; InvalidImport naming the first bad line."""
    columns, rows = _rows(text)
    found: dict[str, StatementPayment] = {}
    reversed_: set[str] = set()
    times: list[int] = []
    for line, cells in rows:
        cell = {k: (cells[i] if i < len(cells) else "") for k, i in columns.items()}
        times.append(_time(cell[COMPLETED], line))
        if _is_reversal(cell):
            reversed_.add(cell[LINKED].strip())
        payment = _payment(cell, line, times[-1])
        if payment is None:
            continue
        first = found.setdefault(payment.receipt, payment)
        if (first.amount, first.account) != (payment.amount, payment.account):
            raise InvalidImport(f"line {line}: receipt {payment.receipt} differs from line {first.line}")
    return Statement(tuple(found.values()), frozenset(reversed_), min(times, default=None), max(times, default=None))


def _is_reversal(cell: dict[str, str]) -> bool:
    said = f"{cell.get(DETAILS, '')} {cell.get(REASON, '')}".lower()
    return "reversal" in said and bool(cell.get(LINKED, "").strip())


def _payment(cell: dict[str, str], line: int, completed_at: int) -> StatementPayment | None:
    if cell[STATUS].strip().lower() != "completed":
        return None
    amount = _money(cell[PAID_IN], "Paid In", line)
    if amount.minor == 0:
        return None
    receipt = cell[RECEIPT].strip()
    if not wire.TRANS_ID.fullmatch(receipt):
        raise InvalidImport(f"line {line}: Receipt No. {receipt[:16]!r} is not an M-Pesa receipt")
    account = cell[ACCOUNT].strip()
    if len(account) > 40:
        raise InvalidImport(f"line {line}: A/C No. is longer than 40 characters")
    payer = cell.get(PARTY, "").split(" - ")[0].strip()[:20]
    raw = json.dumps({"statement_line": line, **cell}, ensure_ascii=False)
    return StatementPayment(line, receipt, completed_at, amount, account, payer, raw)


# ---- against our books ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Report:
    since: int | None
    until: int | None
    matched: int
    provider_only: tuple[StatementPayment, ...]
    ours_only: tuple[str, ...]
    amount_differs: tuple[tuple[StatementPayment, store.Payment], ...]
    reversed: tuple[str, ...]  # reversed in the statement, yet in our books
    ingested: tuple[store.Payment, ...]

    @property
    def clean(self) -> bool:
        """Nothing left for a person to look at."""
        left = len(self.provider_only) - len(self.ingested)
        return not (left or self.ours_only or self.amount_differs or self.reversed)

    def to_json(self) -> dict:
        return {"from": _iso(self.since) if self.since else None, "to": _iso(self.until) if self.until else None,
                "matched": self.matched, "provider_only": [p.to_json() for p in self.provider_only],
                "ours_only": [{"txid": t} for t in self.ours_only],
                "amount_differs": [{"receipt": s.receipt, "statement": str(s.amount), "ours": str(o.amount)}
                                   for s, o in self.amount_differs],
                "reversed": [{"receipt": r} for r in self.reversed],
                "ingested": [{"receipt": p.txid, "status": p.status, "reason": p.reason, "card": p.card,
                              "tvu": p.tvu, "duplicate": p.duplicate} for p in self.ingested],
                "clean": self.clean}


def _ours(conn, statement: Statement) -> tuple[dict[str, store.Payment], set[str]]:
    """Our payments named by the statement, and our M-Pesa ids within its time span."""
    known: dict[str, store.Payment] = {}
    for receipt in {p.receipt for p in statement.payments} | statement.reversed:
        try:
            known[receipt] = store.by_txid(conn, wire.PROVIDER, receipt)
        except NotFound:
            pass
    spanned = store.txids(conn, wire.PROVIDER, statement.since, statement.until + 1) if statement.payments else set()
    return known, spanned


async def reconcile(billing: Billing, csv_text: str, ingest: bool) -> Report:
    statement = parse_statement(csv_text)
    known, spanned = await billing.db.read(_ours, statement)
    listed = {p.receipt for p in statement.payments}
    missing = tuple(p for p in statement.payments if p.receipt not in known and p.receipt not in statement.reversed)
    ingested = tuple([await payments.record_payment(billing, _notice(p)) for p in missing] if ingest else [])
    return Report(
        since=statement.since, until=statement.until,
        matched=sum(1 for p in statement.payments if p.receipt in known),
        provider_only=missing,
        ours_only=tuple(sorted(spanned - listed)),
        amount_differs=tuple((p, known[p.receipt]) for p in statement.payments
                             if p.receipt in known and known[p.receipt].amount != p.amount),
        reversed=tuple(sorted(statement.reversed & set(known))),
        ingested=ingested)


def _notice(payment: StatementPayment) -> payments.PaymentNotice:
    return payments.PaymentNotice(provider=wire.PROVIDER, txid=payment.receipt, account=payment.account,
                                  amount=payment.amount, msisdn=payment.payer, received_at=payment.completed_at,
                                  raw=payment.raw, created_by=CREATED_BY)
