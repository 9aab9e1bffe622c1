"""``tvtopup mpesa register-urls`` as an operator runs it, against a local Daraja that answers
as the Customer To Business Register URL page documents (tests/peers/fake_daraja.py)."""
from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from tests.peers.fake_daraja import FakeDaraja

BASE = "https://pay.example.com/mobile-money/daraja/c2b"


@pytest.fixture
async def daraja(aiohttp_server):
    fake = FakeDaraja()
    server = await aiohttp_server(fake.app)
    fake.base_url = str(server.make_url(""))
    return fake


async def register(fake: FakeDaraja, tmp_path, **keys: str) -> tuple[int, dict, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env.update({"TVTOPUP_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/t.db",
                "TVTOPUP_MPESA__BASE_URL": fake.base_url, "TVTOPUP_MPESA__CONSUMER_KEY": fake.consumer_key,
                "TVTOPUP_MPESA__CONSUMER_SECRET": fake.consumer_secret,
                "TVTOPUP_MPESA__SHORTCODE": fake.shortcode,
                "TVTOPUP_MPESA__CONFIRMATION_URL": f"{BASE}/confirmation",
                "TVTOPUP_MPESA__VALIDATION_URL": f"{BASE}/validation", "TVTOPUP_MPESA__TIMEOUT_S": "5"})
    env.update({f"TVTOPUP_MPESA__{k.upper()}": v for k, v in keys.items()})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())", "mpesa", "register-urls",
                                                "--json", env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, json.loads(out) if out.strip() else {}, err.decode()


async def test_registers_both_urls_with_the_token_and_response_type(daraja, tmp_path):
    rc, out, _ = await register(daraja, tmp_path, callback_token="s3cret-tok", response_type="Cancelled")
    assert rc == 0 and out["registered"] is True and out["originator_conversation_id"].startswith("7619-")
    assert daraja.registered == [{"ShortCode": daraja.shortcode, "ResponseType": "Cancelled",
                                  "ConfirmationURL": f"{BASE}/confirmation?token=s3cret-tok",
                                  "ValidationURL": f"{BASE}/validation?token=s3cret-tok"}]
    assert daraja.token_requests == 1


@pytest.mark.parametrize("keys, why", [
    ({"confirmation_url": "https://pay.example.com/mobile-money/mpesa/c2b/confirmation"}, "'mpesa'"),
    ({"validation_url": "https://pay.example.com/Safaricom/v"}, "'safaricom'"),
    ({"validation_url": "https://pay.example.com/api/query/v"}, "'query'"),
    ({"callback_token": "tokEXEc99"}, "'exe'"),  # a token that happens to hold a refused word
    ({"confirmation_url": "http://pay.example.com/c"}, "https"),
    ({"confirmation_url": ""}, "not set"),
])
async def test_a_url_daraja_would_refuse_is_refused_here_before_any_call(daraja, tmp_path, keys, why):
    rc, out, err = await register(daraja, tmp_path, **keys)
    assert rc == 2 and why in err and daraja.token_requests == 0 and daraja.registered == []


async def test_loopback_http_is_allowed_for_tests(daraja, tmp_path):
    rc, _, _ = await register(daraja, tmp_path, confirmation_url="http://127.0.0.1:9/c",
                              validation_url="http://127.0.0.1:9/v")
    assert rc == 0 and len(daraja.registered) == 1


async def test_darajas_refusal_is_reported(daraja, tmp_path):
    daraja.production = True  # production registers once: "Urls are already registered."
    assert (await register(daraja, tmp_path))[0] == 0
    rc, out, _ = await register(daraja, tmp_path)
    assert rc == 1 and out == {"registered": False, "code": "500.003.1001", "message": "Urls are already registered."}
