"""Who may call a provider's callback URL.

Most mobile-money providers sign nothing, so a callback is accepted only when it
carries the provider's secret token (``?token=…`` on the URL registered with the
provider) and, when a list is configured, comes from one of the provider's
addresses. A request that fails is refused with 403 and logged; nothing is credited.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
from dataclasses import dataclass

from aiohttp import web

from config.settings import Secret

log = logging.getLogger("tvtopup.callbacks")


@dataclass(frozen=True)
class CallbackGuard:
    provider: str
    token: Secret
    allow_ips: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_networks",
                           tuple(ipaddress.ip_network(n, strict=False) for n in self.allow_ips))

    def refusal(self, request: web.Request) -> str:
        """Why ``request`` may not call this provider's callbacks ('' when it may)."""
        if self._networks:  # type: ignore[attr-defined]
            try:
                remote = ipaddress.ip_address(request.remote or "")
            except ValueError:
                return "unknown source address"
            if not any(remote in net for net in self._networks):  # type: ignore[attr-defined]
                return f"source address {remote} is not allowed"
        expected = self.token.reveal()
        if expected and not hmac.compare_digest(request.query.get("token", "").encode(), expected.encode()):
            return "missing or wrong callback token"
        return ""

    def check(self, request: web.Request) -> None:
        """Raise 403 when ``request`` fails the guard."""
        reason = self.refusal(request)
        if reason:
            log.warning("refused %s callback %s %s: %s", self.provider, request.method, request.path, reason)
            raise web.HTTPForbidden(text=reason)
