"""The ``tvtopup`` command: serve the gateway and run the operator's verbs.

Every verb prints a table by default and JSON with ``--json``; ``--config FILE``
(or ``TVTOPUP_CONFIG``) names the settings file. Refusals print ``error: …`` and
exit 2; nothing is changed. What stops a command before it can start (a bad or
unreadable config, a missing database directory, a busy port, an unreachable
database) is one ``error: …`` line on standard error too, never a traceback.

``security.pin_key`` and ``dealers.secret_key`` left unset come from the key file
beside a SQLite database (:mod:`config.keyfile`), made on first use, so that every
command agrees on them.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Sequence

from billing_core.errors import DomainError
from config import keyfile
from config.settings import Settings, SettingsError, load_settings
from gateway.cli.audit_trail import audited

DESCRIPTION = "tvtopup: serve the gateway and run the operator's verbs"


def build_parser() -> argparse.ArgumentParser:
    from gateway.cli import commands  # here: provider modules that add verbs import gateway.cli.output

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="settings file (TOML)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine output")
    parser = argparse.ArgumentParser(prog="tvtopup", description=DESCRIPTION, parents=[common])
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")
    for register in commands.REGISTRY:
        register(verbs, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings, args.key_sources = _settings(getattr(args, "config", None))
    except SettingsError as exc:
        return _fail(f"configuration: {exc}", 2)
    args.json = getattr(args, "json", False)
    audited(args)  # verbs that move value or grant access leave a record of who did what
    try:
        result = args.run(settings, args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except DomainError as exc:
        return _fail(f"{exc.code}: {exc.detail}", 2)
    except OSError as exc:  # a busy port, an unreachable database, a file that cannot be written
        return _fail(_os_error(exc), 1)
    except KeyboardInterrupt:
        return 130


def _settings(config: str | None) -> tuple[Settings, dict[str, str]]:
    """Settings with generated keys filled in, and where each key came from."""
    settings = load_settings(config)
    path = keyfile.sqlite_path(settings.database.url)
    if path is not None and not path.parent.is_dir():
        raise SettingsError("database.url", f"the directory {path.parent} does not exist: create it first")
    return keyfile.with_generated_keys(settings)


def _os_error(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{reason}: {exc.filename}" if exc.filename else reason


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
