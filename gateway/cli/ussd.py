"""CLI verbs for USSD: a terminal phone, and the session log.

    tvtopup ussd-sim --msisdn +2547... [--url URL] [--code *123#] [--token T]
        an interactive session against a running gateway, speaking Africa's Talking's
        format like the aggregator does: each line typed is one input; the session ends
        at an END screen, at end of input, or on "quit".
    tvtopup ussd log (--msisdn M | --session ID) [--limit N]
        what a subscriber typed and saw, hop by hop, with the gateway's time per hop
        (PINs show as ****).
"""
from __future__ import annotations

import sys
import uuid
from typing import IO

from billing_core.db import ussd_store
from billing_core.renewal import iso
from config.settings import Settings
from gateway.cli.context import open_billing
from gateway.cli.output import emit

STEP_COLUMNS = ("at", "session", "msisdn", "hop", "node", "input", "ms", "screen")
TIMEOUT_S = 20.0


def register(verbs, common) -> None:
    sim = verbs.add_parser("ussd-sim", parents=[common], help="an interactive USSD session against a running gateway",
                           description="an interactive USSD session against a running gateway (Africa's Talking "
                                       "format): type one input per line; 'quit' ends")
    sim.add_argument("--msisdn", required=True, help="the calling phone number")
    sim.add_argument("--url", help="the gateway (default: http://HOST:PORT of [server])")
    sim.add_argument("--code", help="the USSD code dialled (default: ussd.service_code)")
    sim.add_argument("--token", help="the callback token (default: ussd.callback_token)")
    sim.set_defaults(run=_sim)
    p = verbs.add_parser("ussd", parents=[common], help="USSD sessions", description="USSD sessions")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    log = actions.add_parser("log", parents=[common], help="the hops of a session or of a phone, for support")
    which = log.add_mutually_exclusive_group(required=True)
    which.add_argument("--msisdn", help="the phone's sessions, e.g. +254712345678")
    which.add_argument("--session", help="one session by its id")
    log.add_argument("--limit", type=int, default=100, help="at most this many hops (default 100)")
    log.set_defaults(run=_log)


async def _sim(settings: Settings, args) -> int:
    import aiohttp

    url = (args.url or f"http://{settings.server.host}:{settings.server.port}").rstrip("/") + "/ussd/africastalking"
    token = args.token if args.token is not None else settings.ussd.callback_token.reveal()
    params = {"token": token} if token else {}
    form = {"sessionId": f"sim-{uuid.uuid4().hex[:16]}", "serviceCode": args.code or settings.ussd.service_code,
            "phoneNumber": args.msisdn, "networkCode": "99999"}
    inputs: list[str] = []
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while True:
            async with http.post(url, data={**form, "text": "*".join(inputs)}, params=params) as resp:
                body = await resp.text()
            if resp.status != 200:
                print(f"gateway answered {resp.status}: {body.strip()}", file=sys.stderr)
                return 1
            _show(body, sys.stdout)
            if body.startswith("END"):
                return 0
            line = _read(sys.stdin)
            if line is None or line.strip().lower() == "quit":
                return 0
            inputs.append(line.strip())


def _show(screen: str, out: IO[str]) -> None:
    out.write("-" * 32 + "\n" + screen + "\n" + "-" * 32 + "\n")
    out.flush()


def _read(stream: IO[str]) -> str | None:
    if stream.isatty():
        sys.stdout.write("> ")
        sys.stdout.flush()
    line = stream.readline()
    return line if line else None


async def _log(settings: Settings, args) -> int:
    async with open_billing(settings) as billing:
        msisdn = billing.msisdn(args.msisdn) if args.msisdn else None
        rows = await billing.db.read(lambda conn: ussd_store.steps(conn, session_id=args.session, msisdn=msisdn,
                                                                   limit=args.limit))
    emit([{"at": iso(r.at), "session": r.session_id, "msisdn": r.msisdn, "hop": r.hop, "node": r.node,
           "input": r.input, "ms": round(r.elapsed_us / 1000, 1), "screen": r.screen} for r in rows],
         as_json=args.json, columns=STEP_COLUMNS)
    return 0
