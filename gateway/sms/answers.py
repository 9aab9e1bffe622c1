"""Run a parsed SMS command through the billing use cases and choose the reply.

The same use cases as USSD: ``show_subscriber``/``cards_of_phone`` (BAL),
``redeem_card`` (TOPUP, under the wrong-PIN lockout), ``renew`` (RENEW),
``refresh_entitlement`` (REFRESH), ``set_language`` (LANG), ``buy_event`` (PPV, own cards
only: it spends the wallet).

Which card: the one named, else the phone's only card; a phone with several cards is
asked which. A card named that is not registered to the sending phone shows status and
expiry only (BAL), can be topped up (TOPUP gives value), and is refused for RENEW and
REFRESH (``not_your_card``, whether or not the card exists).

Which language: the card's (the card named, if it is the phone's, else the phone's
first card), else the language of the keyword typed, else the operator's default.

One SMS per command: a top-up or renewal of the sender's own card already queues the
billing core's confirmation notice (``credited``/``renewed``) to that phone in the same
transaction, so that notice IS the reply: :class:`Answer` carries its text with
``queue=False`` and nothing more is sent. Every other reply is queued by the caller.
"""
from __future__ import annotations

from dataclasses import dataclass

from billing_core import addons, cards, notifications, ppv, subscriptions
from billing_core.context import Billing
from billing_core.errors import DomainError
from billing_core.lockouts import Lockouts
from billing_core.subscriptions import SubscriberView
from gateway.sms import replies
from gateway.sms.commands import (ADDON, BAL, HELP, INVALID_CARD, LANG, PIN_MALFORMED, PPV, REFRESH, RENEW, TOPUP,
                                  UNKNOWN_COMMAND, Command, ParseError)
from tv_notify.texts import day, moment, notice, refusal, short_title

NOT_YOUR_CARD = "not_your_card"


@dataclass(frozen=True, slots=True)
class Answer:
    """The reply to one command.

    ``card``: the card the reply SMS is filed under in the outbox ("" when the phone has
    none); ``queue``: False when the billing core has queued this very text already;
    ``outcome``: ``ok`` or the refusal's code (for metrics and logs).
    """

    text: str
    lang: str
    card: str = ""
    queue: bool = True
    outcome: str = "ok"


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent the command and what is known of them before it runs."""

    msisdn: str
    cards: tuple[SubscriberView, ...]
    lang: str  # the reply's language when no particular card decides it

    def own(self, card: str | None) -> SubscriberView | None:
        return next((v for v in self.cards if v.card == card), None)

    @property
    def filed_under(self) -> str:
        return self.cards[0].card if self.cards else ""


class _Answered(Exception):
    """Raised inside a command to answer at once (the phone must name a card, ...)."""

    def __init__(self, answer: Answer):
        super().__init__(answer.outcome)
        self.answer = answer


async def sender(billing: Billing, msisdn: str, parsed: Command | ParseError) -> Sender:
    """The sender's cards and default reply language."""
    own = tuple(await subscriptions.cards_of_phone(billing, msisdn))
    typed = parsed.lang if parsed.lang in billing.languages else None
    return Sender(msisdn, own, own[0].lang if own else typed or billing.default_lang)


async def answer(billing: Billing, lockouts: Lockouts, who: Sender, parsed: Command | ParseError, *,
                 refresh_min_interval_s: int) -> Answer:
    """Run ``parsed`` for ``who``; refusals (``DomainError``) become their texts."""
    if isinstance(parsed, ParseError):
        return _malformed(who, parsed)
    try:
        if parsed.verb == BAL:
            return await _balance(billing, who, parsed)
        if parsed.verb == TOPUP:
            return await _topup(billing, lockouts, who, parsed)
        if parsed.verb == RENEW:
            return await _renew(billing, who, parsed)
        if parsed.verb == REFRESH:
            return await _refresh(billing, who, parsed, refresh_min_interval_s)
        if parsed.verb == LANG:
            return await _language(billing, who, parsed)
        if parsed.verb == PPV:
            return await _ppv(billing, who, parsed)
        if parsed.verb == ADDON:
            return await _addon(billing, who, parsed)
        return Answer(replies.reply("help", who.lang), who.lang, who.filed_under)
    except _Answered as answered:
        return answered.answer
    except DomainError as refused:
        return refused_answer(who, refused.code, parsed.card)


def refused_answer(who: Sender, code: str, card: str | None = None) -> Answer:
    """The refusal ``code`` in the language of ``card`` (when it is the sender's) or the sender's."""
    mine = who.own(card)
    lang = mine.lang if mine else who.lang
    return Answer(refusal(code, lang), lang, mine.card if mine else who.filed_under, outcome=code)


def _malformed(who: Sender, error: ParseError) -> Answer:
    if error.code == UNKNOWN_COMMAND:
        return Answer(replies.reply("help", who.lang), who.lang, who.filed_under, outcome=error.code)
    if error.code in (PIN_MALFORMED, INVALID_CARD):
        return refused_answer(who, error.code)
    text = replies.reply("usage", who.lang, usage=replies.usage(error.verb or HELP, who.lang))
    return Answer(text, who.lang, who.filed_under, outcome=error.code)


def _pick(who: Sender, command: Command) -> tuple[str, SubscriberView | None]:
    """The card ``command`` is about, and its view when it is the sender's; asks otherwise."""
    if command.card:
        return command.card, who.own(command.card)
    if len(who.cards) == 1:
        return who.cards[0].card, who.cards[0]
    usage = replies.usage(command.verb, who.lang)
    if who.cards:
        text = replies.reply("choose_card", who.lang, cards=replies.card_list([v.card for v in who.cards]),
                             usage=usage)
    else:
        text = replies.reply("no_card", who.lang, usage=usage)
    raise _Answered(Answer(text, who.lang, who.filed_under, outcome="card_required"))


def _mine_only(who: Sender, command: Command) -> SubscriberView:
    _card, mine = _pick(who, command)
    if mine is None:
        raise _Answered(refused_answer(who, NOT_YOUR_CARD))
    return mine


# ---- the commands ---------------------------------------------------------------------------

async def _balance(billing: Billing, who: Sender, command: Command) -> Answer:
    card, mine = _pick(who, command)
    view = mine or await subscriptions.show_subscriber(billing, card)
    lang = mine.lang if mine else who.lang
    text = replies.balance(lang, card=view.card, status=view.status, package=view.package_name,
                           expires_at=view.expires_at, wallet_tvu=view.wallet_tvu if mine else None)
    return Answer(text, lang, mine.card if mine else who.filed_under)


async def _topup(billing: Billing, lockouts: Lockouts, who: Sender, command: Command) -> Answer:
    card, _mine = _pick(who, command)
    done = await cards.redeem_card(billing, lockouts, pin=command.pin or "", msisdn=who.msisdn, channel="sms",
                                   card=card)
    sub = done.subscriber
    if sub.msisdn == who.msisdn:  # the billing core has sent the card's phone its confirmation: that is the reply
        return Answer(await _confirmation(billing, done), sub.lang, sub.card, queue=False)
    text = replies.reply("topped_up_other", who.lang, tvu=done.tvu_credited, card=sub.card)
    return Answer(text, who.lang, who.filed_under)


async def _confirmation(billing: Billing, done: cards.Redemption) -> str:
    """The text of the notice the redemption queued (``billing_core.db.subscriber_store.credit_locked``
    and ``renew_locked`` choose it the same way)."""
    sub = done.subscriber
    if done.renewed:
        return _renewed(sub)
    price = 0
    if sub.status != "active" and sub.package:
        price = next((p.tvu for p in await subscriptions.list_packages(billing) if p.code == sub.package), 0)
    return notice("credited" if sub.status == "active" else "credited_inactive", sub.lang, tvu=done.tvu_credited,
                  card=sub.card, wallet=sub.wallet_tvu, package=sub.package_name or "-", date=day(sub.expires_at),
                  price=price)


def _renewed(sub: SubscriberView) -> str:
    return notice("renewed", sub.lang, package=sub.package_name, date=day(sub.expires_at), wallet=sub.wallet_tvu,
                  card=sub.card)


async def _renew(billing: Billing, who: Sender, command: Command) -> Answer:
    mine = _mine_only(who, command)
    renewed = await subscriptions.renew(billing, mine.card, command.package)
    return Answer(_renewed(renewed), renewed.lang, renewed.card, queue=False)  # renew_locked queued this notice


async def _refresh(billing: Billing, who: Sender, command: Command, min_interval_s: int) -> Answer:
    mine = _mine_only(who, command)
    done = await notifications.refresh_entitlement(billing, mine.card, min_interval_s=min_interval_s)
    text = notice("refreshed", mine.lang, card=mine.card, package=replies.package_name(mine.package_name),
                  date=day(done.expires_at))
    return Answer(text, mine.lang, mine.card)


async def _ppv(billing: Billing, who: Sender, command: Command) -> Answer:
    mine = _mine_only(who, command)
    done = await ppv.buy_event(billing, mine.card, command.event or "", channel="sms", msisdn=who.msisdn)
    sub, event = done.subscriber, done.event
    text = notice("ppv_bought", sub.lang, title=short_title(event.title), card=sub.card, start=moment(event.starts_at),
                  end=moment(event.ends_at), tvu=event.tvu, wallet=sub.wallet_tvu)
    return Answer(text, sub.lang, sub.card, queue=False)  # ppv_store.buy queued this notice to the card's phone


async def _addon(billing: Billing, who: Sender, command: Command) -> Answer:
    mine = _mine_only(who, command)
    done = await addons.add_addon(billing, mine.card, command.package or "")
    sub = done.subscriber
    text = notice("addon_added", sub.lang, package=done.addon.package.name, card=sub.card,
                  date=day(done.addon.expires_at), tvu=done.tvu, wallet=sub.wallet_tvu)
    return Answer(text, sub.lang, sub.card, queue=False)  # addon_store.add queued this notice to the card's phone


async def _language(billing: Billing, who: Sender, command: Command) -> Answer:
    choice = command.choice
    if choice not in billing.languages:
        text = replies.reply("usage", who.lang, usage=replies.usage(LANG, who.lang))
        return Answer(text, who.lang, who.filed_under, outcome="lang_missing")
    changed = await subscriptions.set_language(billing, who.msisdn, choice)
    return Answer(replies.reply("lang_set" if changed else "lang_no_card", choice), choice, who.filed_under)


__all__ = ["Answer", "Sender", "sender", "answer", "refused_answer", "NOT_YOUR_CARD"]
