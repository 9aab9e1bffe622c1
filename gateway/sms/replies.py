"""What the gateway answers to SMS commands, per language, keyed by stable codes.

Refusals come from :func:`tv_notify.texts.refusal` (shared with USSD); confirmations of
top-ups and renewals are the billing core's own notices (``tv_notify.texts.NOTICES``).
This catalogue holds the rest: balances, help, usage hints, language changes.

Every text is plain ASCII from the GSM 03.38 basic set and fits one SMS (160
characters) once filled with the longest values allowed (:data:`LIMITS`); the tests
check each template that way.
"""
from __future__ import annotations

from tv_notify.texts import day

# Longest values a template is filled with; longer ones are cut (package names) first.
PACKAGE_NAME_MAX = 24
CARDS_LISTED_MAX = 3

REPLIES: dict[str, dict[str, str]] = {
    "en": {
        "status_active": "Card {card}: {package} active until {date}.",
        "status_expired": "Card {card}: {package} expired on {date}.",
        "status_new": "Card {card}: {package} not active yet.",
        "status_suspended": "Card {card} is suspended. Call customer care.",
        "wallet": " Wallet: {wallet} TVU.",
        "choose_card": "This phone has several cards: {cards}. Send {usage}.",
        "no_card": "No smartcard is registered to this phone. Send {usage}.",
        "usage": "Send {usage}.",
        "topped_up_other": "{tvu} TVU added to card {card}. The card's phone gets a confirmation.",
        "lang_set": "Your SMS and TV messages will now be in English.",
        "lang_no_card": "No smartcard is registered to this phone, so no language was saved.",
        "help": ("BAL = balance. TOPUP PIN = load a scratch card. RENEW = renew now. REFRESH = resend TV rights. "
                 "LANG EN/FR/SW. Add the card number if you have several."),
    },
    "fr": {
        "status_active": "Carte {card}: {package} actif jusqu'au {date}.",
        "status_expired": "Carte {card}: {package} expire depuis le {date}.",
        "status_new": "Carte {card}: {package} pas encore actif.",
        "status_suspended": "La carte {card} est suspendue. Appelez le service client.",
        "wallet": " Solde: {wallet} TVU.",
        "choose_card": "Ce telephone a plusieurs cartes: {cards}. Envoyez {usage}.",
        "no_card": "Aucune carte n'est enregistree pour ce telephone. Envoyez {usage}.",
        "usage": "Envoyez {usage}.",
        "topped_up_other": "{tvu} TVU ajoutes a la carte {card}. Son telephone recoit une confirmation.",
        "lang_set": "Vos SMS et messages TV seront desormais en francais.",
        "lang_no_card": "Aucune carte n'est enregistree pour ce telephone: langue non enregistree.",
        "help": ("SOLDE. RECHARGE PIN = carte a gratter. RENOUVELER = renouveler. ACTUALISER = renvoyer "
                 "les droits TV. LANGUE EN/FR/SW. Plusieurs cartes: ajoutez son numero."),
    },
    "sw": {
        "status_active": "Kadi {card}: {package} iko hai hadi {date}.",
        "status_expired": "Kadi {card}: {package} iliisha {date}.",
        "status_new": "Kadi {card}: {package} bado haijaanza.",
        "status_suspended": "Kadi {card} imesimamishwa. Piga huduma kwa wateja.",
        "wallet": " Salio: {wallet} TVU.",
        "choose_card": "Simu hii ina kadi kadhaa: {cards}. Tuma {usage}.",
        "no_card": "Hakuna kadi iliyosajiliwa kwa simu hii. Tuma {usage}.",
        "usage": "Tuma {usage}.",
        "topped_up_other": "TVU {tvu} zimeongezwa kwa kadi {card}. Simu ya kadi itapata uthibitisho.",
        "lang_set": "SMS na ujumbe wa TV sasa zitakuwa kwa Kiswahili.",
        "lang_no_card": "Hakuna kadi iliyosajiliwa kwa simu hii, lugha haikuhifadhiwa.",
        "help": ("SALIO. JAZA PIN = kadi ya kukwangua. LIPIA = lipia kifurushi. SASISHA = tuma haki za TV "
                 "tena. LUGHA EN/FR/SW. Kadi zaidi ya moja: ongeza namba ya kadi."),
    },
}

# How each command is written, in each language (shown in usage hints).
USAGES: dict[str, dict[str, str]] = {
    "en": {"bal": "BAL CARD", "topup": "TOPUP PIN CARD", "renew": "RENEW PACKAGE CARD", "refresh": "REFRESH CARD",
           "lang": "LANG EN, LANG FR or LANG SW", "help": "HELP", "ppv": "PPV EVENT CARD",
           "addon": "ADDON CODE CARD"},
    "fr": {"bal": "SOLDE CARTE", "topup": "RECHARGE PIN CARTE", "renew": "RENOUVELER BOUQUET CARTE",
           "refresh": "ACTUALISER CARTE", "lang": "LANGUE EN, LANGUE FR ou LANGUE SW", "help": "AIDE",
           "ppv": "EVENEMENT CODE CARTE", "addon": "OPTION CODE CARTE"},
    "sw": {"bal": "SALIO KADI", "topup": "JAZA PIN KADI", "renew": "LIPIA KIFURUSHI KADI", "refresh": "SASISHA KADI",
           "lang": "LUGHA EN, LUGHA FR au LUGHA SW", "help": "MSAADA", "ppv": "TUKIO CODE KADI",
           "addon": "ZIADA CODE KADI"},
}

SMS_MAX = 160
# GSM 03.38: the basic set (one septet each) and the extension table (two: escape + char).
GSM_BASIC = frozenset("@$\n\r_ !\"#%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
GSM_EXTENSION = frozenset("^{}\\[~]|")


def reply(code: str, lang: str, **values: object) -> str:
    """The reply ``code`` in ``lang`` (English when the language has none)."""
    return (REPLIES.get(lang) or REPLIES["en"])[code].format(**values)


def usage(verb: str, lang: str) -> str:
    """How to write ``verb`` in ``lang``: ``TOPUP PIN CARD``."""
    return (USAGES.get(lang) or USAGES["en"])[verb]


def balance(lang: str, *, card: str, status: str, package: str | None, expires_at: int | None,
            wallet_tvu: int | None) -> str:
    """A card's status and expiry, and its wallet unless ``wallet_tvu`` is None (someone else's card)."""
    text = reply(f"status_{status}", lang, card=card, package=package_name(package), date=day(expires_at))
    return text if wallet_tvu is None else text + reply("wallet", lang, wallet=wallet_tvu)


def card_list(cards: list[str]) -> str:
    """Cards for a reply: the first few, then ``...``."""
    shown = ", ".join(cards[:CARDS_LISTED_MAX])
    return shown + (", ..." if len(cards) > CARDS_LISTED_MAX else "")


def package_name(name: str | None) -> str:
    """A package's name cut to fit a reply."""
    name = (name or "-").encode("ascii", "replace").decode()
    return name if len(name) <= PACKAGE_NAME_MAX else name[:PACKAGE_NAME_MAX - 2] + ".."


def gsm_length(text: str) -> int:
    """Septets ``text`` takes in one GSM-7 SMS; raises ValueError for a character GSM-7 lacks."""
    length = 0
    for ch in text:
        if ch in GSM_BASIC:
            length += 1
        elif ch in GSM_EXTENSION:
            length += 2
        else:
            raise ValueError(f"{ch!r} is not in the GSM 7-bit alphabet")
    return length


__all__ = ["REPLIES", "USAGES", "SMS_MAX", "reply", "usage", "balance", "card_list", "package_name", "gsm_length"]
