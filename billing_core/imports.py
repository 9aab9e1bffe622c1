"""Importing subscribers from another system (``tvtopup subscriber import FILE.csv``).

Columns: ``card,msisdn,package,name,lang,expires_at,wallet_tvu`` (header required;
``name``, ``lang``, ``expires_at`` and ``wallet_tvu`` may be empty). The whole file is
checked first and every bad row reported with its line number; then all rows are
written in one transaction, so a file is imported whole or not at all.
An ``expires_at`` in the future makes the subscriber active until then (the
entitlement is re-sent so the TV system agrees); an opening wallet is credited
from ``tvu:opening`` so the ledger explains every TVU. A row with a package whose
``expires_at`` is past is treated as the scheduler treats its own subscriptions, in the
same transaction: renewed from its wallet when that covers the package (grant, notice,
SMS), otherwise expired ``grace_s`` after its expiry with an ``entitlement.revoke``, a
notice and an SMS, so the TV system hears of it either way (within the grace period it
stays active and the scheduler decides at the end of it).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from billing_core import ledger
from billing_core.context import Billing
from billing_core.db import ledger_store, outbox_store
from billing_core.db import subscriber_store as store
from billing_core.errors import DomainError, InvalidImport
from billing_core.renewal import Status, parse_iso
from tv_notify import events

COLUMNS = ("card", "msisdn", "package", "name", "lang", "expires_at", "wallet_tvu")
ROWS_MAX = 200_000


@dataclass(frozen=True, slots=True)
class ImportRow:
    line: int
    card: str
    msisdn: str
    package: str | None
    name: str
    lang: str
    expires_at: int | None
    wallet_tvu: int


def parse_csv(billing: Billing, text: str, packages: set[str]) -> list[ImportRow]:
    """Check every row (``packages``: the codes that exist); raise :class:`InvalidImport`
    listing each bad line."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("card", "msisdn") if c not in (reader.fieldnames or [])]
    unknown = [c for c in (reader.fieldnames or []) if c not in COLUMNS]
    if missing or unknown:
        raise InvalidImport(f"line 1: header must use {','.join(COLUMNS)} (missing {missing}, unknown {unknown})")
    rows, errors, seen = [], [], set()
    for raw in reader:
        line = reader.line_num
        try:
            row = _row(billing, line, raw)
        except (DomainError, ValueError) as exc:
            errors.append(f"line {line}: {exc}")
            continue
        if row.card in seen:
            errors.append(f"line {line}: card {row.card} appears twice")
        if row.package and row.package not in packages:
            errors.append(f"line {line}: unknown package {row.package}")
        seen.add(row.card)
        rows.append(row)
        if len(rows) > ROWS_MAX:
            raise InvalidImport(f"more than {ROWS_MAX} rows: split the file")
    if errors:
        raise InvalidImport("\n".join(errors[:50]) + (f"\n… and {len(errors) - 50} more" if len(errors) > 50 else ""))
    return rows


def _row(billing: Billing, line: int, raw: dict) -> ImportRow:
    value = {k: (raw.get(k) or "").strip() for k in COLUMNS}
    wallet = value["wallet_tvu"] or "0"
    if not wallet.isdigit():
        raise ValueError(f"wallet_tvu must be a whole number >= 0, got {wallet!r}")
    return ImportRow(
        line=line,
        card=billing.card(value["card"]),
        msisdn=billing.msisdn(value["msisdn"]),
        package=value["package"].upper() or None,
        name=value["name"][:128],
        lang=billing.lang(value["lang"] or None),
        expires_at=parse_iso(value["expires_at"]) if value["expires_at"] else None,
        wallet_tvu=int(wallet),
    )


async def import_subscribers(billing: Billing, text: str, *, grace_s: int = 0) -> int:
    """Import every row of ``text`` in one transaction; returns how many.

    ``grace_s``: the scheduler's grace period (``scheduler.grace_hours``)."""
    known = {p.code for p in await billing.db.read(store.list_packages)}
    rows = parse_csv(billing, text, known)
    now = billing.now()

    def tx(conn):
        packages = {p.code: p for p in store.list_packages(conn)}
        for row in rows:
            _insert(conn, row, packages, now)
        store.settle_expired(conn, [r.card for r in rows if _past(r, now)], now, grace_s)
        return len(rows)

    return await billing.db.write(tx)


def _insert(conn, row: ImportRow, packages: dict, now: int) -> None:
    pkg = packages.get(row.package) if row.package else None
    if row.package and pkg is None:
        raise InvalidImport(f"line {row.line}: unknown package {row.package}")
    status = Status.NEW
    if row.expires_at is not None:  # a past expiry with a package is settled as the scheduler does
        status = Status.ACTIVE if row.expires_at > now or pkg is not None else Status.EXPIRED
    try:
        store.insert_subscriber(conn, row.card, row.msisdn, row.name, row.lang, pkg.id if pkg else None, now,
                                status=status, expires_at=row.expires_at)
    except DomainError as exc:
        raise InvalidImport(f"line {row.line}: {exc}") from None
    if row.wallet_tvu:
        entry = ledger.wallet_credit(row.card, row.wallet_tvu, ledger.TVU_OPENING, f"import:{row.card}", "import")
        ledger_store.post(conn, entry, now)
    if status is Status.ACTIVE and pkg is not None and not _past(row, now):
        outbox_store.enqueue(conn, [events.grant(row.card, pkg.products, row.expires_at, row.lang)], now)


def _past(row: ImportRow, now: int) -> bool:
    """A row with a package whose expiry has come: renewed or expired at import."""
    return row.package is not None and row.expires_at is not None and row.expires_at <= now
