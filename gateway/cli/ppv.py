"""CLI verbs: ``ppv add|list|cancel|buy``, ``subscriber addon`` and ``subscriber change-package``.

    tvtopup ppv add CODE --title T --start ISO --end ISO --tvu N --product P
    tvtopup ppv list [--on-sale]
    tvtopup ppv cancel CODE          refunds every purchase to its wallet, revokes what was granted
    tvtopup ppv buy CARD CODE        a purchase from the wallet, made by an operator
    tvtopup subscriber addon CARD CODE [--independent]
    tvtopup subscriber change-package CARD CODE
"""
from __future__ import annotations

from billing_core import addons, ppv
from billing_core import subscriptions as subs
from billing_core.errors import InvalidInput
from billing_core.renewal import iso, parse_iso
from config.settings import Settings
from gateway.cli.context import open_billing
from gateway.cli.output import emit

EVENT_COLUMNS = ("code", "title", "starts_at", "ends_at", "tvu", "product", "status", "sold")


def register(verbs, common) -> None:
    """Add ``ppv`` to the parser."""
    p = verbs.add_parser("ppv", parents=[common], help="pay-per-view events",
                         description="pay-per-view events")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=[common], help="put an event on sale")
    add.add_argument("code", help="the event's code")
    add.add_argument("--title", required=True, help="the title subscribers see")
    add.add_argument("--start", required=True, help="ISO 8601 (naive: UTC), e.g. 2026-12-21T18:00:00Z")
    add.add_argument("--end", required=True, help="ISO 8601 end time")
    add.add_argument("--tvu", type=int, required=True, help="price in TVU")
    add.add_argument("--product", required=True, help="the CAS product id that carries the event")
    add.set_defaults(run=_add)
    lst = actions.add_parser("list", parents=[common], help="events by start time, with purchases")
    lst.add_argument("--on-sale", action="store_true", help="only events not cancelled and not over")
    lst.set_defaults(run=_list)
    cancel = actions.add_parser("cancel", parents=[common], help="cancel an event and refund every purchase")
    cancel.add_argument("code", help="the event's code")
    cancel.set_defaults(run=_cancel)
    buy = actions.add_parser("buy", parents=[common], help="buy an event for a card from its wallet")
    buy.add_argument("card", help="the smartcard")
    buy.add_argument("code", help="the event's code")
    buy.set_defaults(run=_buy)


def register_subscriber_verbs(actions, common) -> None:
    """Add ``addon`` and ``change-package`` to the ``subscriber`` group."""
    addon = actions.add_parser("addon", parents=[common], help="buy an add-on package from the wallet")
    addon.add_argument("card", help="the smartcard")
    addon.add_argument("code", help="the add-on package's code")
    addon.add_argument("--independent", action="store_true",
                       help="its own period at full price (default: aligned with the base package, pro rata)")
    addon.set_defaults(run=_addon)
    change = actions.add_parser("change-package", parents=[common],
                                help="upgrade now (unused days credited) or downgrade at the next renewal")
    change.add_argument("card", help="the smartcard")
    change.add_argument("code", help="the new package's code")
    change.set_defaults(run=_change_package)


def _instant(text: str, flag: str) -> int:
    try:
        return parse_iso(text)
    except ValueError:
        raise InvalidInput(f"{flag} is ISO 8601: 2026-12-21T18:00:00Z") from None


async def _add(settings: Settings, args) -> int:
    starts, ends = _instant(args.start, "--start"), _instant(args.end, "--end")
    async with open_billing(settings) as billing:
        event = await ppv.add_event(billing, args.code, args.title, starts, ends, args.tvu, args.product)
    emit(ppv.event_json(event, 0), as_json=args.json, columns=EVENT_COLUMNS)
    return 0


async def _list(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        found = await ppv.list_events(billing, on_sale=args.on_sale)
        rows = [ppv.event_json(e, await ppv.sold(billing, e)) for e in found]
    emit(rows, as_json=args.json, columns=EVENT_COLUMNS)
    return 0


async def _cancel(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await ppv.cancel_event(billing, args.code)
    emit({**ppv.event_json(done.event), "status": "cancelled", "refunded": done.refunded}, as_json=args.json)
    return 0


async def _buy(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await ppv.buy_event(billing, args.card, args.code, channel="cli")
    emit({"card": done.subscriber.card, "event": done.event.code, "tvu": done.event.tvu,
          "wallet_tvu": done.subscriber.wallet_tvu, "until": iso(done.event.ends_at)}, as_json=args.json)
    return 0


async def _addon(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await addons.add_addon(billing, args.card, args.code, aligned=not args.independent)
    emit({"card": done.subscriber.card, **addons.addon_json(done.addon), "tvu": done.tvu,
          "wallet_tvu": done.subscriber.wallet_tvu}, as_json=args.json)
    return 0


async def _change_package(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await subs.change_package(billing, args.card, args.code)
    emit({"change": done.kind, "credited_tvu": done.credited, **done.subscriber.to_json()}, as_json=args.json,
         columns=("change", "credited_tvu", "card", "status", "package", "expires_at", "wallet_tvu"))
    return 0
