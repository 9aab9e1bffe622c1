"""Middlewares: a request id on every response and log line, admission control, JSON
errors, metrics.

Admission: at most ``server.max_in_flight`` requests at once per process (beyond it:
503 with ``Retry-After`` at once, before any work), and none longer than
``server.request_timeout_s`` (503). Health and metrics are always answered.

Bodies are checked once, here, before any handler reads them (:func:`body_refusal`): a
``charset`` in ``Content-Type`` that Python has no codec for, or a JSON body nested
deeper than :data:`JSON_DEPTH_MAX`, is answered 400 with the reason and reaches no
handler. Any route that reads a form, text or JSON is covered, whatever it parses.

Expected refusals (:class:`billing_core.errors.DomainError`) become a 4xx with
``{"error": code, "detail": …}``; anything else is a bug: logged with the request id
and answered 500 without details.
"""
from __future__ import annotations

import asyncio
import codecs
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
# No provider payload comes near it (Daraja's STK callback, the deepest, is 5 levels);
# Python's json module itself fails with RecursionError at about 1,000.
JSON_DEPTH_MAX = 32
_OPENERS = (ord("["), ord("{"))


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


def charset_refusal(charset: str | None) -> str:
    """Why a body in ``charset`` cannot be decoded ('' when it can, or none is named)."""
    if not charset:
        return ""
    try:
        codecs.lookup(charset)
    except LookupError:
        return f"unknown charset {charset[:40]!r} in Content-Type"
    return ""


def json_depth(body: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def nesting_refusal(body: bytes) -> str:
    """Why ``body``, when it is JSON-like, is nested too deeply to parse ('' when it is not)."""
    head = body.lstrip()[:1]
    if not head or head[0] not in _OPENERS or body.count(b"[") + body.count(b"{") <= JSON_DEPTH_MAX:
        return ""  # the count bounds the depth: most bodies need no scan
    if json_depth(body) > JSON_DEPTH_MAX:
        return f"JSON nested more than {JSON_DEPTH_MAX} levels deep"
    return ""


async def body_refusal(request: web.Request) -> str:
    """Why the request's body must be refused before any handler reads it ('' when it need not).

    The body is read (bounded by ``client_max_size``) and kept by aiohttp for the handler."""
    reason = charset_refusal(request.charset)
    if reason or not request.body_exists or request.content_type.startswith("multipart/"):
        return reason  # a multipart body is streamed by its reader, not read whole here
    return nesting_refusal(await request.read())


async def _handle(request: web.Request, handler) -> web.StreamResponse:
    try:
        refusal = await body_refusal(request)
        if refusal:
            return json_error(400, "malformed_body", refusal)
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
