"""Promotions in the database, and the two hooks that apply them.

- :func:`apply_payment_promotions` is called by ``payment_store.record`` once a payment
  is credited (bonus TVU, free add-on weeks);
- :func:`apply_renewal_promotions` by ``subscriber_store`` when a subscription renews
  (discount on the price, free days on reconnection after a lapse).

Both run inside the caller's transaction. They cost one dictionary lookup when no
promotion is running: the promotions not ended are cached per process for
:data:`REFRESH_S` seconds (a promotion added or ended by this process is seen at once,
by another within that time). The cache only decides what to *try*; whether a
promotion still runs and has budget left is decided by the database, by the
conditional update of :func:`_claim`.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import replace

from sqlalchemy import Connection, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from billing_core import ledger
from billing_core import promotions as rules
from billing_core.db import ledger_store, outbox_store, subscriber_store, unit
from billing_core.db.dialect import insert_ignore
from billing_core.db.fast import Fast
from billing_core.db.schema import account_balances, accounts, subscribers
from billing_core.db.schema_notify import day_grants
from billing_core.db.schema_stock import promo_uses, promotions
from billing_core.errors import AlreadyExists, Conflict, UnknownPackage, UnknownPromotion
from billing_core.money import Money
from billing_core.renewal import DAY_S, Status, renews_after_credit
from tv_notify import events
from tv_notify.texts import day, notice

log = logging.getLogger(__name__)

REFRESH_S = 5.0


# ---- the cache of promotions not ended ------------------------------------------------------

class _Running:
    """engine -> (loaded at, promotions with status ``active``), reloaded every REFRESH_S."""

    def __init__(self) -> None:
        self._by_engine: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, conn: Connection) -> tuple[rules.Promotion, ...]:
        hit = self._by_engine.get(conn.engine)
        if hit is not None and time.monotonic() - hit[0] < REFRESH_S:
            return hit[1]
        loaded = tuple(_promotion(r) for r in conn.execute(
            select(promotions).where(promotions.c.status == "active").order_by(promotions.c.id)).all())
        with self._lock:
            self._by_engine[conn.engine] = (time.monotonic(), loaded)
        return loaded

    def clear(self) -> None:
        with self._lock:
            self._by_engine.clear()


_running = _Running()


def forget() -> None:
    """Reload the promotions at the next use (after one was added or ended)."""
    _running.clear()


def _open(conn: Connection, kinds: tuple[str, ...], now: int) -> list[rules.Promotion]:
    return [p for p in _running.get(conn) if p.kind in kinds and p.is_open(now)]


# ---- promotions -----------------------------------------------------------------------------

def _promotion(row) -> rules.Promotion:
    minimum = Money(int(row.min_minor), row.min_currency) if row.min_minor is not None else None
    return rules.Promotion(row.id, row.name, row.kind, row.starts_at, row.ends_at, int(row.budget), int(row.spent),
                           row.percent_bp, minimum, row.package_code, row.days, row.lapsed_days, row.status,
                           row.created_by, row.created_at, row.ended_at)


def insert_promotion(conn: Connection, promo: rules.Promotion, now: int) -> rules.Promotion:
    if promo.package_code:
        subscriber_store.package_by_code(conn, promo.package_code)  # UnknownPackage when it does not exist
    minimum = promo.min_amount
    try:
        with conn.begin_nested():
            conn.execute(promotions.insert().values(
                name=promo.name, kind=promo.kind, starts_at=promo.starts_at, ends_at=promo.ends_at,
                budget=promo.budget, spent=0, percent_bp=promo.percent_bp,
                min_minor=minimum.minor if minimum else None, min_currency=minimum.currency if minimum else None,
                package_code=promo.package_code, days=promo.days, lapsed_days=promo.lapsed_days, status="active",
                created_by=promo.created_by, created_at=now))
    except IntegrityError:
        raise AlreadyExists(f"a promotion {promo.name} exists already") from None
    return promotion_by_name(conn, promo.name)


def promotion_by_name(conn: Connection, name: str) -> rules.Promotion:
    row = conn.execute(select(promotions).where(promotions.c.name == name)).one_or_none()
    if row is None:
        raise UnknownPromotion(f"no promotion {name}")
    return _promotion(row)


def list_promotions(conn: Connection) -> list[rules.Promotion]:
    return [_promotion(r) for r in conn.execute(select(promotions).order_by(promotions.c.id)).all()]


def end_promotion(conn: Connection, name: str, now: int) -> rules.Promotion:
    ended = conn.execute(update(promotions).where(promotions.c.name == name, promotions.c.status == "active")
                         .values(status="ended", ended_at=now)).rowcount
    if ended != 1:
        promo = promotion_by_name(conn, name)
        raise Conflict(f"promotion {name} is {promo.status} already")
    return promotion_by_name(conn, name)


# ---- spending the budget --------------------------------------------------------------------

# The one place a budget is spent: the window, the status and what is left are checked by
# the database in the same statement that spends, so no race can overspend.
_CLAIM = Fast(update(promotions)
              .where(promotions.c.id == bindparam("pid"), promotions.c.status == "active",
                     promotions.c.starts_at <= bindparam("now"), promotions.c.ends_at > bindparam("now"),
                     promotions.c.spent + bindparam("x") <= promotions.c.budget)
              .values(spent=promotions.c.spent + bindparam("x")))


def _claim(conn: Connection, promo: rules.Promotion, cost: int, now: int) -> bool:
    return _CLAIM.rowcount(conn, {"pid": promo.id, "x": cost, "now": now}) == 1


def _once(conn: Connection, promo: rules.Promotion, card: str, now: int) -> int | None:
    """Reserve ``promo``'s one use by ``card``; the use row's id, or None when it had it already."""
    return conn.execute(insert_ignore(conn, promo_uses, "promotion_id", "once_key").values(
        promotion_id=promo.id, card=card, once_key=card, cost=1, created_at=now)
        .returning(promo_uses.c.id)).scalar_one_or_none()


def _record_use(conn: Connection, promo: rules.Promotion, card: str, cost: int, now: int, *, tvu: int = 0,
                days: int = 0, amount: Money | None = None, entry_id: int | None = None) -> None:
    conn.execute(promo_uses.insert().values(
        promotion_id=promo.id, card=card, once_key=None, cost=cost, tvu=tvu, days=days,
        amount_minor=amount.minor if amount else None, currency=amount.currency if amount else None,
        entry_id=entry_id, created_at=now))


def _once_per_card(conn: Connection, promo: rules.Promotion, card: str, now: int) -> int | None:
    """The use row of a once-per-card promotion, its one budget unit spent; None when this card
    had it already or the budget is spent (then nothing is left behind)."""
    use_id = _once(conn, promo, card, now)
    if use_id is None:
        return None
    if not _claim(conn, promo, 1, now):
        conn.execute(delete(promo_uses).where(promo_uses.c.id == use_id))
        return None
    return use_id


# ---- hook: a payment was credited -----------------------------------------------------------

def apply_payment_promotions(conn: Connection, card: str, payment_tvu: int, amount: Money,
                             now: int) -> list[dict]:
    """Apply the running payment promotions to a credited payment of ``amount`` that put
    ``payment_tvu`` into ``card``'s wallet, in the payment's transaction (the subscriber is
    locked by it). Returns what was given (``[]`` at once when no promotion runs).

    Bonus TVU come from ``promo:NAME`` into the wallet; when they make the wallet cover the
    package of a subscription that is not active, it renews now, as any credit would.
    """
    running = [p for p in _open(conn, rules.PAYMENT_KINDS, now) if rules.qualifies(p, amount)]
    if not running:
        return []
    sub = subscriber_store.lock_subscriber(conn, card)
    sub = replace(sub, wallet_tvu=_wallet_tvu(conn, sub))
    given: list[dict] = []
    for promo in running:
        if promo.kind == "bonus":
            sub = _bonus(conn, promo, sub, payment_tvu, amount, now, given)
        else:
            _free_addon(conn, promo, sub, amount, now, given)
    return given


def _wallet_tvu(conn: Connection, sub: subscriber_store.SubscriberRow) -> int:
    """The wallet as this transaction leaves it so far: the stored balance read under lock, less
    the moves the ledger defers to the end of the transaction (:mod:`billing_core.db.unit`)."""
    pending = unit.deferred(conn).get("moves", {})
    return sub.wallet_tvu - pending.get((sub.wallet_account_id, 0), 0)


def _bonus(conn: Connection, promo: rules.Promotion, sub, payment_tvu: int, amount: Money, now: int,
           given: list[dict]):
    bonus = rules.bonus_tvu(promo, payment_tvu, amount)
    if bonus <= 0 or not _claim(conn, promo, bonus, now):
        return sub
    entry_id = ledger_store.post(conn, ledger.promo_credit(promo.name, sub.card, bonus, f"promo:{promo.name}"), now)
    _record_use(conn, promo, sub.card, bonus, now, tvu=bonus, amount=amount, entry_id=entry_id)
    sub = replace(sub, wallet_tvu=sub.wallet_tvu + bonus)
    if renews_after_credit(sub.subscription(), now):
        sub = subscriber_store.renew_locked(conn, sub, now, reason="credit")
    text = notice("promo_bonus", sub.lang, promo=promo.name, tvu=bonus, card=sub.card, wallet=sub.wallet_tvu)
    outbox_store.enqueue(conn, [events.sms(sub.card, sub.msisdn, text, sub.lang)], now)
    given.append({"promotion": promo.name, "kind": "bonus", "tvu": bonus})
    return sub


def _free_addon(conn: Connection, promo: rules.Promotion, sub, amount: Money, now: int, given: list[dict]) -> None:
    try:
        addon = subscriber_store.package_by_code(conn, promo.package_code)
    except UnknownPackage:
        log.warning("promotion %s names no package %s: skipped", promo.name, promo.package_code)
        return
    if not addon.products or _once_per_card(conn, promo, sub.card, now) is None:
        return
    until = now + promo.days * DAY_S
    conn.execute(update(promo_uses).where(promo_uses.c.promotion_id == promo.id, promo_uses.c.once_key == sub.card)
                 .values(days=promo.days, amount_minor=amount.minor, currency=amount.currency))
    text = notice("promo_addon", sub.lang, promo=promo.name, package=addon.name, days=promo.days, card=sub.card,
                  date=day(until))
    outbox_store.enqueue(conn, [events.grant(sub.card, addon.products, until, sub.lang),
                                events.osd(sub.card, text, sub.lang),
                                events.sms(sub.card, sub.msisdn, text, sub.lang)], now)
    given.append({"promotion": promo.name, "kind": "free_addon", "package": addon.code, "until": until})


# ---- hook: a subscription renewed -----------------------------------------------------------

def apply_renewal_promotions(conn: Connection, before, renewed, now: int, reason: str):
    """Apply the running renewal promotions to a renewal just written (``before``: the
    subscriber as it was, ``renewed``: as the renewal leaves it); returns ``renewed`` as
    the promotions leave it. At most one discount and one reconnect apply to a renewal.

    - discount: the discounted part of the price goes back into the wallet from
      ``promo:NAME`` (the renewal itself is booked at the package's price);
    - reconnect (not at the scheduler's renewal at expiry: that is no lapse): free days
      on top of the renewed period, recorded as a day grant, with a notice.
    """
    running = _open(conn, rules.RENEWAL_KINDS, now)
    if not running:
        return renewed
    discounted = reconnected = False
    for promo in running:
        if promo.kind == "discount" and not discounted:
            renewed, discounted = _discount(conn, promo, renewed, now)
        elif promo.kind == "reconnect" and not reconnected and reason != "expiry" \
                and before.status is not Status.SUSPENDED \
                and rules.is_lapsed(before.expires_at, now, promo.lapsed_days):
            renewed, reconnected = _reconnect(conn, promo, renewed, now)
    return renewed


def _discount(conn: Connection, promo: rules.Promotion, renewed, now: int):
    pkg = renewed.package
    off = rules.discount_tvu(promo, pkg.code, pkg.tvu)
    if off <= 0 or not _claim(conn, promo, off, now):
        return renewed, False
    entry_id = ledger_store.post(
        conn, ledger.promo_credit(promo.name, renewed.card, off, f"promo:{promo.name}", kind="promo_discount"), now)
    _record_use(conn, promo, renewed.card, off, now, tvu=off, entry_id=entry_id)
    return replace(renewed, wallet_tvu=renewed.wallet_tvu + off), True


def _reconnect(conn: Connection, promo: rules.Promotion, renewed, now: int):
    if _once_per_card(conn, promo, renewed.card, now) is None:
        return renewed, False
    until = renewed.expires_at + promo.days * DAY_S
    conn.execute(update(subscribers).where(subscribers.c.id == renewed.id)
                 .values(expires_at=until, updated_at=now))
    conn.execute(update(promo_uses).where(promo_uses.c.promotion_id == promo.id,
                                          promo_uses.c.once_key == renewed.card).values(days=promo.days))
    conn.execute(day_grants.insert().values(
        subscriber_id=renewed.id, days=promo.days, reason=f"promo:{promo.name}", created_by="promotion",
        expires_before=renewed.expires_at, expires_after=until, created_at=now))
    text = notice("promo_reconnect", renewed.lang, promo=promo.name, days=promo.days, card=renewed.card,
                  date=day(until))
    outbox_store.enqueue(conn, [events.sms(renewed.card, renewed.msisdn, text, renewed.lang)], now)
    return replace(renewed, expires_at=until), True


# ---- report ---------------------------------------------------------------------------------

def report(conn: Connection, since: int | None, until: int | None) -> list[dict]:
    """Per promotion: its terms, budget and spent, and in [since, until) its uses and what they gave."""
    uses = select(promo_uses.c.promotion_id, func.count().label("uses"), func.sum(promo_uses.c.tvu).label("tvu"),
                  func.sum(promo_uses.c.days).label("days"), func.sum(promo_uses.c.cost).label("cost"))
    if since is not None:
        uses = uses.where(promo_uses.c.created_at >= since)
    if until is not None:
        uses = uses.where(promo_uses.c.created_at < until)
    figures = {r.promotion_id: r for r in conn.execute(uses.group_by(promo_uses.c.promotion_id)).all()}
    unit.flush(conn)
    balance = func.coalesce(func.sum(account_balances.c.balance), 0)
    ledger_rows = dict(conn.execute(
        select(accounts.c.code, balance).join(account_balances, account_balances.c.account_id == accounts.c.id)
        .where(accounts.c.code.like("promo:%"), accounts.c.unit == ledger.TVU).group_by(accounts.c.code)).all())
    lines = []
    for promo in list_promotions(conn):
        got = figures.get(promo.id)
        lines.append({**promo.to_json(), "uses": int(got.uses) if got else 0,
                      "tvu_given": int(got.tvu or 0) if got else 0, "days_given": int(got.days or 0) if got else 0,
                      "budget_used": int(got.cost or 0) if got else 0,
                      "ledger_tvu": int(ledger_rows.get(ledger.promo_account(promo.name), 0))})
    return lines


__all__ = ["apply_payment_promotions", "apply_renewal_promotions", "forget", "insert_promotion",
           "promotion_by_name", "list_promotions", "end_promotion", "report", "REFRESH_S"]
