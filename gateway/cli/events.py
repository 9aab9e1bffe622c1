"""CLI verbs: ``events list|show|retry`` (the outbox) and ``subscriber grant-days``.

    tvtopup events list [--status pending|dead|delivered] [--card CARD] [--limit N]
    tvtopup events show ID                 ID: the event's UUID or its seq number
    tvtopup events retry ID | --all-dead   a dead event goes back to pending, in its place for its card
    tvtopup subscriber grant-days CARD N --reason TEXT [--operator NAME]
"""
from __future__ import annotations

import getpass

from billing_core import grants
from billing_core.db.outbox_store import STATUSES
from config.settings import Settings
from gateway.cli.output import emit
from tv_notify import outbox
from gateway.cli.context import open_billing

EVENT_COLUMNS = ("seq", "id", "event", "card", "status", "attempts", "created_at", "next_attempt_at", "last_error")
GRANT_COLUMNS = ("id", "card", "days", "reason", "created_by", "expires_before", "expires_at", "created_at")


def register(verbs, common) -> None:
    """Add ``events`` to the parser."""
    p = verbs.add_parser("events", parents=[common], help="outbox events towards the TV system and phones",
                         description="outbox events towards the TV system and phones")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    lst = actions.add_parser("list", parents=[common], help="events, newest first")
    lst.add_argument("--status", choices=STATUSES, help="only events in this state")
    lst.add_argument("--card", help="only events of this smartcard")
    lst.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    lst.set_defaults(run=_list)
    show = actions.add_parser("show", parents=[common], help="one event, with its payload and lease")
    show.add_argument("id", metavar="ID", help="event id (UUID) or seq")
    show.set_defaults(run=_show)
    retry = actions.add_parser("retry", parents=[common], help="send a dead (or waiting) event again")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("id", metavar="ID", nargs="?", help="event id (UUID) or seq")
    which.add_argument("--all-dead", action="store_true", help="every dead event")
    retry.set_defaults(run=_retry)


def register_grant_days(actions, common) -> None:
    """Add ``grant-days`` to the ``subscriber`` group."""
    grant = actions.add_parser("grant-days", parents=[common],
                               help="free TV days (outage, promotion); the wallet is not touched")
    grant.add_argument("card", help="the smartcard")
    grant.add_argument("days", type=int, metavar="N", help="how many days")
    grant.add_argument("--reason", required=True, help="why (kept in the audit log)")
    grant.add_argument("--operator", default=getpass.getuser(), help="who does this (audit)")
    grant.set_defaults(run=_grant_days)


async def _list(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        found = await outbox.list_events(billing, status=args.status, card=args.card, limit=args.limit)
    emit([outbox.event_json(e) for e in found], as_json=args.json, columns=EVENT_COLUMNS)
    return 0


async def _show(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        found = await outbox.show_event(billing, args.id)
    data = outbox.event_json(found, full=True)
    emit(data, as_json=args.json, columns=list(data.keys()))
    return 0


async def _retry(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await (outbox.retry_dead(billing) if args.all_dead else outbox.retry_event(billing, args.id))
    emit({"requeued": done.requeued, "hurried": done.hurried}, as_json=args.json)
    return 0


async def _grant_days(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        granted = await grants.grant_days(billing, args.card, args.days, reason=args.reason, operator=args.operator)
    emit(granted.to_json(), as_json=args.json, columns=GRANT_COLUMNS)
    return 0
