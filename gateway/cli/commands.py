"""The operator's verbs. Each ``register_*`` adds one command group to the parser."""
from __future__ import annotations

import argparse
import getpass
import logging
import socket
from pathlib import Path

from billing_core import imports, payments, reports
from billing_core import subscriptions as subs
from billing_core.db.migrate import upgrade
from billing_core.errors import InvalidInput
from billing_core.reminders import HOUR_S
from billing_core.renewal import parse_iso
from config.settings import Settings
from gateway.cli import admin, care, cards, corrections, dealers, events, ppv, sms, stock, ussd
from gateway.cli.context import open_billing
from gateway.cli.output import emit
from gateway.logs import setup_logging
from gateway.providers.mpesa.cli import register_mpesa, register_reconcile

log = logging.getLogger("tvtopup")
SUBSCRIBER_COLUMNS = ("card", "msisdn", "name", "lang", "status", "package", "expires_at", "wallet_tvu", "recent")
PACKAGE_COLUMNS = ("code", "name", "days", "tvu", "products", "kind")


def _sub(verbs, common, name: str, help_text: str) -> argparse.ArgumentParser:
    return verbs.add_parser(name, help=help_text, parents=[common], description=help_text)


# ---- serve and db ---------------------------------------------------------------------------

def register_serve(verbs, common) -> None:
    p = _sub(verbs, common, "serve", "apply migrations, then serve HTTP and run the background workers")
    p.add_argument("--host", help="address to listen on (default server.host)")
    p.add_argument("--port", type=int, help="port to listen on (default server.port)")
    p.add_argument("--workers", type=int, default=1, help="processes sharing the port (PostgreSQL and Redis)")
    p.add_argument("--worker-id", type=int, help=argparse.SUPPRESS)
    p.set_defaults(run=_serve)


def _serve(settings: Settings, args) -> int:
    from gateway.server import serve

    if args.workers < 1:
        raise InvalidInput("--workers must be at least 1")
    if args.worker_id is None:  # the supervisor (or the only process) speaks for all
        setup_logging(settings.logging.level, settings.logging.format)
        _log_key_sources(getattr(args, "key_sources", {}))
        _check_port(args.host or settings.server.host, args.port or settings.server.port)
    return serve(settings, host=args.host, port=args.port, workers=args.workers, worker_id=args.worker_id,
                 config=getattr(args, "config", None))


KEY_UNSET = {"security.pin_key": "scratch cards can be neither generated nor redeemed",
             "dealers.secret_key": "every dealer API call is refused and no dealer can be added"}


def _log_key_sources(sources: dict[str, str]) -> None:
    """Where each key came from (never the key); a warning for a key that is not set."""
    for name, source in sources.items():
        if source == "not set":
            log.warning("%s is not set: %s. Keys are generated only beside a SQLite database: with PostgreSQL "
                        "set it explicitly (TVTOPUP_%s)", name, KEY_UNSET[name], name.upper().replace(".", "__"))
        else:
            log.info("%s from %s", name, source)


def _check_port(host: str, port: int) -> None:
    """OSError, with a plain reason, when ``host:port`` cannot be listened on."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
            probe.bind((host, port))
    except OSError as exc:
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def register_db(verbs, common) -> None:
    p = _sub(verbs, common, "db", "database schema")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("upgrade", parents=[common], help="apply pending migrations and exit")
    up.set_defaults(run=_db_upgrade)


async def _db_upgrade(settings: Settings, args) -> int:
    await upgrade(settings.database.url)
    emit({"status": "ok", "database": settings.redacted()["database"]["url"]}, as_json=args.json)
    return 0


# ---- packages -------------------------------------------------------------------------------

def register_package(verbs, common) -> None:
    p = _sub(verbs, common, "package", "packages priced in TVU")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=[common], help="add a package")
    add.add_argument("code", help="the package's code, e.g. BASIC")
    add.add_argument("--name", required=True, help="the name subscribers see")
    add.add_argument("--days", type=int, required=True, help="days one period lasts")
    add.add_argument("--tvu", type=int, required=True, help="price of one period in TVU")
    add.add_argument("--products", default="", help="CAS product ids, comma-separated")
    add.add_argument("--addon", action="store_true", help="an add-on, bought on top of a base package")
    add.set_defaults(run=_package_add)
    lst = actions.add_parser("list", parents=[common], help="list packages")
    lst.set_defaults(run=_package_list)


def _package_json(pkg) -> dict:
    data = {"code": pkg.code, "name": pkg.name, "days": pkg.days, "tvu": pkg.tvu, "products": list(pkg.products)}
    return {**data, "kind": pkg.kind} if pkg.kind != "base" else data  # base packages keep their original keys


async def _package_add(settings: Settings, args) -> int:
    products = tuple(p.strip() for p in args.products.split(",") if p.strip())
    async with open_billing(settings) as billing:
        pkg = await subs.add_package(billing, args.code, args.name, args.days, args.tvu, products,
                                     kind="addon" if args.addon else "base")
    emit(_package_json(pkg), as_json=args.json, columns=PACKAGE_COLUMNS)
    return 0


async def _package_list(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        packages = await subs.list_packages(billing)
    emit([_package_json(p) for p in packages], as_json=args.json, columns=PACKAGE_COLUMNS)
    return 0


# ---- subscribers ----------------------------------------------------------------------------

def register_subscriber(verbs, common) -> None:
    p = _sub(verbs, common, "subscriber", "subscribers and their smartcards")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=[common], help="register a smartcard")
    add.add_argument("--card", required=True, help="the smartcard number")
    add.add_argument("--msisdn", required=True, help="the subscriber's phone, e.g. 0712345678")
    add.add_argument("--package", help="the package code to renew")
    add.add_argument("--name", default="", help="the subscriber's name")
    add.add_argument("--lang", help="language of SMS and menus: en, fr or sw")
    add.set_defaults(run=_subscriber_add)
    show = actions.add_parser("show", parents=[common], help="a card, or every card of a phone number")
    show.add_argument("key", metavar="CARD|MSISDN", help="a smartcard number or a phone number")
    show.set_defaults(run=_subscriber_show)
    imp = actions.add_parser("import", parents=[common], help="import subscribers from CSV, all or nothing")
    imp.add_argument("file", type=Path, metavar="FILE.csv",
                     help="columns card,msisdn,package,name,lang,expires_at,wallet_tvu")
    imp.set_defaults(run=_subscriber_import)
    events.register_grant_days(actions, common)
    stock.register_swap_card(actions, common)
    ppv.register_subscriber_verbs(actions, common)
    care.register_subscriber_verbs(actions, common)  # edit, suspend, resume, terminate


async def _subscriber_add(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        found = await subs.add_subscriber(billing, args.card, args.msisdn, package=args.package, name=args.name,
                                          lang=args.lang)
    emit(found.to_json(), as_json=args.json, columns=SUBSCRIBER_COLUMNS)
    return 0


async def _subscriber_show(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        found = await subs.find_subscribers(billing, args.key)
    data = [f.to_json() for f in found]
    emit(data[0] if len(data) == 1 else data, as_json=args.json, columns=SUBSCRIBER_COLUMNS)
    return 0


async def _subscriber_import(settings: Settings, args) -> int:
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"cannot read {args.file}: {exc.strerror}") from None
    async with open_billing(settings) as billing:
        count = await imports.import_subscribers(billing, text, grace_s=settings.scheduler.grace_hours * HOUR_S)
    emit({"imported": count}, as_json=args.json)
    return 0


# ---- payments -------------------------------------------------------------------------------

PAYMENT_COLUMNS = ("provider", "txid", "account", "card", "amount", "tvu", "status", "reason", "renewed")


def register_payment(verbs, common) -> None:
    p = _sub(verbs, common, "payment", "payments: record by hand, assign or refund held payments")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    rec = actions.add_parser("record", parents=[common], help="money taken at an agency or by bank")
    rec.add_argument("card", help="the smartcard to credit")
    rec.add_argument("amount", metavar="AMOUNT", help='e.g. "KES 1500"')
    rec.add_argument("--method", required=True, choices=payments.MANUAL_METHODS, help="how the money was taken")
    rec.add_argument("--ref", required=True, help="receipt or bank reference: recording it twice credits once")
    rec.add_argument("--site", default="", help="the site it was taken at")
    rec.set_defaults(run=_payment_record)
    assign = actions.add_parser("assign", parents=[common], help="credit a payment held in suspense to a card")
    assign.add_argument("txid", metavar="TXID", help="transaction id, or PROVIDER:TXID")
    assign.add_argument("card", help="the smartcard to credit")
    assign.set_defaults(run=_payment_assign)
    assign.add_argument("--confirm-amount", action="store_true",
                        help="the amount of a payment held above payments.max_amount has been checked")
    for action in (rec, assign):
        action.add_argument("--operator", default=getpass.getuser(), help="who does this (audit)")
    corrections.register_payment_verbs(actions, common)  # reverse, clear, bounce, refund


async def _payment_record(settings: Settings, args) -> int:
    if args.method == "cheque" and settings.payments.hold_cheques:
        return await corrections.record_cheque(settings, args)
    async with open_billing(settings) as billing:
        paid = await payments.record_manual(billing, args.card, args.amount, args.method, args.ref,
                                            operator=args.operator, site=args.site)
    emit({**paid.to_json(), "duplicate": paid.duplicate}, as_json=args.json, columns=PAYMENT_COLUMNS)
    return 0


async def _payment_assign(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        paid = await payments.assign_payment(billing, args.txid, args.card, operator=args.operator,
                                             confirmed=args.confirm_amount)
    emit(paid.to_json(), as_json=args.json, columns=PAYMENT_COLUMNS)
    return 0


# ---- reports --------------------------------------------------------------------------------

def register_report(verbs, common) -> None:
    p = _sub(verbs, common, "report", "reports")
    kinds = p.add_subparsers(dest="report", required=True, metavar="REPORT")
    ledger = kinds.add_parser("ledger", parents=[common], help="trial balance: every unit sums to zero")
    ledger.add_argument("--csv", action="store_true", help="CSV instead of a table")
    ledger.add_argument("--from", dest="date_from", help="accepted for symmetry; balances are as of now")
    ledger.add_argument("--to", dest="date_to", help="accepted for symmetry; balances are as of now")
    ledger.set_defaults(run=_report_ledger)
    held = kinds.add_parser("suspense", parents=[common],
                            help="payments held (unknown card, no rate, above the maximum, ...) and repeats that "
                                 "differed from the first payment (status conflict)")
    held.add_argument("--csv", action="store_true", help="CSV instead of a table")
    held.add_argument("--from", dest="date_from", help="received on or after (ISO date)")
    held.add_argument("--to", dest="date_to", help="received before (ISO date)")
    held.set_defaults(run=_report_suspense)
    cards.register_report_cards(kinds, common)
    admin.register_reports(kinds, common)  # sales, renewals, expiring
    dealers.register_report_dealers(kinds, common)
    stock.register_reports(kinds, common)  # sites, promos, decoders
    corrections.register_report_refunds(kinds, common)
    care.register_report_lapsed(kinds, common)


def _period(args) -> tuple[int | None, int | None]:
    try:
        return (parse_iso(args.date_from) if args.date_from else None,
                parse_iso(args.date_to) if args.date_to else None)
    except ValueError:
        raise InvalidInput("dates are ISO 8601: 2026-11-01 or 2026-11-01T00:00:00Z") from None


async def _report_suspense(settings: Settings, args) -> int:
    since, until = _period(args)
    async with open_billing(settings) as billing:
        held = await payments.suspense(billing, since, until)
        repeats = await payments.conflicts(billing, since, until)
    emit([p.to_json() for p in held] + [c.to_json() for c in repeats], as_json=args.json, as_csv=args.csv,
         columns=("provider", "txid", "account", "amount", "status", "reason", "received_at"))
    return 0


async def _report_ledger(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        lines = await reports.trial_balance(billing)
    data = [line.to_json() for line in lines]
    emit(data, as_json=args.json, as_csv=args.csv, columns=("account", "unit", "balance"))
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.unit] = totals.get(line.unit, 0) + line.balance
    if not args.json and not args.csv:
        print("totals: " + (", ".join(f"{u} {t}" for u, t in sorted(totals.items())) or "(empty ledger)"))
    return 0 if all(t == 0 for t in totals.values()) else 1


REGISTRY = [register_serve, register_db, register_package, register_subscriber, register_payment, register_report,
            register_reconcile, cards.register, events.register, ussd.register, sms.register, dealers.register,
            admin.register, ppv.register, stock.register, register_mpesa, corrections.register_refund,
            care.register_notify]
