"""USSD sessions on the state store (Redis with a TTL when configured, else in-process).

Key ``ussd:s:<sessionId>`` holds the engine's :class:`~ussd_menus.engine.Session` as
JSON; it lives ``ussd.session_ttl_s`` after its last hop. A phone's chosen language
when it has no card is kept under ``ussd:lang:<msisdn>`` for 30 days.
"""
from __future__ import annotations

from gateway.state.store import State
from ussd_menus.engine import Session

LANG_TTL_S = 30 * 86_400


class UssdSessions:
    def __init__(self, state: State, ttl_s: int):
        self.state = state
        self.ttl_s = ttl_s

    async def get(self, sid: str) -> Session | None:
        raw = await self.state.get(f"ussd:s:{sid}")
        return Session.from_json(raw) if raw else None

    async def put(self, session: Session) -> None:
        await self.state.set(f"ussd:s:{session.sid}", session.to_json(), self.ttl_s)

    async def lang_of(self, msisdn: str) -> str | None:
        return await self.state.get(f"ussd:lang:{msisdn}")

    async def set_lang(self, msisdn: str, lang: str) -> None:
        await self.state.set(f"ussd:lang:{msisdn}", lang, LANG_TTL_S)


__all__ = ["UssdSessions"]
