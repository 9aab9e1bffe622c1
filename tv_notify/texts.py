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
        "reminder_renews": "{package} on card {card} renews from your wallet on {date}: {price} TVU of your {wallet} TVU.",
        "granted": "{days} free days on card {card}: {package} is active until {date}.",
        "refreshed": "Card {card}: your {package} rights were sent again, active until {date}. Keep the decoder on.",
    },
    "fr": {
        "renewed": "{package} est actif jusqu'au {date}. Solde: {wallet} TVU. Carte {card}.",
        "credited": "{tvu} TVU ajoutes a la carte {card}. Solde: {wallet} TVU. {package} actif jusqu'au {date}.",
        "credited_inactive": "{tvu} TVU ajoutes a la carte {card}. Solde: {wallet} TVU. {package} coute {price} TVU.",
        "expired": "{package} sur la carte {card} a expire. Rechargez {price} TVU pour regarder.",
        "reminder": "{package} sur la carte {card} expire le {date}. Solde: {wallet} TVU, prix {price} TVU.",
        "reminder_renews": "{package} sur la carte {card} sera renouvele le {date}: {price} TVU de votre solde de {wallet} TVU.",
        "granted": "{days} jours offerts sur la carte {card}: {package} actif jusqu'au {date}.",
        "refreshed": "Carte {card}: vos droits {package} ont ete renvoyes, actifs jusqu'au {date}. Laissez le decodeur allume.",
    },
    "sw": {
        "renewed": "{package} iko hai hadi {date}. Salio: {wallet} TVU. Kadi {card}.",
        "credited": "TVU {tvu} zimeongezwa kwa kadi {card}. Salio: {wallet} TVU. {package} hadi {date}.",
        "credited_inactive": "TVU {tvu} zimeongezwa kwa kadi {card}. Salio: {wallet} TVU. {package} ni TVU {price}.",
        "expired": "{package} kwenye kadi {card} imeisha. Ongeza TVU {price} kutazama tena.",
        "reminder": "{package} kwenye kadi {card} itaisha {date}. Salio: {wallet} TVU, bei TVU {price}.",
        "reminder_renews": "{package} kwenye kadi {card} itaongezwa kutoka salio {date}: TVU {price} kati ya TVU {wallet}.",
        "granted": "Siku {days} za bure kwenye kadi {card}: {package} iko hai hadi {date}.",
        "refreshed": "Kadi {card}: haki za {package} zimetumwa tena, hai hadi {date}. Acha dekoda ikiwa imewashwa.",
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
