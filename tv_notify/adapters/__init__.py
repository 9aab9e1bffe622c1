"""Adapters the dispatcher delivers through, chosen by configuration.

- :func:`tv_adapter`: ``tv.adapter`` is ``log`` (default), ``webhook`` or ``ministra``;
  a DVB CAS connector (entitlement and OSD commands) is one more adapter here.
- :func:`sms_sender`: ``sms.provider`` is ``log`` (default), ``smpp`` (the
  process's SMPP link) or ``africastalking`` (its SMS API).

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


def sms_sender(settings: Any, session: Any = None, *, db: Any = None, clock: Any = None,
               smpp_link: Any = None) -> SmsSender:
    """The SMS sender ``sms.provider`` names.

    ``smpp`` and ``africastalking`` record each message in ``sms_messages`` through
    ``db`` (a Database) with ``clock``; ``smpp`` sends through the process's link,
    found by calling ``smpp_link()`` at each delivery (None, or a None answer: the
    link does not run here, and delivery fails as retryable).
    """
    provider = settings.sms.provider
    if provider == "log":
        from tv_notify.adapters.log import LogAdapter

        return LogAdapter()
    if db is None or clock is None:
        raise ValueError(f"sms.provider {provider!r} needs the database and a clock")
    if provider == "smpp":
        from tv_notify.adapters.smpp import SmppSender

        return SmppSender(smpp_link, db, clock, source_addr=settings.smpp.source_addr or settings.sms.sender,
                          timeout_s=settings.smpp.timeout_s)
    if provider == "africastalking":
        from tv_notify.adapters.africastalking_sms import AfricasTalkingSender

        at = settings.africastalking
        return AfricasTalkingSender(at.username, at.api_key, at.base_url, db, clock,
                                    sender_id=at.sender_id or settings.sms.sender, timeout_s=at.timeout_s)
    raise ValueError(f"sms.provider: {provider!r} is not available (log, smpp or africastalking)")


__all__ = ["sms_sender", "tv_adapter"]
