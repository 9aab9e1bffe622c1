"""Open connections: a bound on how many, and on how long a client may take over its headers.

Slow clients (a request line and never the end of the headers) used to hold a file
descriptor each until the keep-alive timer (75 s) ran out; past the process's open
files limit the gateway could accept nothing, not even ``/healthz``, and asyncio
logged every failed accept.

- Header time: aiohttp closes a connection on which no complete request has arrived
  within its keep-alive timeout, counted from the connection (or from the last
  response); ``server.header_timeout_s`` is that timeout. It is also the time an idle
  keep-alive connection stays open.
- Connections: at most ``server.max_connections`` per process. A connection past the
  limit closes the oldest connection that is not in a request now (a slow or idle
  client); when every connection is busy, the newcomer is closed instead. A request
  in flight is never cut.
- Open files: :func:`raise_open_files_limit` raises the soft limit to the hard one at
  start, and :func:`connections_max` keeps the connection limit below it.
"""
from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

from aiohttp import web

log = logging.getLogger("tvtopup.connections")
FILES_RESERVED = 128  # descriptors kept for the database, Redis, outbound calls and logs


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("open files limit stays at %d (hard limit %d): %s", soft, hard, exc)
        return soft
    log.info("open files limit raised from %d to %d", soft, hard)
    return hard


def connections_max(configured: int, open_files: int) -> int:
    """The connection limit: ``configured``, lowered to leave :data:`FILES_RESERVED` descriptors."""
    fits = max(1, open_files - FILES_RESERVED) if open_files != resource.RLIM_INFINITY else configured
    return min(configured, fits)


class ConnectionLimit:
    """Counts the connections of one aiohttp server and sheds past ``max_connections``.

    Wire it with :meth:`middleware` in the application (before it starts) and
    :meth:`attach` on the runner's server (after ``runner.setup()``)."""

    def __init__(self, max_connections: int):
        self.max_connections = max_connections
        self.shed = 0  # connections closed to make room (or refused)
        self._open: dict[Any, asyncio.Transport] = {}  # handler -> transport, oldest first
        self._busy: dict[Any, int] = {}  # handler -> requests in flight on it

    def attach(self, server: web.Server) -> None:
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler, transport) -> None:
            made(handler, transport)
            self._open[handler] = transport
            if len(self._open) > self.max_connections:
                self._make_room(handler)

        def connection_lost(handler, exc=None) -> None:
            self._open.pop(handler, None)
            self._busy.pop(handler, None)
            lost(handler, exc)

        # the server calls these on itself for every connection: wrapped on this instance only
        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]

    def _make_room(self, newcomer) -> None:
        victim = next((h for h in self._open if h is not newcomer and not self._busy.get(h)), newcomer)
        transport = self._open.pop(victim)
        self._busy.pop(victim, None)
        self.shed += 1
        transport.abort()

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        protocol = request.protocol
        self._busy[protocol] = self._busy.get(protocol, 0) + 1
        try:
            return await handler(request)
        finally:
            left = self._busy.get(protocol, 1) - 1
            if left > 0:
                self._busy[protocol] = left
            else:
                self._busy.pop(protocol, None)

    def __len__(self) -> int:
        return len(self._open)


__all__ = ["ConnectionLimit", "raise_open_files_limit", "connections_max"]
