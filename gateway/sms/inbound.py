"""Inbound SMS commands: one text from a phone in, one reply out.

The transports (SMPP ``deliver_sm``, Africa's Talking's inbound callback) call
:func:`handle_inbound`; it parses the text (:mod:`gateway.sms.commands`), runs it
(:mod:`gateway.sms.answers`) and queues the reply through the outbox (an ``sms.send``
event, written in its own transaction; a phone with no card gets it under card "").

Before anything runs, on the state store (Redis when configured, shared by every process):

1. a message the provider delivers again (same ``channel`` and ``message_id``) is
   dropped: ``set_nx`` on ``sms:seen:CHANNEL:ID`` for :data:`SEEN_TTL_S`, so a retry never
   redeems twice nor answers twice;
2. at most ``sms.inbound_per_hour`` commands per phone; beyond, they are ignored (logged
   with the phone masked, counted);
3. at most ``sms.replies_per_hour`` replies per phone; beyond, nothing runs and nothing is
   answered, so a flood cannot run up the SMS bill.

When the store cannot answer, TOPUP and RENEW (they move value, and need the lockouts or
the de-duplication) are refused with "service busy"; the other commands are answered
without limits. The text itself is never logged: it may hold a scratch-card PIN.
"""
from __future__ import annotations

import hashlib
import logging
import weakref

from aiohttp import web
from prometheus_client import Counter

from billing_core.context import Billing
from billing_core.db import outbox_store
from billing_core.errors import InvalidInput
from billing_core.phones import mask
from gateway.keys import BILLING, LOCKOUTS, METRICS, SETTINGS, STATE
from gateway.metrics import Metrics
from gateway.sms import answers
from gateway.sms.commands import RENEW, TOPUP, Grammar, parse
from gateway.state import StateUnavailable
from gateway.state.limits import RateLimit
from tv_notify import events

log = logging.getLogger("tvtopup.sms")

SEEN_TTL_S = 48 * 3600  # providers retry within hours; a message id is remembered two days
HOUR_S = 3600
MESSAGE_ID_MAX = 64  # longer ids are hashed into the key

ADMITTED, DUPLICATE, INBOUND_LIMIT, REPLY_LIMIT, UNAVAILABLE = (
    "admitted", "duplicate", "inbound_limit", "reply_limit", "state_unavailable")
VALUE_VERBS = {TOPUP: "lockouts_unavailable", RENEW: "unavailable"}  # verb -> refusal while the store is away


async def handle_inbound(app: web.Application, msisdn: str, text: str, *, channel: str, to: str = "",
                         message_id: str = "") -> str | None:
    """Run the command in ``text`` from ``msisdn`` and queue the reply SMS; returns the reply's text
    (None when nothing is answered: a duplicate, over a rate limit, a sender that is no phone number).
    Refusals are replies; anything else (the database away) is logged and raised, with the message
    id forgotten so that the provider's next delivery runs it.

    ``channel`` is where it came from (``smpp``, ``africastalking``); ``to`` the short code it was
    sent to; ``message_id`` the provider's id of the inbound message (for de-duplication and logs).
    """
    billing, counters = app[BILLING], sms_counters(app[METRICS])
    try:
        phone = billing.msisdn(msisdn)
    except InvalidInput:
        log.warning("inbound SMS via %s (id %r) from something that is no phone number: ignored", channel,
                    message_id[:MESSAGE_ID_MAX])
        counters.ignored.labels("invalid_sender").inc()
        return None
    parsed = parse(text, grammar(billing))
    verb = parsed.verb or "unknown"
    gate = await admit(app[STATE], app[SETTINGS].sms, phone, channel, message_id)
    if gate in (DUPLICATE, INBOUND_LIMIT, REPLY_LIMIT):
        log.info("inbound SMS %s from %s via %s (id %r) ignored: %s", verb, mask(phone), channel,
                 message_id[:MESSAGE_ID_MAX], gate)
        counters.ignored.labels(gate).inc()
        return None
    try:
        result = await _run(app, billing, phone, parsed, gate)
    except Exception:
        # the database away, or a bug: the transport decides (the provider delivers again), so the
        # message id is forgotten; whatever committed stays safe (a used PIN does not redeem twice)
        log.exception("SMS command %s from %s via %s failed", verb, mask(phone), channel)
        counters.refusals.labels(verb, "error").inc()
        await _forget(app[STATE], channel, message_id)
        raise
    counters.commands.labels(verb).inc()
    if result.outcome != "ok":
        counters.refusals.labels(verb, result.outcome).inc()
    log.info("SMS command %s from %s via %s to %s (id %r): %s", verb, mask(phone), channel, to or "-",
             message_id[:MESSAGE_ID_MAX], result.outcome)
    return result.text


async def _run(app: web.Application, billing: Billing, phone: str, parsed, gate: str) -> answers.Answer:
    who = await answers.sender(billing, phone, parsed)
    if gate == UNAVAILABLE and parsed.verb in VALUE_VERBS:
        log.warning("state store unavailable: SMS %s from %s refused", parsed.verb, mask(phone))
        result = answers.refused_answer(who, VALUE_VERBS[parsed.verb], parsed.card)
    else:
        result = await answers.answer(billing, app[LOCKOUTS], who, parsed,
                                      refresh_min_interval_s=app[SETTINGS].tv.refresh_min_interval_s)
    if result.queue:
        await billing.db.write(_queue_reply, events.sms(result.card, phone, result.text, result.lang), billing.now())
    return result


def _queue_reply(conn, event: events.Event, now: int) -> None:
    outbox_store.enqueue(conn, [event], now)


async def admit(state, sms, phone: str, channel: str, message_id: str) -> str:
    """Whether a message may run: :data:`ADMITTED`, or why not (:data:`DUPLICATE`,
    :data:`INBOUND_LIMIT`, :data:`REPLY_LIMIT`), or :data:`UNAVAILABLE` (the store is away)."""
    try:
        if message_id and not await state.set_nx(seen_key(channel, message_id), "1", SEEN_TTL_S):
            return DUPLICATE
        if not await RateLimit(state, "sms_inbound", sms.inbound_per_hour, HOUR_S).hit(phone):
            return INBOUND_LIMIT
        if not await RateLimit(state, "sms_replies", sms.replies_per_hour, HOUR_S).hit(phone):
            return REPLY_LIMIT
    except StateUnavailable:
        return UNAVAILABLE
    return ADMITTED


async def _forget(state, channel: str, message_id: str) -> None:
    if message_id:
        try:
            await state.delete(seen_key(channel, message_id))
        except StateUnavailable:
            pass


def seen_key(channel: str, message_id: str) -> str:
    """The state key remembering a provider's message id (long ids hashed: keys stay bounded)."""
    if len(message_id) > MESSAGE_ID_MAX:
        message_id = "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()
    return f"sms:seen:{channel[:32]}:{message_id}"


def grammar(billing: Billing) -> Grammar:
    return Grammar(card_min=billing.card_min_length, card_max=billing.card_max_length,
                   pin_length=billing.pins.pin_length)


# ---- metrics --------------------------------------------------------------------------------

class SmsCounters:
    """``tvtopup_sms_commands_total{command}``, ``tvtopup_sms_refusals_total{command,code}``,
    ``tvtopup_sms_ignored_total{reason}`` on one app's registry."""

    def __init__(self, metrics: Metrics):
        registry = metrics.registry
        self.commands = Counter("tvtopup_sms_commands", "SMS commands answered, by command", ["command"],
                                registry=registry)
        self.refusals = Counter("tvtopup_sms_refusals", "SMS commands refused or malformed, by command and code",
                                ["command", "code"], registry=registry)
        self.ignored = Counter("tvtopup_sms_ignored", "Inbound SMS left unanswered: duplicate, over a rate "
                               "limit, invalid sender", ["reason"], registry=registry)


_COUNTERS: weakref.WeakKeyDictionary[Metrics, SmsCounters] = weakref.WeakKeyDictionary()


def sms_counters(metrics: Metrics) -> SmsCounters:
    """The SMS counters of ``metrics``, registered on first use."""
    counters = _COUNTERS.get(metrics)
    if counters is None:
        counters = _COUNTERS[metrics] = SmsCounters(metrics)
    return counters


__all__ = ["handle_inbound", "admit", "seen_key", "grammar", "sms_counters", "SEEN_TTL_S"]
