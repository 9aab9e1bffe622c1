"""Reports over the books. The trial balance is the ledger's own check: every unit sums to zero.

The operator's reports (sales, renewals and churn, expiring subscriptions) fold the figures of
:mod:`billing_core.db.report_store` into the grouping asked for; days are calendar days of the
operator's time zone, and money of different currencies is never added.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Iterable
from zoneinfo import ZoneInfo

from billing_core.context import Billing
from billing_core.db import ledger_store, report_store
from billing_core.errors import InvalidInput
from billing_core.money import Money
from billing_core.renewal import DAY_S, iso, parse_iso


@dataclass(frozen=True, slots=True)
class LedgerLine:
    account: str
    unit: str
    balance: int

    def to_json(self) -> dict:
        return {"account": self.account, "unit": self.unit, "balance": self.balance}


async def trial_balance(billing: Billing) -> list[LedgerLine]:
    """Every account with a balance, by unit then account (debits positive)."""
    rows = await billing.db.read(ledger_store.trial_balance)
    return [LedgerLine(*row) for row in rows]


async def reverse_entry(billing: Billing, entry_id: int, reason: str, operator: str = "") -> int:
    """Correct a posted entry by a new, mirroring one; returns the reversal's id."""
    return await billing.db.write(ledger_store.reverse, entry_id, billing.now(), reason, created_by=operator)


# ---- what sold, renewed, lapsed and is about to expire --------------------------------------
# Figures come from billing_core.db.report_store; here they are folded into the grouping asked
# for, with days in the operator's time zone. Amounts of different currencies are never added:
# the currency is part of every line.

GROUPS = ("day", "channel", "provider", "dealer", "package", "region")
RENEWAL_GROUPS = ("day", "package")
EXPIRING_DAYS_MAX = 366
EXPIRING_LIMIT = 10_000


def local_period(date_from: str | None, date_to: str | None, timezone: str) -> tuple[int | None, int | None]:
    """``[since, until)`` from ``--from``/``--to``: a date is that day's midnight in ``timezone``
    (``--to`` excluded), a date-time is taken as given (naive: UTC)."""
    return _instant(date_from, timezone), _instant(date_to, timezone)


def _instant(text: str | None, timezone: str) -> int | None:
    if not text:
        return None
    text = text.strip()
    try:
        if len(text) == 10:
            return int(datetime.combine(date.fromisoformat(text), time(0), ZoneInfo(timezone)).timestamp())
        return parse_iso(text)
    except ValueError:
        raise InvalidInput("dates are ISO 8601: 2026-11-01 or 2026-11-01T00:00:00Z") from None


def day_of(epoch: int, timezone: str) -> str:
    """The calendar day of ``epoch`` in ``timezone`` (YYYY-MM-DD)."""
    return datetime.fromtimestamp(epoch, ZoneInfo(timezone)).date().isoformat()


def days_between(since: int, until: int, timezone: str) -> list[str]:
    """Every local day that ``[since, until)`` touches, in order (chart axes)."""
    first, last = date.fromisoformat(day_of(since, timezone)), date.fromisoformat(day_of(until - 1, timezone))
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _grouping(by: Iterable[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    keys = tuple(dict.fromkeys(k.strip() for k in by if k.strip()))
    unknown = [k for k in keys if k not in allowed]
    if unknown:
        raise InvalidInput(f"--by is one or more of {', '.join(allowed)} (not {', '.join(unknown)})")
    return keys


@dataclass(frozen=True, slots=True)
class SalesLine:
    """Sales of one group in one currency; ``currency`` is "" for scratch-card redemptions
    (TVU only: the card's money was taken when it was sold)."""

    group: tuple[tuple[str, str], ...]
    currency: str
    count: int
    amount_minor: int
    tvu: int

    def to_json(self) -> dict:
        amount = str(Money(self.amount_minor, self.currency)) if self.currency else ""
        return {**dict(self.group), "currency": self.currency, "count": self.count, "amount": amount,
                "amount_minor": self.amount_minor, "tvu": self.tvu}


async def sales_report(billing: Billing, *, since: int | None = None, until: int | None = None,
                       by: Iterable[str] = ("channel",), currency: str | None = None, timezone: str = "UTC",
                       region: str = "") -> list[SalesLine]:
    """Money received and TVU sold, per group and currency. Channels: the payment provider
    (mpesa, mtn, airtel, africastalking, cash, bank, cheque), ``card`` and ``dealer``;
    ``provider`` also tells which channel a card's PIN came through (``card:ussd``);
    ``package`` is the subscriber's current one (a dealer's package sale: that package);
    ``region`` is the dealer site's region, else ``region`` (the operator's)."""
    keys = _grouping(by, GROUPS)
    if currency is not None:
        currency = currency.strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            raise InvalidInput("a currency is an ISO 4217 code such as KES")
    rows = await billing.db.read(report_store.sales, since, until, with_bucket="day" in keys)
    folded: dict[tuple, list[int]] = {}
    for row in rows:
        if currency is not None and row.currency != currency:
            continue
        values = {"day": day_of(row.bucket * report_store.BUCKET_S, timezone) if row.bucket is not None else "",
                  "channel": row.channel, "provider": row.provider, "dealer": row.dealer or "-",
                  "package": row.package or "-", "region": row.region or region or "-"}
        group = tuple((k, values[k]) for k in keys)
        acc = folded.setdefault((group, row.currency), [0, 0, 0])
        acc[0] += row.count
        acc[1] += row.amount_minor
        acc[2] += row.tvu
    return [SalesLine(group, ccy, *acc) for (group, ccy), acc in sorted(folded.items())]


def sales_totals(lines: Iterable[SalesLine]) -> dict[str, SalesLine]:
    """One line per currency ("" for card redemptions) summing ``lines``."""
    totals: dict[str, list[int]] = {}
    for line in lines:
        acc = totals.setdefault(line.currency, [0, 0, 0])
        acc[0] += line.count
        acc[1] += line.amount_minor
        acc[2] += line.tvu
    return {ccy: SalesLine((), ccy, *acc) for ccy, acc in sorted(totals.items())}


@dataclass(frozen=True, slots=True)
class RenewalLine:
    """Renewals and de-activations of one day (or package). A de-activation is a subscription
    that expired (its entitlement revoked); it is ``won_back`` when the card renewed within the
    churn window, ``churned`` when the window passed without one, ``open`` while it runs."""

    key: str
    renewals: int = 0
    renewal_tvu: int = 0
    by_credit: int = 0
    explicit: int = 0
    at_expiry: int = 0
    expiries: int = 0
    won_back: int = 0
    churned: int = 0
    open: int = 0

    def to_json(self, by: str = "day") -> dict:
        return {by: self.key, "renewals": self.renewals, "renewal_tvu": self.renewal_tvu,
                "by_credit": self.by_credit, "explicit": self.explicit, "at_expiry": self.at_expiry,
                "expiries": self.expiries, "won_back": self.won_back, "churned": self.churned, "open": self.open}


_REASONS = {"credit": "by_credit", "explicit": "explicit", "expiry": "at_expiry"}


async def renewals_report(billing: Billing, *, since: int | None = None, until: int | None = None,
                          by: str = "day", churn_days: int = 30, timezone: str = "UTC") -> list[RenewalLine]:
    """Renewals (by when they happened, and why) against expiries and churn, per day or package."""
    (by,) = _grouping([by], RENEWAL_GROUPS) or ("day",)
    if type(churn_days) is not int or not 1 <= churn_days <= 366:
        raise InvalidInput("--churn-days is from 1 to 366")
    window, now = churn_days * DAY_S, billing.now()

    def tx(conn):
        done = report_store.renewals_by(conn, since, until)
        lapsed = report_store.deactivations(conn, since, until)
        later = report_store.renewal_times(conn, lapsed[0].at, lapsed[-1].at + window + 1) if lapsed else {}
        return done, lapsed, later

    done, lapsed, later = await billing.db.read(tx)
    lines: dict[str, dict[str, int]] = {}
    for r in done:
        key = day_of(r.bucket * report_store.BUCKET_S, timezone) if by == "day" else r.package
        line = lines.setdefault(key, {})
        for name, n in (("renewals", r.count), ("renewal_tvu", r.tvu), (_REASONS.get(r.reason, "explicit"), r.count)):
            line[name] = line.get(name, 0) + n
    for d in lapsed:
        key = day_of(d.at, timezone) if by == "day" else (d.package or "-")
        fate = _fate(d.at, later.get(d.card, ()), window, now)
        line = lines.setdefault(key, {})
        for name in ("expiries", fate):
            line[name] = line.get(name, 0) + 1
    return [RenewalLine(key, **values) for key, values in sorted(lines.items())]


def _fate(at: int, renewed_at: Iterable[int], window: int, now: int) -> str:
    if any(at < t <= at + window for t in renewed_at):
        return "won_back"
    return "churned" if now >= at + window else "open"


@dataclass(frozen=True, slots=True)
class ExpiringLine:
    card: str
    msisdn: str
    name: str
    package: str
    expires_at: int
    days_left: int
    wallet_tvu: int
    price_tvu: int

    @property
    def renews(self) -> bool:
        """Whether the wallet already covers the next period (the scheduler renews it)."""
        return self.price_tvu > 0 and self.wallet_tvu >= self.price_tvu

    def to_json(self) -> dict:
        return {"card": self.card, "msisdn": self.msisdn, "name": self.name, "package": self.package,
                "expires_at": iso(self.expires_at), "days_left": self.days_left, "wallet_tvu": self.wallet_tvu,
                "price_tvu": self.price_tvu, "renews": self.renews}


async def expiring_report(billing: Billing, *, days: int = 7, limit: int = EXPIRING_LIMIT) -> list[ExpiringLine]:
    """Active subscriptions ending within ``days`` from now, soonest first."""
    if type(days) is not int or not 1 <= days <= EXPIRING_DAYS_MAX:
        raise InvalidInput(f"--days is from 1 to {EXPIRING_DAYS_MAX}")
    now = billing.now()
    rows = await billing.db.read(report_store.expiring, now, now + days * DAY_S, limit)
    return [ExpiringLine(r.card, r.msisdn, r.name, r.package, r.expires_at, -(-(r.expires_at - now) // DAY_S),
                         r.wallet_tvu, r.price_tvu) for r in rows]


async def outbox_backlog(billing: Billing) -> dict[str, int]:
    return await billing.db.read(report_store.outbox_backlog)


@dataclass(frozen=True, slots=True)
class Activity:
    """What happened to one card, newest first in each list (the subscriber page)."""

    payments: list
    renewals: list[dict]
    wallet: list[dict]
    events: list
    sms: list[dict]
    ussd: list


async def subscriber_activity(billing: Billing, card: str, *, limit: int = 20) -> Activity:
    """Payments, renewals, wallet movements, outbox events, SMS parts and the phone's USSD steps."""
    from billing_core.db import admin_store, outbox_store, payment_store, subscriber_store, ussd_store

    card = billing.card(card)

    def tx(conn):
        rows = subscriber_store.find_subscribers(conn, card=card)
        wallet = subscriber_store.recent_wallet_entries(conn, rows[0].wallet_account_id, limit) if rows else []
        steps = ussd_store.steps(conn, msisdn=rows[0].msisdn, limit=limit * 3) if rows else []
        return Activity(payment_store.for_card(conn, card, limit), admin_store.renewals_of(conn, card, limit),
                        wallet, outbox_store.list_events(conn, card=card, limit=limit),
                        admin_store.sms_of(conn, card, limit), list(reversed(steps)))

    return await billing.db.read(tx)
