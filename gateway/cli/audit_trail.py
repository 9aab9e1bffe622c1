"""The audit trail of operator verbs whose use cases write none themselves.

The customer-care and correction verbs record their action in their own transaction
(:mod:`billing_core.audit`). The older verbs that move value or grant access are listed
in :data:`AUDITED`; :func:`audited` wraps such a verb so that, once it has succeeded, one
record names who (``--by``/``--operator``, else the OS user), when, what (the verb and its
arguments) and why (``--reason`` when the verb has one). The record is written just after
the action, in a transaction of its own: a verb that failed leaves none.
"""
from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Any

from billing_core import audit
from billing_core.audit import Actor
from gateway.cli.context import open_billing

# (verb, action) -> the argument naming what was acted on
AUDITED: dict[tuple[str, str], str] = {
    ("payment", "record"): "card",
    ("payment", "assign"): "txid",
    ("dealer", "fund"): "dealer",
    ("dealer", "transfer"): "source",
    ("topup", "reverse"): "topup",
    ("cards", "activate"): "batch",
    ("cards", "block"): "serials",
    ("subscriber", "grant-days"): "card",
    ("subscriber", "swap-card"): "old",
}
_NOT_DETAILS = {"run", "config", "json", "verb", "action", "by", "operator", "reason"}


def who(args: Any) -> str:
    return getattr(args, "by", None) or getattr(args, "operator", None) or getpass.getuser()


def details(args: Any) -> dict:
    """The verb's arguments as plain JSON values."""
    out = {}
    for key, value in vars(args).items():
        if key in _NOT_DETAILS or key.startswith("_") or callable(value):
            continue
        out[key] = str(value) if isinstance(value, Path) else value
    return out


def audited(args: Any) -> None:
    """Wrap ``args.run`` with an audit record when the verb is one of :data:`AUDITED`."""
    key = (getattr(args, "verb", None), getattr(args, "action", None))
    if key not in AUDITED or not hasattr(args, "run"):
        return
    run = args.run

    async def run_and_record(settings, parsed) -> int:
        result = run(settings, parsed)
        if asyncio.iscoroutine(result):
            result = await result
        if int(result or 0) == 0:
            target = getattr(parsed, AUDITED[key], "")
            target = ",".join(target) if isinstance(target, list) else str(target or "")
            async with open_billing(settings) as billing:
                await audit.record_done(billing, Actor(who(parsed)), f"{key[0]}.{key[1]}", target,
                                        getattr(parsed, "reason", "") or "", **details(parsed))
        return result

    args.run = run_and_record


__all__ = ["AUDITED", "audited", "who", "details"]
