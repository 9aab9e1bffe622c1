"""CLI verbs of customer care (``billing_core.care``).

    tvtopup subscriber edit CARD [--msisdn M] [--name N] [--lang L] [--region R]
    tvtopup subscriber suspend CARD --reason R
    tvtopup subscriber resume CARD
    tvtopup subscriber terminate CARD --reason R
    tvtopup report lapsed [--days N] [--region R] [--csv]
    tvtopup notify send (--card C | --package P | --region R | --all) (--osd | --sms) TEXT [--dry-run]

Every action is in the audit trail under ``--by`` (the OS user by default).
"""
from __future__ import annotations

import getpass

from billing_core import care
from billing_core.audit import Actor
from config.settings import Settings
from gateway.cli.context import open_billing
from gateway.cli.output import emit

CARE_COLUMNS = ("card", "msisdn", "name", "lang", "region", "status", "package", "expires_at", "wallet_tvu",
                "suspended_at", "terminated")
LAPSED_COLUMNS = ("card", "msisdn", "name", "package", "region", "expired_at", "days_lapsed", "last_payment",
                  "last_payment_at")


def _by(p) -> None:
    p.add_argument("--by", default=getpass.getuser(), help="who does this (audit trail)")


def register_subscriber_verbs(actions, common) -> None:
    """Add ``edit``, ``suspend``, ``resume`` and ``terminate`` to the ``subscriber`` group."""
    edit = actions.add_parser("edit", parents=[common], help="change phone, name, language or region")
    edit.add_argument("card", help="the smartcard to change")
    edit.add_argument("--msisdn", help="new phone number (E.164 or national)")
    edit.add_argument("--name", help="new name of the holder")
    edit.add_argument("--lang", help="new language: en, fr or sw")
    edit.add_argument("--region", help="the operator region the subscriber belongs to")
    edit.set_defaults(run=_edit)
    suspend = actions.add_parser("suspend", parents=[common],
                                 help="revoke at once, no renewal while suspended; the wallet is kept")
    suspend.add_argument("card", help="the smartcard to suspend")
    suspend.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    suspend.set_defaults(run=_suspend)
    resume = actions.add_parser("resume", parents=[common], help="end a suspension; granted again if still paid")
    resume.add_argument("card", help="the suspended smartcard")
    resume.set_defaults(run=_resume)
    terminate = actions.add_parser("terminate", parents=[common],
                                   help="end the subscription for good; reports the wallet to refund")
    terminate.add_argument("card", help="the smartcard to terminate (final)")
    terminate.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    terminate.set_defaults(run=_terminate)
    for p in (edit, suspend, resume, terminate):
        _by(p)


def register_report_lapsed(kinds, common) -> None:
    p = kinds.add_parser("lapsed", parents=[common], help="cards whose package lapsed: the list to phone through")
    p.add_argument("--days", type=int, default=30, help="lapsed within the last N days (30)")
    p.add_argument("--region", help="only subscribers of this region")
    p.add_argument("--csv", action="store_true", help="CSV instead of a table")
    p.set_defaults(run=_lapsed)


def register_notify(verbs, common) -> None:
    p = verbs.add_parser("notify", parents=[common], help="the operator's own on-screen messages and SMS",
                         description="the operator's own on-screen messages and SMS")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    send = actions.add_parser("send", parents=[common], help="to a card, a package, a region or everyone")
    who = send.add_mutually_exclusive_group(required=True)
    who.add_argument("--card", help="one smartcard")
    who.add_argument("--package", help="every subscriber of this package code")
    who.add_argument("--region", help="every subscriber of this region")
    who.add_argument("--all", action="store_true", dest="everyone", help="every subscriber")
    how = send.add_mutually_exclusive_group(required=True)
    how.add_argument("--osd", action="store_const", const="osd", dest="channel", help="on-screen message")
    how.add_argument("--sms", action="store_const", const="sms", dest="channel", help="SMS to the phone")
    send.add_argument("text", metavar="TEXT", help="the message")
    send.add_argument("--dry-run", action="store_true", help="count the recipients, send nothing")
    _by(send)
    send.set_defaults(run=_notify)


async def _edit(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await care.edit_subscriber(billing, args.card, actor=Actor(args.by), msisdn=args.msisdn,
                                          name=args.name, lang=args.lang, region=args.region)
    emit(done.to_json(), as_json=args.json, columns=CARE_COLUMNS)
    return 0


async def _suspend(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await care.suspend_subscriber(billing, args.card, reason=args.reason, actor=Actor(args.by))
    emit(done.to_json(), as_json=args.json, columns=CARE_COLUMNS)
    return 0


async def _resume(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await care.resume_subscriber(billing, args.card, actor=Actor(args.by),
                                            credit_suspended_time=settings.care.credit_suspended_time)
    emit(done.to_json(), as_json=args.json, columns=CARE_COLUMNS + ("credited_s", "renewed"))
    return 0


async def _terminate(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await care.terminate_subscriber(billing, args.card, reason=args.reason, actor=Actor(args.by))
    emit(done.to_json(), as_json=args.json, columns=CARE_COLUMNS + ("refund_due_tvu", "refund_due"))
    return 0


async def _lapsed(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        found = await care.lapsed(billing, days=args.days, region=args.region)
    emit(found, as_json=args.json, as_csv=args.csv, columns=LAPSED_COLUMNS)
    return 0


async def _notify(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await care.send_notice(billing, args.text, channel=args.channel, actor=Actor(args.by),
                                      card=args.card, package=args.package, region=args.region,
                                      everyone=args.everyone, per_second=settings.care.notify_per_second,
                                      dry_run=args.dry_run)
    emit(done.to_json(), as_json=args.json)
    return 0


__all__ = ["register_subscriber_verbs", "register_report_lapsed", "register_notify"]
