"""``tvtopup events list|show|retry`` and ``tvtopup subscriber grant-days``, run as an operator would."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from billing_core import ledger, subscriptions
from billing_core.context import Billing
from billing_core.db import outbox_store
from billing_core.db.database import open_database
from billing_core.db.migrate import upgrade
from billing_core.money import Rates
from tv_notify import events

CARD = "12345678"
PHONE = "+254712345678"


def run(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env["TVTOPUP_DATABASE_URL"] = url
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def ok_json(url: str, *args: str):
    done = run(url, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def seed(url: str) -> tuple[str, str]:
    """A renewed subscriber (grant, osd, sms pending) and one dead event; returns (dead id, grant id)."""
    await upgrade(url)
    db = open_database(url)
    billing = Billing(db=db, rates=Rates({"KES": 100}))
    try:
        await subscriptions.add_package(billing, "BASIC", "Basic", 30, 150, ("101",))
        await subscriptions.add_subscriber(billing, CARD, PHONE, package="BASIC")
        await subscriptions.credit_tvu(billing, CARD, 150, source=ledger.TVU_OPENING, ref="o", kind="opening")
        (dead_id,) = await db.write(outbox_store.enqueue, [events.osd("87654321", "lost", "en")], billing.now())

        def kill(conn):
            seq = outbox_store.find_event(conn, dead_id).seq
            outbox_store.mark_failed(conn, seq, billing.now(), billing.now(), "refused by the CAS", True)

        await db.write(lambda conn: [outbox_store.mark_delivered(conn, [e.id for e in outbox_store.for_card(
            conn, CARD) if e.kind == events.GRANT], billing.now())])
        await db.write(kill)
        grant = [e for e in await db.read(outbox_store.for_card, CARD) if e.kind == events.GRANT][0]
        return dead_id, grant.event_id
    finally:
        await db.close()


async def test_events_list_show_retry_and_grant_days(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'tvtopup.db'}"
    dead_id, grant_id = await seed(url)

    dead = ok_json(url, "events", "list", "--status", "dead")
    assert [(e["id"], e["event"], e["card"], e["last_error"]) for e in dead] == [
        (dead_id, "osd.message", "87654321", "refused by the CAS")]
    mine = ok_json(url, "events", "list", "--card", CARD, "--limit", "10")
    assert [e["event"] for e in mine] == ["sms.send", "osd.message", "entitlement.grant"]  # newest first
    assert [e["status"] for e in mine] == ["pending", "pending", "delivered"]

    sms = ok_json(url, "events", "show", str(mine[0]["seq"]))
    assert sms["payload"]["msisdn"] == "+2547*****678"  # masked
    assert {"seq", "id", "event", "card", "status", "attempts", "claimed_by", "lease_until"} <= sms.keys()

    assert ok_json(url, "events", "retry", dead_id) == {"requeued": 1, "hurried": 0}
    assert ok_json(url, "events", "retry", "--all-dead") == {"requeued": 0, "hurried": 0}
    assert ok_json(url, "events", "show", dead_id)["status"] == "pending"
    refused = run(url, "events", "retry", grant_id)
    assert refused.returncode == 2 and "event_delivered" in refused.stderr

    granted = ok_json(url, "subscriber", "grant-days", CARD, "5", "--reason", "outage on 2026-11-20",
                      "--operator", "amina")
    assert (granted["card"], granted["days"], granted["reason"], granted["created_by"]) == (
        CARD, 5, "outage on 2026-11-20", "amina")
    shown = ok_json(url, "subscriber", "show", CARD)
    assert (shown["expires_at"], shown["wallet_tvu"]) == (granted["expires_at"], 0)
    assert run(url, "subscriber", "grant-days", CARD, "5").returncode == 2  # --reason is required
