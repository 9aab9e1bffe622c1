"""An idle ``tvtopup serve`` sleeps, and still wakes at once for an event from another process.

The gateway runs as a real process (``python -m gateway serve``); its CPU time is read
from ``/proc/PID/stat`` (utime + stime of every process in its group, so the workers of
``--workers 2`` count) over a quiet interval, after start-up has settled.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from billing_core import ledger, subscriptions
from billing_core.context import Billing
from billing_core.db.database import open_database
from billing_core.money import Rates
from tests.peers.fake_tv import FakeTv

QUIET_S = 6.0
CPU_SHARE_MAX = 0.03  # of one core
SECRET = "idle-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system, of the processes and their reaped children) of a process group."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat(int(entry))
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid:  # fields[2] is the process group (field 5 of stat)
            ticks += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def serve(url: str, tmp_path, *extra: str, **env_over: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env.update({"TVTOPUP_DATABASE_URL": url, "TVTOPUP_LOGGING__LEVEL": "WARNING", **env_over})
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port), *extra], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    raise AssertionError(f"serve did not start: {stop(proc)}")


def stop(proc: subprocess.Popen) -> str:
    with_group = proc.poll() is None
    if with_group:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate()[0]


def idle_share(proc: subprocess.Popen) -> float:
    time.sleep(3)  # start-up (migrations, imports, first scheduler round) settles
    before, start = group_cpu_s(proc.pid), time.monotonic()
    time.sleep(QUIET_S)
    return (group_cpu_s(proc.pid) - before) / (time.monotonic() - start)


def test_idle_serve_on_sqlite_sleeps(tmp_path):
    proc, _ = serve(f"sqlite+aiosqlite:///{tmp_path / 'tvtopup.db'}", tmp_path)
    try:
        share = idle_share(proc)
    finally:
        stop(proc)
    assert share < CPU_SHARE_MAX, f"idle serve used {share:.1%} of a core"


def test_idle_serve_with_two_workers_on_postgresql_sleeps(pg_url, tmp_path):
    proc, _ = serve(pg_url, tmp_path, "--workers", "2")
    try:
        share = idle_share(proc)
    finally:
        stop(proc)
    assert share < CPU_SHARE_MAX, f"idle serve --workers 2 used {share:.1%} of a core"


async def test_an_event_written_by_another_process_wakes_the_dispatchers(pg_url, aiohttp_server, tmp_path):
    """With a 30 s poll, only a cross-process wake (LISTEN/NOTIFY) delivers within seconds."""
    fake = FakeTv(secret=SECRET)
    server = await aiohttp_server(fake.app)
    proc, _ = await asyncio.to_thread(
        serve, pg_url, tmp_path, "--workers", "2", TVTOPUP_TV__ADAPTER="webhook",
        TVTOPUP_TV__URL=str(server.make_url("/hook")), TVTOPUP_TV__SECRET=SECRET, TVTOPUP_OUTBOX__POLL_S="30")
    db = open_database(pg_url)
    billing = Billing(db=db, rates=Rates({"KES": 100}))
    try:
        await asyncio.sleep(2)  # both dispatchers have made their first, empty claim and sleep
        await subscriptions.add_package(billing, "BASIC", "Basic", 30, 100, ("101",))
        await subscriptions.add_subscriber(billing, "80000001", "+254712345678", package="BASIC")
        started = time.monotonic()
        # the credit activates the subscription: its grant is written by this (another) process
        await subscriptions.credit_tvu(billing, "80000001", 100, source=ledger.TVU_OPENING, ref="80000001",
                                       kind="opening")
        await fake.wait_for(lambda f: len(f.ids("80000001")) >= 1, 10)
        took_s = time.monotonic() - started
    finally:
        await db.close()
        await asyncio.to_thread(stop, proc)
    assert took_s < 3, f"delivered {took_s:.1f} s after the commit"

