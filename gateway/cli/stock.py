"""CLI verbs: sites, promotions, decoder stock, products, smartcard swaps and their reports.

    tvtopup site add CODE --name N --region R --kind agency|technical | site list
    tvtopup promo add NAME --kind bonus|free_addon|discount|reconnect --from DATE --to DATE --budget N
                      [--percent P] [--min "KES 1000"] [--package CODE] [--days N] [--lapsed-days N]
    tvtopup promo list | promo end NAME
    tvtopup decoder add SERIAL [--smartcard CARD] [--site CODE] | decoder import FILE.csv
    tvtopup decoder move SERIAL --to site:CODE|dealer:ID|subscriber:CARD --by NAME
    tvtopup decoder install SERIAL --card CARD | decoder fault SERIAL | decoder swap OLD NEW --card CARD
    tvtopup decoder show SERIAL
    tvtopup product add CODE --name N --price "KES 2500" [--price "UGX 90000"] | product list
    tvtopup product sell CODE --site CODE|--dealer ID [--card CARD] [--qty N] [--currency CCY]
    tvtopup subscriber swap-card OLD NEW [--reason TEXT]
    tvtopup report sites [--from D --to D] | report promos [--from D --to D] | report decoders [--serial S]
"""
from __future__ import annotations

import getpass
from datetime import date, timedelta
from pathlib import Path

from billing_core import products, promotions, reports, sites, stock
from billing_core.errors import InvalidInput
from config.settings import Settings
from gateway.cli.context import open_billing
from gateway.cli.output import emit

SITE_COLUMNS = ("code", "name", "region", "kind")
PROMO_COLUMNS = ("name", "kind", "from", "to", "budget", "spent", "left", "percent", "min", "package", "days",
                 "status")
DECODER_COLUMNS = ("serial", "smartcard", "state", "site", "dealer", "card", "updated_at", "history")
PRODUCT_COLUMNS = ("code", "name", "prices")
SALE_COLUMNS = ("id", "product", "qty", "unit_price", "total", "site", "dealer", "card")


def _group(verbs, common, name: str, help_text: str):
    p = verbs.add_parser(name, parents=[common], help=help_text, description=help_text)
    return p.add_subparsers(dest="action", required=True, metavar="ACTION")


def _action(actions, common, name: str, help_text: str, run):
    p = actions.add_parser(name, parents=[common], help=help_text, description=help_text)
    p.set_defaults(run=run)
    return p


def register(verbs, common) -> None:
    """Add ``site``, ``promo``, ``decoder`` and ``product`` to the parser."""
    _register_sites(_group(verbs, common, "site", "agencies and technical sites, by region"), common)
    _register_promos(_group(verbs, common, "promo", "promotions: bonus TVU, free add-on, discount, reconnect"),
                     common)
    _register_decoders(_group(verbs, common, "decoder", "decoders and smartcards as stock"), common)
    _register_products(_group(verbs, common, "product", "products and services sold with decoders"), common)


def _register_sites(actions, common) -> None:
    add = _action(actions, common, "add", "add a site", _site_add)
    add.add_argument("code", metavar="CODE", help="the site's code")
    add.add_argument("--name", required=True, help="the site's name")
    add.add_argument("--region", default="", help="its region")
    add.add_argument("--kind", choices=sites.KINDS, default="agency", help="what the site is (default agency)")
    _action(actions, common, "list", "every site", _site_list)


def _register_promos(actions, common) -> None:
    add = _action(actions, common, "add", "add a promotion", _promo_add)
    add.add_argument("name", metavar="NAME", help="the promotion's name")
    add.add_argument("--kind", required=True, choices=promotions.KINDS, help="what it gives")
    add.add_argument("--from", dest="date_from", required=True, help="first day (operator.timezone)")
    add.add_argument("--to", dest="date_to", required=True, help="last day, included")
    add.add_argument("--budget", type=int, required=True,
                     help="TVU for bonus and discount; grants for free_addon and reconnect")
    add.add_argument("--percent", help="bonus: extra TVU in %% of the top-up; discount: %% off the price")
    add.add_argument("--min", dest="min_amount", help='bonus, free_addon: smallest payment, e.g. "KES 1000"')
    add.add_argument("--package", help="free_addon: the add-on's package; discount: the package (default any)")
    add.add_argument("--days", type=int, help="free_addon: days of the add-on (7); reconnect: free days")
    add.add_argument("--lapsed-days", type=int, help="reconnect: days the subscription was off at least (0)")
    add.add_argument("--operator", default=getpass.getuser(), help="who does this (audit)")
    _action(actions, common, "list", "every promotion", _promo_list)
    end = _action(actions, common, "end", "stop a promotion now", _promo_end)
    end.add_argument("name", metavar="NAME", help="the promotion's name")


def _register_decoders(actions, common) -> None:
    add = _action(actions, common, "add", "a decoder into stock", _decoder_add)
    add.add_argument("serial", metavar="SERIAL", help="the decoder's serial")
    add.add_argument("--smartcard", metavar="CARD", help="the smartcard paired with it")
    add.add_argument("--site", metavar="CODE", help="the site holding it")
    imp = _action(actions, common, "import", "decoders from CSV serial,smartcard,site: all or none", _decoder_import)
    imp.add_argument("file", type=Path, metavar="FILE.csv", help="columns serial,smartcard,site")
    move = _action(actions, common, "move", "send a decoder to a site, a dealer or a subscriber", _decoder_move)
    move.add_argument("serial", metavar="SERIAL", help="the decoder's serial")
    move.add_argument("--to", required=True, metavar="site:CODE|dealer:ID|subscriber:CARD", help="where it goes")
    inst = _action(actions, common, "install", "installed at the subscriber of a smartcard", _decoder_install)
    inst.add_argument("serial", metavar="SERIAL", help="the decoder's serial")
    inst.add_argument("--card", required=True, help="the subscriber's smartcard")
    fault = _action(actions, common, "fault", "mark a decoder faulty", _decoder_fault)
    fault.add_argument("serial", metavar="SERIAL", help="the decoder's serial")
    fault.add_argument("--note", default="", help="what is wrong with it")
    swap = _action(actions, common, "swap", "replace a subscriber's decoder; the smartcard stays", _decoder_swap)
    swap.add_argument("old", metavar="OLD", help="serial of the decoder taken back")
    swap.add_argument("new", metavar="NEW", help="serial of the decoder installed")
    swap.add_argument("--card", required=True, help="the subscriber's smartcard")
    show = _action(actions, common, "show", "a decoder and its history", _decoder_show)
    show.add_argument("serial", metavar="SERIAL", help="the decoder's serial")
    for p in (add, imp, move, inst, fault, swap):
        p.add_argument("--by", default=getpass.getuser(), help="who does this (recorded in the history)")


def _register_products(actions, common) -> None:
    add = _action(actions, common, "add", "add a product or service", _product_add)
    add.add_argument("code", metavar="CODE", help="the product's code")
    add.add_argument("--name", required=True, help="the product's name")
    add.add_argument("--price", action="append", default=[], required=True, help='"KES 2500"; once per currency')
    _action(actions, common, "list", "every product and its prices", _product_list)
    sell = _action(actions, common, "sell", "sell a product at a site or by a dealer", _product_sell)
    sell.add_argument("code", metavar="CODE", help="the product's code")
    seller = sell.add_mutually_exclusive_group(required=True)
    seller.add_argument("--site", metavar="CODE", help="the selling site's code")
    seller.add_argument("--dealer", metavar="ID", help="the selling dealer's id")
    sell.add_argument("--card", help="the buyer's smartcard, if any")
    sell.add_argument("--qty", type=int, default=1, help="how many (default 1)")
    sell.add_argument("--currency", help="a site's sale: the price to use (operator.currency by default)")
    sell.add_argument("--by", default=getpass.getuser(), help="who sold it")


def register_swap_card(actions, common) -> None:
    """Add ``swap-card`` to the ``subscriber`` group."""
    p = _action(actions, common, "swap-card", "move a subscription to a new smartcard number", _swap_card)
    p.add_argument("old", metavar="OLD", help="the smartcard number in use now")
    p.add_argument("new", metavar="NEW", help="the new smartcard number")
    p.add_argument("--reason", default="", help="why (kept in the history)")
    p.add_argument("--by", default=getpass.getuser(), help="who does this (audit)")


def register_reports(kinds, common) -> None:
    """Add ``report sites``, ``report promos`` and ``report decoders`` to the ``report`` group."""
    for name, help_text, run in (("sites", "product sales, decoder movements, payments per site and region", _sites),
                                 ("promos", "promotions: budget, spent, uses, TVU and days given", _promos)):
        p = kinds.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.add_argument("--csv", action="store_true", help="CSV instead of a table")
        p.add_argument("--from", dest="date_from", help="on or after (ISO date: midnight in operator.timezone)")
        p.add_argument("--to", dest="date_to", help="before (ISO date)")
        p.set_defaults(run=run)
    dec = kinds.add_parser("decoders", parents=[common], help="decoders by state and site; --serial: one's history")
    dec.add_argument("--csv", action="store_true", help="CSV instead of a table")
    dec.add_argument("--serial", help="one decoder's history")
    dec.set_defaults(run=_decoders)


# ---- sites ----------------------------------------------------------------------------------

async def _site_add(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        site = await sites.add_site(billing, args.code, name=args.name, region=args.region, kind=args.kind)
    emit(site, as_json=args.json, columns=SITE_COLUMNS)
    return 0


async def _site_list(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        found = await sites.list_sites(billing)
    emit(found, as_json=args.json, columns=SITE_COLUMNS)
    return 0


# ---- promotions -----------------------------------------------------------------------------

def promo_window(date_from: str, date_to: str, timezone: str) -> tuple[int, int]:
    """``--from`` and ``--to`` (the last day, included) as ``[starts_at, ends_at)``."""
    to = (date_to or "").strip()
    if len(to) == 10:
        try:
            to = (date.fromisoformat(to) + timedelta(days=1)).isoformat()
        except ValueError:
            raise InvalidInput("dates are ISO 8601: 2026-11-01 or 2026-11-01T00:00:00Z") from None
    since, until = reports.local_period(date_from, to, timezone)
    if since is None or until is None:
        raise InvalidInput("a promotion needs --from and --to")
    return since, until


async def _promo_add(settings: Settings, args) -> int:
    starts_at, ends_at = promo_window(args.date_from, args.date_to, settings.operator.timezone)
    promo = promotions.new_promotion(args.name, args.kind, starts_at=starts_at, ends_at=ends_at, budget=args.budget,
                                     percent=args.percent, min_amount=args.min_amount, package=args.package,
                                     days=args.days, lapsed_days=args.lapsed_days, operator=args.operator)
    async with open_billing(settings) as billing:
        stored = await promotions.add_promotion(billing, promo)
    emit(stored.to_json(), as_json=args.json, columns=PROMO_COLUMNS)
    return 0


async def _promo_list(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        found = await promotions.list_promotions(billing)
    emit([p.to_json() for p in found], as_json=args.json, columns=PROMO_COLUMNS)
    return 0


async def _promo_end(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        ended = await promotions.end_promotion(billing, args.name)
    emit(ended.to_json(), as_json=args.json, columns=PROMO_COLUMNS)
    return 0


# ---- decoders -------------------------------------------------------------------------------

async def _decoder_add(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        shown = await stock.add_decoder(billing, args.serial, smartcard=args.smartcard, site=args.site, by=args.by)
    emit(shown, as_json=args.json, columns=DECODER_COLUMNS)
    return 0


async def _decoder_import(settings: Settings, args) -> int:
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"cannot read {args.file}: {exc.strerror}") from None
    async with open_billing(settings) as billing:
        count = await stock.import_decoders(billing, text, by=args.by)
    emit({"imported": count}, as_json=args.json)
    return 0


async def _decoder_move(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        shown = await stock.move_decoder(billing, args.serial, args.to, by=args.by)
    emit(shown, as_json=args.json, columns=DECODER_COLUMNS)
    return 0


async def _decoder_install(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        shown = await stock.install_decoder(billing, args.serial, args.card, by=args.by)
    emit(shown, as_json=args.json, columns=DECODER_COLUMNS)
    return 0


async def _decoder_fault(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        shown = await stock.fault_decoder(billing, args.serial, note=args.note, by=args.by)
    emit(shown, as_json=args.json, columns=DECODER_COLUMNS)
    return 0


async def _decoder_swap(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await stock.swap_decoder(billing, args.old, args.new, args.card, by=args.by)
    emit(done if args.json else [done["old"], done["new"]], as_json=args.json, columns=DECODER_COLUMNS[:-1])
    return 0


async def _decoder_show(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        shown = await stock.show_decoder(billing, args.serial)
    emit(shown, as_json=args.json, columns=DECODER_COLUMNS)
    return 0


async def _swap_card(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        done = await stock.swap_card(billing, args.old, args.new, reason=args.reason, by=args.by)
    emit(done, as_json=args.json)
    return 0


# ---- products -------------------------------------------------------------------------------

async def _product_add(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        added = await products.add_product(billing, args.code, name=args.name, prices=args.price)
    emit(added, as_json=args.json, columns=PRODUCT_COLUMNS)
    return 0


async def _product_list(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        found = await products.list_products(billing)
    emit(found, as_json=args.json, columns=PRODUCT_COLUMNS)
    return 0


async def _product_sell(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        sold = await products.sell_product(billing, args.code, site=args.site, dealer=args.dealer, card=args.card,
                                           qty=args.qty, currency=args.currency, by=args.by)
    emit(sold, as_json=args.json, columns=SALE_COLUMNS)
    return 0


# ---- reports --------------------------------------------------------------------------------

async def _sites(settings: Settings, args) -> int:
    since, until = reports.local_period(args.date_from, args.date_to, settings.operator.timezone)
    async with open_billing(settings) as billing:
        lines = await sites.report(billing, since, until)
    emit(lines, as_json=args.json, as_csv=args.csv, columns=("region", "site", "what", "currency", "count", "amount"))
    return 0


async def _promos(settings: Settings, args) -> int:
    since, until = reports.local_period(args.date_from, args.date_to, settings.operator.timezone)
    async with open_billing(settings) as billing:
        lines = await promotions.report(billing, since, until)
    emit(lines, as_json=args.json, as_csv=args.csv,
         columns=("name", "kind", "status", "from", "to", "budget", "spent", "left", "uses", "tvu_given",
                  "days_given", "ledger_tvu"))
    return 0


async def _decoders(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        if args.serial:
            shown = await stock.show_decoder(billing, args.serial)
            emit(shown if args.json else shown["history"], as_json=args.json, as_csv=args.csv,
                 columns=None if args.json else ("at", "action", "from", "to", "site", "dealer", "card", "by", "note"))
            return 0
        lines = await stock.report(billing)
    emit(lines, as_json=args.json, as_csv=args.csv, columns=("region", "site", "state", "decoders"))
    return 0
