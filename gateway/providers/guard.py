"""Who may call a provider's callback URL.

Most mobile-money providers sign nothing, so a callback is accepted only when it
carries the provider's secret token (``?token=…`` on the URL registered with the
provider) and, when a list is configured, comes from one of the provider's
addresses. A request that fails is refused with 403 and logged; nothing is credited.

Protected mode: a provider with neither a token nor an address list takes callbacks
from loopback addresses only (127.0.0.0/8, ::1), so that a gateway started with no
configuration credits nothing a stranger sends; ``serve`` names each such provider in a
warning at start (:func:`protected_providers`).

The caller's address is the TCP peer. ``X-Forwarded-For`` is believed only from a
peer in ``server.trusted_proxies`` (a reverse proxy): the client is then the last
address of that header that is not itself a trusted proxy. Without that setting the
header is ignored, so a forged one cannot pass for loopback or for an allowed address.
"""
from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
from dataclasses import dataclass

from aiohttp import web

from config.settings import Secret
from gateway.keys import SETTINGS

log = logging.getLogger("tvtopup.callbacks")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
PROTECTED_REASON = "protected mode: callbacks are taken from loopback only until callback_token or allow_ips is set"


@functools.lru_cache(maxsize=64)
def networks(entries: tuple[str, ...]) -> Networks:
    """Parsed address list (the settings loader has checked each entry)."""
    return tuple(ipaddress.ip_network(n, strict=False) for n in entries)


def parse_address(text: str | None) -> Address | None:
    """An IP address (an IPv4-mapped IPv6 address as its IPv4 self), None when not one."""
    try:
        address = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def client_address(peer: str | None, forwarded_for: str, trusted: Networks) -> Address | None:
    """The caller: ``peer``, or, when ``peer`` is a trusted proxy, the last address of
    ``forwarded_for`` that is not a trusted proxy (None when that address is unreadable)."""
    address = parse_address(peer)
    if address is None or not trusted or not _within(address, trusted):
        return address
    for hop in reversed([h for h in forwarded_for.split(",") if h.strip()]):
        address = parse_address(hop)
        if address is None or not _within(address, trusted):
            return address
    return address


def _within(address: Address, nets: Networks) -> bool:
    return any(address in net for net in nets)


@dataclass(frozen=True)
class CallbackGuard:
    provider: str
    token: Secret
    allow_ips: tuple[str, ...] = ()

    @property
    def protected(self) -> bool:
        """Neither a token nor an address list: loopback callers only."""
        return not self.token and not self.allow_ips

    def refusal(self, request: web.Request) -> str:
        """Why ``request`` may not call this provider's callbacks ('' when it may)."""
        trusted = networks(request.app[SETTINGS].server.trusted_proxies)
        remote = client_address(request.remote, request.headers.get("X-Forwarded-For", ""), trusted)
        return self.decide(remote, request.query.get("token", ""))

    def decide(self, remote: Address | None, token: str) -> str:
        """The guard's rule for a caller at ``remote`` presenting ``token`` ('' to accept)."""
        if remote is None:
            return "unknown source address"
        if self.protected:
            return "" if remote.is_loopback else PROTECTED_REASON
        if self.allow_ips and not _within(remote, networks(self.allow_ips)):
            return f"source address {remote} is not allowed"
        expected = self.token.reveal()
        if expected and not hmac.compare_digest(token.encode(), expected.encode()):
            return "missing or wrong callback token"
        return ""

    def check(self, request: web.Request) -> None:
        """Raise 403 when ``request`` fails the guard."""
        reason = self.refusal(request)
        if reason:
            log.warning("refused %s callback %s %s from %s: %s", self.provider, request.method, request.path,
                        request.remote, reason)
            raise web.HTTPForbidden(text=reason)


def protected_providers(app: web.Application) -> list[str]:
    """The providers of ``app`` whose callbacks are in protected mode, sorted."""
    return sorted({v.provider for v in app.values() if isinstance(v, CallbackGuard) and v.protected})
