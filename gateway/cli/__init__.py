"""The ``tvtopup`` command: serve the gateway and run the operator's verbs.

Every verb prints a table by default and JSON with ``--json``; ``--config FILE``
(or ``TVTOPUP_CONFIG``) names the settings file. Refusals print ``error: …`` and
exit 2; nothing is changed.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Sequence

from billing_core.errors import DomainError
from config.settings import SettingsError, load_settings
from gateway.cli.audit_trail import audited


def build_parser() -> argparse.ArgumentParser:
    from gateway.cli import commands  # here: provider modules that add verbs import gateway.cli.output

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="settings file (TOML)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine output")
    parser = argparse.ArgumentParser(prog="tvtopup", description=__doc__.splitlines()[0], parents=[common])
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")
    for register in commands.REGISTRY:
        register(verbs, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(getattr(args, "config", None))
    except SettingsError as exc:
        print(f"error: configuration: {exc}", file=sys.stderr)
        return 2
    args.json = getattr(args, "json", False)
    audited(args)  # verbs that move value or grant access leave a record of who did what
    try:
        result = args.run(settings, args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except DomainError as exc:
        print(f"error: {exc.code}: {exc.detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
