"""Notices sent to subscribers (SMS and on-screen), per language, keyed by stable codes.

Plain ASCII, one SMS (160 characters) each once filled in.
"""
from __future__ import annotations

import functools
from datetime import datetime, timezone

NOTICES: dict[str, dict[str, str]] = {
    "en": {
        "renewed": "{package} is active until {date}. Wallet: {wallet} TVU. Card {card}.",
        "credited": "{tvu} TVU added to card {card}. Wallet: {wallet} TVU. {package} is active until {date}.",
        "credited_inactive": "{tvu} TVU added to card {card}. Wallet: {wallet} TVU. {package} needs {price} TVU.",
        "expired": "{package} on card {card} has expired. Top up {price} TVU to watch again.",
        "reminder": "{package} on card {card} expires on {date}. Wallet: {wallet} TVU, price {price} TVU.",
    },
    "fr": {
        "renewed": "{package} est actif jusqu'au {date}. Solde: {wallet} TVU. Carte {card}.",
        "credited": "{tvu} TVU ajoutes a la carte {card}. Solde: {wallet} TVU. {package} actif jusqu'au {date}.",
        "credited_inactive": "{tvu} TVU ajoutes a la carte {card}. Solde: {wallet} TVU. {package} coute {price} TVU.",
        "expired": "{package} sur la carte {card} a expire. Rechargez {price} TVU pour regarder.",
        "reminder": "{package} sur la carte {card} expire le {date}. Solde: {wallet} TVU, prix {price} TVU.",
    },
    "sw": {
        "renewed": "{package} iko hai hadi {date}. Salio: {wallet} TVU. Kadi {card}.",
        "credited": "TVU {tvu} zimeongezwa kwa kadi {card}. Salio: {wallet} TVU. {package} hadi {date}.",
        "credited_inactive": "TVU {tvu} zimeongezwa kwa kadi {card}. Salio: {wallet} TVU. {package} ni TVU {price}.",
        "expired": "{package} kwenye kadi {card} imeisha. Ongeza TVU {price} kutazama tena.",
        "reminder": "{package} kwenye kadi {card} itaisha {date}. Salio: {wallet} TVU, bei TVU {price}.",
    },
}


def notice(code: str, lang: str, **values: object) -> str:
    """The notice ``code`` in ``lang`` (English when the language has none)."""
    catalogue = NOTICES.get(lang) or NOTICES["en"]
    return catalogue[code].format(**values)


def day(ts: int | None) -> str:
    """A date as subscribers read it: ``2026-12-21``."""
    return "-" if ts is None else _day(ts // 86_400)


@functools.lru_cache(maxsize=1024)
def _day(days: int) -> str:
    return datetime.fromtimestamp(days * 86_400, timezone.utc).strftime("%Y-%m-%d")
