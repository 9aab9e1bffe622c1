"""Alerts on top-up patterns typical of fraud, counted in the shared state store.

- ``same_amount``: one dealer tops up ``dealers.alert_same_amount_cards`` different cards
  with one same face value within ``dealers.alert_window_minutes`` (a stolen float or
  stolen credentials being spread thin, or a dealer splitting sales to hide them).
- ``night_burst``: ``dealers.alert_night_topups`` top-ups by one dealer within the window
  between ``night_start_hour`` and ``night_end_hour`` in ``operator.timezone``.

An alert is a WARNING in the log (dealer id and pattern; no card numbers, no secrets)
and a count in ``/metrics`` (``tvtopup_dealer_alerts``); it is raised once per window.
Alerts never refuse a sale, and a state store that cannot answer skips them.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.state.store import State, StateUnavailable

log = logging.getLogger("tvtopup.dealers.alerts")
PREFIX = "dealer-alert:"
RAISED: Counter = Counter()  # pattern -> alerts raised by this process


@dataclass(frozen=True, slots=True)
class AlertRules:
    window_s: int
    same_amount_cards: int
    night_topups: int
    night_start_hour: int
    night_end_hour: int
    timezone: str

    @classmethod
    def from_settings(cls, settings: Any) -> AlertRules:
        d = settings.dealers
        return cls(d.alert_window_minutes * 60, d.alert_same_amount_cards, d.alert_night_topups, d.night_start_hour,
                   d.night_end_hour, settings.operator.timezone)

    def at_night(self, now: int) -> bool:
        hour = datetime.fromtimestamp(now, ZoneInfo(self.timezone)).hour
        start, end = self.night_start_hour, self.night_end_hour
        return start <= hour < end if start <= end else hour >= start or hour < end


async def observe(state: State, rules: AlertRules, dealer: int, card: str, face: str, now: int) -> list[str]:
    """Count one sale; the patterns that just reached their threshold (usually none)."""
    try:
        return await _observe(state, rules, dealer, card, face, now)
    except StateUnavailable:
        log.debug("fraud counters skipped: state store unavailable")
        return []


async def _observe(state: State, rules: AlertRules, dealer: int, card: str, face: str, now: int) -> list[str]:
    raised, window = [], rules.window_s
    amount = face.replace(" ", "")
    if await state.set_nx(f"{PREFIX}card:{dealer}:{amount}:{card}", "1", window):
        if await state.incr(f"{PREFIX}same:{dealer}:{amount}", window) == rules.same_amount_cards:
            raised.append(_raise("same_amount", dealer, f"{rules.same_amount_cards} different cards topped up with "
                                                        f"{face} each within {window // 60} min"))
    if rules.at_night(now) and await state.incr(f"{PREFIX}night:{dealer}", window) == rules.night_topups:
        raised.append(_raise("night_burst", dealer, f"{rules.night_topups} top-ups at night within {window // 60} min"))
    return raised


def _raise(pattern: str, dealer: int, what: str) -> str:
    RAISED[pattern] += 1
    log.warning("dealer alert %s: dealer %s: %s", pattern, dealer, what)
    return pattern
