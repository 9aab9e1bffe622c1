"""``tvtopup serve``: migrate, then serve until SIGINT or SIGTERM, closing cleanly.

With ``--workers N`` the command becomes a supervisor: it applies migrations once,
then starts N worker processes sharing the port (``SO_REUSEPORT``); every worker
also runs the background workers: the outbox dispatchers share the events through
leases, and one scheduler at a time leads (see ``tv_notify``). SIGTERM or Ctrl-C is
passed on to every worker, which finishes its requests in flight and exits. A worker
that dies otherwise (a crash, kill -9) is started again; what it had acknowledged is
committed, and what it had leased in the outbox is taken over when the lease runs out.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import time

from aiohttp import web

from billing_core.db.migrate import upgrade
from config.settings import Settings
from gateway.app import create_app
from gateway.http.connections import ConnectionLimit, connections_max, raise_open_files_limit
from gateway.logs import setup_logging
from gateway.providers.guard import protected_providers

log = logging.getLogger("tvtopup")
WORKERS_MAX = 64
# A worker that dies is started again, at most RESTARTS_MAX times in RESTART_WINDOW_S;
# past that something is wrong everywhere and the supervisor stops.
RESTARTS_MAX = 10
RESTART_WINDOW_S = 60
LISTEN_BACKLOG = 512


def serve(settings: Settings, *, host: str | None = None, port: int | None = None, workers: int = 1,
          worker_id: int | None = None, config: str | None = None) -> int:
    setup_logging(settings.logging.level, settings.logging.format)
    host = host or settings.server.host
    port = port or settings.server.port
    if worker_id is None:
        asyncio.run(upgrade(settings.database.url))
        log.info("database at %s is up to date", settings.redacted()["database"]["url"])
        log.info("tv adapter %s, sms provider %s, redis %s", settings.tv.adapter, settings.sms.provider,
                 "on" if settings.redis.url else "off (in-process state, one process only)")
        if workers > 1:
            return _supervise(host, port, workers, config)
    app = create_app(settings, workers=True)
    if not worker_id:
        _warn_protected(app)
    open_files = raise_open_files_limit()
    asyncio.run(_serve_app(app, settings, host, port, open_files,
                           reuse_port=worker_id is not None))
    log.info("stopped")
    return 0


def _warn_protected(app: web.Application) -> None:
    """Name each provider whose callbacks only loopback may call (no token, no address list)."""
    for provider in protected_providers(app):
        log.warning("protected mode: %s callbacks are taken from loopback only; set its callback_token or "
                    "allow_ips to take them from the network", provider)


async def _serve_app(app: web.Application, settings: Settings, host: str, port: int, open_files: int, *,
                     reuse_port: bool) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then stop cleanly (requests in flight finish).

    Connections are bounded (:mod:`gateway.http.connections`): ``server.max_connections``
    (below the open files limit) and ``server.header_timeout_s`` for a request's headers."""
    server = settings.server
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    limit = ConnectionLimit(connections_max(server.max_connections, open_files))
    app.middlewares.append(limit.middleware)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=server.header_timeout_s,
                           shutdown_timeout=server.shutdown_timeout_s)
    await runner.setup()
    try:
        limit.attach(runner.server)
        await web.TCPSite(runner, host, port, reuse_port=reuse_port, backlog=LISTEN_BACKLOG).start()
        log.info("serving on http://%s:%d (at most %d connections, %.0f s for a request's headers)", host, port,
                 limit.max_connections, server.header_timeout_s)
        await stop.wait()
    finally:
        await runner.cleanup()


def _supervise(host: str, port: int, workers: int, config: str | None) -> int:
    if workers > WORKERS_MAX:
        raise SystemExit(f"--workers is at most {WORKERS_MAX}")
    base = [sys.executable, "-m", "gateway", "serve", "--host", host, "--port", str(port)]
    if config:
        base += ["--config", config]
    procs = [subprocess.Popen(base + ["--worker-id", str(i)]) for i in range(workers)]
    log.info("started %d workers on %s:%d: %s", workers, host, port, ", ".join(str(p.pid) for p in procs))
    stopping = False
    signalled: set[int] = set()
    restarts: list[float] = []

    def stop(signum, _frame):
        nonlocal stopping
        stopping = stopping or signum is not None
        for proc in procs:  # once each: a second SIGTERM would cut a worker's clean stop short
            if proc.poll() is None and proc.pid not in signalled:
                signalled.add(proc.pid)
                proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        time.sleep(0.2)
        for i, proc in enumerate(procs):
            if stopping or proc.poll() is None:
                continue
            now = time.monotonic()
            restarts[:] = [t for t in restarts if now - t < RESTART_WINDOW_S] + [now]
            if len(restarts) > RESTARTS_MAX:
                log.error("workers keep dying (%d restarts in %d s): stopping", len(restarts), RESTART_WINDOW_S)
                stop(None, None)
                codes = [p.wait() for p in procs]
                log.info("workers stopped: exit codes %s", codes)
                return 1
            log.error("worker %d (pid %d) died with code %s: starting it again", i, proc.pid, proc.returncode)
            procs[i] = subprocess.Popen(base + ["--worker-id", str(i)])
    stop(None, None)
    codes = [p.wait() for p in procs]
    log.info("workers stopped: exit codes %s", codes)
    return 0 if all(c == 0 for c in codes) else 1
