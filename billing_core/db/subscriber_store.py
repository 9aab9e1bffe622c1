"""Packages, subscribers and renewals in the database; the transaction bodies of their use cases."""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, replace

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from billing_core import ledger
from billing_core.db import ledger_store, outbox_store, promo_store, unit
from billing_core.db.fast import Fast, insert_of
from billing_core.db.schema import account_balances, journal_entries, packages, postings, renewals, subscribers
from billing_core.errors import AlreadyExists, InsufficientWallet, SubscriberBlocked, UnknownCard, UnknownPackage
from billing_core.receipts import Receipt
from billing_core.renewal import Status, Subscription, can_renew, period, renews_after_credit
from tv_notify import events
from tv_notify.texts import day, notice


@dataclass(frozen=True, slots=True)
class Package:
    id: int
    code: str
    name: str
    days: int
    tvu: int
    products: tuple[str, ...]
    active: bool
    kind: str = "base"  # "base" | "addon" (bought on top of the base package)


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """A subscriber as read under lock, with the package and wallet needed to decide."""

    id: int
    card: str
    msisdn: str
    name: str
    lang: str
    status: Status
    expires_at: int | None
    wallet_account_id: int
    wallet_tvu: int
    package: Package | None

    def subscription(self) -> Subscription:
        pkg = self.package
        return Subscription(self.status, self.expires_at, self.wallet_tvu,
                            pkg.tvu if pkg else 0, pkg.days if pkg else 0)


def _package(row) -> Package:
    products = tuple(p for p in (row.products or "").split(",") if p)
    return Package(row.id, row.code, row.name, row.days, row.tvu, products, bool(row.active), row.kind)


# ---- packages ---------------------------------------------------------------------------

def insert_package(conn: Connection, code: str, name: str, days: int, tvu: int, products: tuple[str, ...],
                   now: int, kind: str = "base") -> Package:
    try:
        with conn.begin_nested():
            new_id = conn.execute(packages.insert().values(
                code=code, name=name, days=days, tvu=tvu, products=",".join(products), active=True,
                created_at=now, kind=kind).returning(packages.c.id)).scalar_one()
    except IntegrityError:
        raise AlreadyExists(f"package {code} exists already") from None
    return Package(new_id, code, name, days, tvu, products, True, kind)


def package_by_code(conn: Connection, code: str) -> Package:
    row = conn.execute(select(packages).where(packages.c.code == code)).one_or_none()
    if row is None:
        raise UnknownPackage(f"no package {code}")
    return _package(row)


def list_packages(conn: Connection) -> list[Package]:
    return [_package(r) for r in conn.execute(select(packages).order_by(packages.c.code)).all()]


# ---- subscribers ------------------------------------------------------------------------

def insert_subscriber(conn: Connection, card: str, msisdn: str, name: str, lang: str,
                      package_id: int | None, now: int, *, status: Status = Status.NEW,
                      expires_at: int | None = None) -> int:
    wallet = ledger_store.account(conn, ledger.wallet_account(card), ledger.TVU, now)
    try:
        with conn.begin_nested():
            return conn.execute(subscribers.insert().values(
                card=card, msisdn=msisdn, name=name, lang=lang, package_id=package_id, status=status.value,
                expires_at=expires_at, wallet_account_id=wallet.id, created_at=now, updated_at=now,
            ).returning(subscribers.c.id)).scalar_one()
    except IntegrityError:
        raise AlreadyExists(f"card {card} is registered already") from None


_SUBSCRIBER_COLUMNS = (
    subscribers.c.id, subscribers.c.card, subscribers.c.msisdn, subscribers.c.name, subscribers.c.lang,
    subscribers.c.status, subscribers.c.expires_at, subscribers.c.wallet_account_id,
    account_balances.c.balance.label("wallet_balance"),
    packages.c.id.label("package_id"), packages.c.code.label("package_code"),
    packages.c.name.label("package_name"), packages.c.days.label("package_days"),
    packages.c.tvu.label("package_tvu"), packages.c.products.label("package_products"),
    packages.c.active.label("package_active"),
)


def _select_subscribers():
    return (
        select(*_SUBSCRIBER_COLUMNS)
        .join(account_balances, (account_balances.c.account_id == subscribers.c.wallet_account_id)
              & (account_balances.c.slot == 0))
        .outerjoin(packages, packages.c.id == subscribers.c.package_id)
    )


def _row(r) -> SubscriberRow:
    package = None
    if r.package_id is not None:
        package = Package(r.package_id, r.package_code, r.package_name, r.package_days, r.package_tvu,
                          tuple(p for p in (r.package_products or "").split(",") if p), bool(r.package_active))
    return SubscriberRow(r.id, r.card, r.msisdn, r.name, r.lang, Status(r.status), r.expires_at,
                         r.wallet_account_id, -int(r.wallet_balance), package)


# Built once. On PostgreSQL the subscriber row and its wallet balance are locked until
# the transaction ends; SQLite renders no FOR UPDATE (its writer holds the database lock).
_LOCK_BY_CARD = Fast(_select_subscribers().where(subscribers.c.card == bindparam("card"))
                      .with_for_update(of=[subscribers, account_balances]))
_Record = namedtuple("_Record", [c.key for c in _SUBSCRIBER_COLUMNS])


def lock_subscriber(conn: Connection, card: str) -> SubscriberRow:
    """The subscriber of ``card``, locked (with its wallet) until the transaction ends."""
    row = _LOCK_BY_CARD.one(conn, {"card": card})
    if row is None:
        raise UnknownCard(f"no subscriber with card {card}")
    return _row(_Record(*row))


def find_subscribers(conn: Connection, *, card: str | None = None, msisdn: str | None = None) -> list[SubscriberRow]:
    stmt = _select_subscribers()
    stmt = stmt.where(subscribers.c.card == card) if card else stmt.where(subscribers.c.msisdn == msisdn)
    return [_row(r) for r in conn.execute(stmt.order_by(subscribers.c.card)).all()]


def choose_package(conn: Connection, card: str, package_code: str, now: int) -> SubscriberRow:
    """Make ``package_code`` the package of ``card``'s next renewal (nothing is charged now)."""
    sub = lock_subscriber(conn, card)
    pkg = _base_package(conn, package_code)
    if sub.status is Status.SUSPENDED:
        raise SubscriberBlocked(f"card {card} is suspended")
    conn.execute(update(subscribers).where(subscribers.c.id == sub.id).values(package_id=pkg.id, updated_at=now))
    return _with(sub, package=pkg)


def _base_package(conn: Connection, code: str) -> Package:
    """A package a subscriber can have as its own (an add-on is bought on top, never renewed into)."""
    from billing_core.errors import WrongPackageKind

    pkg = package_by_code(conn, code)
    if pkg.kind != "base":
        raise WrongPackageKind(f"{code} is an add-on: add it on top of a package")
    return pkg


def set_lang(conn: Connection, msisdn: str, lang: str, now: int, card: str | None = None) -> int:
    """The language of every subscriber of ``msisdn`` (or only ``card`` of it); how many changed."""
    where = subscribers.c.msisdn == msisdn
    if card:
        where = where & (subscribers.c.card == card)
    return conn.execute(update(subscribers).where(where).values(lang=lang, updated_at=now)).rowcount


def recent_wallet_entries(conn: Connection, wallet_account_id: int, limit: int = 5) -> list[dict]:
    rows = conn.execute(
        select(journal_entries.c.id, journal_entries.c.kind, journal_entries.c.ref,
               journal_entries.c.created_at, postings.c.amount)
        .join(postings, postings.c.entry_id == journal_entries.c.id)
        .where(postings.c.account_id == wallet_account_id)
        .order_by(journal_entries.c.id.desc()).limit(limit)
    ).all()
    return [{"entry": r.id, "kind": r.kind, "ref": r.ref, "tvu": -int(r.amount), "at": r.created_at} for r in rows]


# ---- renewal rules ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CreditResult:
    entry_id: int
    tvu: int
    renewed: bool
    subscriber: SubscriberRow


def credit(conn: Connection, card: str, entry: ledger.Entry, tvu: int, now: int, *, created_by: str = "") -> CreditResult:
    """Post ``entry`` (which puts ``tvu`` into the card's wallet), then apply the renewal
    rules: renew at once when not active and the wallet now covers the package."""
    return credit_locked(conn, lock_subscriber(conn, card), entry, tvu, now, created_by=created_by)


def credit_locked(conn: Connection, sub: SubscriberRow, entry: ledger.Entry, tvu: int, now: int, *,
                  created_by: str = "", receipt: Receipt | None = None) -> CreditResult:
    """:func:`credit` for a subscriber already locked by this transaction. A payment's
    ``receipt`` (amount, reference) makes the notice a receipt (``paid*`` texts)."""
    entry_id = ledger_store.post(conn, entry, now, created_by=created_by)
    sub = _with(sub, wallet_tvu=sub.wallet_tvu + tvu)
    if renews_after_credit(sub.subscription(), now):
        return CreditResult(entry_id, tvu, True, renew_locked(conn, sub, now, reason="credit", receipt=receipt))
    pkg = sub.package
    code = "credited" if sub.subscription().is_active(now) else "credited_inactive"
    if receipt is not None:
        code = {"credited": "paid", "credited_inactive": "paid_inactive"}[code]
    text = notice(code, sub.lang, tvu=tvu, card=sub.card, wallet=sub.wallet_tvu, package=pkg.name if pkg else "-",
                  date=day(sub.expires_at), price=pkg.tvu if pkg else 0, **(receipt.values() if receipt else {}))
    outbox_store.enqueue(conn, [events.sms(sub.card, sub.msisdn, text, sub.lang)], now)
    return CreditResult(entry_id, tvu, False, sub)


def renew(conn: Connection, card: str, now: int, *, package_code: str | None = None) -> SubscriberRow:
    """An explicit renewal: at once, stacked on the current period, paid from the wallet."""
    sub = lock_subscriber(conn, card)
    if package_code is not None and (sub.package is None or sub.package.code != package_code):
        sub = _with(sub, package=_base_package(conn, package_code))
        conn.execute(update(subscribers).where(subscribers.c.id == sub.id).values(package_id=sub.package.id))
    if sub.package is None:
        raise UnknownPackage(f"card {card} has no package")
    if sub.status is Status.SUSPENDED:
        raise SubscriberBlocked(f"card {card} is suspended")
    if not can_renew(sub.subscription()):
        raise InsufficientWallet(f"{sub.package.code} costs {sub.package.tvu} TVU, wallet holds {sub.wallet_tvu}")
    return renew_locked(conn, sub, now, reason="explicit")


_SET_STATUS = Fast(update(subscribers).where(subscribers.c.id == bindparam("sid"))
                   .values(status=bindparam("status"), expires_at=bindparam("expires_at"),
                           updated_at=bindparam("updated_at")))
_INSERT_RENEWAL = Fast(insert_of(renewals, "subscriber_id", "package_id", "starts_at", "ends_at", "tvu", "reason",
                                 "entry_id", "created_at"))


def renew_locked(conn: Connection, sub: SubscriberRow, now: int, *, reason: str,
                 receipt: Receipt | None = None) -> SubscriberRow:
    """Renew ``sub`` (already locked and checked): debit the wallet, extend, entitle, notify."""
    pkg = sub.package
    assert pkg is not None
    next_period = period(sub.subscription(), now)
    entry_id = None
    if pkg.tvu:
        entry_id = ledger_store.post(conn, ledger.package_sale(sub.card, pkg.tvu, f"renewal:{sub.card}"), now)
    _SET_STATUS.execute(conn, {"sid": sub.id, "status": Status.ACTIVE.value, "expires_at": next_period.ends_at,
                               "updated_at": now})
    _INSERT_RENEWAL.execute(conn, {
        "subscriber_id": sub.id, "package_id": pkg.id, "starts_at": next_period.starts_at,
        "ends_at": next_period.ends_at, "tvu": pkg.tvu, "reason": reason, "entry_id": entry_id, "created_at": now})
    renewed = _with(sub, status=Status.ACTIVE, expires_at=next_period.ends_at, wallet_tvu=sub.wallet_tvu - pkg.tvu)
    renewed = promo_store.apply_renewal_promotions(conn, sub, renewed, now, reason)  # promotions: discount, reconnect days
    outbox_store.enqueue(conn, _renewed_events(renewed, receipt), now)
    return renewed


def _renewed_events(sub: SubscriberRow, receipt: Receipt | None = None) -> list[events.Event]:
    """Grant, on-screen notice and SMS for ``sub`` as it stands after a renewal (a receipt
    when a payment caused it)."""
    pkg = sub.package
    code, extra = ("paid_renewed", receipt.values()) if receipt else ("renewed", {})
    text = notice(code, sub.lang, package=pkg.name, date=day(sub.expires_at), wallet=sub.wallet_tvu,
                  card=sub.card, **extra)
    return [events.grant(sub.card, pkg.products, sub.expires_at, sub.lang),
            events.osd(sub.card, text, sub.lang),
            events.sms(sub.card, sub.msisdn, text, sub.lang)]


def _expired_events(sub: SubscriberRow) -> list[events.Event]:
    """Revoke, on-screen notice and SMS for a subscription that ran out."""
    pkg = sub.package
    text = notice("expired", sub.lang, package=pkg.name if pkg else "-", card=sub.card, price=pkg.tvu if pkg else 0)
    return [events.revoke(sub.card, pkg.products if pkg else (), sub.lang),
            events.osd(sub.card, text, sub.lang),
            events.sms(sub.card, sub.msisdn, text, sub.lang)]


def _with(sub: SubscriberRow, **changes) -> SubscriberRow:
    return replace(sub, **changes)


# ---- expiry sweep, reminders, free days, refresh (tv_notify) ------------------------------------
# Added for the scheduler and the operators' notices; the functions above are unchanged.

def _covers_price():
    """SQL: the wallet (slot 0, credit-normal) holds at least the package's price."""
    from sqlalchemy import and_

    return and_(packages.c.id.is_not(None), -account_balances.c.balance >= packages.c.tvu)


def sweep_expiry_batch(conn: Connection, now: int, grace_s: int, limit: int,
                       after: int | None = None) -> dict[str, int]:
    """One batch of the expiry sweep: renew from a covering wallet at expiry, expire the
    rest ``grace_s`` after it. Returns ``{"seen", "renewed", "expired", "last"}``.

    Subscriptions are taken in order of expiry, from ``after`` on (the ``last``
    expiry of the previous batch: each batch then starts where the last one ended,
    rather than walking again over the index entries the sweep has just left behind).
    The rows are locked as they are read; on PostgreSQL ``SKIP LOCKED`` passes over a
    subscription that a request (or another sweep) holds, so the sweep never waits on
    the gateway's requests; the next round picks it up. Expiries and renewals are
    written a batch at a time (:func:`_expire_many`, :func:`_renew_many`).
    """
    from sqlalchemy import or_

    query = _select_subscribers().where(subscribers.c.status == Status.ACTIVE.value,
                                        subscribers.c.expires_at <= now,
                                        or_(subscribers.c.expires_at <= now - grace_s, _covers_price()))
    if after is not None:
        query = query.where(subscribers.c.expires_at >= after)
    rows = conn.execute(query.order_by(subscribers.c.expires_at).limit(limit)
                        .with_for_update(of=[subscribers, account_balances], skip_locked=True)).all()
    done = _settle(conn, [_row(r) for r in rows], now, grace_s)
    return {"seen": len(rows), **done, "last": rows[-1].expires_at if rows else after}


def settle_expired(conn: Connection, cards: list[str], now: int, grace_s: int = 0) -> dict[str, int]:
    """The expiry sweep's decision, now, for the active subscriptions of ``cards`` that have
    reached their expiry (an import of rows whose ``expires_at`` is past): renew from a
    covering wallet, expire (revoke and tell) ``grace_s`` after expiry, else leave them
    for the scheduler. Returns ``{"renewed", "expired"}``."""
    unit.flush(conn)  # what the transaction credited so far is in the balances read below
    total = {"renewed": 0, "expired": 0}
    for start in range(0, len(cards), _SETTLE_CHUNK):
        chunk = cards[start:start + _SETTLE_CHUNK]
        rows = conn.execute(_select_subscribers().where(subscribers.c.card.in_(chunk),
                                                        subscribers.c.status == Status.ACTIVE.value,
                                                        subscribers.c.expires_at <= now)
                            .order_by(subscribers.c.id).with_for_update(of=[subscribers, account_balances])).all()
        done = _settle(conn, [_row(r) for r in rows], now, grace_s)
        total = {k: total[k] + done[k] for k in total}
    return total


_SETTLE_CHUNK = 1000


def _settle(conn: Connection, subs: list[SubscriberRow], now: int, grace_s: int) -> dict[str, int]:
    """Renew or expire locked subscriptions that reached their expiry, as ``expiry_decision`` says."""
    from billing_core.reminders import expiry_decision
    from billing_core.renewal import AtExpiry

    renewing, expiring = [], []
    for sub in subs:
        decision = expiry_decision(sub.subscription(), now, grace_s)
        if decision is AtExpiry.RENEW and sub.package is not None:
            renewing.append(sub)
        elif decision is not AtExpiry.WAIT:
            expiring.append(sub)
    if renewing:
        _renew_many(conn, renewing, now)
    if expiring:
        _expire_many(conn, expiring, now)
    return {"renewed": len(renewing), "expired": len(expiring)}


def _known_wallet(conn: Connection, sub: SubscriberRow) -> None:
    """Tell the ledger's account cache the wallet's id, read with the subscriber: a sweep meets
    each wallet once, and looking each up again would cost three round trips per renewal."""
    if ledger_store._cache.get(conn, ledger.wallet_account(sub.card), ledger.TVU) is None:
        ledger_store._cache.put(conn, ledger.wallet_account(sub.card), ledger.TVU,
                                ledger_store.AccountRef(sub.wallet_account_id, 1))


def _renew_many(conn: Connection, subs: list[SubscriberRow], now: int) -> None:
    """:func:`renew_locked` (reason ``expiry``) for many locked subscribers: the same ledger entry,
    period, renewal row and events each, with the status and renewal rows written in one
    batch each rather than one round trip each. Keep the two in step."""
    statuses, periods, notices = [], [], []
    for sub in subs:
        pkg = sub.package
        next_period = period(sub.subscription(), now)
        entry_id = None
        if pkg.tvu:
            _known_wallet(conn, sub)
            entry_id = ledger_store.post(conn, ledger.package_sale(sub.card, pkg.tvu, f"renewal:{sub.card}"), now)
        statuses.append({"sid": sub.id, "status": Status.ACTIVE.value, "expires_at": next_period.ends_at,
                         "updated_at": now})
        periods.append({"subscriber_id": sub.id, "package_id": pkg.id, "starts_at": next_period.starts_at,
                        "ends_at": next_period.ends_at, "tvu": pkg.tvu, "reason": "expiry", "entry_id": entry_id,
                        "created_at": now})
        notices += _renewed_events(promo_store.apply_renewal_promotions(  # promotions: discount
            conn, sub, _with(sub, expires_at=next_period.ends_at, wallet_tvu=sub.wallet_tvu - pkg.tvu), now, "expiry"))
    _SET_STATUS.many(conn, statuses)
    _INSERT_RENEWAL.many(conn, periods)
    outbox_store.enqueue(conn, notices, now)


def _expire_many(conn: Connection, subs: list[SubscriberRow], now: int) -> None:
    """Expire many locked subscribers: one UPDATE, their revokes and notices batched."""
    conn.execute(update(subscribers).where(subscribers.c.id.in_([s.id for s in subs]))
                 .values(status=Status.EXPIRED.value, updated_at=now))
    outbox_store.enqueue(conn, [event for sub in subs for event in _expired_events(sub)], now)


def send_reminders_batch(conn: Connection, now: int, days: int, after_s: int, until_s: int,
                         limit: int, after: int | None = None) -> dict[str, int]:
    """Reminders of ``days`` to active subscriptions expiring in ``(now + after_s, now + until_s]``
    that have not had it for this expiry, in order of expiry from ``after`` on (the
    previous batch's ``last``). Returns ``{"seen", "sent", "last"}``.

    Once each: the ``reminders`` row (unique per subscriber, expiry and days) is
    inserted first and the notices are written only when it was new, so two
    schedulers racing send one reminder.
    """
    from sqlalchemy import exists

    from billing_core.db.dialect import insert_ignore
    from billing_core.db.schema_notify import reminders

    already = exists().where(reminders.c.subscriber_id == subscribers.c.id,
                             reminders.c.expires_at == subscribers.c.expires_at, reminders.c.days == days)
    query = _select_subscribers().where(subscribers.c.status == Status.ACTIVE.value,
                                        subscribers.c.expires_at > now + after_s,
                                        subscribers.c.expires_at <= now + until_s, ~already)
    if after is not None:
        query = query.where(subscribers.c.expires_at >= after)
    rows = conn.execute(query.order_by(subscribers.c.expires_at).limit(limit)).all()
    if not rows:
        return {"seen": 0, "sent": 0, "last": after}
    subs = [_row(r) for r in rows]
    marked = set(conn.execute(
        insert_ignore(conn, reminders, "subscriber_id", "expires_at", "days").returning(reminders.c.subscriber_id),
        [{"subscriber_id": sub.id, "expires_at": sub.expires_at, "days": days, "sent_at": now} for sub in subs],
    ).scalars())
    notices = []
    for sub in subs:
        if sub.id in marked:  # inserted by this transaction: its reminder is ours to send
            text = _reminder_text(sub)
            notices += [events.osd(sub.card, text, sub.lang), events.sms(sub.card, sub.msisdn, text, sub.lang)]
    outbox_store.enqueue(conn, notices, now)
    return {"seen": len(rows), "sent": len(marked), "last": rows[-1].expires_at}


def _reminder_text(sub: SubscriberRow) -> str:
    pkg = sub.package
    renews = pkg is not None and pkg.tvu > 0 and can_renew(sub.subscription())
    return notice("reminder_renews" if renews else "reminder", sub.lang, package=pkg.name if pkg else "-",
                  card=sub.card, date=day(sub.expires_at), wallet=sub.wallet_tvu, price=pkg.tvu if pkg else 0)


@dataclass(frozen=True, slots=True)
class DayGrant:
    id: int
    subscriber: SubscriberRow
    days: int
    reason: str
    created_by: str
    expires_before: int | None
    created_at: int


def grant_days(conn: Connection, card: str, days: int, reason: str, created_by: str, now: int) -> DayGrant:
    """Free TV days: extend a running period or start one now; recorded and notified; the wallet untouched."""
    from billing_core.db.schema_notify import day_grants
    from billing_core.reminders import can_grant, granted_until

    sub = lock_subscriber(conn, card)
    pkg = sub.package
    if pkg is None:
        raise UnknownPackage(f"card {card} has no package to grant days of")
    if not can_grant(sub.subscription()):
        raise SubscriberBlocked(f"card {card} is suspended")
    until = granted_until(sub.subscription(), now, days)
    _SET_STATUS.execute(conn, {"sid": sub.id, "status": Status.ACTIVE.value, "expires_at": until, "updated_at": now})
    grant_id = conn.execute(day_grants.insert().values(
        subscriber_id=sub.id, days=days, reason=reason, created_by=created_by, expires_before=sub.expires_at,
        expires_after=until, created_at=now).returning(day_grants.c.id)).scalar_one()
    text = notice("granted", sub.lang, days=days, card=sub.card, package=pkg.name, date=day(until))
    outbox_store.enqueue(conn, [
        events.grant(sub.card, pkg.products, until, sub.lang),
        events.osd(sub.card, text, sub.lang),
        events.sms(sub.card, sub.msisdn, text, sub.lang),
    ], now)
    granted = _with(sub, status=Status.ACTIVE, expires_at=until)
    return DayGrant(grant_id, granted, days, reason, created_by, sub.expires_at, now)


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """``sent``, or why not: ``not_active`` / ``too_soon`` (then ``retry_after_s``)."""

    status: str
    subscriber: SubscriberRow | None = None
    retry_after_s: int = 0


def refresh_entitlement(conn: Connection, card: str, now: int, min_interval_s: int) -> RefreshOutcome:
    """Re-send the current entitlement (and an on-screen notice) of an active card.

    The rate limit is one conditional UPDATE of ``last_refresh_at``: whichever
    process gets there first sends; the others find it too soon.
    """
    from sqlalchemy import or_

    taken = conn.execute(
        update(subscribers)
        .where(subscribers.c.card == card, subscribers.c.status == Status.ACTIVE.value,
               subscribers.c.expires_at > now,
               or_(subscribers.c.last_refresh_at.is_(None), subscribers.c.last_refresh_at <= now - min_interval_s))
        .values(last_refresh_at=now)).rowcount
    if taken != 1:
        return _refused(conn, card, now, min_interval_s)
    sub = lock_subscriber(conn, card)
    pkg = sub.package
    products = pkg.products if pkg else ()
    text = notice("refreshed", sub.lang, card=sub.card, package=pkg.name if pkg else "-", date=day(sub.expires_at))
    outbox_store.enqueue(conn, [events.grant(sub.card, products, sub.expires_at, sub.lang),
                                events.osd(sub.card, text, sub.lang)], now)
    return RefreshOutcome("sent", sub)


def _refused(conn: Connection, card: str, now: int, min_interval_s: int) -> RefreshOutcome:
    row = conn.execute(select(subscribers.c.status, subscribers.c.expires_at, subscribers.c.last_refresh_at)
                       .where(subscribers.c.card == card)).one_or_none()
    if row is None:
        raise UnknownCard(f"no subscriber with card {card}")
    if row.status != Status.ACTIVE.value or row.expires_at is None or row.expires_at <= now:
        return RefreshOutcome("not_active")
    return RefreshOutcome("too_soon", retry_after_s=max(1, (row.last_refresh_at or now) + min_interval_s - now))


# ---- package change (upgrade now, downgrade at the next renewal) ---------------------------------

@dataclass(frozen=True, slots=True)
class PackageChange:
    """``upgraded`` (at once, ``credited`` TVU for the old package's unused time) or ``next_renewal``."""

    kind: str
    credited: int
    subscriber: SubscriberRow


def change_package(conn: Connection, card: str, package_code: str, now: int, unused) -> PackageChange:
    """Upgrade at once to a dearer package during a running period, else choose the package
    of the next renewal. ``unused(price_tvu, days, seconds_left)`` is the TVU given back
    for the old package's unused time (``billing_core.subscriptions.unused_tvu``).

    An upgrade is one transaction: the credit (``upgrade_credit``: ``tvu:earned`` to the
    wallet), then the new package's sale, a new period from now, its grant (and a revoke of
    old products it lacks), one notice.
    """
    from billing_core.errors import SamePackage

    sub = lock_subscriber(conn, card)
    new = _base_package(conn, package_code)
    old = sub.package
    if sub.status is Status.SUSPENDED:
        raise SubscriberBlocked(f"card {card} is suspended")
    if old is not None and old.id == new.id:
        raise SamePackage(f"card {card} has {new.code} already")
    if old is None or not sub.subscription().is_active(now) or new.tvu <= old.tvu:
        conn.execute(update(subscribers).where(subscribers.c.id == sub.id).values(package_id=new.id, updated_at=now))
        chosen = _with(sub, package=new)
        text = notice("package_next", sub.lang, card=card, package=new.name, date=day(sub.expires_at))
        outbox_store.enqueue(conn, [events.sms(card, sub.msisdn, text, sub.lang)], now)
        return PackageChange("next_renewal", 0, chosen)
    credit = unused(old.tvu, old.days, sub.expires_at - now)
    if sub.wallet_tvu + credit < new.tvu:
        raise InsufficientWallet(f"{new.code} costs {new.tvu} TVU; wallet {sub.wallet_tvu} + {credit} unused TVU")
    if credit:
        ledger_store.post(conn, ledger.upgrade_credit(card, credit, f"upgrade:{card}"), now)
    ends_at = now + new.days * 86_400
    entry_id = ledger_store.post(conn, ledger.package_sale(card, new.tvu, f"renewal:{card}"), now) if new.tvu else None
    _SET_STATUS.execute(conn, {"sid": sub.id, "status": Status.ACTIVE.value, "expires_at": ends_at, "updated_at": now})
    conn.execute(update(subscribers).where(subscribers.c.id == sub.id).values(package_id=new.id))
    _INSERT_RENEWAL.execute(conn, {
        "subscriber_id": sub.id, "package_id": new.id, "starts_at": now, "ends_at": ends_at, "tvu": new.tvu,
        "reason": "upgrade", "entry_id": entry_id, "created_at": now})
    upgraded = _with(sub, package=new, status=Status.ACTIVE, expires_at=ends_at,
                     wallet_tvu=sub.wallet_tvu + credit - new.tvu)
    text = notice("upgraded", sub.lang, card=card, package=new.name, date=day(ends_at), credit=credit,
                  wallet=upgraded.wallet_tvu)
    dropped = tuple(p for p in old.products if p not in new.products)
    notices = [events.revoke(card, dropped, sub.lang)] if dropped else []
    outbox_store.enqueue(conn, notices + [events.grant(card, new.products, ends_at, sub.lang),
                                          events.osd(card, text, sub.lang),
                                          events.sms(card, sub.msisdn, text, sub.lang)], now)
    return PackageChange("upgraded", credit, upgraded)
