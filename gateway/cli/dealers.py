"""``tvtopup dealer …``, ``tvtopup topup reverse`` and ``tvtopup report dealers``."""
from __future__ import annotations

import getpass

from billing_core import dealers
from billing_core.errors import InvalidInput
from billing_core.renewal import parse_iso
from gateway.cli.context import open_billing
from gateway.cli.output import emit

DEALER_COLUMNS = ("id", "name", "currency", "balance", "commission_pct", "parent", "status", "daily_limit")
SHOW_COLUMNS = DEALER_COLUMNS + ("sites", "keys", "sub_dealers", "package_commission_pct")
REPORT_COLUMNS = ("id", "name", "parent", "status", "sales", "face_value", "commission", "float_paid", "reversed",
                  "refunded", "funded", "transferred_in", "transferred_out", "cards_activated", "cards_value_tvu",
                  "balance")
TOPUP_COLUMNS = ("id", "dealer", "card", "kind", "tvu_credited", "face_value", "commission", "status",
                 "reversal_entry", "dealer_balance", "reason")


def register(verbs, common) -> None:
    p = verbs.add_parser("dealer", parents=[common], help="dealers: float, commission, keys, sub-dealers",
                         description="dealers: float, commission, keys, sub-dealers")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    _register_add(actions, common)
    _one(actions, common, "show", "a dealer: float, commission, sites, keys, sub-dealers", _show)
    actions.add_parser("list", parents=[common], help="every dealer").set_defaults(run=_list)
    fund = _one(actions, common, "fund", "money the dealer paid in: the float grows", _fund)
    fund.add_argument("amount", metavar="AMOUNT", help='e.g. "KES 50000"')
    fund.add_argument("--ref", default="", help="receipt or bank reference")
    move = actions.add_parser("transfer", parents=[common], help="a master hands float to one of its sub-dealers")
    move.add_argument("source", metavar="FROM", help="the master dealer's id")
    move.add_argument("target", metavar="TO", help="the sub-dealer's id")
    move.add_argument("amount", metavar="AMOUNT", help="e.g. \"KES 5000\"")
    move.set_defaults(run=_transfer)
    rotate = _one(actions, common, "rotate-key", "a new API key (printed once); the previous one stays valid",
                  _rotate)
    rotate.add_argument("--revoke-old", action="store_true", help="revoke every other key of the dealer now")
    _one(actions, common, "suspend", "refuse the dealer's API calls and sales", _status("suspended"))
    _one(actions, common, "activate", "let a suspended dealer sell again", _status("active"))
    commission = _one(actions, common, "commission", "set the commission, or one for a package", _commission)
    commission.add_argument("pct", metavar="PCT", help="percent of face value, e.g. 5 or 2.5")
    commission.add_argument("--package", metavar="CODE", help="this package only (default: all)")
    site = _one(actions, common, "site", "add a sales point", _site)
    site.add_argument("name", metavar="NAME", help="the sales point's name")
    site.add_argument("--region", default="", help="its region")
    statement = _one(actions, common, "statement", "float movements, sales and cards of a period", _statement)
    statement.add_argument("--from", dest="date_from", help="on or after (ISO date)")
    statement.add_argument("--to", dest="date_to", help="before (ISO date)")
    for action in (fund, move):
        action.add_argument("--operator", default=getpass.getuser(), help="who does this (audit)")
    _register_topup(verbs, common)


def _register_add(actions, common) -> None:
    add = actions.add_parser("add", parents=[common], help="a new dealer; prints its key id and secret once")
    add.add_argument("name", metavar="NAME", help="the dealer's name")
    add.add_argument("--currency", required=True, help="the float's currency, e.g. KES")
    add.add_argument("--commission-pct", default="0", help="percent of face value (default 0)")
    add.add_argument("--parent", metavar="ID", help="the master dealer")
    add.add_argument("--site", default="", help="a first sales point")
    add.add_argument("--region", default="", help="the first sales point's region")
    add.add_argument("--daily-limit", metavar="AMOUNT", help='face value per day, e.g. "KES 100000"')
    add.set_defaults(run=_add)


def _one(actions, common, name: str, help_text: str, run):
    p = actions.add_parser(name, parents=[common], help=help_text)
    p.add_argument("dealer", metavar="ID", help="the dealer's id")
    p.set_defaults(run=run)
    return p


def _register_topup(verbs, common) -> None:
    p = verbs.add_parser("topup", parents=[common], help="dealer top-ups", description="dealer top-ups")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    rev = actions.add_parser("reverse", parents=[common],
                             help="reverse a top-up while the subscriber still holds its credit")
    rev.add_argument("topup", metavar="ID", help="the top-up's id")
    rev.add_argument("--reason", required=True, help="why (kept in the audit log)")
    rev.add_argument("--operator", default=getpass.getuser(), help="who does this (audit)")
    rev.set_defaults(run=_reverse)


def register_report_dealers(kinds, common) -> None:
    """``report dealers`` (added to the ``report`` group)."""
    p = kinds.add_parser("dealers", parents=[common], help="per dealer: sales, commission, float movements, cards")
    p.add_argument("--csv", action="store_true", help="CSV instead of a table")
    p.add_argument("--from", dest="date_from", help="on or after (ISO date)")
    p.add_argument("--to", dest="date_to", help="before (ISO date)")
    p.set_defaults(run=_report)


def _period(args) -> tuple[int | None, int | None]:
    try:
        return (parse_iso(args.date_from) if args.date_from else None,
                parse_iso(args.date_to) if args.date_to else None)
    except ValueError:
        raise InvalidInput("dates are ISO 8601: 2026-11-01 or 2026-11-01T00:00:00Z") from None


async def _add(settings, args) -> int:
    async with open_billing(settings) as billing:
        made = await dealers.add_dealer(billing, args.name, args.currency, master_key=settings.dealers.secret_key,
                                        commission_pct=args.commission_pct, parent=args.parent, site=args.site,
                                        region=args.region, daily_limit=args.daily_limit)
    emit({**made.to_json(), **dealers.dealer_json(made.dealer)}, as_json=args.json,
         columns=("id", "name", "currency", "commission_pct", "parent", "key_id", "secret"))
    if not args.json:
        print("The secret is shown once: give it to the dealer now.")
    return 0


async def _rotate(settings, args) -> int:
    async with open_billing(settings) as billing:
        made = await dealers.rotate_key(billing, args.dealer, master_key=settings.dealers.secret_key,
                                        revoke_old=args.revoke_old)
    emit(made.to_json(), as_json=args.json, columns=("id", "name", "key_id", "secret", "revoked"))
    return 0


async def _show(settings, args) -> int:
    async with open_billing(settings) as billing:
        shown = await dealers.show_dealer(billing, args.dealer)
    emit(shown, as_json=args.json, columns=SHOW_COLUMNS)
    return 0


async def _list(settings, args) -> int:
    async with open_billing(settings) as billing:
        found = await dealers.list_dealers(billing)
    emit([dealers.dealer_json(d) for d in found], as_json=args.json, columns=DEALER_COLUMNS)
    return 0


async def _fund(settings, args) -> int:
    async with open_billing(settings) as billing:
        dealer = await dealers.fund_dealer(billing, args.dealer, args.amount, ref=args.ref, operator=args.operator)
    emit(dealers.dealer_json(dealer), as_json=args.json, columns=DEALER_COLUMNS)
    return 0


async def _transfer(settings, args) -> int:
    async with open_billing(settings) as billing:
        pair = await dealers.transfer_float(billing, args.source, args.target, args.amount, operator=args.operator)
    emit([dealers.dealer_json(d) for d in pair], as_json=args.json, columns=DEALER_COLUMNS)
    return 0


def _status(status: str):
    async def run(settings, args) -> int:
        async with open_billing(settings) as billing:
            dealer = await dealers.set_dealer_status(billing, args.dealer, status)
        emit(dealers.dealer_json(dealer), as_json=args.json, columns=DEALER_COLUMNS)
        return 0

    return run


async def _commission(settings, args) -> int:
    async with open_billing(settings) as billing:
        await dealers.set_commission(billing, args.dealer, args.pct, package=args.package)
        shown = await dealers.show_dealer(billing, args.dealer)
    emit(shown, as_json=args.json, columns=SHOW_COLUMNS)
    return 0


async def _site(settings, args) -> int:
    async with open_billing(settings) as billing:
        shown = await dealers.add_site(billing, args.dealer, args.name, args.region)
    emit(shown, as_json=args.json, columns=SHOW_COLUMNS)
    return 0


async def _statement(settings, args) -> int:
    since, until = _period(args)
    async with open_billing(settings) as billing:
        found = await dealers.statement_of(billing, args.dealer, since, until)
    if args.json:
        emit(found, as_json=True)
        return 0
    emit({k: v for k, v in found.items() if k != "movements"}, as_json=False)
    emit(found["movements"], as_json=False, columns=("entry", "at", "kind", "ref", "amount", "balance"))
    return 0


async def _reverse(settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await dealers.reverse_topup(billing, args.topup, args.reason, operator=args.operator)
    emit(done, as_json=args.json, columns=TOPUP_COLUMNS)
    return 0


async def _report(settings, args) -> int:
    since, until = _period(args)
    async with open_billing(settings) as billing:
        lines = await dealers.report(billing, since, until)
    emit(lines, as_json=args.json, as_csv=args.csv, columns=REPORT_COLUMNS)
    return 0
