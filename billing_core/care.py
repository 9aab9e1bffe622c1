"""Customer care: keep a subscriber's details, suspend, resume and terminate; the list of
lapsed cards; the operator's own notices to cards and phones.

- ``edit_subscriber``: phone (checked by ``phonenumbers``), name, language, region.
- ``suspend_subscriber``: the entitlement is revoked at once (after an on-screen notice),
  no renewal while suspended (the renewal rules skip suspended cards), the wallet kept;
  payments that arrive meanwhile are held in suspense.
- ``resume_subscriber``: granted again while the paid period runs; with the operator's
  policy (``care.credit_suspended_time``) the paid time the suspension took is added back
  (:func:`resume_plan`). A card whose period ran out renews from its wallet if it covers it.
- ``terminate_subscriber``: final (suspended for good, never resumed); the wallet's value is
  reported for a refund.
- ``lapsed``: cards whose package ran out in the last N days, with phone, package, last payment.
- ``send_notice``: an on-screen message or SMS of the operator's, through the outbox, spread
  over time so that at most ``care.notify_per_second`` leave a second; a dry run counts.

Each change is one transaction with its outbox events and its audit record.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from billing_core import audit
from billing_core.audit import Actor
from billing_core.context import Billing
from billing_core.db import care_store as store
from billing_core.db import outbox_store, subscriber_store
from billing_core.db.subscriber_store import SubscriberRow
from billing_core.errors import Conflict, InvalidInput, SubscriberBlocked, UnknownCard
from billing_core.renewal import DAY_S, Status, can_renew, iso
from billing_core.subscriptions import view
from tv_notify import events
from tv_notify.texts import day, notice

REASON_MAX = 255
NAME_MAX = 128
REGION_MAX = 32
TEXT_MAX = 480  # an operator's notice: at most three SMS parts
LAPSED_DAYS_MAX = 3660
LAPSED_ROWS_MAX = 100_000


def _text(value: str, what: str, most: int) -> str:
    value = (value or "").strip()
    if not value or len(value) > most:
        raise InvalidInput(f"{what} of 1 to {most} characters is required")
    return value


# ---- pure decisions -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Resume:
    """What a resumed subscription becomes: its status and expiry, and the seconds given back."""

    status: Status
    expires_at: int | None
    credited_s: int


def resume_plan(expires_at: int | None, suspended_at: int | None, now: int, *, credit: bool) -> Resume:
    """A card never activated goes back to new. Otherwise, with ``credit``, the part of the
    paid period that fell inside the suspension is added to the expiry; the card is active
    while the (new) expiry is ahead, expired otherwise."""
    if expires_at is None:
        return Resume(Status.NEW, None, 0)
    taken = 0
    if credit and suspended_at is not None and expires_at > suspended_at:
        taken = max(0, min(expires_at, now) - suspended_at)
    until = expires_at + taken
    return Resume(Status.ACTIVE if until > now else Status.EXPIRED, until, taken)


def days_lapsed(expires_at: int, now: int) -> int:
    return max(0, (now - expires_at) // DAY_S)


def spread_s(count: int, per_second: int) -> list[int]:
    """Delays (seconds from now) that let at most ``per_second`` of ``count`` messages leave a second."""
    return [i // per_second for i in range(count)]


# ---- subscribers ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CareView:
    subscriber: dict
    region: str
    suspended_at: int | None
    terminated_at: int | None
    extra: dict

    def to_json(self) -> dict:
        return {**self.subscriber, "region": self.region, "suspended_at": iso(self.suspended_at),
                "terminated": self.terminated_at is not None, **self.extra}


def _view(conn: Connection, card: str, now: int, **extra: object) -> CareView:
    sub = subscriber_store.lock_subscriber(conn, card)
    record = store.care_record(conn, sub.id)
    return CareView(view(sub, now).to_json(), record.region, record.suspended_at, record.terminated_at, extra)


async def edit_subscriber(billing: Billing, card: str, *, actor: Actor, msisdn: str | None = None,
                          name: str | None = None, lang: str | None = None, region: str | None = None) -> CareView:
    """Change a subscriber's phone, name, language or region; at least one must be given."""
    card = billing.card(card)
    changes: dict[str, object] = {}
    if msisdn is not None:
        changes["msisdn"] = billing.msisdn(msisdn)
    if name is not None:
        if len(name.strip()) > NAME_MAX:
            raise InvalidInput(f"name is at most {NAME_MAX} characters")
        changes["name"] = name.strip()
    if lang is not None:
        changes["lang"] = billing.lang(lang)
    if region is not None and len(region.strip()) > REGION_MAX:
        raise InvalidInput(f"region is at most {REGION_MAX} characters")
    if not changes and region is None:
        raise InvalidInput("nothing to change: give --msisdn, --name, --lang or --region")
    now = billing.now()

    def run(conn: Connection) -> CareView:
        sub = subscriber_store.lock_subscriber(conn, card)
        before = {"msisdn": sub.msisdn, "name": sub.name, "lang": sub.lang}
        if changes:
            store.update_subscriber(conn, sub.id, now, **changes)
        if region is not None:
            store.save_care(conn, sub.id, now, region=region.strip())
        audit.record(conn, actor, "subscriber.edit", card, now, "",
                     before={k: before[k] for k in changes}, after=changes, region=region)
        return _view(conn, card, now)

    return await billing.db.write(run)


async def suspend_subscriber(billing: Billing, card: str, *, reason: str, actor: Actor) -> CareView:
    card, reason, now = billing.card(card), _text(reason, "a reason", REASON_MAX), billing.now()

    def run(conn: Connection) -> CareView:
        sub = subscriber_store.lock_subscriber(conn, card)
        if sub.status is Status.SUSPENDED:
            raise SubscriberBlocked(f"card {card} is suspended already")
        store.update_subscriber(conn, sub.id, now, status=Status.SUSPENDED.value)
        store.save_care(conn, sub.id, now, suspended_at=now, suspend_reason=reason)
        outbox_store.enqueue(conn, _suspended_events(sub, "suspended"), now)
        audit.record(conn, actor, "subscriber.suspend", card, now, reason, expires_at=iso(sub.expires_at),
                     wallet_tvu=sub.wallet_tvu)
        return _view(conn, card, now)

    return await billing.db.write(run)


def _suspended_events(sub: SubscriberRow, code: str) -> list[events.Event]:
    """The notice first (the decoder still shows it), then the revoke."""
    text = notice(code, sub.lang, card=sub.card, wallet=sub.wallet_tvu)
    products = sub.package.products if sub.package else ()
    return [events.osd(sub.card, text, sub.lang), events.sms(sub.card, sub.msisdn, text, sub.lang),
            events.revoke(sub.card, products, sub.lang)]


async def resume_subscriber(billing: Billing, card: str, *, actor: Actor, credit_suspended_time: bool) -> CareView:
    card, now = billing.card(card), billing.now()

    def run(conn: Connection) -> CareView:
        sub = subscriber_store.lock_subscriber(conn, card)
        record = store.care_record(conn, sub.id)
        if record.terminated_at is not None:
            raise Conflict(f"card {card} was terminated: it cannot be resumed")
        if sub.status is not Status.SUSPENDED:
            raise Conflict(f"card {card} is not suspended")
        plan = resume_plan(sub.expires_at, record.suspended_at, now, credit=credit_suspended_time)
        store.update_subscriber(conn, sub.id, now, status=plan.status.value, expires_at=plan.expires_at)
        store.save_care(conn, sub.id, now, suspended_at=None, suspend_reason="")
        resumed = subscriber_store.lock_subscriber(conn, card)
        renewed = False
        if plan.status is Status.ACTIVE and resumed.package is not None:
            _resumed_events(conn, resumed, now)
        elif plan.status is Status.EXPIRED and resumed.package and resumed.package.tvu and \
                can_renew(resumed.subscription()):
            subscriber_store.renew_locked(conn, resumed, now, reason="resume")
            renewed = True
        audit.record(conn, actor, "subscriber.resume", card, now, "", credited_s=plan.credited_s,
                     expires_at=iso(plan.expires_at), renewed=renewed)
        return _view(conn, card, now, credited_s=plan.credited_s, renewed=renewed)

    return await billing.db.write(run)


def _resumed_events(conn: Connection, sub: SubscriberRow, now: int) -> None:
    pkg = sub.package
    text = notice("resumed", sub.lang, card=sub.card, package=pkg.name, date=day(sub.expires_at),
                  wallet=sub.wallet_tvu)
    outbox_store.enqueue(conn, [events.grant(sub.card, pkg.products, sub.expires_at, sub.lang),
                                events.osd(sub.card, text, sub.lang),
                                events.sms(sub.card, sub.msisdn, text, sub.lang)], now)


async def terminate_subscriber(billing: Billing, card: str, *, reason: str, actor: Actor) -> CareView:
    """End a subscription for good; reports the wallet (TVU and their value) to refund."""
    card, reason, now = billing.card(card), _text(reason, "a reason", REASON_MAX), billing.now()

    def run(conn: Connection) -> CareView:
        sub = subscriber_store.lock_subscriber(conn, card)
        record = store.care_record(conn, sub.id)
        if record.terminated_at is not None:
            raise Conflict(f"card {card} was terminated already")
        store.update_subscriber(conn, sub.id, now, status=Status.SUSPENDED.value)
        store.save_care(conn, sub.id, now, terminated_at=now, terminate_reason=reason,
                        suspended_at=record.suspended_at or now)
        if sub.status is not Status.SUSPENDED:
            outbox_store.enqueue(conn, _suspended_events(sub, "terminated"), now)
        value = billing.rates.to_money(max(sub.wallet_tvu, 0), billing.currency)
        audit.record(conn, actor, "subscriber.terminate", card, now, reason, wallet_tvu=sub.wallet_tvu,
                     refund_due=str(value))
        return _view(conn, card, now, refund_due_tvu=max(sub.wallet_tvu, 0), refund_due=str(value))

    return await billing.db.write(run)


# ---- lapsed cards ---------------------------------------------------------------------------

async def lapsed(billing: Billing, *, days: int = 30, region: str | None = None) -> list[dict]:
    """Cards whose package lapsed in the last ``days`` days, most recent first: the list a
    call centre phones through."""
    if type(days) is not int or not 1 <= days <= LAPSED_DAYS_MAX:
        raise InvalidInput(f"days is from 1 to {LAPSED_DAYS_MAX}")
    now = billing.now()

    def run(conn: Connection) -> list[dict]:
        rows = store.lapsed(conn, now, now - days * DAY_S, region.strip() if region else None, LAPSED_ROWS_MAX)
        amounts = store.last_payment_amounts(conn, [r["card"] for r in rows])
        return [_lapsed_row(r, amounts.get(r["card"]), now) for r in rows]

    return await billing.db.read(run)


def _lapsed_row(r: dict, last: tuple[int, str, str] | None, now: int) -> dict:
    from billing_core.money import Money

    return {"card": r["card"], "msisdn": r["msisdn"], "name": r["name"], "lang": r["lang"], "package": r["package"],
            "region": r["region"], "expired_at": iso(r["expires_at"]), "days_lapsed": days_lapsed(r["expires_at"], now),
            "last_payment_at": iso(r["last_paid_at"]),
            "last_payment": str(Money(last[0], last[1])) if last else None}


# ---- the operator's notices -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Broadcast:
    channel: str
    recipients: int
    queued: int
    seconds_to_send: int
    dry_run: bool

    def to_json(self) -> dict:
        return {"channel": self.channel, "recipients": self.recipients, "queued": self.queued,
                "seconds_to_send": self.seconds_to_send, "dry_run": self.dry_run}


async def send_notice(billing: Billing, text: str, *, channel: str, actor: Actor, card: str | None = None,
                      package: str | None = None, region: str | None = None, everyone: bool = False,
                      per_second: int = 20, dry_run: bool = False) -> Broadcast:
    """An operator's message (``osd`` or ``sms``) to one card, a package, a region or everyone;
    SMS go once per phone number. A dry run counts the recipients and changes nothing."""
    text = _text(text, "a message", TEXT_MAX)
    if channel not in ("osd", "sms"):
        raise InvalidInput("the channel is osd or sms")
    if sum(x is not None and x is not False for x in (card, package, region, everyone or None)) != 1:
        raise InvalidInput("choose exactly one of --card, --package, --region or --all")
    card = billing.card(card) if card else None
    package = package.strip().upper() if package else None
    now = billing.now()

    def run(conn: Connection) -> Broadcast:
        if card and not subscriber_store.find_subscribers(conn, card=card):
            raise UnknownCard(f"no subscriber with card {card}")
        if package:
            subscriber_store.package_by_code(conn, package)
        found = store.recipients(conn, card=card, package=package, region=region.strip() if region else None)
        if channel == "sms":
            seen: set[str] = set()
            found = [r for r in found if not (r[1] in seen or seen.add(r[1]))]
        delays = spread_s(len(found), per_second)
        if dry_run or not found:
            return Broadcast(channel, len(found), 0, delays[-1] if delays else 0, dry_run)
        made = [events.osd(c, text, lang) if channel == "osd" else events.sms(c, msisdn, text, lang)
                for c, msisdn, lang in found]
        outbox_store.enqueue(conn, made, now, delays_s=delays)
        audit.record(conn, actor, "notify.send", card or package or region or "all", now, "", channel=channel,
                     recipients=len(found), text=text)
        return Broadcast(channel, len(found), len(found), delays[-1], False)

    return await (billing.db.read(run) if dry_run else billing.db.write(run))


__all__ = ["Resume", "resume_plan", "days_lapsed", "spread_s", "CareView", "edit_subscriber", "suspend_subscriber",
           "resume_subscriber", "terminate_subscriber", "lapsed", "Broadcast", "send_notice"]
