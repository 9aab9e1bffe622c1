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
        "promo_bonus": "{promo}: {tvu} bonus TVU added to card {card}. Wallet: {wallet} TVU.",
        "promo_addon": "{promo}: {package} free for {days} days on card {card}, until {date}.",
        "promo_reconnect": "Welcome back! {promo}: {days} free days on card {card}, active until {date}.",
        "card_swapped": "Your subscription moved from card {old} to card {card}: {package} until {date}, wallet {wallet} TVU.",
        "ppv_bought": "{title} on card {card}: {start} to {end} UTC. {tvu} TVU paid. Wallet: {wallet} TVU.",
        "ppv_refunded": "{title} is cancelled: {tvu} TVU back on card {card}. Wallet: {wallet} TVU.",
        "addon_added": "{package} added to card {card} until {date} for {tvu} TVU. Wallet: {wallet} TVU.",
        "addon_renewed": "{package} on card {card} renewed until {date} for {tvu} TVU. Wallet: {wallet} TVU.",
        "addon_expired": "{package} on card {card} has ended. Top up and add it again to watch it.",
        "upgraded": "Card {card}: {package} until {date}. {credit} TVU credited for unused days. Wallet: {wallet} TVU.",
        "package_next": "Card {card}: {package} replaces your package at the next renewal, on {date}.",
        "paid": "Paid {amount} ref {ref}: {tvu} TVU on card {card}. Wallet {wallet} TVU. {package} until {date}.",
        "paid_inactive": "Paid {amount} ref {ref}: {tvu} TVU on card {card}. Wallet {wallet} TVU. {package} needs {price} TVU.",
        "paid_renewed": "Paid {amount} ref {ref}. {package} active until {date}. Wallet {wallet} TVU. Card {card}.",
        "payment_reversed": "Card {card}: payment {ref} of {amount} was reversed, {tvu} TVU taken back. Wallet: {wallet} TVU.",
        "suspended": "Card {card} is suspended. Call customer care to restore it. Your wallet is kept.",
        "resumed": "Card {card} is restored: {package} until {date}. Wallet: {wallet} TVU.",
        "terminated": "The subscription on card {card} has ended. Call customer care about your {wallet} TVU.",
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
        "promo_bonus": "{promo}: {tvu} TVU offerts sur la carte {card}. Solde: {wallet} TVU.",
        "promo_addon": "{promo}: {package} offert {days} jours sur la carte {card}, jusqu'au {date}.",
        "promo_reconnect": "Bon retour! {promo}: {days} jours offerts sur la carte {card}, actif jusqu'au {date}.",
        "card_swapped": "Abonnement transfere de la carte {old} a la carte {card}: {package} jusqu'au {date}, solde {wallet} TVU.",
        "ppv_bought": "{title} sur la carte {card}: {start} a {end} UTC. {tvu} TVU payes. Solde: {wallet} TVU.",
        "ppv_refunded": "{title} est annule: {tvu} TVU rendus a la carte {card}. Solde: {wallet} TVU.",
        "addon_added": "{package} ajoute a la carte {card} jusqu'au {date} pour {tvu} TVU. Solde: {wallet} TVU.",
        "addon_renewed": "{package} sur la carte {card} renouvele jusqu'au {date}: {tvu} TVU. Solde: {wallet} TVU.",
        "addon_expired": "{package} sur la carte {card} est termine. Rechargez et ajoutez-le a nouveau.",
        "upgraded": "Carte {card}: {package} jusqu'au {date}. {credit} TVU rendus pour les jours restants. Solde: {wallet} TVU.",
        "package_next": "Carte {card}: {package} remplace votre bouquet au prochain renouvellement, le {date}.",
        "paid": "Paye {amount} ref {ref}: {tvu} TVU carte {card}. Solde {wallet} TVU. {package} au {date}.",
        "paid_inactive": "Paye {amount} ref {ref}: {tvu} TVU carte {card}. Solde {wallet} TVU. {package}: {price} TVU.",
        "paid_renewed": "Paye {amount} ref {ref}. {package} actif au {date}. Solde {wallet} TVU. Carte {card}.",
        "payment_reversed": "Carte {card}: le paiement {ref} de {amount} est annule, {tvu} TVU repris. Solde: {wallet} TVU.",
        "suspended": "La carte {card} est suspendue. Appelez le service client. Votre solde est garde.",
        "resumed": "La carte {card} est retablie: {package} jusqu'au {date}. Solde: {wallet} TVU.",
        "terminated": "L'abonnement de la carte {card} est termine. Appelez le service client pour vos {wallet} TVU.",
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
        "promo_bonus": "{promo}: TVU {tvu} za ziada kwa kadi {card}. Salio: {wallet} TVU.",
        "promo_addon": "{promo}: {package} bure kwa siku {days} kwenye kadi {card}, hadi {date}.",
        "promo_reconnect": "Karibu tena! {promo}: siku {days} za bure kwenye kadi {card}, hai hadi {date}.",
        "card_swapped": "Usajili umehamishwa kutoka kadi {old} hadi kadi {card}: {package} hadi {date}, salio {wallet} TVU.",
        "ppv_bought": "{title} kwa kadi {card}: {start} hadi {end} UTC. TVU {tvu} zimelipwa. Salio: {wallet} TVU.",
        "ppv_refunded": "{title} imefutwa: TVU {tvu} zimerudishwa kwa kadi {card}. Salio: {wallet} TVU.",
        "addon_added": "{package} imeongezwa kwa kadi {card} hadi {date} kwa TVU {tvu}. Salio: {wallet} TVU.",
        "addon_renewed": "{package} kwa kadi {card} imeongezwa hadi {date} kwa TVU {tvu}. Salio: {wallet} TVU.",
        "addon_expired": "{package} kwenye kadi {card} imeisha. Ongeza salio uiongeze tena.",
        "upgraded": "Kadi {card}: {package} hadi {date}. TVU {credit} zimerudishwa kwa siku zilizobaki. Salio: {wallet} TVU.",
        "package_next": "Kadi {card}: {package} itachukua nafasi ya kifurushi chako {date}.",
        "paid": "Umelipa {amount} kumb {ref}: TVU {tvu} kadi {card}. Salio {wallet} TVU. {package} hadi {date}.",
        "paid_inactive": "Umelipa {amount} kumb {ref}: TVU {tvu} kadi {card}. Salio {wallet} TVU. {package}: TVU {price}.",
        "paid_renewed": "Umelipa {amount} kumb {ref}. {package} hai hadi {date}. Salio {wallet} TVU. Kadi {card}.",
        "payment_reversed": "Kadi {card}: malipo {ref} ya {amount} yamebatilishwa, TVU {tvu} zimerudishwa. Salio: {wallet} TVU.",
        "suspended": "Kadi {card} imesimamishwa. Piga huduma kwa wateja. Salio lako limehifadhiwa.",
        "resumed": "Kadi {card} imerejeshwa: {package} hadi {date}. Salio: {wallet} TVU.",
        "terminated": "Usajili wa kadi {card} umekwisha. Piga huduma kwa wateja kuhusu TVU {wallet}.",
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
        "unknown_event": "No such pay-per-view event.",
        "no_events": "No pay-per-view event is on sale now.",
        "no_addons": "No add-on is on sale now.",
        "event_closed": "This event is over or cancelled.",
        "already_bought": "This card has bought this event already.",
        "base_not_active": "Renew your package first, then add this.",
        "addon_active": "This add-on is active on the card already.",
        "wrong_package_kind": "That package cannot be chosen here.",
        "same_package": "This card has that package already.",
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
        "unknown_event": "Cet evenement payant n'existe pas.",
        "no_events": "Aucun evenement payant en vente pour le moment.",
        "no_addons": "Aucune option en vente pour le moment.",
        "event_closed": "Cet evenement est termine ou annule.",
        "already_bought": "Cette carte a deja achete cet evenement.",
        "base_not_active": "Renouvelez d'abord votre bouquet, puis ajoutez ceci.",
        "addon_active": "Cette option est deja active sur la carte.",
        "wrong_package_kind": "Ce bouquet ne peut pas etre choisi ici.",
        "same_package": "Cette carte a deja ce bouquet.",
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
        "unknown_event": "Tukio hilo la kulipia halipo.",
        "no_events": "Hakuna tukio la kulipia linalouzwa sasa.",
        "no_addons": "Hakuna ziada inayouzwa sasa.",
        "event_closed": "Tukio hili limeisha au limefutwa.",
        "already_bought": "Kadi hii imeshanunua tukio hili.",
        "base_not_active": "Lipia kifurushi chako kwanza, kisha ongeza hiki.",
        "addon_active": "Nyongeza hii iko hai kwenye kadi tayari.",
        "wrong_package_kind": "Kifurushi hicho hakiwezi kuchaguliwa hapa.",
        "same_package": "Kadi hii ina kifurushi hicho tayari.",
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


TITLE_MAX = 24  # event titles in notices


def short_title(title: str) -> str:
    """An event's title cut to fit a notice."""
    title = " ".join(title.split())
    return title if len(title) <= TITLE_MAX else title[:TITLE_MAX - 2] + ".."


def moment(ts: int) -> str:
    """A time as subscribers read it in notices (UTC): ``2026-12-21 20:00``."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M")


def day(ts: int | None) -> str:
    """A date as subscribers read it: ``2026-12-21``."""
    return "-" if ts is None else _day(ts // 86_400)


@functools.lru_cache(maxsize=1024)
def _day(days: int) -> str:
    return datetime.fromtimestamp(days * 86_400, timezone.utc).strftime("%Y-%m-%d")
