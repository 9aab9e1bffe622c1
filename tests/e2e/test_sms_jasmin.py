"""The gateway bound to Jasmin, a widely used open-source SMS gateway, as its SMSC.

Jasmin checks the bind's password, gives its own message ids, routes texts from
phones (MO) to our bind and turns the operator's receipts into receipts for its
ids. Behind it an smpp34 server plays the mobile operator: it takes Jasmin's
``submit_sm``, sends receipts and injects texts from phones.

Jasmin (and Twisted, txAMQP...) lives in its own virtualenv, made once and kept by
path (``TVTOPUP_JASMIN_VENV``, default ``tvtopup-jasmin-<version>-venv`` in the system
temp directory, :func:`tempfile.gettempdir`), so it cannot disturb the project's packages
and the suite writes nothing outside the checkout and the temp directory.
Jasmin 0.11.1 drops every delivery receipt (``_pdu.response`` for ``r.response``
in ``managers/listeners.py``): the fixture patches that line in its venv. It needs
RabbitMQ (127.0.0.1:5672, guest) and Redis (127.0.0.1:6379), which ``.ci/run`` starts.
One Jasmin per test session (about 5-8 s to start), provisioned over its jCli console.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from billing_core.db import outbox_store, sms_store
from billing_core.db.schema_sms import sms_messages
from gateway.keys import BILLING
from gateway.providers.smpp.lifecycle import SMPP_LINK
from tests.peers.smsc import TestSmsc, free_port
from tv_notify import events

JASMIN_VERSION = "0.11.1"
USER, PASSWORD = "tvtopup", "jS3cret"  # Jasmin limits passwords to 8 characters
MSISDN = "+254712345678"


def _venv() -> Path:
    named = os.environ.get("TVTOPUP_JASMIN_VENV")
    if named:
        return Path(named)
    return Path(tempfile.gettempdir()) / f"tvtopup-jasmin-{JASMIN_VERSION}-venv"


def _jasmin_python() -> Path:
    venv = _venv()
    python = venv / "bin/python"
    if not (venv / "bin/jasmind.py").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-cache-dir", f"jasmin=={JASMIN_VERSION}"],
                       check=True, timeout=600)  # no pip cache in the home directory
    listeners = next(venv.glob("lib/python3*/site-packages/jasmin/managers/listeners.py"))
    source = listeners.read_text()
    if "_pdu.response" in source:  # Jasmin 0.11.1's receipt bug
        listeners.write_text(source.replace("_pdu.response", "r.response"))
    return python


class Operator:
    """The smpp34 'mobile operator' behind Jasmin, in a thread with its own event loop."""

    def __init__(self) -> None:
        self.smsc = TestSmsc(auto_receipt=False)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.call(self.smsc.start)

    def stop(self) -> None:
        self.call(self.smsc.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def call(self, fn, *args, timeout_s: float = 20, **kwargs):
        return asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), self.loop).result(timeout_s)

    async def acall(self, fn, *args, **kwargs):
        """From a test's event loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), self.loop))


def _config(root: Path, ports: dict[str, int], spec: Path) -> str:
    log = root / "log"
    sections = {
        "smpp-server": {"id": "smpps_01", "bind": "127.0.0.1", "port": ports["smpp"], "log_level": "DEBUG"},
        "smpp-server-pb": {"bind": "127.0.0.1", "port": ports["smpp_pb"]},
        "client-management": {"bind": "127.0.0.1", "port": ports["cm"], "store_path": root / "store"},
        "router": {"bind": "127.0.0.1", "port": ports["router"], "store_path": root / "store"},
        "jcli": {"bind": "127.0.0.1", "port": ports["jcli"], "authentication": "False"},
        "amqp-broker": {"host": "127.0.0.1", "port": 5672, "username": "guest", "password": "guest", "vhost": "/",
                        "spec": spec},
        "redis-client": {"host": "127.0.0.1", "port": 6379, "dbid": 11},
        "dlr": {"dlr_lookup_retry_delay": 1, "dlr_lookup_max_retries": 5},
        "sm-listener": {"dlr_lookup_retry_delay": 1},
        "deliversm-thrower": {"retry_delay": 1}, "dlr-thrower": {"retry_delay": 1},
    }
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {value}" for key, value in values.items()]
        lines.append(f"log_file = {log / (section + '.log')}")
    return "\n".join(lines) + "\n"


def _wait_port(port: int, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jasmind exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"jasmind did not listen on {port} within {timeout_s} s")


class JCli:
    """Jasmin's telnet console, line by line (no authentication on loopback): each answer is
    what arrives until the console goes quiet."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.read()

    def read(self, quiet_s: float = 0.25, max_s: float = 10.0) -> str:
        data = b""
        deadline = time.monotonic() + max_s
        self._sock.settimeout(quiet_s)
        while time.monotonic() < deadline:
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout:
                if data:
                    break
                continue
            if not chunk:
                break
            data += chunk
        return data.decode("latin-1", "replace")

    def run(self, *lines: str) -> str:
        out = ""
        for line in lines:
            self._sock.sendall(line.encode() + b"\r\n")
            out += self.read()
        return out

    def close(self) -> None:
        self._sock.close()


def _provision(jcli_port: int, operator_port: int, cid: str) -> None:
    cli = JCli(jcli_port)
    try:
        steps = [
            (["group -a", "gid tvgroup", "ok"], "Successfully added"),
            (["user -a", f"username {USER}", f"password {PASSWORD}", "gid tvgroup", "uid tvuser", "ok"],
             "Successfully added"),
            (["smppccm -a", f"cid {cid}", "host 127.0.0.1", f"port {operator_port}", "username jasmin",
              "password op", "submit_throughput 0", "ok"], "Successfully added"),
            (["mtrouter -a", "type defaultroute", f"connector smppc({cid})", "rate 0.00", "ok"],
             "Successfully added"),
            (["morouter -a", "type defaultroute", f"connector smpps({USER})", "ok"], "Successfully added"),
            ([f"smppccm -1 {cid}"], "Successfully started"),
        ]
        for lines, expected in steps:
            out = cli.run(*lines)
            assert expected in out, out
    finally:
        cli.close()


@pytest.fixture(scope="session")
def jasmin(tmp_path_factory):
    """A provisioned Jasmin on 127.0.0.1 (``.port``), its operator (``.operator.smsc``) bound to it."""
    python = _jasmin_python()
    root = tmp_path_factory.mktemp("jasmin")
    for sub in ("log", "store", "etc"):
        (root / sub).mkdir()
    spec = next(python.parent.parent.glob("lib/python3*/site-packages/txamqp/specs/standard/amqp0-9-1.stripped.xml"))
    ports = {name: free_port() for name in ("smpp", "smpp_pb", "cm", "router", "jcli")}
    (root / "jasmin.cfg").write_text(_config(root, ports, spec))
    operator = Operator()
    operator.start()
    env = {**os.environ, "ROOT_PATH": str(root), "LOG_PATH": str(root / "log"), "CONFIG_PATH": str(root / "etc"),
           "STORE_PATH": str(root / "store")}
    process = subprocess.Popen(
        [str(python), str(python.parent / "jasmind.py"), "-c", str(root / "jasmin.cfg"), "--disable-http-api",
         "--enable-dlr-thrower", "--enable-dlr-lookup", "--enable-deliver-thrower"],
        env=env, stdout=open(root / "log/stdout.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_port(ports["jcli"], process, 30)
        _wait_port(ports["smpp"], process, 10)
        _provision(ports["jcli"], operator.smsc.port, f"op{uuid.uuid4().hex[:6]}")
        operator.call(operator.smsc.wait_bound, 15)
        yield type("Jasmin", (), {"port": ports["smpp"], "operator": operator, "root": root})
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        operator.stop()
        if os.environ.get("TVTOPUP_KEEP_JASMIN_LOGS") is None:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def hook(monkeypatch):
    calls = []

    async def handle_inbound(app, msisdn, text, *, channel, to="", message_id=""):
        calls.append((msisdn, text, channel))
        billing = app[BILLING]
        await billing.db.write(lambda conn: outbox_store.enqueue(conn, [events.sms("", msisdn, f"re: {text}", "en")],
                                                                 billing.now()))
        return f"re: {text}"

    monkeypatch.setattr("gateway.sms.inbound.handle_inbound", handle_inbound)
    return calls


async def until(predicate, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def start(gateway_client, jasmin, password=PASSWORD):
    return await gateway_client(workers=True, **{
        "sms.provider": "smpp", "smpp.port": jasmin.port, "smpp.system_id": USER, "smpp.password": password,
        "smpp.source_addr": "22333", "outbox.poll_s": 0.2})


async def test_through_jasmin_a_text_in_a_reply_out_and_its_receipt(gateway_client, jasmin, hook):
    client = await start(gateway_client, jasmin)
    assert await client.app[SMPP_LINK].wait_state("bound", 10)
    smsc = jasmin.operator.smsc
    before = len(smsc.accepted)
    assert await jasmin.operator.acall(smsc.send_mo, "254712345678", "BAL 10000001", to="22333") == 0

    async def answered():
        return len(smsc.accepted) > before

    await until(lambda: _true(hook))  # Jasmin routed the text to our bind
    assert hook[-1] == (MSISDN, "BAL 10000001", "smpp")
    await until(answered)
    reply = smsc.accepted[-1]
    assert (reply.destination_addr, reply.short_message) == ("254712345678", b"re: BAL 10000001")

    async def sent_row():
        rows = await client.app[BILLING].db.read(_all_rows)
        return bool(rows) and rows[-1].status == "sent"

    await until(sent_row)
    [row] = await client.app[BILLING].db.read(_all_rows)
    assert row.provider_message_id and row.provider_message_id != reply.message_id  # Jasmin's own id
    assert await jasmin.operator.acall(smsc.send_receipt, reply.message_id) == 0

    async def delivered():
        return (await client.app[BILLING].db.read(_all_rows))[-1].status == "delivered"

    await until(delivered)


async def test_jasmin_refuses_a_wrong_password_and_the_link_keeps_trying(gateway_client, jasmin):
    client = await start(gateway_client, jasmin, password="wrong")
    link = client.app[SMPP_LINK]
    await asyncio.sleep(2.5)  # two tries: at once, then after 1 s
    assert not link.bound and link.binds == 0 and link.bind_failures >= 2
    assert "0x0000000e" in link.detail or "0x0000000d" in link.detail  # invalid password / bind failed


async def _true(items) -> bool:
    return bool(items)


def _all_rows(conn):
    from sqlalchemy import select

    return [sms_store._message(r) for r in conn.execute(select(sms_messages).order_by(sms_messages.c.id))]
