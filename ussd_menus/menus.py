"""The self-service journey behind the USSD code, declared as data.

Commands the caller runs (``gateway.ussd.commands``): ``cards`` (the phone's cards and
language), ``lookup`` (a card typed by a phone with none), ``show`` (fresh balance),
``packages``, ``redeem``, ``renew``, ``switch`` (a package change now: an upgrade
credits the unused days, a cheaper package waits for the next renewal), ``pay`` (queued:
mobile money asks the phone), ``refresh``, ``lang``, ``ppv_events`` (events on sale) and
``ppv`` (buy one from the wallet), ``addons`` (add-on packages on sale) and ``addon``
(buy one from the wallet, aligned with the base package).
"""
from __future__ import annotations

from ussd_menus.engine import (Ask, Choice, Confirm, Do, End, Env, Graph, Menu, Pick, Route, Session, Show)


def _card_is_own(s: Session, env: Env) -> bool:
    card = s.card()
    return bool(card and card.own)


def _can_pay_mobile(s: Session, env: Env) -> bool:
    """Mobile money for the chosen package: any card may be paid for (like a paybill), but only
    the phone's own cards may change package."""
    card = s.card()
    if env.pay_provider == "none" or card is None:
        return False
    return card.own or s.data.get("package") == card.package


def _can_switch(s: Session, env: Env) -> bool:
    """A different package chosen for the phone's own card during a running period."""
    card = s.card()
    return bool(card and card.own and card.status == "active" and s.data.get("package") != card.package)


PREDICATES = {
    "can_switch": _can_switch,
    "no_cards": lambda s, env: not s.cards,
    "card_chosen": lambda s, env: s.card() is not None,
    "several_cards": lambda s, env: sum(c.own for c in s.cards) > 1,
    "own_card": _card_is_own,
    "can_pay_mobile": _can_pay_mobile,
    "can_pay": lambda s, env: _card_is_own(s, env) or _can_pay_mobile(s, env),
}

_REFUSED = ("*", "refused")

NODES = {
    # who is calling
    "start": Do("cards", (("ok", "route"), _REFUSED)),
    "route": Route((("no_cards", "link"), ("card_chosen", "main"), ("", "pick_card"))),
    "link": Ask("link_prompt", "card", "card", "lookup"),
    "lookup": Do("lookup", (("ok", "main"), ("*", "link_retry")), args=("card",)),
    "link_retry": Ask("link_retry", "card", "card", "lookup"),
    "pick_card": Pick("pick_card", "cards", "card", "main"),
    # the main menu
    "main": Menu("main_title", (
        Choice("menu_balance", "balance_do"),
        Choice("menu_redeem", "redeem_pin"),
        Choice("menu_renew", "packages_do"),
        Choice("menu_refresh", "refresh_confirm"),
        Choice("menu_language", "language"),
        Choice("menu_other_card", "pick_card", when="several_cards"),
        Choice("menu_help", "help"),
        Choice("menu_ppv", "ppv_do"),
        Choice("menu_addons", "addons_do"),
    ), root=True),
    # balance
    "balance_do": Do("show", (("ok", "balance_route"), _REFUSED), args=("card",)),
    "balance_route": Route((("own_card", "balance"), ("", "balance_other"))),
    "balance": Show("balance"),
    "balance_other": Show("balance_other"),
    # scratch card
    "redeem_pin": Ask("redeem_prompt", "pin", "pin", "redeem_do", secret=True),
    "redeem_do": Do("redeem", (("ok", "redeemed"), _REFUSED), args=("card", "pin")),
    "redeemed": End("redeemed"),
    # renew or change package
    "packages_do": Do("packages", (("ok", "packages"), _REFUSED)),
    "packages": Pick("packages_title", "packages", "package", "pay_route"),
    "pay_route": Route((("can_pay", "pay_method"), ("", "no_pay"))),
    "no_pay": End("no_pay"),
    "pay_method": Menu("pay_title", (
        Choice("pay_wallet", "confirm_wallet", when="own_card"),
        Choice("pay_mobile", "confirm_mobile", when="can_pay_mobile"),
        Choice("pay_switch", "confirm_switch", when="can_switch"),
    )),
    "confirm_switch": Confirm("confirm_switch", "switch_do"),
    "switch_do": Do("switch", (("ok", "renewed"), ("later", "switch_later"), _REFUSED), args=("card", "package")),
    "switch_later": End("switch_later"),
    "confirm_wallet": Confirm("confirm_wallet", "renew_do"),
    "renew_do": Do("renew", (("ok", "renewed"), _REFUSED), args=("card", "package")),
    "renewed": End("renewed"),
    "confirm_mobile": Confirm("confirm_mobile", "pay_do"),
    "pay_do": Do("pay", (("ok", "pay_sent"), _REFUSED), args=("card", "package")),
    "pay_sent": End("pay_sent"),
    # decoder
    "refresh_confirm": Confirm("refresh_confirm", "refresh_do"),
    "refresh_do": Do("refresh", (("ok", "refreshed"), _REFUSED), args=("card",)),
    "refreshed": End("refreshed"),
    # language and help
    "language": Menu("lang_title", (
        Choice("lang_en", "lang_do", set=(("lang", "en"),)),
        Choice("lang_fr", "lang_do", set=(("lang", "fr"),)),
        Choice("lang_sw", "lang_do", set=(("lang", "sw"),)),
    )),
    "lang_do": Do("lang", (("ok", "main"), _REFUSED), args=("lang", "card")),
    "help": Show("help"),
    # pay-per-view
    "ppv_do": Do("ppv_events", (("ok", "ppv_list"), _REFUSED)),
    "ppv_list": Pick("ppv_title", "events", "event", "ppv_route"),
    "ppv_route": Route((("own_card", "ppv_confirm"), ("", "ppv_not_own"))),
    "ppv_not_own": End("ppv_not_own"),
    "ppv_confirm": Confirm("ppv_confirm", "ppv_buy"),
    "ppv_buy": Do("ppv", (("ok", "ppv_bought"), _REFUSED), args=("card", "event")),
    "ppv_bought": End("ppv_bought"),
    # add-ons (sports, movies...) on top of the base package, from the wallet, own cards only
    "addons_do": Do("addons", (("ok", "addons_list"), _REFUSED)),
    "addons_list": Pick("addons_title", "packages", "package", "addon_route"),
    "addon_route": Route((("own_card", "addon_confirm"), ("", "addon_not_own"))),
    "addon_not_own": End("addon_not_own"),
    "addon_confirm": Confirm("addon_confirm", "addon_buy"),
    "addon_buy": Do("addon", (("ok", "addon_added"), _REFUSED), args=("card", "package")),
    "addon_added": End("addon_added"),
    "refused": End("refused"),
}

# Inputs that must never reach a log or the session store once used.
SECRETS = ("pin",)

SELF_SERVICE = Graph(NODES, start="start", home="main", predicates=PREDICATES, secrets=SECRETS)

__all__ = ["SELF_SERVICE", "SECRETS", "PREDICATES"]
