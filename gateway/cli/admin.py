"""The operator's view from the command line: the users of the web pages (``tvtopup admin``)
and the business reports (``tvtopup report sales|renewals|expiring``), which show the same
figures as the pages under ``/admin/``."""
from __future__ import annotations

import getpass
import sys

from billing_core import admin_users, reports
from billing_core.errors import InvalidInput
from billing_core.renewal import iso
from config.settings import Settings
from gateway.cli.context import open_billing
from gateway.cli.output import emit

USER_COLUMNS = ("id", "name", "role", "disabled")
AUDIT_COLUMNS = ("at", "actor", "action", "target", "details", "ip")
SALES_TOTALS = ("currency", "count", "amount", "tvu")
RENEWAL_COLUMNS = ("renewals", "renewal_tvu", "by_credit", "explicit", "at_expiry", "expiries", "won_back",
                   "churned", "open")
EXPIRING_COLUMNS = ("card", "msisdn", "name", "package", "expires_at", "days_left", "wallet_tvu", "price_tvu",
                    "renews")


# ---- admin users ----------------------------------------------------------------------------

def register(verbs, common) -> None:
    p = verbs.add_parser("admin", parents=[common], help="users of the operator's web pages (/admin/)",
                         description="users of the operator's web pages (/admin/) and their audit log")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add-user", parents=[common], help="add a user (asks for the password)")
    add.add_argument("name", help="the login name")
    add.add_argument("--role", required=True, choices=admin_users.ROLES, help="what the user may do")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(run=_add_user)
    pw = actions.add_parser("set-password", parents=[common], help="a new password (ends the user's sessions)")
    pw.add_argument("name", help="the login name")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    pw.set_defaults(run=_set_password)
    role = actions.add_parser("set-role", parents=[common], help="change a user's role")
    role.add_argument("name", help="the login name")
    role.add_argument("role", choices=admin_users.ROLES, help="the new role")
    role.set_defaults(run=_set_role)
    for verb, disabled in (("disable", True), ("enable", False)):
        d = actions.add_parser(verb, parents=[common], help=f"{verb} a user (disabling ends their sessions)")
        d.add_argument("name", help="the login name")
        d.set_defaults(run=_set_disabled, disabled=disabled)
    users = actions.add_parser("users", parents=[common], help="list the users")
    users.set_defaults(run=_users)
    audit = actions.add_parser("audit", parents=[common], help="the audit log, newest first")
    audit.add_argument("--action", help="only this action (payment.assign, event.retry, login, ...)")
    audit.add_argument("--limit", type=int, default=100, help="at most this many lines (default 100)")
    audit.add_argument("--csv", action="store_true", help="CSV instead of a table")
    audit.set_defaults(run=_audit)


def _password(args) -> str:
    """From standard input (first line) with --password-stdin, else asked twice at the terminal."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InvalidInput("no terminal to ask for the password: use --password-stdin")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise InvalidInput("the two passwords differ")
    return first


async def _add_user(settings: Settings, args) -> int:
    password = _password(args)
    async with open_billing(settings) as billing:
        user = await admin_users.add_user(billing, args.name, args.role, password)
    emit(user.to_json(), as_json=args.json, columns=USER_COLUMNS)
    return 0


async def _set_password(settings: Settings, args) -> int:
    password = _password(args)
    async with open_billing(settings) as billing:
        user = await admin_users.set_password(billing, args.name, password)
    emit(user.to_json(), as_json=args.json, columns=USER_COLUMNS)
    return 0


async def _set_role(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        user = await admin_users.set_role(billing, args.name, args.role)
    emit(user.to_json(), as_json=args.json, columns=USER_COLUMNS)
    return 0


async def _set_disabled(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        user = await admin_users.set_disabled(billing, args.name, args.disabled)
    emit(user.to_json(), as_json=args.json, columns=USER_COLUMNS)
    return 0


async def _users(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        users = await admin_users.list_users(billing)
    emit([u.to_json() for u in users], as_json=args.json, columns=USER_COLUMNS)
    return 0


async def _audit(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        records = await admin_users.audit_log(billing, action=args.action, limit=args.limit)
    rows = [{"at": iso(r.at), "actor": r.actor, "action": r.action, "target": r.target, "details": r.details,
             "ip": r.ip} for r in records]
    if not args.json:
        rows = [{**r, "details": " ".join(f"{k}={v}" for k, v in r["details"].items())} for r in rows]
    emit(rows, as_json=args.json, as_csv=args.csv, columns=AUDIT_COLUMNS)
    return 0


# ---- reports ----------------------------------------------------------------------------------

def register_reports(kinds, common) -> None:
    """Add ``report sales``, ``report renewals`` and ``report expiring`` to the ``report`` group."""
    sales = kinds.add_parser("sales", parents=[common], help="money received and TVU sold, per currency")
    _period_options(sales)
    sales.add_argument("--by", default="channel",
                       help=f"grouping, one or more of {','.join(reports.GROUPS)} (comma-separated)")
    sales.add_argument("--currency", help="only this currency (card redemptions, which carry no money, drop out)")
    sales.set_defaults(run=_sales)
    ren = kinds.add_parser("renewals", parents=[common], help="renewals against expiries and churn")
    _period_options(ren)
    ren.add_argument("--by", default="day", choices=reports.RENEWAL_GROUPS, help="grouping (default day)")
    ren.add_argument("--churn-days", type=int, default=30,
                     help="an expiry not renewed within this many days is churn (default 30)")
    ren.set_defaults(run=_renewals)
    exp = kinds.add_parser("expiring", parents=[common], help="active subscriptions ending soon")
    exp.add_argument("--days", type=int, default=7, help="ending within this many days (default 7)")
    exp.add_argument("--csv", action="store_true", help="CSV instead of a table")
    exp.set_defaults(run=_expiring)


def _period_options(p) -> None:
    p.add_argument("--csv", action="store_true", help="CSV instead of a table")
    p.add_argument("--from", dest="date_from", help="on or after (ISO date: midnight in operator.timezone)")
    p.add_argument("--to", dest="date_to", help="before (ISO date: midnight in operator.timezone)")


async def _sales(settings: Settings, args) -> int:
    op = settings.operator
    since, until = reports.local_period(args.date_from, args.date_to, op.timezone)
    by = args.by.split(",")
    async with open_billing(settings) as billing:
        lines = await reports.sales_report(billing, since=since, until=until, by=by, currency=args.currency,
                                           timezone=op.timezone, region=op.region)
    keys = [k for k in reports.GROUPS if k in by]
    emit([line.to_json() for line in lines], as_json=args.json, as_csv=args.csv,
         columns=(*keys, "currency", "count", "amount", "tvu"))
    if not args.json and not args.csv and lines:
        print("totals:")
        totals = reports.sales_totals(lines).values()
        emit([{**t.to_json(), "currency": t.currency or "(cards)"} for t in totals], as_json=False,
             columns=SALES_TOTALS)
    return 0


async def _renewals(settings: Settings, args) -> int:
    tz = settings.operator.timezone
    since, until = reports.local_period(args.date_from, args.date_to, tz)
    async with open_billing(settings) as billing:
        lines = await reports.renewals_report(billing, since=since, until=until, by=args.by,
                                              churn_days=args.churn_days, timezone=tz)
    emit([line.to_json(args.by) for line in lines], as_json=args.json, as_csv=args.csv,
         columns=(args.by, *RENEWAL_COLUMNS))
    return 0


async def _expiring(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        lines = await reports.expiring_report(billing, days=args.days)
    emit([line.to_json() for line in lines], as_json=args.json, as_csv=args.csv, columns=EXPIRING_COLUMNS)
    return 0
