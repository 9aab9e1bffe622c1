"""The commands the USSD menus ask for, run against the billing core.

Each command is one use case (one transaction, a few milliseconds) and becomes an
:class:`~ussd_menus.engine.Outcome`; a refusal becomes its stable code, which the
menus show in the subscriber's language. Mobile money is never awaited: ``pay``
records nothing itself and only queues the provider call (:class:`PaymentStarter`),
which records the request before it asks the phone; the subscriber learns the result by
SMS.

Authority comes from the server-side session: ``renew``, package changes (``switch``)
and pay-per-view purchases (``ppv``) only for cards registered to the calling phone;
any card may be paid for, topped up with a scratch card, or refreshed.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from billing_core import cards as card_cases
from billing_core import addons, notifications, ppv
from billing_core import subscriptions as subs
from billing_core.context import Billing
from billing_core.errors import DomainError
from billing_core.lockouts import Lockouts
from billing_core.money import Money, exponent
from billing_core.phones import mask
from billing_core.subscriptions import SubscriberView
from gateway.providers.http import ProviderError
from gateway.state.store import StateUnavailable
from gateway.ussd.sessions import UssdSessions
from tv_notify.texts import day
from ussd_menus.engine import CardFact, Command, Env, EventFact, Outcome, PackageFact, Session, pay_minor

log = logging.getLogger("tvtopup.ussd")
NAME_MAX = 20  # package names on a screen
PACKAGES_TTL_S = 30.0
EVENTS_LISTED_MAX = 30  # pay-per-view events offered on the menu, soonest first

Start = Callable[[str, str, Money], Awaitable[Any]]  # (card, msisdn, amount) -> the provider's request


class PaymentStarter:
    """Provider calls queued off the request: at most ``in_flight_max`` at once."""

    def __init__(self, start: Start | None, in_flight_max: int = 200):
        self.start = start
        self.in_flight_max = in_flight_max
        self.tasks: set[asyncio.Task] = set()
        self.started = 0
        self.failed = 0

    def submit(self, card: str, msisdn: str, amount: Money) -> bool:
        if self.start is None or len(self.tasks) >= self.in_flight_max:
            return False
        task = asyncio.create_task(self._run(card, msisdn, amount), name="ussd-payment")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    async def _run(self, card: str, msisdn: str, amount: Money) -> None:
        try:
            await self.start(card, msisdn, amount)
            self.started += 1
        except (DomainError, ProviderError) as exc:  # refused before any money moved
            self.failed += 1
            log.info("USSD payment for %s from %s not started: %s", card, mask(msisdn), exc)
        except Exception:  # noqa: BLE001 - a background task must log, not vanish
            self.failed += 1
            log.exception("USSD payment for %s from %s failed", card, mask(msisdn))

    async def close(self, timeout_s: float) -> None:
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout_s)


class CommandRunner:
    def __init__(self, billing: Billing, lockouts: Lockouts, sessions: UssdSessions, env: Env, *,
                 payments: PaymentStarter, refresh_min_interval_s: int):
        self.billing = billing
        self.lockouts = lockouts
        self.sessions = sessions
        self.env = env
        self.payments = payments
        self.refresh_min_interval_s = refresh_min_interval_s
        self._package_cache: tuple[float, tuple[PackageFact, ...], dict[str, int]] = (-PACKAGES_TTL_S, (), {})

    async def run(self, command: Command, session: Session) -> Outcome:
        handler = getattr(self, f"_{command.name}")
        try:
            return await handler(session, **command.args)
        except DomainError as exc:
            return Outcome(exc.code)
        except StateUnavailable:
            return Outcome("unavailable")

    # ---- facts -------------------------------------------------------------------------

    async def _cards(self, session: Session) -> Outcome:
        views = await subs.cards_of_phone(self.billing, session.msisdn)
        prices = (await self._package_facts())[1]
        found = tuple(self._fact(v, True, prices) for v in views)
        lang = views[0].lang if views else await self.sessions.lang_of(session.msisdn)
        values = {"card": found[0].card} if len(found) == 1 else {}
        return Outcome(values=values, cards=found, lang=lang if lang in self.env.languages else None)

    async def _lookup(self, session: Session, card: str) -> Outcome:
        view = await subs.show_subscriber(self.billing, card)
        own = view.msisdn == session.msisdn
        return Outcome(values={"card": view.card}, cards=self._with(session, view, own, await self._prices()))

    async def _show(self, session: Session, card: str) -> Outcome:
        return Outcome(cards=await self._refreshed(session, card))

    async def _packages(self, session: Session) -> Outcome:
        facts, _ = await self._package_facts()
        return Outcome(packages=facts) if facts else Outcome("unknown_package")

    async def _package_facts(self) -> tuple[tuple[PackageFact, ...], dict[str, int]]:
        at, facts, prices = self._package_cache
        if time.monotonic() - at >= PACKAGES_TTL_S:
            rows = [p for p in await subs.list_packages(self.billing) if p.active]
            facts = tuple(PackageFact(p.code, _short(p.name), p.tvu, p.days) for p in rows)
            prices = {p.code: p.tvu for p in rows}
            self._package_cache = (time.monotonic(), facts, prices)
        return facts, prices

    async def _prices(self) -> dict[str, int]:
        return (await self._package_facts())[1]

    # ---- what moves value ----------------------------------------------------------------

    async def _redeem(self, session: Session, card: str, pin: str) -> Outcome:
        done = await card_cases.redeem_card(self.billing, self.lockouts, pin=pin, msisdn=session.msisdn,
                                            channel="ussd", card=card)
        cards = self._with(session, done.subscriber, _own(session, card), await self._prices())
        return Outcome(values={"tvu": str(done.tvu_credited)}, cards=cards)

    async def _renew(self, session: Session, card: str, package: str) -> Outcome:
        if not _own(session, card):
            return Outcome("card_not_own")
        view = await subs.renew(self.billing, card, package)
        return Outcome(cards=self._with(session, view, True, await self._prices()))

    async def _switch(self, session: Session, card: str, package: str) -> Outcome:
        """A package change now: ``ok`` when upgraded (unused days credited), ``later`` when the
        package waits for the next renewal."""
        if not _own(session, card):
            return Outcome("card_not_own")
        done = await subs.change_package(self.billing, card, package)
        cards = self._with(session, done.subscriber, True, await self._prices())
        return Outcome("ok" if done.kind == "upgraded" else "later", cards=cards)

    async def _addons(self, session: Session) -> Outcome:
        rows = [p for p in await subs.list_packages(self.billing) if p.active and p.kind == "addon"]
        if not rows:
            return Outcome("no_addons")
        return Outcome(packages=tuple(PackageFact(p.code, _short(p.name), p.tvu, p.days) for p in rows))

    async def _addon(self, session: Session, card: str, package: str) -> Outcome:
        if not _own(session, card):
            return Outcome("card_not_own")
        done = await addons.add_addon(self.billing, card, package)
        cards = self._with(session, done.subscriber, True, await self._prices())
        return Outcome(values={"tvu": str(done.tvu), "until": day(done.addon.expires_at)}, cards=cards)

    async def _ppv_events(self, session: Session) -> Outcome:
        found = (await ppv.list_events(self.billing, on_sale=True))[:EVENTS_LISTED_MAX]
        if not found:
            return Outcome("no_events")
        return Outcome(events=tuple(EventFact(e.code, _short(e.title), e.tvu, _starts(e.starts_at)) for e in found))

    async def _ppv(self, session: Session, card: str, event: str) -> Outcome:
        if not _own(session, card):
            return Outcome("card_not_own")
        done = await ppv.buy_event(self.billing, card, event, channel="ussd", msisdn=session.msisdn)
        return Outcome(cards=self._with(session, done.subscriber, True, await self._prices()))

    async def _pay(self, session: Session, card: str, package: str) -> Outcome:
        fact = session.card()
        prices = await self._prices()
        if fact is None or package not in prices:
            return Outcome("unknown_package")
        if package != fact.package:
            if not fact.own:
                return Outcome("card_not_own")
            await subs.choose_package(self.billing, card, package)
        wallet = fact.wallet_tvu if fact.own else 0
        amount = Money(pay_minor(self.env, prices[package], wallet), self.env.currency)
        if amount.minor <= 0:
            return Outcome("nothing_to_pay")
        if not self.payments.submit(card, session.msisdn, amount):
            return Outcome("unavailable")
        return Outcome()

    async def _refresh(self, session: Session, card: str) -> Outcome:
        await notifications.refresh_entitlement(self.billing, card, min_interval_s=self.refresh_min_interval_s)
        return Outcome()

    async def _lang(self, session: Session, lang: str, card: str) -> Outcome:
        lang = self.billing.lang(lang)
        await self.sessions.set_lang(session.msisdn, lang)
        if any(c.own for c in session.cards):
            await subs.set_language(self.billing, session.msisdn, lang)
        return Outcome(lang=lang)

    # ---- helpers -------------------------------------------------------------------------

    def _fact(self, view: SubscriberView, own: bool, prices: dict[str, int]) -> CardFact:
        return CardFact(view.card, view.package or "", _short(view.package_name or ""),
                        prices.get(view.package or "", 0), view.status, day(view.expires_at), view.wallet_tvu, own)

    def _with(self, session: Session, view: SubscriberView, own: bool, prices: dict[str, int]) -> tuple[CardFact, ...]:
        fact = self._fact(view, own, prices)
        others = tuple(c for c in session.cards if c.card != view.card)
        return tuple(sorted(others + (fact,), key=lambda c: (not c.own, c.card)))

    async def _refreshed(self, session: Session, card: str) -> tuple[CardFact, ...]:
        return self._with(session, await subs.show_subscriber(self.billing, card), _own(session, card),
                          await self._prices())


def _own(session: Session, card: str) -> bool:
    return any(c.card == card and c.own for c in session.cards)


def _starts(ts: int) -> str:
    """An event's start on a screen (UTC, as the notices): ``12-21 20:00``."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%m-%d %H:%M")


def _short(name: str) -> str:
    name = " ".join(name.split())
    return name if len(name) <= NAME_MAX else name[:NAME_MAX - 1].rstrip() + "."


def env_from_settings(settings: Any) -> Env:
    op, ussd = settings.operator, settings.ussd
    currency = op.currency
    return Env(languages=tuple(op.languages), currency=currency, rate=settings.currencies[currency],
               exponent=exponent(currency), pay_provider=ussd.pay_provider, service_code=ussd.service_code,
               operator=op.name[:24])


__all__ = ["CommandRunner", "PaymentStarter", "env_from_settings"]
