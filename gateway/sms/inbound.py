"""Inbound SMS commands: one text from a phone in, one reply out (being written)."""
from __future__ import annotations

from aiohttp import web


async def handle_inbound(app: web.Application, msisdn: str, text: str, *, channel: str, to: str = "",
                         message_id: str = "") -> str | None:
    """Run the command in ``text`` from ``msisdn`` and queue the reply SMS; returns the reply's text
    (None when nothing is answered, e.g. over the rate limit).

    ``channel`` is where it came from (``smpp``, ``africastalking``); ``to`` the short code it was
    sent to; ``message_id`` the provider's id of the inbound message (for de-duplication and logs).
    """
    return None
