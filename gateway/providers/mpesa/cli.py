"""M-Pesa's operator verbs (each ``register_*`` is in ``gateway.cli.commands.REGISTRY``):

- ``tvtopup reconcile mpesa FILE.csv [--ingest] [--json]``: exit 0 when nothing is left to
  look at, 1 otherwise.
- ``tvtopup mpesa register-urls [--json]``: registers ``mpesa.confirmation_url`` and
  ``mpesa.validation_url`` (with ``?token=`` when ``mpesa.callback_token`` is set) for
  ``mpesa.shortcode`` with Daraja (``registerurl`` v2, ``mpesa.response_type``). Refused
  before any call when a URL is not HTTPS or holds a word Daraja refuses; exit 1 when Daraja
  refuses or does not answer.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import aiohttp

from billing_core.errors import InvalidInput
from config.settings import Settings
from gateway.cli.output import emit
from gateway.cli.context import open_billing
from gateway.providers.http import ProviderError
from gateway.providers.mpesa.client import DarajaClient
from gateway.providers.mpesa.reconcile import reconcile

SUMMARY = ("from", "to", "matched", "provider_only", "ours_only", "amount_differs", "reversed", "ingested", "clean")


def register_reconcile(verbs, common) -> None:
    help_text = "compare a provider's statement with our payments"
    p = verbs.add_parser("reconcile", help=help_text, parents=[common], description=help_text)
    providers = p.add_subparsers(dest="provider", required=True, metavar="PROVIDER")
    mpesa = providers.add_parser("mpesa", parents=[common],
                                 help="an M-Pesa organisation portal statement (CSV)")
    mpesa.add_argument("file", type=Path, metavar="FILE.csv", help="the statement exported from the M-Pesa portal")
    mpesa.add_argument("--ingest", action="store_true",
                       help="record the payments missing here (idempotent: safe to run again)")
    mpesa.set_defaults(run=_reconcile_mpesa)


async def _reconcile_mpesa(settings: Settings, args: argparse.Namespace) -> int:
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {args.file}: {getattr(exc, 'strerror', None) or exc}") from None
    async with open_billing(settings) as billing:
        report = await reconcile(billing, text, ingest=args.ingest)
    emit(report.to_json(), as_json=args.json, columns=SUMMARY)
    return 0 if report.clean else 1


def register_mpesa(verbs, common) -> None:
    help_text = "M-Pesa (Daraja) set-up"
    p = verbs.add_parser("mpesa", help=help_text, parents=[common], description=help_text)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    register = actions.add_parser("register-urls", parents=[common],
                                  help="register the C2B confirmation and validation URLs with Daraja")
    register.set_defaults(run=_register_urls)


async def _register_urls(settings: Settings, args: argparse.Namespace) -> int:
    s = settings.mpesa
    if not (s.consumer_key and s.consumer_secret and s.shortcode):
        raise InvalidInput("mpesa.consumer_key, consumer_secret and shortcode must be set")
    async with aiohttp.ClientSession() as session:
        client = DarajaClient(session, s, lambda: int(time.time()))
        try:
            conversation = await client.register_urls()
        except ProviderError as exc:
            emit({"registered": False, "code": exc.code, "message": exc.message}, as_json=args.json)
            return 1
    emit({"registered": True, "shortcode": s.shortcode, "response_type": s.response_type,
          "confirmation_url": s.confirmation_url, "validation_url": s.validation_url,
          "originator_conversation_id": conversation}, as_json=args.json)
    return 0
