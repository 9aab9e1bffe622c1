"""Schemathesis fuzzes the running dealer API from its own OpenAPI document.

The requests it makes are unsigned or badly signed (random key, timestamp and
signature headers): every one must be refused with a 4xx, never a 5xx, and nothing
may be credited. SQLite only: the property is about the handlers, not the database.
"""
from __future__ import annotations

import asyncio
import shutil
import socket
import sys
from pathlib import Path

import pytest
from aiohttp import web

from billing_core import dealers, reports
from billing_core import subscriptions as subs
from gateway.app import create_app
from gateway.keys import BILLING

pytestmark = pytest.mark.skipif(shutil.which("schemathesis", path=str(Path(sys.executable).parent)) is None,
                                reason="schemathesis is not installed (pip install -e '.[test]')")
MASTER = "master-key-for-tests-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_fuzzed_requests_get_no_5xx_and_credit_nothing(make_settings, clock, tmp_path):
    app = create_app(make_settings(**{"dealers.secret_key": MASTER}), clock=clock, workers=False)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        billing = app[BILLING]
        await subs.add_package(billing, "BASIC", "Basic", 30, 150)
        await subs.add_subscriber(billing, "12345678", "0712345678", package="BASIC")
        made = await dealers.add_dealer(billing, "Shop", "KES", master_key=MASTER)
        await dealers.fund_dealer(billing, made.dealer.id, "KES 1000")
        base = f"http://127.0.0.1:{port}"
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "schemathesis"), "run", f"{base}/api/openapi.json", "--url", base,
            "--checks", "not_a_server_error", "--max-examples", "25", "--seed", "7", "--request-timeout", "5",
            "--suppress-health-check", "all", "--no-color",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
        text = out.decode(errors="replace")
        assert proc.returncode == 0, text[-4000:]
        assert "createTopup" in text or "/api/v1/topups" in text
        assert (await subs.show_subscriber(billing, "12345678")).wallet_tvu == 0
        shown = await dealers.show_dealer(billing, made.dealer.id)
        assert shown["balance"] == "KES 1000.00"
        assert {line.account for line in await reports.trial_balance(billing)} == {"cash:dealers", "float:1"}
    finally:
        await runner.cleanup()
