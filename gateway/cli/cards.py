"""CLI verbs: ``cards generate|activate|block|show|lockouts|unlock|audit`` and ``report cards``."""
from __future__ import annotations

import contextlib
import csv
import getpass
import os
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from billing_core import cards
from billing_core.errors import InvalidInput
from billing_core.renewal import parse_iso
from config.settings import Settings
from gateway.cli.context import open_billing
from gateway.cli.output import emit
from gateway.state.lockouts import CACHE_MAX_S

CSV_COLUMNS = ("serial", "pin", "value", "expires")  # the printer file (contract)
BATCH_COLUMNS = ("batch", "number", "kind", "value", "count", "first_serial", "last_serial", "expires_at", "state")
CARD_COLUMNS = ("serial", "batch", "kind", "value", "state", "expires_at", "dealer", "activated_at", "blocked_at",
                "redeemed_at", "redeemed_by", "redeemed_card", "channel", "entry")
REPORT_COLUMNS = ("batch", "kind", "value", "expires_at", "state", "generated", "activated", "redeemed", "blocked",
                  "expired", "outstanding_tvu", "audit")


def register(verbs, common) -> None:
    """Add ``cards …`` to the parser."""
    p = verbs.add_parser("cards", help="scratch cards: batches, activation, blocking, lockouts",
                         parents=[common], description="scratch cards")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    gen = actions.add_parser("generate", parents=[common], help="generate a batch; write serials and PINs once")
    gen.add_argument("--batch", required=True, metavar="NAME", help="the batch's name, e.g. NOV26")
    gen.add_argument("--count", required=True, type=int, help="how many cards")
    value = gen.add_mutually_exclusive_group(required=True)
    value.add_argument("--tvu", type=int, help="each card is worth T TVU")
    value.add_argument("--package", metavar="CODE", help="each card is worth one period of package CODE")
    gen.add_argument("--expires", metavar="DATE", help="last day a card redeems (operator's time zone)")
    gen.add_argument("--out", required=True, type=Path, metavar="FILE.csv", help="the printer file; must not exist")
    gen.set_defaults(run=_generate)
    act = actions.add_parser("activate", parents=[common], help="sell cards into the channel")
    act.add_argument("--batch", required=True, metavar="NAME", help="the batch's name")
    act.add_argument("--serials", metavar="A-B", help="only this range of the batch")
    act.add_argument("--dealer", metavar="ID", help="the dealer the cards go to")
    act.set_defaults(run=_activate)
    blk = actions.add_parser("block", parents=[common], help="block cards (a stolen box): serials or ranges A-B")
    blk.add_argument("serials", nargs="+", metavar="SERIAL", help="a serial or a range FIRST-LAST")
    blk.set_defaults(run=_block)
    show = actions.add_parser("show", parents=[common], help="one card: state, batch, dealer, redemption")
    show.add_argument("serial", metavar="SERIAL", help="the card's serial")
    show.set_defaults(run=_show)
    locks = actions.add_parser("lockouts", parents=[common], help="phones and cards locked out for wrong PINs")
    locks.set_defaults(run=_lockouts_list)
    unlock = actions.add_parser("unlock", parents=[common], help="lift the lockout of a phone or smartcard")
    unlock.add_argument("who", metavar="MSISDN|CARD", help="the phone number or smartcard to unlock")
    unlock.set_defaults(run=_unlock)
    audit = actions.add_parser("audit", parents=[common],
                               help="flag batches with more value redeemed than activated (exit 1 if any)")
    audit.set_defaults(run=_audit)
    for action in (gen, act, blk, unlock):
        action.add_argument("--operator", default=getpass.getuser(), help="who does this (audit)")


def register_report_cards(kinds, common) -> None:
    """Add ``report cards`` to the ``report`` group."""
    rep = kinds.add_parser("cards", parents=[common], help="per batch: generated, activated, redeemed, blocked, "
                                                           "expired, value outstanding, audit")
    rep.add_argument("--csv", action="store_true", help="CSV instead of a table")
    rep.add_argument("--from", dest="date_from", help="batches created on or after (ISO date)")
    rep.add_argument("--to", dest="date_to", help="batches created before (ISO date)")
    rep.set_defaults(run=_report)


# ---- generate -------------------------------------------------------------------------

def _expiry(text: str | None, timezone: str) -> tuple[int | None, str]:
    """(expires_at, as printed): a date is valid through its whole day in the operator's zone."""
    if not text:
        return None, ""
    try:
        if len(text.strip()) == 10:
            last_day = date.fromisoformat(text.strip())
            end = datetime.combine(last_day + timedelta(days=1), time(0), ZoneInfo(timezone))
            return int(end.timestamp()), last_day.isoformat()
        return parse_iso(text), text.strip()
    except ValueError:
        raise InvalidInput("--expires is a date (2027-06-30) or an ISO date-time") from None


def _create(path: Path):
    """The printer file, created here and now (never an existing file), readable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput(f"{path} exists: a printer file is never overwritten") from None
    except OSError as exc:
        raise InvalidInput(f"cannot create {path}: {exc.strerror}") from None
    return os.fdopen(fd, "w", newline="", encoding="ascii")


async def _generate(settings: Settings, args) -> int:
    expires_at, expires = _expiry(args.expires, settings.operator.timezone)
    async with open_billing(settings) as billing:
        billing.pins.generation_key()  # refuse before creating the file
        out = _create(args.out)
        try:
            writer = csv.writer(out)
            writer.writerow(CSV_COLUMNS)
            value = f"TVU {args.tvu}" if args.tvu is not None else (args.package or "").strip().upper()

            def sink(rows: list[tuple[str, str]]) -> None:
                writer.writerows((serial, pin, value, expires) for serial, pin in rows)
                out.flush()

            batch = await cards.generate_batch(billing, name=args.batch, count=args.count, tvu=args.tvu,
                                               package=args.package, expires_at=expires_at, sink=sink,
                                               created_by=args.operator)
            out.flush()
            os.fsync(out.fileno())
        except BaseException:
            out.close()
            args.out.unlink(missing_ok=True)
            raise
        out.close()
    emit({**batch.to_json(), "out": str(args.out)}, as_json=args.json, columns=BATCH_COLUMNS + ("out",))
    return 0


# ---- activate, block, show --------------------------------------------------------------

async def _activate(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await cards.activate_cards(billing, args.batch, serials=args.serials, dealer=args.dealer,
                                          operator=args.operator)
    emit(done.to_json(), as_json=args.json)
    return 0


async def _block(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await cards.block_cards(billing, args.serials, operator=args.operator)
    emit(done.to_json(), as_json=args.json)
    return 0


async def _show(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        info = await cards.show_card(billing, args.serial)
    emit(info.to_json(), as_json=args.json, columns=CARD_COLUMNS)
    return 0


# ---- lockouts ---------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def _lockouts(settings: Settings):
    from gateway.state import lockouts_from_settings, open_state

    state = open_state(settings)
    try:
        yield lockouts_from_settings(settings, state)
    finally:
        await state.close()


async def _lockouts_list(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        found = await cards.list_lockouts(billing)
    emit([lock.to_json() for lock in found], as_json=args.json, columns=("key", "locked_at", "remaining_s"))
    return 0


async def _unlock(settings: Settings, args) -> int:
    async with open_billing(settings) as billing, _lockouts(settings) as lockouts:
        lifted = await cards.lift_lockout(billing, lockouts, args.who)
    if lifted and not settings.redis.url:
        print(f"note: without redis.url a serving process may refuse {args.who} for up to {CACHE_MAX_S} s more "
              "(its own cache of the lock)", file=sys.stderr)
    emit({"lifted": lifted}, as_json=args.json)
    return 0


# ---- reports ----------------------------------------------------------------------------

async def _report(settings: Settings, args) -> int:
    try:
        since = parse_iso(args.date_from) if args.date_from else None
        until = parse_iso(args.date_to) if args.date_to else None
    except ValueError:
        raise InvalidInput("dates are ISO 8601: 2026-11-01 or 2026-11-01T00:00:00Z") from None
    async with open_billing(settings) as billing:
        reports = await cards.card_report(billing)
    rows = [r.to_json() for r in reports
            if (since is None or r.batch.created_at >= since) and (until is None or r.batch.created_at < until)]
    emit(rows, as_json=args.json, as_csv=args.csv, columns=REPORT_COLUMNS)
    return 0


async def _audit(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        flagged = await cards.audit_cards(billing)
    emit([r.to_json() for r in flagged], as_json=args.json,
         columns=("batch", "audit", "ledger_activated_tvu", "ledger_redeemed_tvu", "redeemed_tvu"))
    return 1 if flagged else 0
