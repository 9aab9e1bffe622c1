"""Sites, decoder stock, smartcard swaps and product sales in the database.

A decoder changes state only by ``UPDATE … WHERE id = :id AND state = :from`` (a
concurrent change makes it refuse, nothing half done), and every change writes one
``decoder_movements`` row in the same transaction.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from billing_core import ledger
from billing_core import stock as rules
from billing_core.db import dealer_store, ledger_store, outbox_store, subscriber_store
from billing_core.db.dialect import exact_sum
from billing_core.db.schema import accounts, payments, subscribers
from billing_core.db.schema_dealers import dealer_sites, dealer_topups
from billing_core.db.schema_stock import (card_swaps, decoder_movements, decoders, product_prices, product_sales,
                                          products, sites)
from billing_core.errors import (AlreadyExists, Conflict, DecoderState, InvalidAmount, InvalidInput, UnknownDecoder,
                                 UnknownProduct, UnknownSite)
from billing_core.money import Money
from billing_core.renewal import iso
from tv_notify import events
from tv_notify.texts import day, notice

PACKAGE_NAME_MAX = 24  # in a notice, so that it fits one SMS


# ---- sites ----------------------------------------------------------------------------------

def _site_json(row) -> dict:
    return {"code": row.code, "name": row.name, "region": row.region, "kind": row.kind,
            "created_at": iso(row.created_at)}


def insert_site(conn: Connection, code: str, name: str, region: str, kind: str, now: int) -> dict:
    try:
        with conn.begin_nested():
            conn.execute(sites.insert().values(code=code, name=name, region=region, kind=kind, created_at=now))
    except IntegrityError:
        raise AlreadyExists(f"site {code} exists already") from None
    return _site_json(_site(conn, code))


def _site(conn: Connection, code: str):
    row = conn.execute(select(sites).where(sites.c.code == code)).one_or_none()
    if row is None:
        raise UnknownSite(f"no site {code}")
    return row


def list_sites(conn: Connection) -> list[dict]:
    return [_site_json(r) for r in conn.execute(select(sites).order_by(sites.c.region, sites.c.code)).all()]


# ---- decoders -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NewDecoder:
    serial: str
    smartcard: str | None
    site: str  # a site code, or "" (central stock)


def add_decoders(conn: Connection, rows: list[NewDecoder], by: str, now: int, *, one: bool = False):
    """Insert decoders (all or none) with their first movement; a serial or a smartcard already
    known is refused."""
    site_ids = {code: _site(conn, code).id for code in {r.site for r in rows if r.site}}
    for r in rows:
        state = "at_site" if r.site else "in_stock"
        try:
            with conn.begin_nested():
                decoder_id = conn.execute(decoders.insert().values(
                    serial=r.serial, smartcard=r.smartcard, state=state, site_id=site_ids.get(r.site),
                    created_at=now, updated_at=now).returning(decoders.c.id)).scalar_one()
        except IntegrityError:
            raise AlreadyExists(f"decoder {r.serial} or smartcard {r.smartcard} is known already") from None
        _movement(conn, decoder_id, "add", None, state, by, now, site_id=site_ids.get(r.site), card=r.smartcard)
    return show(conn, rows[0].serial) if one else len(rows)


def _decoder(conn: Connection, serial: str):
    row = conn.execute(select(decoders).where(decoders.c.serial == serial)).one_or_none()
    if row is None:
        raise UnknownDecoder(f"no decoder {serial}")
    return row


def _movement(conn: Connection, decoder_id: int, action: str, from_state: str | None, to_state: str, by: str,
              now: int, *, site_id: int | None = None, dealer_id: int | None = None, card: str | None = None,
              note: str = "") -> None:
    conn.execute(decoder_movements.insert().values(
        decoder_id=decoder_id, action=action, from_state=from_state, to_state=to_state, site_id=site_id,
        dealer_id=dealer_id, card=card, note=note, created_by=by, created_at=now))


def _change(conn: Connection, row, to_state: str, now: int, **values) -> None:
    """Move ``row`` from the state it was read in to ``to_state``; refuses if it changed meanwhile."""
    try:
        with conn.begin_nested():
            changed = conn.execute(update(decoders).where(decoders.c.id == row.id, decoders.c.state == row.state)
                                   .values(state=to_state, updated_at=now, **values)).rowcount
    except IntegrityError:
        raise Conflict(f"smartcard {values.get('smartcard')} is paired with another decoder: swap it") from None
    if changed != 1:
        raise DecoderState(f"decoder {row.serial} changed meanwhile: try again")


def move(conn: Connection, serial: str, target: rules.Target, by: str, now: int) -> dict:
    row = _decoder(conn, serial)
    to_state = rules.state_after_move(row.state, target)
    place = {"site_id": None, "dealer_id": None}
    card = row.card
    if target.kind == "site":
        place["site_id"] = _site(conn, target.value).id
    elif target.kind == "dealer":
        place["dealer_id"] = _dealer_id(conn, target.value)
    else:
        card = target.value
    _change(conn, row, to_state, now, card=card, **place)
    _movement(conn, row.id, "move", row.state, to_state, by, now, card=card if target.kind == "subscriber" else None,
              **place)
    return show(conn, serial)


def _dealer_id(conn: Connection, text: str) -> int:
    if not text.isdigit():
        raise InvalidInput("a dealer is named by its id")
    return dealer_store.dealer_by_id(conn, int(text)).id


def install(conn: Connection, serial: str, card: str, by: str, now: int) -> dict:
    row = _decoder(conn, serial)
    rules.check_install(row.state)
    if row.smartcard not in (None, card):
        raise DecoderState(f"decoder {serial} is paired with smartcard {row.smartcard}, not {card}")
    _change(conn, row, "installed", now, card=card, smartcard=card)
    _movement(conn, row.id, "install", row.state, "installed", by, now, site_id=row.site_id, dealer_id=row.dealer_id,
              card=card)
    return show(conn, serial)


def fault(conn: Connection, serial: str, note: str, by: str, now: int) -> dict:
    row = _decoder(conn, serial)
    rules.check_fault(row.state)
    _change(conn, row, "faulty", now)
    _movement(conn, row.id, "fault", row.state, "faulty", by, now, site_id=row.site_id, dealer_id=row.dealer_id,
              card=row.card, note=note)
    return show(conn, serial)


def swap(conn: Connection, old: str, new: str, card: str, by: str, now: int) -> dict:
    """Decoder ``new`` replaces ``old`` at the subscriber of ``card``; the smartcard moves across."""
    out, into = _decoder(conn, old), _decoder(conn, new)
    rules.check_swap_out(out.state)
    if card not in (out.card, out.smartcard):
        raise DecoderState(f"decoder {old} is not the one of card {card}")
    rules.check_install(into.state)
    if into.smartcard not in (None, card):
        raise DecoderState(f"decoder {new} is paired with smartcard {into.smartcard}")
    _change(conn, out, "swapped", now, smartcard=None)  # frees the smartcard for the new decoder
    _change(conn, into, "installed", now, card=card, smartcard=card)
    _movement(conn, out.id, "swap_out", out.state, "swapped", by, now, card=card, note=f"replaced by {new}")
    _movement(conn, into.id, "swap_in", into.state, "installed", by, now, site_id=into.site_id,
              dealer_id=into.dealer_id, card=card, note=f"replaces {old}")
    return {"old": show(conn, old), "new": show(conn, new)}


def show(conn: Connection, serial: str) -> dict:
    row = _decoder(conn, serial)
    codes = dict(conn.execute(select(sites.c.id, sites.c.code)).all())
    history = conn.execute(select(decoder_movements).where(decoder_movements.c.decoder_id == row.id)
                           .order_by(decoder_movements.c.id)).all()
    return {"serial": row.serial, "smartcard": row.smartcard, "state": row.state, "site": codes.get(row.site_id),
            "dealer": row.dealer_id, "card": row.card, "updated_at": iso(row.updated_at),
            "history": [{"at": iso(m.created_at), "action": m.action, "from": m.from_state, "to": m.to_state,
                         "site": codes.get(m.site_id), "dealer": m.dealer_id, "card": m.card, "by": m.created_by,
                         "note": m.note} for m in history]}


def counts(conn: Connection) -> list[dict]:
    rows = conn.execute(
        select(sites.c.region, sites.c.code, decoders.c.state, func.count().label("n"))
        .select_from(decoders.outerjoin(sites, sites.c.id == decoders.c.site_id))
        .group_by(sites.c.region, sites.c.code, decoders.c.state)
        .order_by(sites.c.region, sites.c.code, decoders.c.state)).all()
    return [{"region": r.region or "", "site": r.code or "-", "state": r.state, "decoders": int(r.n)} for r in rows]


# ---- smartcard swap -------------------------------------------------------------------------

def swap_card(conn: Connection, old: str, new: str, reason: str, by: str, now: int) -> dict:
    """Rename the subscriber's card and its wallet account (``wallet:OLD`` -> ``wallet:NEW``: same
    account id, so balance and postings stay), record the swap, move the decoder pairing, and
    re-entitle: revoke on the old card, grant on the new one to the same expiry."""
    sub = subscriber_store.lock_subscriber(conn, old)
    try:
        with conn.begin_nested():
            conn.execute(update(subscribers).where(subscribers.c.id == sub.id).values(card=new, updated_at=now))
            renamed = conn.execute(update(accounts).where(
                accounts.c.id == sub.wallet_account_id, accounts.c.code == ledger.wallet_account(old))
                .values(code=ledger.wallet_account(new))).rowcount
    except IntegrityError:
        raise AlreadyExists(f"card {new} is registered already (or has a wallet)") from None
    if renamed != 1:
        raise Conflict(f"the wallet of card {old} is not wallet:{old}")
    conn.execute(card_swaps.insert().values(subscriber_id=sub.id, old_card=old, new_card=new, reason=reason,
                                            created_by=by, created_at=now))
    _repair_decoders(conn, old, new, by, now)
    moved = subscriber_store.lock_subscriber(conn, new)
    outbox_store.enqueue(conn, _swap_events(sub, moved, now), now)
    return {"old": old, "card": new, "status": moved.subscription().effective_status(now).value,
            "package": moved.package.code if moved.package else None, "expires_at": iso(moved.expires_at),
            "wallet_tvu": moved.wallet_tvu}


def _repair_decoders(conn: Connection, old: str, new: str, by: str, now: int) -> None:
    """The decoder paired with (or installed for) the old card now goes with the new one."""
    # a new smartcard that came paired with a decoder of its own keeps that pairing
    paired = conn.execute(select(decoders.c.id).where(decoders.c.smartcard == new)).first() is not None
    for row in conn.execute(select(decoders).where(or_(decoders.c.smartcard == old, decoders.c.card == old))).all():
        values = {"card": new if row.card == old else row.card,
                  "smartcard": (None if paired else new) if row.smartcard == old else row.smartcard}
        conn.execute(update(decoders).where(decoders.c.id == row.id).values(updated_at=now, **values))
        _movement(conn, row.id, "card_swap", row.state, row.state, by, now, card=new, note=f"smartcard {old} -> {new}")


def _swap_events(before, after, now: int) -> list[events.Event]:
    pkg = after.package
    products = pkg.products if pkg else ()
    found = [events.revoke(before.card, products, after.lang)]
    text = notice("card_swapped", after.lang, old=before.card, card=after.card, date=day(after.expires_at),
                  package=_short(pkg.name) if pkg else "-", wallet=after.wallet_tvu)
    if after.subscription().is_active(now) and pkg is not None:
        found += [events.grant(after.card, products, after.expires_at, after.lang),
                  events.osd(after.card, text, after.lang)]
    return found + [events.sms(after.card, after.msisdn, text, after.lang)]


def _short(name: str) -> str:
    return name if len(name) <= PACKAGE_NAME_MAX else name[:PACKAGE_NAME_MAX - 2] + ".."


# ---- products -------------------------------------------------------------------------------

def insert_product(conn: Connection, code: str, name: str, prices: list[Money], now: int) -> dict:
    try:
        with conn.begin_nested():
            product_id = conn.execute(products.insert().values(code=code, name=name, active=True, created_at=now)
                                      .returning(products.c.id)).scalar_one()
    except IntegrityError:
        raise AlreadyExists(f"product {code} exists already") from None
    conn.execute(product_prices.insert(), [{"product_id": product_id, "currency": p.currency, "price_minor": p.minor}
                                           for p in prices])
    return product_json(conn, code)


def _product(conn: Connection, code: str):
    row = conn.execute(select(products).where(products.c.code == code)).one_or_none()
    if row is None:
        raise UnknownProduct(f"no product {code}")
    return row


def product_json(conn: Connection, code: str) -> dict:
    row = _product(conn, code)
    prices = conn.execute(select(product_prices).where(product_prices.c.product_id == row.id)
                          .order_by(product_prices.c.currency)).all()
    return {"code": row.code, "name": row.name, "prices": [str(Money(int(p.price_minor), p.currency)) for p in prices]}


def list_products(conn: Connection) -> list[dict]:
    return [product_json(conn, code) for code in conn.execute(select(products.c.code).order_by(products.c.code))
            .scalars()]


@dataclass(frozen=True, slots=True)
class Sale:
    product: str
    qty: int
    site: str | None = None  # a site code: paid in cash at the site
    dealer_id: int | None = None  # or a dealer: paid from its float
    card: str | None = None
    currency: str | None = None  # a site's sale: which of the product's prices (the operator's by default)


def sell(conn: Connection, sale: Sale, default_currency: str, by: str, now: int) -> dict:
    """One sale: priced in one currency, booked ``payer -> sales:products:CODE``; a dealer's float
    pays by a conditional update (never below zero), like its top-ups."""
    product = _product(conn, sale.product)
    site_id = dealer_id = None
    if sale.site:
        site_id = _site(conn, sale.site).id
        currency, payer = sale.currency or default_currency, ledger.site_cash_account(sale.site)
    else:
        dealer = dealer_store.dealer_by_id(conn, sale.dealer_id)
        if sale.currency and sale.currency != dealer.currency:
            raise InvalidAmount(f"dealer {dealer.id} pays in {dealer.currency}")
        dealer_id, currency, payer = dealer.id, dealer.currency, ledger.float_account(dealer.id)
    price = conn.execute(select(product_prices.c.price_minor).where(
        product_prices.c.product_id == product.id, product_prices.c.currency == currency)).scalar_one_or_none()
    if price is None:
        raise InvalidAmount(f"product {sale.product} has no price in {currency}")
    total = Money(int(price) * sale.qty, currency)
    if dealer_id is not None:
        dealer_store._debit(conn, dealer, total.minor, now)  # refused (nothing moves) beyond the float
    ref = f"product:{sale.product}:" + (f"site:{sale.site}" if sale.site else f"dealer:{dealer_id}")
    entry_id = ledger_store.post(conn, ledger.product_sale(sale.product, total, payer, ref), now, created_by=by)
    sale_id = conn.execute(product_sales.insert().values(
        product_id=product.id, site_id=site_id, dealer_id=dealer_id, card=sale.card, qty=sale.qty, currency=currency,
        unit_minor=int(price), total_minor=total.minor, entry_id=entry_id, created_by=by, created_at=now)
        .returning(product_sales.c.id)).scalar_one()
    return {"id": sale_id, "product": sale.product, "qty": sale.qty, "unit_price": str(Money(int(price), currency)),
            "total": str(total), "site": sale.site, "dealer": dealer_id, "card": sale.card, "entry": entry_id}


# ---- per site and region --------------------------------------------------------------------

def _between(column, since: int | None, until: int | None) -> list:
    return ([column >= since] if since is not None else []) + ([column < until] if until is not None else [])


def site_report(conn: Connection, since: int | None, until: int | None) -> list[dict]:
    """Lines ``{region, site, what, currency, count, amount}`` for [since, until): product sales,
    decoder movements and payments per site, dealer top-ups per region of the dealer's sales
    point. Amounts of different currencies are separate lines."""
    lines: list[dict] = []
    seller = func.coalesce(sites.c.code, "")
    q = (select(func.coalesce(sites.c.region, "").label("region"), seller.label("site"),
                product_sales.c.dealer_id, product_sales.c.currency,
                func.sum(product_sales.c.qty).label("n"), exact_sum(product_sales.c.total_minor).label("total"))
         .select_from(product_sales.outerjoin(sites, sites.c.id == product_sales.c.site_id))
         .where(*_between(product_sales.c.created_at, since, until))
         .group_by(sites.c.region, seller, product_sales.c.dealer_id, product_sales.c.currency))
    for r in conn.execute(q).all():
        lines.append(_line(r.region, r.site or f"dealer:{r.dealer_id}", "product_sales", r.currency, r.n, r.total))
    q = (select(sites.c.region, sites.c.code, func.count().label("n"))
         .select_from(decoder_movements.join(sites, sites.c.id == decoder_movements.c.site_id))
         .where(*_between(decoder_movements.c.created_at, since, until)).group_by(sites.c.region, sites.c.code))
    for r in conn.execute(q).all():
        lines.append(_line(r.region, r.code, "decoder_movements", None, r.n, None))
    q = (select(sites.c.region, sites.c.code, payments.c.currency, func.count().label("n"),
                exact_sum(payments.c.amount_minor).label("total"))
         .select_from(payments.join(sites, sites.c.code == payments.c.site))
         .where(payments.c.status.in_(("credited", "assigned")), *_between(payments.c.created_at, since, until))
         .group_by(sites.c.region, sites.c.code, payments.c.currency))
    for r in conn.execute(q).all():
        lines.append(_line(r.region, r.code, "payments", r.currency, r.n, r.total))
    region = func.coalesce(dealer_sites.c.region, "")
    q = (select(region.label("region"), dealer_topups.c.currency, func.count().label("n"),
                exact_sum(dealer_topups.c.face_minor).label("total"))
         .select_from(dealer_topups.outerjoin(dealer_sites, and_(dealer_sites.c.dealer_id == dealer_topups.c.dealer_id,
                                                                 dealer_sites.c.name == dealer_topups.c.site)))
         .where(dealer_topups.c.status == "done", *_between(dealer_topups.c.created_at, since, until))
         .group_by(region, dealer_topups.c.currency))
    for r in conn.execute(q).all():
        lines.append(_line(r.region, "-", "dealer_sales", r.currency, r.n, r.total))
    return sorted(lines, key=lambda x: (x["region"], x["site"], x["what"], x["currency"] or ""))


def _line(region: str | None, site: str, what: str, currency: str | None, count, total) -> dict:
    return {"region": region or "", "site": site, "what": what, "currency": currency, "count": int(count or 0),
            "amount": str(Money(int(total), currency)) if currency and total is not None else None}


__all__ = ["insert_site", "list_sites", "NewDecoder", "add_decoders", "move", "install", "fault", "swap", "show",
           "counts", "swap_card", "insert_product", "product_json", "list_products", "Sale", "sell", "site_report"]
