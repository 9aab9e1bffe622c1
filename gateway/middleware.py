"""Middlewares: a request id on every response and log line, admission control, JSON
errors, metrics.

Admission: at most ``server.max_in_flight`` requests at once per process (beyond it:
503 with ``Retry-After`` at once, before any work), and none longer than
``server.request_timeout_s`` (503). Health and metrics are always answered.

Expected refusals (:class:`billing_core.errors.DomainError`) become a 4xx with
``{"error": code, "detail": …}``; anything else is a bug: logged with the request id
and answered 500 without details.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time

from aiohttp import web

from billing_core.errors import DomainError
from gateway.keys import METRICS, SETTINGS
from gateway.logs import request_id

log = logging.getLogger("tvtopup.http")
_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# A request id: this process's random prefix and a counter (unique without a syscall per request).
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(1)
ALWAYS = frozenset({"/healthz", "/readyz", "/metrics"})


class Admission:
    """Requests in flight in this process, and how many were turned away."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.shed = 0
        self.timed_out = 0


ADMISSION = web.AppKey("admission", Admission)


def json_error(status: int, code: str, detail: str = "") -> web.Response:
    body = {"error": code}
    if detail:
        body["detail"] = detail
    return web.json_response(body, status=status)


@web.middleware
async def request_context(request: web.Request, handler) -> web.StreamResponse:
    given = request.headers.get("X-Request-Id", "")
    rid = given if _CLIENT_ID.fullmatch(given) else f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"
    token = request_id.set(rid)
    started = time.perf_counter()
    status = 500
    try:
        response = await _answer(request, handler)
        status = response.status
        response.headers["X-Request-Id"] = rid
        return response
    finally:
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
        request.app[METRICS].observe(route, request.method, status, time.perf_counter() - started)
        request_id.reset(token)


async def _answer(request: web.Request, handler) -> web.StreamResponse:
    admission, server = request.app[ADMISSION], request.app[SETTINGS].server
    if request.path in ALWAYS:
        return await _handle(request, handler)
    if admission.in_flight >= server.max_in_flight:
        admission.shed += 1
        return _busy("too many requests in flight")
    admission.in_flight += 1
    try:
        async with asyncio.timeout(server.request_timeout_s):
            return await _handle(request, handler)
    except TimeoutError:
        admission.timed_out += 1
        log.warning("%s %s not answered within %.0f s", request.method, request.path, server.request_timeout_s)
        return _busy("the request took too long")
    finally:
        admission.in_flight -= 1


def _busy(detail: str) -> web.Response:
    response = json_error(503, "overloaded", detail + "; try again")
    response.headers["Retry-After"] = "1"
    return response


async def _handle(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        return json_error(exc.http_status, exc.code, exc.detail)
    except UnicodeDecodeError:  # a body or form that is not the UTF-8 it claims to be
        return json_error(400, "invalid_encoding", "the request is not valid UTF-8")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, _slug(exc.reason), exc.text if exc.text != f"{exc.status}: {exc.reason}" else "")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal", "internal error; quote the X-Request-Id")


def _slug(reason: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_") or "error"
