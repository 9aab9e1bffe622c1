"""Dealers in the database: float, keys, top-ups and their reversal; the transaction
bodies of :mod:`billing_core.dealers`.

Invariants, each held by the database rather than by a check in memory:

- A float never goes below zero: it moves only by ``UPDATE … WHERE balance_minor >= :x``
  (and ``CHECK balance_minor >= 0`` behind it). Every move is also a ledger entry on
  ``float:ID``, in the same transaction.
- A top-up is sold once per (dealer, idempotency key): its row is inserted first with
  ``ON CONFLICT DO NOTHING``; whoever does not insert reads the stored response (same
  body) or is refused (another body).
- Lock order, the same in every transaction: the top-up row, the subscriber (and its
  wallet), then the dealer row(s) by id, then the ledger's balance rows.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace

from sqlalchemy import Connection, String, bindparam, case, cast, func, literal, select, update

from billing_core import ledger
from billing_core.db import ledger_store, subscriber_store, unit
from billing_core.db.dialect import exact_sum, insert_ignore
from billing_core.db.fast import Fast
from billing_core.db.schema import accounts, journal_entries, packages, postings, subscribers
from billing_core.db.schema_cards import cards
from billing_core.db.schema_dealers import (dealer_commissions, dealer_days, dealer_keys, dealer_sites,
                                            dealer_topups, dealers)
from billing_core.db.subscriber_store import Package
from billing_core.errors import (AlreadyExists, AlreadyReversed, DailyLimitReached, DealerSuspended,
                                 IdempotencyConflict, InsufficientFloat, InvalidAmount, InvalidInput, NotReversible,
                                 SubscriberBlocked, Unauthorized, UnknownDealer, UnknownPackage, UnknownTopup)
from billing_core.money import Conversion, Money, Rates
from billing_core.renewal import Status, iso

STATEMENT_ROWS_MAX = 5000


@dataclass(frozen=True, slots=True)
class Dealer:
    id: int
    name: str
    currency: str
    commission_bp: int
    parent_id: int | None
    status: str
    balance_minor: int
    daily_limit_minor: int | None

    @property
    def balance(self) -> Money:
        return Money(self.balance_minor, self.currency)


_DEALER_COLUMNS = (dealers.c.id, dealers.c.name, dealers.c.currency, dealers.c.commission_bp, dealers.c.parent_id,
                   dealers.c.status, dealers.c.balance_minor, dealers.c.daily_limit_minor)


def _dealer(row) -> Dealer:
    return Dealer(int(row[0]), row[1], row[2], int(row[3]), row[4], row[5], int(row[6]), row[7])


def dealer_by_id(conn: Connection, dealer_id: int) -> Dealer:
    row = conn.execute(select(*_DEALER_COLUMNS).where(dealers.c.id == dealer_id)).one_or_none()
    if row is None:
        raise UnknownDealer(f"no dealer {dealer_id}")
    return _dealer(row)


def any_dealer(conn: Connection) -> bool:
    return conn.execute(select(dealers.c.id).limit(1)).first() is not None


def check_card_dealer(conn: Connection, dealer: str) -> None:
    """Cards activated for ``dealer`` must name a dealer that exists (once any exists)."""
    if not any_dealer(conn):
        return
    if not dealer.isdigit() or conn.execute(select(dealers.c.id).where(dealers.c.id == int(dealer))).first() is None:
        raise UnknownDealer(f"no dealer {dealer}")


# ---- dealers, keys, sites --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NewDealer:
    name: str
    currency: str
    commission_bp: int
    parent_id: int | None
    daily_limit_minor: int | None
    site: str
    region: str
    key_id: str


def insert_dealer(conn: Connection, new: NewDealer, now: int) -> Dealer:
    if new.parent_id is not None:
        parent = dealer_by_id(conn, new.parent_id)
        if parent.currency != new.currency:
            raise InvalidInput(f"dealer {parent.id} keeps its float in {parent.currency}, not {new.currency}")
    dealer_id = conn.execute(dealers.insert().values(
        name=new.name, currency=new.currency, commission_bp=new.commission_bp, parent_id=new.parent_id,
        status="active", balance_minor=0, daily_limit_minor=new.daily_limit_minor, created_at=now, updated_at=now,
    ).returning(dealers.c.id)).scalar_one()
    conn.execute(dealer_keys.insert().values(key_id=new.key_id, dealer_id=dealer_id, created_at=now))
    if new.site:
        conn.execute(dealer_sites.insert().values(dealer_id=dealer_id, name=new.site, region=new.region,
                                                  created_at=now))
    ledger_store.account(conn, ledger.float_account(dealer_id), new.currency, now)
    return dealer_by_id(conn, dealer_id)


def list_dealers(conn: Connection) -> list[Dealer]:
    return [_dealer(r) for r in conn.execute(select(*_DEALER_COLUMNS).order_by(dealers.c.id)).all()]


def dealer_details(conn: Connection, dealer_id: int) -> dict:
    """What ``dealer show`` prints: the dealer, its sites, keys (ids only), sub-dealers, commissions."""
    dealer = dealer_by_id(conn, dealer_id)
    sites = conn.execute(select(dealer_sites.c.name, dealer_sites.c.region)
                         .where(dealer_sites.c.dealer_id == dealer_id).order_by(dealer_sites.c.name)).all()
    keys = conn.execute(select(dealer_keys.c.key_id, dealer_keys.c.created_at, dealer_keys.c.revoked_at)
                        .where(dealer_keys.c.dealer_id == dealer_id)
                        .order_by(dealer_keys.c.id)).all()
    subs = conn.execute(select(dealers.c.id).where(dealers.c.parent_id == dealer_id).order_by(dealers.c.id)).scalars()
    per_package = conn.execute(select(packages.c.code, dealer_commissions.c.commission_bp)
                               .join(packages, packages.c.id == dealer_commissions.c.package_id)
                               .where(dealer_commissions.c.dealer_id == dealer_id).order_by(packages.c.code)).all()
    return {"dealer": dealer,
            "sites": [{"name": s.name, "region": s.region} for s in sites],
            "keys": [{"key_id": k.key_id, "created_at": iso(k.created_at), "revoked_at": iso(k.revoked_at)}
                     for k in keys],
            "sub_dealers": list(subs),
            "package_commissions": {code: bp for code, bp in per_package}}


def add_site(conn: Connection, dealer_id: int, name: str, region: str, now: int) -> None:
    dealer_by_id(conn, dealer_id)
    done = conn.execute(insert_ignore(conn, dealer_sites, "dealer_id", "name").values(
        dealer_id=dealer_id, name=name, region=region, created_at=now)).rowcount
    if done != 1:
        raise AlreadyExists(f"dealer {dealer_id} has a site {name} already")


def add_key(conn: Connection, dealer_id: int, key_id: str, now: int, *, revoke_old: bool) -> list[str]:
    """A new key for the dealer. The previous newest key stays valid (two at once, so the
    dealer can roll over) unless ``revoke_old``; every older key is revoked. Returns the
    key ids revoked."""
    dealer_by_id(conn, dealer_id)
    active = conn.execute(select(dealer_keys.c.key_id).where(dealer_keys.c.dealer_id == dealer_id,
                                                             dealer_keys.c.revoked_at.is_(None))
                          .order_by(dealer_keys.c.id.desc())).scalars().all()
    revoked = active if revoke_old else active[1:]
    if revoked:
        conn.execute(update(dealer_keys).where(dealer_keys.c.key_id.in_(revoked)).values(revoked_at=now))
    conn.execute(dealer_keys.insert().values(key_id=key_id, dealer_id=dealer_id, created_at=now))
    return list(revoked)


def set_status(conn: Connection, dealer_id: int, status: str, now: int) -> Dealer:
    done = conn.execute(update(dealers).where(dealers.c.id == dealer_id)
                        .values(status=status, updated_at=now)).rowcount
    if done != 1:
        raise UnknownDealer(f"no dealer {dealer_id}")
    return dealer_by_id(conn, dealer_id)


def set_commission(conn: Connection, dealer_id: int, bp: int, package_code: str | None, now: int) -> Dealer:
    dealer = dealer_by_id(conn, dealer_id)
    if package_code is None:
        conn.execute(update(dealers).where(dealers.c.id == dealer_id).values(commission_bp=bp, updated_at=now))
        return dealer_by_id(conn, dealer_id)
    pkg = subscriber_store.package_by_code(conn, package_code)
    conn.execute(dealer_commissions.delete().where(dealer_commissions.c.dealer_id == dealer_id,
                                                   dealer_commissions.c.package_id == pkg.id))
    conn.execute(dealer_commissions.insert().values(dealer_id=dealer_id, package_id=pkg.id, commission_bp=bp))
    return dealer


# ---- float: funding and transfers --------------------------------------------------------------

_DEBIT_FLOAT = Fast(update(dealers)
                    .where(dealers.c.id == bindparam("d"), dealers.c.status == "active",
                           dealers.c.balance_minor >= bindparam("x"))
                    .values(balance_minor=dealers.c.balance_minor - bindparam("x"), updated_at=bindparam("now"))
                    .returning(dealers.c.balance_minor))
_CREDIT_FLOAT = Fast(update(dealers).where(dealers.c.id == bindparam("d"))
                     .values(balance_minor=dealers.c.balance_minor + bindparam("x"), updated_at=bindparam("now"))
                     .returning(dealers.c.balance_minor))


def _debit(conn: Connection, dealer: Dealer, minor: int, now: int) -> int:
    """Take ``minor`` from an active dealer's float; the balance left. Refused, nothing moves,
    when the float does not cover it or the dealer is suspended."""
    left = _DEBIT_FLOAT.scalar(conn, {"d": dealer.id, "x": minor, "now": now})
    if left is not None:
        return int(left)
    now_row = dealer_by_id(conn, dealer.id)
    if now_row.status != "active":
        raise DealerSuspended(f"dealer {dealer.id} is suspended")
    raise InsufficientFloat(f"the float holds {now_row.balance}, {Money(minor, dealer.currency)} is needed")


def _credit(conn: Connection, dealer_id: int, minor: int, now: int) -> int:
    return int(_CREDIT_FLOAT.scalar(conn, {"d": dealer_id, "x": minor, "now": now}))


def fund(conn: Connection, dealer_id: int, amount: Money, ref: str, now: int, created_by: str) -> Dealer:
    dealer = dealer_by_id(conn, dealer_id)
    if amount.currency != dealer.currency:
        raise InvalidAmount(f"dealer {dealer_id} keeps its float in {dealer.currency}")
    _credit(conn, dealer_id, amount.minor, now)
    ledger_store.post(conn, ledger.dealer_funding(dealer_id, amount, ref), now, created_by=created_by)
    return dealer_by_id(conn, dealer_id)


def transfer(conn: Connection, from_id: int, to_id: int, amount: Money, now: int,
             created_by: str) -> tuple[Dealer, Dealer]:
    """A master hands float to one of its own sub-dealers. Both rows move in id order (the lock order)."""
    source, target = dealer_by_id(conn, from_id), dealer_by_id(conn, to_id)
    if target.parent_id != source.id:
        raise InvalidInput(f"dealer {to_id} is not a sub-dealer of dealer {from_id}")
    if amount.currency != source.currency:
        raise InvalidAmount(f"dealer {from_id} keeps its float in {source.currency}")
    for dealer_id in sorted((from_id, to_id)):
        if dealer_id == from_id:
            _debit(conn, source, amount.minor, now)
        else:
            _credit(conn, to_id, amount.minor, now)
    ref = f"dealer:{from_id}>{to_id}"
    ledger_store.post(conn, ledger.float_transfer(from_id, to_id, amount, ref), now, created_by=created_by)
    return dealer_by_id(conn, from_id), dealer_by_id(conn, to_id)


# ---- authentication ----------------------------------------------------------------------------

_BY_KEY = Fast(select(*_DEALER_COLUMNS).join(dealer_keys, dealer_keys.c.dealer_id == dealers.c.id)
               .where(dealer_keys.c.key_id == bindparam("k"), dealer_keys.c.revoked_at.is_(None)))


def authenticate(conn: Connection, key_id: str) -> Dealer:
    """The dealer of a valid (known, not revoked) key; 401 otherwise."""
    row = _BY_KEY.one(conn, {"k": key_id})
    if row is None:
        raise Unauthorized("unknown or revoked key")
    return _dealer(row)


# ---- top-ups -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Order:
    """A top-up as the dealer asked for it: exactly one of ``tvu``, ``package``, ``amount``."""

    key_id: str
    idempotency_key: str
    body_hash: str
    card: str
    tvu: int | None = None
    package: str | None = None
    amount: Money | None = None
    site: str = ""

    @property
    def kind(self) -> str:
        return "tvu" if self.tvu is not None else "package" if self.package is not None else "amount"


@dataclass(frozen=True, slots=True)
class Sold:
    """The response of a top-up (first time, or stored and replayed)."""

    status: int
    body: dict
    replayed: bool = False


_TOPUP_COLUMNS = ("dealer_id", "idempotency_key", "request_hash", "card", "kind", "package_code", "currency", "site",
                  "key_id", "status", "created_at")
_INSERT_TOPUP = Fast(lambda name: insert_ignore(name, dealer_topups, "dealer_id", "idempotency_key")
                     .values({c: bindparam(c) for c in _TOPUP_COLUMNS}).returning(dealer_topups.c.id))
_FINISH_TOPUP = Fast(update(dealer_topups).where(dealer_topups.c.id == bindparam("tid"))
                     .values(status="done", tvu=bindparam("tvu"), face_minor=bindparam("face"),
                             commission_minor=bindparam("commission"), renewed=bindparam("renewed"),
                             entry_id=bindparam("entry_id"), response_status=bindparam("rs"),
                             response=bindparam("response")))
_PACKAGE_COMMISSION = Fast(select(dealer_commissions.c.commission_bp)
                           .where(dealer_commissions.c.dealer_id == bindparam("d"),
                                  dealer_commissions.c.package_id == bindparam("p")))


def sell(conn: Connection, order: Order, rates: Rates, now: int, day: str) -> Sold:
    """The top-up ``order``, once: float debited (face value less commission), wallet
    credited (a package renews at once, stacked), ledger, notices and the stored response."""
    dealer = authenticate(conn, order.key_id)
    if dealer.status != "active":
        raise DealerSuspended(f"dealer {dealer.id} is suspended")
    topup_id = _INSERT_TOPUP.scalar(conn, {
        "dealer_id": dealer.id, "idempotency_key": order.idempotency_key, "request_hash": order.body_hash,
        "card": order.card, "kind": order.kind, "package_code": order.package, "currency": dealer.currency,
        "site": order.site, "key_id": order.key_id, "status": "pending", "created_at": now})
    if topup_id is None:
        return _stored(conn, dealer.id, order)
    if order.site:
        _check_site(conn, dealer.id, order.site)
    sub = subscriber_store.lock_subscriber(conn, order.card)
    if sub.status is Status.SUSPENDED:
        raise SubscriberBlocked(f"card {order.card} is suspended")
    pkg = _package_for(conn, order) if order.package is not None else None
    conversion = _conversion(order, pkg, dealer.currency, rates)
    face = conversion.used + conversion.remainder
    bp = dealer.commission_bp
    if pkg is not None:
        override = _PACKAGE_COMMISSION.scalar(conn, {"d": dealer.id, "p": pkg.id})
        bp = bp if override is None else int(override)
    commission = Money(face.minor * bp // 10_000, face.currency)
    entry = ledger.dealer_sale(dealer.id, order.card, face, commission, conversion, f"topup:{topup_id}")
    if pkg is not None:
        entry_id, sub = _sell_package(conn, sub, pkg, entry, conversion.tvu, now)
        renewed = True
    else:
        credited = subscriber_store.credit_locked(conn, sub, entry, conversion.tvu, now)
        entry_id, sub, renewed = credited.entry_id, credited.subscriber, credited.renewed
    # The dealer's row is every sale's hot lock on PostgreSQL: taken last, held shortest.
    # A float that does not cover the sale raises here and the whole transaction rolls back.
    balance = _debit(conn, dealer, face.minor - commission.minor, now)
    if dealer.daily_limit_minor is not None:
        _count_day(conn, dealer, day, face.minor)
    body = {"id": topup_id, "dealer": dealer.id, "card": order.card, "kind": order.kind, "tvu_credited": conversion.tvu,
            "wallet_tvu": sub.wallet_tvu, "package": sub.package.code if sub.package else None,
            "status": sub.subscription().effective_status(now).value, "expires_at": iso(sub.expires_at),
            "renewed": renewed, "face_value": str(face), "commission": str(commission),
            "dealer_balance": str(Money(balance, dealer.currency)), "created_at": iso(now)}
    _FINISH_TOPUP.execute(conn, {"tid": topup_id, "tvu": conversion.tvu, "face": face.minor,
                                 "commission": commission.minor, "renewed": renewed, "entry_id": entry_id,
                                 "rs": 201, "response": json.dumps(body, separators=(",", ":"))})
    return Sold(201, body)


def _stored(conn: Connection, dealer_id: int, order: Order) -> Sold:
    """The response stored under ``order``'s idempotency key (a repeat), or 409 for another body."""
    row = conn.execute(select(dealer_topups.c.request_hash, dealer_topups.c.response_status,
                              dealer_topups.c.response)
                       .where(dealer_topups.c.dealer_id == dealer_id,
                              dealer_topups.c.idempotency_key == order.idempotency_key)).one()
    if row.request_hash != order.body_hash:
        raise IdempotencyConflict("this Idempotency-Key was used with another request body")
    return Sold(int(row.response_status), json.loads(row.response), replayed=True)


def release_idempotency_keys(conn: Connection, before: int, limit: int = 1000) -> int:
    """Forget the Idempotency-Key and stored response of (at most ``limit``) top-ups made
    before ``before``; how many. The sale stays; its key becomes ``#ID``, which no client
    can send (``#`` is not allowed in a key), so that key is free for a new request."""
    old = (select(dealer_topups.c.id)
           .where(dealer_topups.c.created_at < before, ~dealer_topups.c.idempotency_key.startswith("#"))
           .order_by(dealer_topups.c.created_at).limit(limit))
    released = (update(dealer_topups).where(dealer_topups.c.id.in_(old))
                .values(idempotency_key=literal("#") + cast(dealer_topups.c.id, String), request_hash="", response=""))
    return conn.execute(released).rowcount


def _check_site(conn: Connection, dealer_id: int, site: str) -> None:
    found = conn.execute(select(dealer_sites.c.id).where(dealer_sites.c.dealer_id == dealer_id,
                                                         dealer_sites.c.name == site)).first()
    if found is None:
        raise InvalidInput(f"no site {site!r} for this dealer")


def _package_for(conn: Connection, order: Order) -> Package:
    pkg = subscriber_store.package_by_code(conn, order.package)
    if not pkg.active:
        raise UnknownPackage(f"package {pkg.code} is not sold any more")
    if pkg.tvu <= 0:
        raise InvalidInput(f"package {pkg.code} is free: there is nothing to sell")
    return pkg


def _conversion(order: Order, pkg: Package | None, currency: str, rates: Rates) -> Conversion:
    """TVU and face value of the order, in the dealer's currency."""
    if order.amount is not None:
        if order.amount.currency != currency:
            raise InvalidAmount(f"this dealer sells in {currency}")
        conversion = rates.to_tvu(order.amount)
        if conversion.tvu <= 0:
            raise InvalidAmount(f"{order.amount} is less than one TVU")
        return conversion
    tvu = pkg.tvu if pkg is not None else order.tvu
    return Conversion(tvu, rates.to_money(tvu, currency), Money(0, currency))


_NEW_DAY = Fast(lambda name: insert_ignore(name, dealer_days, "dealer_id", "day")
                .values(dealer_id=bindparam("d"), day=bindparam("day"), sold_minor=0))
_COUNT_DAY = Fast(update(dealer_days)
                  .where(dealer_days.c.dealer_id == bindparam("d"), dealer_days.c.day == bindparam("day"),
                         dealer_days.c.sold_minor + bindparam("x") <= bindparam("limit"))
                  .values(sold_minor=dealer_days.c.sold_minor + bindparam("x")))


def _count_day(conn: Connection, dealer: Dealer, day: str, face_minor: int) -> None:
    """Count a sale against the dealer's daily limit; refused when it would pass it."""
    _NEW_DAY.execute(conn, {"d": dealer.id, "day": day})
    if _COUNT_DAY.rowcount(conn, {"d": dealer.id, "day": day, "x": face_minor,
                                  "limit": dealer.daily_limit_minor}) != 1:
        limit = Money(dealer.daily_limit_minor, dealer.currency)
        raise DailyLimitReached(f"this sale would pass the daily limit of {limit} ({day})")


def _sell_package(conn: Connection, sub, pkg: Package, entry: ledger.Entry, tvu: int, now: int):
    """Credit the package's price and renew at once, stacked (as ``RENEW``): (entry id, subscriber)."""
    entry_id = ledger_store.post(conn, entry, now)
    if sub.package is None or sub.package.id != pkg.id:
        conn.execute(update(subscribers).where(subscribers.c.id == sub.id).values(package_id=pkg.id))
    sub = replace(sub, package=pkg, wallet_tvu=sub.wallet_tvu + tvu)
    return entry_id, subscriber_store.renew_locked(conn, sub, now, reason="dealer")


# ---- reads scoped to one dealer --------------------------------------------------------------

def _topup_json(row) -> dict:
    ccy = row.currency
    return {"id": row.id, "card": row.card, "kind": row.kind, "package": row.package_code,
            "tvu_credited": int(row.tvu), "face_value": str(Money(int(row.face_minor), ccy)),
            "commission": str(Money(int(row.commission_minor), ccy)), "renewed": bool(row.renewed),
            "status": row.status, "site": row.site, "created_at": iso(row.created_at),
            "reversed_at": iso(row.reversed_at)}


def topup_of(conn: Connection, key_id: str, topup_id: int) -> dict:
    """A top-up of the calling dealer; another dealer's is as unknown as a missing one."""
    dealer = authenticate(conn, key_id)
    row = conn.execute(select(dealer_topups).where(dealer_topups.c.id == topup_id,
                                                   dealer_topups.c.dealer_id == dealer.id,
                                                   dealer_topups.c.status != "pending")).one_or_none()
    if row is None:
        raise UnknownTopup(f"no top-up {topup_id}")
    return _topup_json(row)


def subscriber_for_sale(conn: Connection, key_id: str, card: str, now: int) -> dict:
    """What a dealer needs to sell to ``card``: masked name, status, package and expiry."""
    authenticate(conn, key_id)
    found = subscriber_store.find_subscribers(conn, card=card)
    if not found:
        from billing_core.errors import UnknownCard

        raise UnknownCard(f"no subscriber with card {card}")
    sub = found[0]
    pkg = sub.package
    return {"card": sub.card, "name": mask_name(sub.name), "status": sub.subscription().effective_status(now).value,
            "package": pkg.code if pkg else None, "package_name": pkg.name if pkg else None,
            "package_tvu": pkg.tvu if pkg else None, "expires_at": iso(sub.expires_at)}


def mask_name(name: str) -> str:
    """``John Doe`` -> ``J*** D**``: enough for the subscriber to recognise, not to harvest."""
    return " ".join(word[0] + "*" * (len(word) - 1) for word in name.split())


def balance_of(conn: Connection, key_id: str) -> Dealer:
    return authenticate(conn, key_id)


def statement(conn: Connection, dealer: Dealer, since: int | None, until: int | None) -> dict:
    """Float movements of ``dealer`` in [since, until), opening and closing balance, sales and cards."""
    unit.flush(conn)
    code = ledger.float_account(dealer.id)
    base = (select(journal_entries.c.id, journal_entries.c.kind, journal_entries.c.ref, journal_entries.c.created_at,
                   postings.c.amount)
            .join(postings, postings.c.entry_id == journal_entries.c.id)
            .join(accounts, accounts.c.id == postings.c.account_id)
            .where(accounts.c.code == code, accounts.c.unit == dealer.currency))
    opening = 0
    if since is not None:
        opening = -int(conn.execute(
            select(func.coalesce(func.sum(postings.c.amount), 0))
            .join(accounts, accounts.c.id == postings.c.account_id)
            .join(journal_entries, journal_entries.c.id == postings.c.entry_id)
            .where(accounts.c.code == code, accounts.c.unit == dealer.currency,
                   journal_entries.c.created_at < since)).scalar_one())
    rows = conn.execute(_period(base, since, until).order_by(journal_entries.c.id)
                        .limit(STATEMENT_ROWS_MAX + 1)).all()
    movements, running = [], opening
    for r in rows[:STATEMENT_ROWS_MAX]:
        running -= int(r.amount)
        movements.append({"entry": r.id, "at": iso(r.created_at), "kind": r.kind, "ref": r.ref,
                          "amount": str(Money(-int(r.amount), dealer.currency)),
                          "balance": str(Money(running, dealer.currency))})
    ccy = dealer.currency
    sales = _sales(conn, since, until, dealer.id).get(dealer.id, _NO_SALES)
    activated = _cards(conn, since, until, str(dealer.id)).get(str(dealer.id), (0, 0))
    return {"dealer": dealer.id, "currency": ccy, "from": iso(since), "to": iso(until),
            "opening_balance": str(Money(opening, ccy)), "closing_balance": str(Money(running, ccy)),
            "truncated": len(rows) > STATEMENT_ROWS_MAX, "movements": movements,
            "sales": {"count": sales[0], "face_value": str(Money(sales[1], ccy)),
                      "commission": str(Money(sales[2], ccy)), "reversed": sales[3]},
            "cards": {"activated": activated[0], "value_tvu": activated[1]}}


def _period(stmt, since: int | None, until: int | None, column=journal_entries.c.created_at):
    if since is not None:
        stmt = stmt.where(column >= since)
    if until is not None:
        stmt = stmt.where(column < until)
    return stmt


_NO_SALES = (0, 0, 0, 0)


def _sales(conn: Connection, since: int | None, until: int | None, dealer_id: int | None = None) -> dict:
    """dealer id -> (sales, face value, commission, reversed) of the period; a reversed sale is
    counted as reversed, not as a sale."""
    t = dealer_topups
    done = t.c.status == "done"
    stmt = (select(t.c.dealer_id, func.coalesce(func.sum(case((done, 1), else_=0)), 0),
                   func.coalesce(exact_sum(case((done, t.c.face_minor), else_=0)), 0),
                   func.coalesce(exact_sum(case((done, t.c.commission_minor), else_=0)), 0),
                   func.coalesce(func.sum(case((t.c.status == "reversed", 1), else_=0)), 0))
            .where(t.c.status != "pending").group_by(t.c.dealer_id))
    if dealer_id is not None:
        stmt = stmt.where(t.c.dealer_id == dealer_id)
    return {r[0]: (int(r[1]), int(r[2]), int(r[3]), int(r[4]))
            for r in conn.execute(_period(stmt, since, until, t.c.created_at)).all()}


def _cards(conn: Connection, since: int | None, until: int | None, dealer: str | None = None) -> dict:
    """dealer (as stored on cards) -> (cards activated in the period, their value in TVU)."""
    stmt = (select(cards.c.dealer, func.count(), func.coalesce(exact_sum(cards.c.value_tvu), 0))
            .where(cards.c.dealer.is_not(None), cards.c.activated_at.is_not(None)).group_by(cards.c.dealer))
    if dealer is not None:
        stmt = stmt.where(cards.c.dealer == dealer)
    return {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(_period(stmt, since, until, cards.c.activated_at))}


def report(conn: Connection, since: int | None, until: int | None) -> list[dict]:
    """Per dealer and period: sales, commission, float movements by kind, cards, balance now."""
    unit.flush(conn)
    sales, activated = _sales(conn, since, until), _cards(conn, since, until)
    moves = conn.execute(_period(
        select(accounts.c.code, journal_entries.c.kind,
               exact_sum(case((postings.c.amount < 0, -postings.c.amount), else_=0)),
               exact_sum(case((postings.c.amount > 0, postings.c.amount), else_=0)))
        .join(postings, postings.c.account_id == accounts.c.id)
        .join(journal_entries, journal_entries.c.id == postings.c.entry_id)
        .where(accounts.c.code.like("float:%")).group_by(accounts.c.code, journal_entries.c.kind),
        since, until)).all()
    flows: dict[int, dict[str, tuple[int, int]]] = {}
    for code, kind, into, out in moves:
        flows.setdefault(int(code.split(":", 1)[1]), {})[kind] = (int(into or 0), int(out or 0))
    lines = []
    for d in list_dealers(conn):
        s, f, (n_cards, cards_tvu) = sales.get(d.id, _NO_SALES), flows.get(d.id, {}), activated.get(str(d.id), (0, 0))
        m = lambda minor: str(Money(minor, d.currency))  # noqa: E731
        lines.append({
            "id": d.id, "name": d.name, "parent": d.parent_id, "status": d.status, "sales": s[0],
            "face_value": m(s[1]), "commission": m(s[2]), "float_paid": m(f.get("dealer_sale", (0, 0))[1]),
            "reversed": s[3], "refunded": m(f.get("reversal", (0, 0))[0]),
            "funded": m(f.get("dealer_fund", (0, 0))[0]), "transferred_in": m(f.get("dealer_transfer", (0, 0))[0]),
            "transferred_out": m(f.get("dealer_transfer", (0, 0))[1]), "cards_activated": n_cards,
            "cards_value_tvu": cards_tvu, "balance": str(d.balance)})
    return lines


# ---- reversal ----------------------------------------------------------------------------------

def reverse(conn: Connection, topup_id: int, reason: str, now: int, created_by: str) -> dict:
    """Undo a top-up by new entries while the subscriber has not spent its credit: the TVU leave
    the wallet, the float gets back what it paid, the commission is taken back."""
    t = dealer_topups
    row = conn.execute(select(t).where(t.c.id == topup_id, t.c.status != "pending")
                       .with_for_update()).one_or_none()
    if row is None:
        raise UnknownTopup(f"no top-up {topup_id}")
    if row.status == "reversed":
        raise AlreadyReversed(f"top-up {topup_id} was reversed already")
    if row.renewed:
        raise NotReversible(f"top-up {topup_id} renewed the subscription: its TVU are spent"
                            " (grant or adjust the subscription instead)")
    sub = subscriber_store.lock_subscriber(conn, row.card)
    if sub.wallet_tvu < row.tvu:
        raise NotReversible(f"card {row.card} holds {sub.wallet_tvu} of the {row.tvu} TVU credited:"
                            " the credit is spent")
    reversal_id = ledger_store.reverse(conn, row.entry_id, now, f"topup {topup_id}: {reason}"[:255],
                                       created_by=created_by)
    paid = int(row.face_minor) - int(row.commission_minor)
    if paid:
        _credit(conn, row.dealer_id, paid, now)
    done = conn.execute(update(t).where(t.c.id == topup_id, t.c.status == "done").values(
        status="reversed", reversed_at=now, reversal_entry_id=reversal_id, reversal_reason=reason[:255])).rowcount
    if done != 1:
        raise AlreadyReversed(f"top-up {topup_id} was reversed already")
    out = _topup_json(conn.execute(select(t).where(t.c.id == topup_id)).one())
    return {**out, "reversal_entry": reversal_id, "reason": reason, "dealer": row.dealer_id,
            "dealer_balance": str(dealer_by_id(conn, row.dealer_id).balance)}


__all__ = ["Dealer", "NewDealer", "Order", "Sold", "release_idempotency_keys", "insert_dealer", "dealer_by_id", "list_dealers", "dealer_details",
           "add_site", "add_key", "set_status", "set_commission", "fund", "transfer", "authenticate", "sell",
           "topup_of", "subscriber_for_sale", "balance_of", "statement", "report", "reverse", "check_card_dealer",
           "mask_name"]
