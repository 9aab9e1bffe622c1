"""``tvtopup reconcile mpesa FILE.csv [--ingest] [--json]`` (add ``register_reconcile`` to
``gateway.cli.commands.REGISTRY``). Exit 0 when nothing is left to look at, 1 otherwise."""
from __future__ import annotations

import argparse
from pathlib import Path

from billing_core.errors import InvalidInput
from config.settings import Settings
from gateway.cli.output import emit
from gateway.providers.mpesa.reconcile import reconcile
from gateway.cli.context import open_billing

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
