"""``tvtopup sms-sim``: send one inbound SMS to a running gateway, as Africa's Talking would, and print
the reply.

It posts AT's inbound form (``from, to, text, date, id, linkId``) to
``/sms/africastalking/inbound`` of ``--url`` (with ``?token=`` from
``africastalking.sms_callback_token`` when that is set) and prints the body the gateway
answers: the reply SMS it queued for the phone (nothing when it answers nothing).
"""
from __future__ import annotations

import sys
import uuid
from datetime import datetime, timezone
from urllib.parse import urlencode

from billing_core.errors import InvalidInput
from config.settings import Settings
from gateway.cli.output import emit

INBOUND_PATH = "/sms/africastalking/inbound"
DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_S = 15.0


def register(verbs, common) -> None:
    """Add ``sms-sim`` to the parser."""
    p = verbs.add_parser("sms-sim", parents=[common], help="send one inbound SMS to a running gateway, print the reply",
                         description="send one inbound SMS to a running gateway, as Africa's Talking would, "
                                     "and print the reply")
    p.add_argument("--msisdn", required=True, help="the phone the SMS comes from, e.g. +254712345678")
    p.add_argument("text", metavar="TEXT", help='the SMS, e.g. "BAL" or "TOPUP 1234 5678 9012 34"')
    p.add_argument("--url", default=DEFAULT_URL, help=f"the gateway (default {DEFAULT_URL})")
    p.add_argument("--to", help="the short code it is sent to (default: sms.sender, else 22384)")
    p.add_argument("--id", dest="message_id", help="the provider's message id (default: a new one; "
                                                   "send the same id twice to play a provider's retry)")
    p.set_defaults(run=_sim)


def inbound_form(msisdn: str, text: str, *, to: str, message_id: str, now: datetime) -> dict[str, str]:
    """The form Africa's Talking posts for one inbound SMS."""
    return {"from": msisdn, "to": to, "text": text, "date": now.strftime("%Y-%m-%d %H:%M:%S"), "id": message_id,
            "linkId": ""}


def inbound_url(base: str, token: str) -> str:
    base = base.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise InvalidInput("--url is the gateway's http:// or https:// address")
    return base + INBOUND_PATH + (f"?{urlencode({'token': token})}" if token else "")


async def _sim(settings: Settings, args) -> int:
    import aiohttp

    url = inbound_url(args.url, settings.africastalking.sms_callback_token.reveal())
    form = inbound_form(args.msisdn, args.text, to=args.to or settings.sms.sender or "22384",
                        message_id=args.message_id or f"sim-{uuid.uuid4().hex}", now=datetime.now(timezone.utc))
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as session:
            async with session.post(url, data=form) as resp:
                status, body = resp.status, await resp.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        print(f"error: cannot reach the gateway at {args.url}: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"error: the gateway answered HTTP {status}: {body.strip()[:300]}", file=sys.stderr)
        return 1
    if args.json:
        emit({"id": form["id"], "reply": body or None}, as_json=True)
    elif body:
        print(body)
    else:
        print("(no reply)", file=sys.stderr)
    return 0
