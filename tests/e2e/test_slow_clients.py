"""Slow clients against the real ``tvtopup serve`` on loopback.

The gateway is started with a soft open-files limit of 1,024 (the common default; the
hard limit is left as it is), then more slow connections than that are opened, each
sending half a request line and nothing more (a slow-headers client). The gateway
must still answer ``/healthz`` within a second, close the slow connections after
``server.header_timeout_s``, and keep its log small.
"""
from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

SOFT_NOFILE = 1024
SLOW = 1100  # more than the soft limit, and more than server.max_connections (1000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _low_soft_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(SOFT_NOFILE, hard), hard))


def _healthz(port: int, timeout_s: float) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout_s) as resp:
        return resp.status


@pytest.fixture
def gateway(tmp_path):
    """``tvtopup serve`` on a free loopback port, its log in a file; yields (port, process, log path)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env["TVTOPUP_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'tvtopup.db'}"
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port)], cwd=tmp_path,
                                env=env, stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=_low_soft_limit)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert _healthz(port, 1) == 200
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("serve did not come up: " + log_path.read_text()[-2000:])
                time.sleep(0.2)
        yield port, proc, log_path
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _slow_connections(port: int, count: int) -> list[socket.socket]:
    opened = []
    for _ in range(count):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        except OSError:
            s.close()
            continue
        opened.append(s)
    return opened


def _closed_by_peer(s: socket.socket) -> bool:
    s.settimeout(0.01)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except (socket.timeout, BlockingIOError):
        return False


def test_slow_clients_past_the_limits_leave_healthz_answering_and_the_log_small(gateway) -> None:
    port, proc, log_path = gateway
    with open(f"/proc/{proc.pid}/limits") as limits:
        [line] = [line for line in limits if line.startswith("Max open files")]
    soft, hard = line.split()[3:5]
    assert soft == hard, line  # raised to the hard limit at start
    slow = _slow_connections(port, SLOW)
    try:
        assert len(slow) == SLOW
        for _ in range(5):
            started = time.monotonic()
            assert _healthz(port, 1) == 200
            assert time.monotonic() - started < 1
        time.sleep(1)
        assert sum(_closed_by_peer(s) for s in slow) >= SLOW - 1000  # the oldest slow ones made room
        assert _healthz(port, 1) == 200
    finally:
        for s in slow:
            s.close()
    assert len(log_path.read_text().splitlines()) < 100


def test_a_client_that_never_finishes_its_headers_is_closed(tmp_path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVTOPUP_")}
    env.update({"TVTOPUP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tvtopup.db'}",
                "TVTOPUP_SERVER__HEADER_TIMEOUT_S": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert _healthz(port, 1) == 200
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "serve did not come up"
                time.sleep(0.2)
        [s] = _slow_connections(port, 1)
        s.settimeout(5)
        started = time.monotonic()
        for _ in range(5):  # a byte now and then does not keep it open
            time.sleep(0.3)
            try:
                s.sendall(b"X")
            except OSError:
                break
        s.settimeout(5)
        try:
            assert s.recv(1024) == b""
        except ConnectionResetError:
            pass
        assert time.monotonic() - started < 4
        s.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
