"""Corrections of payments: reversals, held and bounced cheques, refunds paid out.

A correction never edits what was written: it posts new entries that mirror the payment's
(TigerBeetle's rule). Each payment is corrected at most once, by a unique row
(``correction_store.claim``), whatever the concurrency.

- ``reverse_payment``: the payment's entry mirrored: the money goes back to where it came
  from, the TVU it bought leave the wallet. A renewal it caused is undone when unused
  (:func:`renewal_unused`): its TVU come back to the wallet first, the expiry goes back
  and the entitlement is revoked through the outbox. Where the wallet cannot cover the TVU,
  the reversal is refused with the TVU missing, unless the operator allows a negative
  wallet (``payments.allow_negative_after_reversal``): the wallet then owes, and later
  top-ups pay the debt first.
- ``refund_payment``: a payment held in suspense goes to ``refunds:payable`` (as before);
  a credited one is reversed the same way but its money goes to ``refunds:payable``
  instead of back to the channel. Either way a ``refunds`` row is ``payable`` until
  ``pay_refund`` records the payout (``refunds:payable`` to ``cash:METHOD``).
- Cheques (``hold_cheque``, ``clear_cheque``, ``bounce_cheque``): held cheques move no
  value; clearing one records the payment ``cheque:REF`` through the ordinary payment path;
  a bounced cheque that was credited is reversed.

The decisions (:func:`plan_reversal`, :func:`correction_entry`) are pure; the use cases
read rows through ``correction_store`` and ``subscriber_store`` and write what was decided,
with an audit record, in one transaction.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from billing_core import audit, ledger
from billing_core.audit import Actor
from billing_core.context import Billing
from billing_core.db import correction_store as store
from billing_core.db import ledger_store, outbox_store, payment_store, subscriber_store, unit
from billing_core.db.correction_store import RenewalFacts
from billing_core.errors import Conflict, InsufficientWallet, InvalidInput, NotFound
from billing_core.ledger import Entry, Posting
from billing_core.money import Money
from billing_core.receipts import Receipt
from billing_core.renewal import DAY_S, Status, iso
from tv_notify import events
from tv_notify.texts import notice

REASON_MAX = 255
UNUSED_WITHIN_S = DAY_S  # a renewal is "unused" when less than a day of it has passed


# ---- pure decisions -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ReversalPlan:
    """What a reversal does to the subscriber: undo the renewal (giving back ``renewal_tvu``)
    or not, and how many TVU the wallet is left owing (``shortfall_tvu``)."""

    undo_renewal: bool
    renewal_tvu: int
    shortfall_tvu: int


def renewal_unused(renewal: RenewalFacts | None, expires_at: int | None, now: int) -> bool:
    """A renewal is undone only while nothing came after it (it is the latest and the expiry
    is still its end: no stacked renewal, no free days) and less than a day of it has passed."""
    return (renewal is not None and renewal.latest and expires_at == renewal.ends_at
            and now - renewal.starts_at < UNUSED_WITHIN_S)


def plan_reversal(payment_tvu: int, wallet_tvu: int, renewal: RenewalFacts | None, expires_at: int | None,
                  now: int, *, allow_negative: bool) -> ReversalPlan:
    """Decide a reversal of ``payment_tvu``; :class:`InsufficientWallet` (naming the TVU
    missing) when the wallet cannot cover it and a negative wallet is not allowed."""
    undo = renewal_unused(renewal, expires_at, now)
    back = renewal.tvu if undo and renewal is not None and renewal.entry_id is not None else 0
    shortfall = max(0, payment_tvu - (wallet_tvu + back))
    if shortfall and not allow_negative:
        raise InsufficientWallet(f"the wallet cannot cover the reversal: {shortfall} TVU missing "
                                 f"({payment_tvu} TVU to take back, {wallet_tvu + back} in the wallet)")
    return ReversalPlan(undo, back, shortfall)


def correction_entry(original: Entry, kind: str, memo: str, *, money_to: str | None = None) -> Entry:
    """The entry that undoes a payment's ``original`` entry. With ``money_to`` (a refund),
    the money goes there instead of back to the account it came from (the positive money
    postings of ``original``: its channel, or suspense for an assigned payment)."""
    flipped = []
    for p in original.postings:
        account = p.account
        if money_to and p.unit != ledger.TVU and p.amount > 0:
            account = money_to
        flipped.append(Posting(account, p.unit, -p.amount))
    return Entry(kind, tuple(flipped), original.ref, memo[:REASON_MAX])


def refund_payout(method: str, amount: Money, ref: str) -> Entry:
    """A refund paid out through ``method``: owed no more, the money leaves the channel."""
    return ledger.transfer("refund_paid", amount.currency, ledger.REFUNDS_PAYABLE, ledger.cash_account(method),
                           amount.minor, ref)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason or len(reason) > REASON_MAX:
        raise InvalidInput(f"a reason of 1 to {REASON_MAX} characters is required")
    return reason


def split_txid(txid: str) -> tuple[str | None, str]:
    """``PROVIDER:TXID`` or ``TXID``."""
    from billing_core.payments import PROVIDERS

    txid = (txid or "").strip()
    if not txid:
        raise InvalidInput("a transaction id is required")
    provider, sep, rest = txid.partition(":")
    return (provider, rest) if sep and provider in PROVIDERS else (None, txid)


# ---- reversal -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Correction:
    payment: str
    kind: str
    card: str | None
    amount: str
    tvu: int
    renewal_undone: bool
    shortfall_tvu: int
    wallet_tvu: int | None
    status: str | None
    expires_at: int | None
    refund_id: int | None = None

    def to_json(self) -> dict:
        return {"payment": self.payment, "kind": self.kind, "card": self.card, "amount": self.amount,
                "tvu": self.tvu, "renewal_undone": self.renewal_undone, "shortfall_tvu": self.shortfall_tvu,
                "wallet_tvu": self.wallet_tvu, "status": self.status, "expires_at": iso(self.expires_at),
                "refund_id": self.refund_id}


def _correct_credited(conn: Connection, p: store.PaymentFacts, kind: str, reason: str, actor: Actor, now: int,
                      allow_negative: bool, money_to: str | None = None) -> tuple[Correction, int]:
    """Undo a credited payment (see the module's docstring); returns the correction and its entry id.

    The money goes to ``money_to``: by default back to the payment's channel (``cash:METHOD``),
    also for a payment assigned from suspense (whose entry took it from suspense)."""
    if p.status not in ("credited", "assigned") or p.entry_id is None or p.card is None:
        raise Conflict(f"payment {p.ref} is {p.status}, not credited to a card")
    correction_id = store.claim(conn, p.id, kind, reason, actor.name, now)
    card = store.card_now(conn, p.card)  # the payment names the card it was paid to; it may have been swapped
    sub = subscriber_store.lock_subscriber(conn, card)
    renewal = store.renewal_after(conn, sub.id, p.entry_id) if p.renewed else None
    plan = plan_reversal(p.tvu, sub.wallet_tvu, renewal, sub.expires_at, now, allow_negative=allow_negative)
    found, renewal_entry_id = [], None
    if plan.undo_renewal and renewal is not None:
        renewal_entry_id = _undo_renewal(conn, sub, renewal, f"{kind}: {reason}", actor, now)
        found.append(events.revoke(sub.card, sub.package.products if sub.package else (), sub.lang))
    if plan.shortfall_tvu:
        store.allow_overdraft(conn, sub.wallet_account_id)
    original, _ = ledger_store.load_entry(conn, p.entry_id)
    entry = correction_entry(original, kind, reason, money_to=money_to or ledger.cash_account(p.provider))
    entry_id = ledger_store.post(conn, entry, now, reverses_id=p.entry_id, created_by=actor.name)
    unit.flush(conn)
    store.finish(conn, correction_id, entry_id, renewal_entry_id, plan.shortfall_tvu)
    after = subscriber_store.lock_subscriber(conn, card)
    outbox_store.enqueue(conn, found + _reversed_notices(after, p), now)
    audit.record(conn, actor, f"payment.{kind}", p.ref, now, reason, card=card, amount=str(p.amount), tvu=p.tvu,
                 renewal_undone=plan.undo_renewal, shortfall_tvu=plan.shortfall_tvu)
    return Correction(p.ref, kind, card, str(p.amount), p.tvu, plan.undo_renewal, plan.shortfall_tvu,
                      after.wallet_tvu, after.subscription().effective_status(now).value, after.expires_at), entry_id


def _undo_renewal(conn: Connection, sub, renewal: RenewalFacts, memo: str, actor: Actor, now: int) -> int | None:
    """The renewal's entry reversed (its TVU back in the wallet), the expiry back to its start;
    a card this renewal activated for the first time goes back to ``new``."""
    entry_id = None
    if renewal.entry_id is not None:
        entry_id = ledger_store.reverse(conn, renewal.entry_id, now, memo, actor.name)
    if renewal.first:
        store.set_subscription(conn, sub.id, Status.NEW.value, None, now)
    else:
        store.set_subscription(conn, sub.id, Status.EXPIRED.value, renewal.starts_at, now)
    return entry_id


def _reversed_notices(sub, p: store.PaymentFacts) -> list[events.Event]:
    text = notice("payment_reversed", sub.lang, card=sub.card, tvu=p.tvu, wallet=sub.wallet_tvu,
                  **Receipt.of(p.amount, p.txid).values())
    return [events.osd(sub.card, text, sub.lang), events.sms(sub.card, sub.msisdn, text, sub.lang)]


async def reverse_payment(billing: Billing, txid: str, *, reason: str, actor: Actor,
                          allow_negative: bool = False, card: str | None = None) -> Correction:
    """Reverse a credited payment (``TXID`` or ``PROVIDER:TXID``), once; with ``card``, only
    a payment credited to that card."""
    provider, tx = split_txid(txid)
    reason, now = _reason(reason), billing.now()

    def run(conn: Connection) -> Correction:
        p = store.payment(conn, provider, tx)
        if card is not None and (p.card is None or store.card_now(conn, p.card) != card):
            raise Conflict(f"payment {p.ref} is not a payment of card {card}")
        return _correct_credited(conn, p, "reverse", reason, actor, now, allow_negative)[0]

    return await billing.db.write(run)


# ---- refunds --------------------------------------------------------------------------------

async def refund_payment(billing: Billing, txid: str, *, actor: Actor, reason: str = "refund",
                         allow_negative: bool = False, confirmed: bool = False) -> dict:
    """Owe a payment back to its payer: from suspense, or undone from the wallet (a
    credited payment); a ``payable`` refund either way. A payment held above
    ``payments.max_amount`` is refunded only ``confirmed`` (the operator checked the amount)."""
    provider, tx = split_txid(txid)
    reason, now = _reason(reason), billing.now()

    def run(conn: Connection) -> dict:
        p = store.payment(conn, provider, tx)
        if p.status == "suspense":
            payment_store.refund(conn, p.provider, p.txid, now, actor.name, confirmed)
            entry_id = store.last_entry(conn, f"refund:{p.provider}:{p.txid}", "refund")
            audit.record(conn, actor, "payment.refund", p.ref, now, reason, amount=str(p.amount), held=True)
        else:
            entry_id = _correct_credited(conn, p, "refund", reason, actor, now, allow_negative,
                                         money_to=ledger.REFUNDS_PAYABLE)[1]
        return store.insert_refund(conn, p, entry_id, actor.name, now)

    return await billing.db.write(run)


async def pay_refund(billing: Billing, refund_id: int, *, ref: str, actor: Actor) -> dict:
    """Record that a payable refund was paid out (``ref``: the payout's reference), once."""
    ref = (ref or "").strip()
    if not ref or len(ref) > 64:
        raise InvalidInput("the payout reference is 1 to 64 characters")
    now = billing.now()

    def run(conn: Connection) -> dict:
        method, amount = store.refund_facts(conn, refund_id)
        if not store.mark_paid(conn, refund_id, ref, actor.name, now):
            raise Conflict(f"refund {refund_id} is {store.refund(conn, refund_id)['status']}, not payable")
        entry_id = ledger_store.post(conn, refund_payout(method, amount, f"refund_paid:{refund_id}:{ref}"), now,
                                     created_by=actor.name)
        store.set_paid_entry(conn, refund_id, entry_id)
        audit.record(conn, actor, "refund.pay", str(refund_id), now, "", ref=ref, amount=str(amount))
        return store.refund(conn, refund_id)

    return await billing.db.write(run)


async def list_refunds(billing: Billing, status: str | None = None) -> list[dict]:
    if status not in (None, "payable", "paid"):
        raise InvalidInput("a refund is payable or paid")
    return await billing.db.read(store.list_refunds, status)


# ---- cheques --------------------------------------------------------------------------------

async def hold_cheque(billing: Billing, card: str, amount: str, ref: str, *, actor: Actor, site: str = "") -> dict:
    """Record a cheque without crediting it: held until :func:`clear_cheque` or
    :func:`bounce_cheque`. The reference is the idempotency key (``duplicate`` on a repeat)."""
    card, money, ref = billing.card(card), Money.parse(amount), _cheque_ref(ref)
    if money.minor <= 0:
        raise InvalidInput("a cheque must be for more than zero")
    now = billing.now()

    def run(conn: Connection) -> dict:
        subscriber_store.lock_subscriber(conn, card)  # an unknown card: refused, nothing held
        if _is_recorded(conn, ref):
            raise Conflict(f"cheque {ref} was recorded as a payment already")
        held, new = store.hold_cheque(conn, ref, card, money, site, actor.name, now)
        if new:
            audit.record(conn, actor, "cheque.hold", ref, now, "", card=card, amount=str(money))
        return {**held, "duplicate": not new}

    return await billing.db.write(run)


def _is_recorded(conn: Connection, ref: str) -> bool:
    """Whether the payment ``cheque:REF`` exists."""
    try:
        store.payment(conn, "cheque", ref)
    except NotFound:
        return False
    return True


def _cheque_ref(ref: str) -> str:
    from billing_core.payments import TXID

    ref = (ref or "").strip()
    if not TXID.fullmatch(ref):
        raise InvalidInput("a cheque reference is 1-64 letters, digits or ._:-")
    return ref


async def clear_cheque(billing: Billing, ref: str, *, actor: Actor) -> dict:
    """A held cheque cleared: recorded and credited as the payment ``cheque:REF``, once."""
    ref, now = _cheque_ref(ref), billing.now()

    def run(conn: Connection) -> dict:
        held = store.cheque(conn, ref)
        if held is None:
            raise NotFound(f"no cheque {ref}")
        if held["status"] != "held":
            raise Conflict(f"cheque {ref} is {held['status']}, not held")
        notice_ = payment_store.PaymentNotice(provider="cheque", txid=ref, account=held["card"],
                                              amount=Money.parse(held["amount"]), created_by=actor.name[:64],
                                              site=store.cheque_site(conn, ref))
        paid = payment_store.record(conn, notice_, held["card"], billing.rates, now)
        if not store.move_cheque(conn, ref, "cleared", now, payment_id=paid.id):
            raise Conflict(f"cheque {ref} is not held any more")
        audit.record(conn, actor, "cheque.clear", ref, now, "", card=held["card"], amount=held["amount"],
                     status=paid.status)
        return {**store.cheque(conn, ref), "payment": paid.to_json()}

    return await billing.db.write(run)


async def bounce_cheque(billing: Billing, ref: str, *, actor: Actor, reason: str = "cheque bounced",
                        allow_negative: bool = False) -> dict:
    """A cheque bounced: a held one is closed (nothing was credited); a credited one
    (cleared, or recorded without holding) is reversed."""
    ref, reason, now = _cheque_ref(ref), _reason(reason), billing.now()

    def run(conn: Connection) -> dict:
        held = store.cheque(conn, ref)
        if held is not None and held["status"] == "held":
            if not store.move_cheque(conn, ref, "bounced", now, reason=reason):
                raise Conflict(f"cheque {ref} is not held any more")
            audit.record(conn, actor, "cheque.bounce", ref, now, reason, card=held["card"], amount=held["amount"],
                         credited=False)
            return {**store.cheque(conn, ref), "reversal": None}
        if held is not None and held["status"] == "bounced":
            raise Conflict(f"cheque {ref} bounced already")
        p = store.payment(conn, "cheque", ref)
        done = _correct_credited(conn, p, "bounce", reason, actor, now, allow_negative)[0]
        if held is not None:
            store.set_cheque_status(conn, ref, "bounced", now, reason)
        return {"ref": ref, "card": p.card, "amount": str(p.amount), "status": "bounced",
                "reversal": done.to_json()}

    return await billing.db.write(run)


async def held_cheques(billing: Billing) -> list[dict]:
    return await billing.db.read(store.held_cheques)


__all__ = ["ReversalPlan", "Correction", "plan_reversal", "renewal_unused", "correction_entry", "refund_payout",
           "reverse_payment", "refund_payment", "pay_refund", "list_refunds", "hold_cheque", "clear_cheque",
           "bounce_cheque", "held_cheques"]
