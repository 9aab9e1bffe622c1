"""The ``ministra`` adapter: Ministra (Stalker) middleware, REST API v1.

``tv.url`` is the API base (``https://portal.example/stalker_portal/api/``),
``tv.username`` / ``tv.secret`` its HTTP Basic credentials. The smartcard number is
the Ministra account number (``users.ls``). What follows is checked against the
public Stalker source (``docs/providers/ministra.md``).

A subscriber's products, as Ministra models them:

- the base package is the account's *tariff plan*: a grant whose first product is
  the ``external_id`` of a tariff plan sets ``PUT accounts/{card}`` ``status=1``,
  ``tariff_plan`` and ``end_date`` (``YYYY-MM-DD HH:MM:SS`` in ``operator.timezone``);
- an add-on or a pay-per-view product is an *optional package* of that plan: its grant
  subscribes it (``account_subscription``) and sets ``status=1``; its revoke
  unsubscribes it;
- the account is switched off (``status=0``) only when nothing paid remains: a revoke
  carries ``paid``, the card's products still entitled after it (written by the core).

Any other grant product is refused (the event dies, naming it): Ministra would make an
unknown ``tariff_plan`` the default plan without a word. Each call states the state
wanted, and subscriptions are read first and changed only where they differ (a change
reboots the box), so delivering an event again changes nothing.

Identifiers: Stalker reads an identifier of 12 or more characters as a MAC in
``send_event`` and ``account_subscription`` (and as an account number in ``accounts``
unless it holds a ``:``). For such cards those calls go to the STB MAC that
``GET accounts/{card}`` gives; an account with no box bound cannot get them.

A reply is a delivery only when it is HTTP 2xx JSON with ``"status": "OK"`` and a
``results`` that is neither ``false`` nor ``null``; anything else (its ``error`` kept as
the reason), a timeout or a connection failure is a retryable failure.
"""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from billing_core.db.outbox_store import StoredEvent
from billing_core.renewal import parse_iso
from tv_notify.adapters.base import DeliveryError
from tv_notify.adapters.http import HttpAdapter
from tv_notify.events import GRANT, OSD, REVOKE

END_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
MAC_FROM_LENGTH = 12  # RESTRequest::getConvertedIdentifiers: strlen(id) >= 12 is a MAC
CATALOGUE_TTL_S = 300.0


@dataclass(frozen=True, slots=True)
class Catalogue:
    """External ids of Ministra's tariff plans and of the packages plans offer as optional."""

    plans: frozenset[str]
    optional: frozenset[str]


def catalogue_of(tariffs: Any) -> Catalogue:
    """From ``GET tariffs`` results (``Tariff::getDetailedPlanInfo``)."""
    plans, optional = set(), set()
    for plan in tariffs if isinstance(tariffs, list) else ():
        plans.add(str(plan.get("external_id") or ""))
        optional.update(str(p.get("external_id") or "") for p in plan.get("packages") or ()
                        if str(p.get("optional")) == "1")
    return Catalogue(frozenset(plans - {""}), frozenset(optional - {""}))


def base_update(event: StoredEvent, tz: ZoneInfo) -> dict[str, str]:
    """The ``accounts/{card}`` fields for a grant of a base package (its first product is the plan)."""
    fields = {"status": "1", "tariff_plan": str(event.payload["products"][0])}
    if event.payload.get("until"):
        until = datetime.fromtimestamp(parse_iso(event.payload["until"]), tz)
        fields["end_date"] = until.strftime(END_DATE_FORMAT)
    return fields


def switch_off(event: StoredEvent, catalogue: Catalogue) -> bool:
    """Whether a revoke leaves nothing paid: ``paid`` empty; an event written before ``paid``
    existed switches off only when it revokes a base package, as it always did."""
    paid = event.payload.get("paid")
    if paid is not None:
        return not paid
    products = [str(p) for p in event.payload.get("products") or ()]
    return not products or products[0] in catalogue.plans


class MinistraAdapter(HttpAdapter):
    def __init__(self, url: str, username: str, password: Any, *, timeout_s: float, session: Any = None,
                 timezone: str = "UTC") -> None:
        super().__init__(timeout_s=timeout_s, session=session)
        self._base = url.rstrip("/") + "/"
        self._username = username
        self._password = password  # config.settings.Secret (or str)
        self._tz = ZoneInfo(timezone)
        self._catalogue: tuple[float, Catalogue] | None = None

    async def deliver(self, event: StoredEvent) -> None:
        if event.kind == GRANT:
            await self._grant(event)
        elif event.kind == REVOKE:
            await self._revoke(event)
        elif event.kind == OSD:
            target = await self._box(event.card)
            await self._call("POST", f"send_event/{target}", {"event": "send_msg",
                                                              "msg": event.payload.get("text") or ""})
        else:
            raise DeliveryError(f"ministra does not take {event.kind} events", retryable=False)

    async def _grant(self, event: StoredEvent) -> None:
        products = [str(p) for p in event.payload.get("products") or ()]
        card = _segment(event.card)
        if not products:
            await self._call("PUT", f"accounts/{card}", {"status": "1"})
            return
        catalogue = await self._known(products)
        if products[0] in catalogue.plans:
            await self._call("PUT", f"accounts/{card}", base_update(event, self._tz))
            return
        unknown = [p for p in products if p not in catalogue.optional]
        if unknown:
            raise DeliveryError(f"ministra has no tariff plan or optional package {unknown[0]!r}: "
                                "create it (external id) before granting it", retryable=False)
        await self._call("PUT", f"accounts/{card}", {"status": "1"})
        await self._subscriptions(event.card, add=products, remove=[])

    async def _revoke(self, event: StoredEvent) -> None:
        products = [str(p) for p in event.payload.get("products") or ()]
        paid = {str(p) for p in event.payload.get("paid") or ()}
        catalogue = await self._catalogue_now()
        gone = [p for p in products if p in catalogue.optional and p not in paid]
        if gone:
            await self._subscriptions(event.card, add=[], remove=gone)
        if switch_off(event, catalogue):
            await self._call("PUT", f"accounts/{_segment(event.card)}", {"status": "0"})

    async def _subscriptions(self, card: str, *, add: list[str], remove: list[str]) -> None:
        """Subscribe ``add`` and unsubscribe ``remove``, only where the account differs."""
        target = await self._box(card, subscription=True)
        [current] = await self._call("GET", f"account_subscription/{target}", None) or [{}]
        subscribed = {str(s) for s in current.get("subscribed") or ()}
        fields = [("subscribed[]", p) for p in add if p not in subscribed]
        fields += [("unsubscribed[]", p) for p in remove if p in subscribed]
        if fields:
            await self._call("PUT", f"account_subscription/{target}", fields)

    async def _box(self, card: str, *, subscription: bool = False) -> str:
        """How ``send_event`` / ``account_subscription`` must name ``card``: itself, or for 12+
        characters (read as a MAC there) the MAC of the box the account has."""
        if len(card) < MAC_FROM_LENGTH:
            return _segment(card)
        [account] = await self._call("GET", f"accounts/{_segment(card)}", None)
        mac = str(account.get("stb_mac") or "")
        if not mac:
            what = "optional packages" if subscription else "on-screen messages"
            raise DeliveryError(f"ministra: account {card} has no STB bound; Stalker takes {what} for a "
                                f"{MAC_FROM_LENGTH}+ character account only by the box's MAC", retryable=False)
        return quote(mac, safe=":")

    async def _known(self, products: list[str]) -> Catalogue:
        """The catalogue, read again once if it lacks one of ``products`` (a plan added since)."""
        catalogue = await self._catalogue_now()
        if products[0] in catalogue.plans or all(p in catalogue.optional for p in products):
            return catalogue
        return await self._catalogue_now(fresh=True)

    async def _catalogue_now(self, *, fresh: bool = False) -> Catalogue:
        now = time.monotonic()
        if fresh or self._catalogue is None or now - self._catalogue[0] > CATALOGUE_TTL_S:
            self._catalogue = (now, catalogue_of(await self._call("GET", "tariffs", None)))
        return self._catalogue[1]

    def _authorization(self) -> str:
        password = self._password.reveal() if hasattr(self._password, "reveal") else str(self._password)
        return "Basic " + base64.b64encode(f"{self._username}:{password}".encode()).decode()

    async def _call(self, method: str, path: str, fields: Any) -> Any:
        """``results`` of one call; a refusal in any form raises a retryable DeliveryError."""
        status, body = await self.request(method, self._base + path, data=fields,
                                          headers={"Authorization": self._authorization()})
        if status == 401:
            raise DeliveryError("ministra refused the credentials (HTTP 401): check tv.username and tv.secret")
        if not 200 <= status < 300:
            raise DeliveryError(f"ministra answered HTTP {status}")
        return answer(body, f"{method} {path.split('/')[0]}")


def answer(body: bytes, what: str) -> Any:
    """``results`` of a Stalker reply, or DeliveryError for ``ERROR``, ``false``/``null`` or not JSON."""
    try:
        reply = json.loads(body)
    except ValueError:
        raise DeliveryError(f"ministra answered {what} with something that is not JSON") from None
    if not isinstance(reply, dict):
        raise DeliveryError(f"ministra answered {what} with something that is not its JSON")
    if reply.get("status") != "OK":
        raise DeliveryError(f"ministra refused {what}: {str(reply.get('error') or 'status is not OK')[:200]}")
    if reply.get("results") is False or reply.get("results") is None:
        raise DeliveryError(f"ministra refused {what}: results is {json.dumps(reply.get('results'))}")
    return reply["results"]


def _segment(identifier: str) -> str:
    return quote(identifier, safe="")


__all__ = ["Catalogue", "MinistraAdapter", "answer", "base_update", "catalogue_of", "switch_off"]
