"""The ``africastalking`` SMS sender: ``sms.send`` events through Africa's Talking's SMS API.

It uses the official SDK (``africastalking.SMSService``), which is synchronous and
has no host setting: each call runs in a thread (``asyncio.to_thread``) with the
SDK's own request timeout and a deadline of ``timeout_s`` around it, and the
service's ``_baseUrl`` is pointed at ``{base_url}/version1`` (the sandbox, the live
API, or a local server in tests). AT splits long texts itself, so an event is one
message: one row in ``sms_messages`` (part 1), ``sent`` with AT's ``messageId``
when the recipient's ``statusCode`` is 100, 101 or 102, and later updated by the
delivery reports AT posts to ``/sms/africastalking/delivery``.

A call that outlives its deadline is still recorded when it ends, so a retry of
the event does not send the text a second time. Failures: AT's 405
(InsufficientBalance), 409 and 5xx codes, a non-2xx answer, a timeout or a
connection error are retryable; the other codes (invalid number, blacklisted,
...) refuse the message itself and make the event dead.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Callable

from billing_core.db import sms_store
from billing_core.db.database import Database
from billing_core.db.outbox_store import StoredEvent
from billing_core.db.schema_sms import FAILED, QUEUED
from tv_notify.adapters.base import DeliveryError

log = logging.getLogger("tvtopup.sms")

PROVIDER = "africastalking"
ACCEPTED = (100, 101, 102)  # Processed, Sent, Queued
RETRYABLE = (405, 409, 500, 501, 502)  # InsufficientBalance, DoNotDisturb window, AT's own errors
CONNECT_TIMEOUT_S = 3.05


class AfricasTalkingSender:
    def __init__(self, username: str, api_key: Any, base_url: str, db: Database, clock: Callable[[], int], *,
                 sender_id: str, timeout_s: float) -> None:
        self._username = username
        self._api_key = api_key  # config.settings.Secret; revealed only to the SDK
        self._base_url = base_url.rstrip("/")
        self._db, self._clock = db, clock
        self._sender_id = sender_id or None
        self._timeout_s = timeout_s
        self._service: Any = None
        self._recording: set[asyncio.Task[Any]] = set()

    async def deliver(self, event: StoredEvent) -> None:
        msisdn, text = str(event.payload.get("msisdn") or ""), str(event.payload.get("text") or "")
        if not msisdn.startswith("+"):
            raise DeliveryError("no phone number to send to", retryable=False)
        statuses = await self._db.write(sms_store.prepare, event.event_id, PROVIDER, msisdn, 1, self._clock())
        if statuses.get(1) not in (QUEUED, FAILED):
            return  # an earlier attempt handed it to AT
        call = asyncio.ensure_future(self._send_and_record(event.event_id, msisdn, text))
        self._recording.add(call)
        call.add_done_callback(self._settled)
        try:
            await asyncio.wait_for(asyncio.shield(call), self._timeout_s)
        except TimeoutError:
            raise DeliveryError(f"Africa's Talking did not answer within {self._timeout_s:g} s") from None

    def _settled(self, call: asyncio.Future[Any]) -> None:
        self._recording.discard(call)
        if not call.cancelled():
            call.exception()  # retrieved: a late failure was already recorded

    async def close(self) -> None:
        if self._recording:  # calls past their deadline: let them record what AT answered
            await asyncio.wait(self._recording, timeout=self._timeout_s)

    async def _send_and_record(self, event_id: str, msisdn: str, text: str) -> None:
        try:
            reply = await asyncio.to_thread(self._send, msisdn, text)
        except DeliveryError as exc:
            await self._db.write(sms_store.mark_failed, event_id, 1, exc.reason, self._clock())
            raise
        code, message_id, status = _recipient(reply)
        if code in ACCEPTED and message_id:
            await self._db.write(sms_store.mark_sent, PROVIDER, [sms_store.Sent(event_id, 1, message_id)],
                                 self._clock())
            return
        reason = f"Africa's Talking refused the message: {status or 'no status'} ({code})"
        await self._db.write(sms_store.mark_failed, event_id, 1, reason, self._clock())
        raise DeliveryError(reason, retryable=code in RETRYABLE)

    def _send(self, msisdn: str, text: str) -> Any:
        """One SDK call, in a worker thread."""
        import requests
        from africastalking.Service import AfricasTalkingException

        try:
            return self._sms().send(text, [msisdn], sender_id=self._sender_id,
                                    timeout=(min(CONNECT_TIMEOUT_S, self._timeout_s), self._timeout_s))
        except AfricasTalkingException as exc:
            raise DeliveryError(f"Africa's Talking answered an error: {str(exc)[:120]}") from None
        except requests.Timeout:
            raise DeliveryError(f"Africa's Talking did not answer within {self._timeout_s:g} s") from None
        except requests.RequestException as exc:
            raise DeliveryError(f"Africa's Talking unreachable: {type(exc).__name__}") from None
        except ValueError as exc:  # the SDK's own check of the number
            raise DeliveryError(str(exc)[:120], retryable=False) from None

    def _sms(self) -> Any:
        if self._service is None:
            from africastalking.SMS import SMSService

            service = SMSService(self._username, self._api_key.reveal() if hasattr(self._api_key, "reveal")
                                 else str(self._api_key))
            service._baseUrl = service._contentUrl = f"{self._base_url}/version1"
            self._service = service
        return self._service


def _recipient(reply: Any) -> tuple[int, str, str]:
    """``(statusCode, messageId, status)`` of the one recipient in AT's reply (JSON the SDK
    left undecoded, under another Content-Type, is decoded here)."""
    if isinstance(reply, str):
        with contextlib.suppress(ValueError):
            reply = json.loads(reply)
    try:
        recipient = reply["SMSMessageData"]["Recipients"][0]
        return int(recipient["statusCode"]), str(recipient.get("messageId") or ""), str(recipient.get("status") or "")
    except (TypeError, KeyError, IndexError, ValueError):
        message = reply.get("SMSMessageData", {}).get("Message", "") if isinstance(reply, dict) else ""
        raise DeliveryError(f"Africa's Talking sent no recipient status: {str(message or reply)[:120]}") from None


__all__ = ["AfricasTalkingSender"]
