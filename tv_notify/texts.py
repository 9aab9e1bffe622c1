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


# What a subscriber is told when a request is refused, by the refusal's stable code
# (``DomainError.code``); USSD screens and SMS replies share it. At most 120 characters.
REFUSALS: dict[str, dict[str, str]] = {
    "en": {
        "pin_invalid": "This PIN is not valid. Check the card and try again.",
        "pin_malformed": "That is not a card PIN. Check the digits and try again.",
        "locked_out": "Too many wrong PINs. Try again later.",
        "lockouts_unavailable": "Service busy. Please try again in a moment.",
        "card_required": "Give the smartcard number too.",
        "invalid_card": "That is not a smartcard number.",
        "unknown_card": "No subscription for this smartcard.",
        "unknown_package": "No such package.",
        "insufficient_wallet": "Not enough TVU in the wallet. Top up first.",
        "subscriber_blocked": "This smartcard is suspended. Call customer care.",
        "not_active": "No active package on this card to refresh.",
        "not_your_card": "This smartcard is not registered to this phone.",
        "refresh_too_soon": "Already sent. Keep the decoder on and wait a few minutes.",
        "invalid_amount": "That amount cannot be paid.",
        "rate_limited": "Too many requests. Try again later.",
        "card_not_own": "Only the phone registered to this card can do that.",
        "nothing_to_pay": "The wallet already covers it: renew from the wallet.",
        "unavailable": "Service busy. Please try again in a moment.",
        "error": "Request not done. Please try again.",
    },
    "fr": {
        "pin_invalid": "Ce code PIN n'est pas valide. Verifiez la carte et reessayez.",
        "pin_malformed": "Ce n'est pas un code de carte. Verifiez les chiffres.",
        "locked_out": "Trop de codes faux. Reessayez plus tard.",
        "lockouts_unavailable": "Service occupe. Reessayez dans un instant.",
        "card_required": "Indiquez aussi le numero de carte.",
        "invalid_card": "Ce n'est pas un numero de carte.",
        "unknown_card": "Aucun abonnement pour cette carte.",
        "unknown_package": "Ce bouquet n'existe pas.",
        "insufficient_wallet": "Solde TVU insuffisant. Rechargez d'abord.",
        "subscriber_blocked": "Cette carte est suspendue. Appelez le service client.",
        "not_active": "Aucun bouquet actif a renvoyer sur cette carte.",
        "not_your_card": "Cette carte n'est pas enregistree pour ce telephone.",
        "refresh_too_soon": "Deja envoye. Laissez le decodeur allume quelques minutes.",
        "invalid_amount": "Ce montant ne peut pas etre paye.",
        "rate_limited": "Trop de demandes. Reessayez plus tard.",
        "card_not_own": "Seul le telephone enregistre pour cette carte peut le faire.",
        "nothing_to_pay": "Le solde suffit deja: renouvelez depuis le solde.",
        "unavailable": "Service occupe. Reessayez dans un instant.",
        "error": "Demande non traitee. Reessayez.",
    },
    "sw": {
        "pin_invalid": "PIN hii si sahihi. Angalia kadi ujaribu tena.",
        "pin_malformed": "Hiyo si PIN ya kadi. Angalia tarakimu.",
        "locked_out": "PIN nyingi zisizo sahihi. Jaribu baadaye.",
        "lockouts_unavailable": "Huduma ina shughuli. Jaribu tena baadaye kidogo.",
        "card_required": "Weka pia namba ya kadi.",
        "invalid_card": "Hiyo si namba ya kadi.",
        "unknown_card": "Hakuna usajili wa kadi hii.",
        "unknown_package": "Kifurushi hicho hakipo.",
        "insufficient_wallet": "TVU hazitoshi kwenye salio. Ongeza kwanza.",
        "subscriber_blocked": "Kadi hii imesimamishwa. Piga huduma kwa wateja.",
        "not_active": "Hakuna kifurushi hai kwenye kadi hii.",
        "not_your_card": "Kadi hii haijasajiliwa kwa simu hii.",
        "refresh_too_soon": "Imeshatumwa. Acha dekoda ikiwa imewashwa dakika chache.",
        "invalid_amount": "Kiasi hicho hakiwezi kulipwa.",
        "rate_limited": "Maombi mengi. Jaribu baadaye.",
        "card_not_own": "Ni simu iliyosajiliwa kwa kadi hii tu inayoweza kufanya hivyo.",
        "nothing_to_pay": "Salio linatosha tayari: lipia kutoka salio.",
        "unavailable": "Huduma ina shughuli. Jaribu tena baadaye kidogo.",
        "error": "Ombi halikufanyika. Jaribu tena.",
    },
}


def refusal(code: str, lang: str) -> str:
    """What the subscriber is told for the refusal ``code`` in ``lang`` (a generic text for
    codes with none of their own)."""
    catalogue = REFUSALS.get(lang) or REFUSALS["en"]
    return catalogue.get(code) or catalogue["error"]


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
