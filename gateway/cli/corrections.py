"""CLI verbs of payment corrections (``billing_core.corrections``).

    tvtopup payment reverse TXID --reason R [--by NAME]
    tvtopup payment clear REF [--by NAME]          a held cheque: credited
    tvtopup payment bounce REF [--reason R]        a cheque bounced: closed, or reversed if credited
    tvtopup payment refund TXID [--reason R]       owed back: from suspense, or undone from the wallet
    tvtopup refund pay ID --ref R                  a payable refund paid out
    tvtopup report refunds [--status payable|paid] [--csv]

Every action is in the audit trail under ``--by`` (the OS user by default).
"""
from __future__ import annotations

import argparse
import getpass

from billing_core import corrections
from billing_core.audit import Actor
from config.settings import Settings
from gateway.cli.context import open_billing
from gateway.cli.output import emit

CORRECTION_COLUMNS = ("payment", "kind", "card", "amount", "tvu", "renewal_undone", "shortfall_tvu", "wallet_tvu",
                      "status", "expires_at")
REFUND_COLUMNS = ("id", "payment", "card", "method", "amount", "status", "requested_by", "requested_at",
                  "paid_ref", "paid_by", "paid_at")
CHEQUE_COLUMNS = ("ref", "card", "amount", "status", "reason", "created_by", "created_at")


def _by(p) -> None:
    p.add_argument("--by", default=getpass.getuser(), help="who does this (audit trail)")


def register_payment_verbs(actions, common) -> None:
    """Add ``reverse``, ``clear``, ``bounce`` and ``refund`` to the ``payment`` group."""
    rev = actions.add_parser("reverse", parents=[common], help="reverse a credited payment (new entries, once)")
    rev.add_argument("txid", metavar="TXID", help="transaction id, or PROVIDER:TXID")
    rev.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    rev.set_defaults(run=_reverse)
    clear = actions.add_parser("clear", parents=[common], help="a held cheque cleared: credit it")
    clear.add_argument("ref", metavar="REF", help="the cheque's reference, as recorded")
    clear.set_defaults(run=_clear)
    bounce = actions.add_parser("bounce", parents=[common], help="a cheque bounced: close it, or reverse it")
    bounce.add_argument("ref", metavar="REF", help="the cheque's reference, as recorded")
    bounce.add_argument("--reason", default="cheque bounced", help="why (kept in the audit trail)")
    bounce.set_defaults(run=_bounce)
    refund = actions.add_parser("refund", parents=[common],
                                help="owe a payment back (held in suspense, or credited: undone from the wallet)")
    refund.add_argument("txid", metavar="TXID", help="transaction id, or PROVIDER:TXID")
    refund.add_argument("--reason", default="refund", help="why (kept in the audit trail)")
    refund.add_argument("--confirm-amount", action="store_true",
                        help="the amount of a payment held above payments.max_amount has been checked")
    refund.set_defaults(run=_refund)
    for p in (rev, clear, bounce, refund):
        _by(p)
        p.add_argument("--operator", dest="by", default=argparse.SUPPRESS, help="the same as --by")


def register_refund(verbs, common) -> None:
    """Add the ``refund`` group (``refund pay``)."""
    p = verbs.add_parser("refund", parents=[common], help="refunds owed to payers", description="refunds")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    pay = actions.add_parser("pay", parents=[common], help="a payable refund was paid out")
    pay.add_argument("id", type=int, metavar="ID", help="the refund's id (report refunds)")
    pay.add_argument("--ref", required=True, help="the payout's reference (bank, mobile money)")
    _by(pay)
    pay.set_defaults(run=_pay)


def register_report_refunds(kinds, common) -> None:
    p = kinds.add_parser("refunds", parents=[common], help="refunds: payable, then paid out")
    p.add_argument("--status", choices=("payable", "paid"), help="only refunds in this state")
    p.add_argument("--csv", action="store_true", help="CSV instead of a table")
    p.set_defaults(run=_report_refunds)


def _negative(settings: Settings) -> bool:
    return settings.payments.allow_negative_after_reversal


async def _reverse(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await corrections.reverse_payment(billing, args.txid, reason=args.reason, actor=Actor(args.by),
                                                 allow_negative=_negative(settings))
    emit(done.to_json(), as_json=args.json, columns=CORRECTION_COLUMNS)
    return 0


async def _clear(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await corrections.clear_cheque(billing, args.ref, actor=Actor(args.by))
    emit(done, as_json=args.json, columns=CHEQUE_COLUMNS)
    return 0


async def _bounce(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await corrections.bounce_cheque(billing, args.ref, reason=args.reason, actor=Actor(args.by),
                                               allow_negative=_negative(settings))
    emit(done, as_json=args.json, columns=CHEQUE_COLUMNS)
    return 0


async def _refund(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await corrections.refund_payment(billing, args.txid, reason=args.reason, actor=Actor(args.by),
                                                allow_negative=_negative(settings), confirmed=args.confirm_amount)
    emit(done, as_json=args.json, columns=REFUND_COLUMNS)
    return 0


async def _pay(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await corrections.pay_refund(billing, args.id, ref=args.ref, actor=Actor(args.by))
    emit(done, as_json=args.json, columns=REFUND_COLUMNS)
    return 0


async def _report_refunds(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        found = await corrections.list_refunds(billing, args.status)
    emit(found, as_json=args.json, as_csv=args.csv, columns=REFUND_COLUMNS)
    return 0


async def record_cheque(settings: Settings, args) -> int:
    """``payment record --method cheque`` when cheques are held (``payments.hold_cheques``)."""
    async with open_billing(settings) as billing:
        held = await corrections.hold_cheque(billing, args.card, args.amount, args.ref, actor=Actor(args.operator),
                                             site=args.site)
    emit(held, as_json=args.json, columns=CHEQUE_COLUMNS + ("duplicate",))
    return 0


__all__ = ["register_payment_verbs", "register_refund", "register_report_refunds", "record_cheque"]
