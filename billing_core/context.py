"""What every use case needs: the database, the rates, the operator's rules and a clock."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

from billing_core.db.database import Database
from billing_core.errors import InvalidCard, InvalidInput
from billing_core.money import Money, Rates
from billing_core.phones import normalize_msisdn
from billing_core.pins import PinPolicy


def system_clock() -> int:
    return int(time.time())


def max_amounts(entries: tuple[str, ...]) -> Mapping[str, int]:
    """``("KES 250000.00", …)`` as minor units per currency (InvalidAmount on a bad entry)."""
    limits = (Money.parse(text) for text in entries)
    return MappingProxyType({m.currency: m.minor for m in limits})


@dataclass(frozen=True)
class Billing:
    db: Database
    rates: Rates
    region: str = "KE"
    currency: str = "KES"
    languages: tuple[str, ...] = ("en", "fr", "sw")
    default_lang: str = "en"
    card_min_length: int = 8
    card_max_length: int = 12
    clock: Callable[[], int] = field(default=system_clock)
    pins: PinPolicy = field(default_factory=PinPolicy)  # scratch-card PIN keys, length, alarm
    # the largest payment credited, in minor units per currency (payments.max_amount); above: suspense
    max_amounts: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_settings(cls, settings: Any, db: Database, clock: Callable[[], int] = system_clock) -> Billing:
        op = settings.operator
        return cls(db=db, rates=Rates(dict(settings.currencies)), region=op.region, currency=op.currency,
                   languages=tuple(op.languages), default_lang=op.default_lang,
                   card_min_length=op.card_min_length, card_max_length=op.card_max_length, clock=clock,
                   pins=PinPolicy.from_settings(settings.security),
                   max_amounts=max_amounts(settings.payments.max_amount))

    def now(self) -> int:
        return self.clock()

    def card(self, text: str) -> str:
        """A smartcard number: digits only, of the configured length."""
        card = (text or "").strip()
        if not card.isascii() or not card.isdigit() or not self.card_min_length <= len(card) <= self.card_max_length:
            raise InvalidCard(f"a card number is {self.card_min_length} to {self.card_max_length} digits")
        return card

    def is_card(self, text: str) -> bool:
        try:
            self.card(text)
        except InvalidCard:
            return False
        return True

    def msisdn(self, text: str) -> str:
        return normalize_msisdn(text, self.region)

    def lang(self, text: str | None) -> str:
        lang = (text or self.default_lang).strip().lower()
        if lang not in self.languages:
            raise InvalidInput(f"language must be one of {', '.join(self.languages)}")
        return lang
