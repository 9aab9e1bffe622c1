"""Adapters the dispatcher delivers through, chosen by configuration.

- :func:`tv_adapter`: ``tv.adapter`` is ``log`` (default), ``webhook`` or ``ministra``;
  a DVB CAS connector (entitlement and OSD commands) is one more adapter here.
- :func:`sms_sender`: ``sms.provider``; ``log`` for now (the SMS work adds ``smpp``
  and ``africastalking`` here).

``session`` is the application's outbound ``aiohttp.ClientSession`` or None (an
HTTP adapter then opens its own on first use and closes it in ``close()``).
Nothing here does I/O: adapters connect on their first delivery.
"""
from __future__ import annotations

from typing import Any

from tv_notify.adapters.base import SmsSender, TvAdapter


def tv_adapter(settings: Any, session: Any = None) -> TvAdapter:
    """The TV-side adapter ``[tv]`` describes."""
    tv = settings.tv
    if tv.adapter == "log":
        from tv_notify.adapters.log import LogAdapter

        return LogAdapter()
    if tv.adapter == "webhook":
        from tv_notify.adapters.webhook import WebhookAdapter

        return WebhookAdapter(tv.url, tv.secret, timeout_s=tv.timeout_s, session=session)
    if tv.adapter == "ministra":
        from tv_notify.adapters.ministra import MinistraAdapter

        return MinistraAdapter(tv.url, tv.username, tv.secret, timeout_s=tv.timeout_s, session=session,
                               timezone=settings.operator.timezone)
    raise ValueError(f"tv.adapter: {tv.adapter!r} is not available (log, webhook or ministra)")


def sms_sender(settings: Any, session: Any = None) -> SmsSender:
    """The SMS sender ``sms.provider`` names."""
    if settings.sms.provider == "log":
        from tv_notify.adapters.log import LogAdapter

        return LogAdapter()
    raise ValueError(f"sms.provider: {settings.sms.provider!r} is not available yet (use 'log')")


__all__ = ["sms_sender", "tv_adapter"]
