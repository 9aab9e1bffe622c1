"""Who is asking, and may they: sessions, CSRF and roles for the pages under ``/admin/``.

- The session cookie holds a random token (HttpOnly, SameSite=Strict, Path=/admin, Secure
  with ``admin.secure_cookie``); the database holds its hash (:mod:`billing_core.admin_users`).
- Every POST carries the session's CSRF token in a form field ``csrf``, compared in
  constant time; the login form, before any session, uses a random token that is both in a
  cookie and in the form (double submit).
- A page needs a live session (else: 303 to the login page) and a role at least the one
  its handler names (else: 403). Checks run in that order: session, CSRF, role; nothing is
  read from the form's other fields before they pass.
"""
from __future__ import annotations

import functools
import hmac
import secrets
from typing import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from billing_core import admin_users
from billing_core.admin_users import AdminUser
from gateway.keys import BILLING, SETTINGS

COOKIE = "tvtopup_admin"
LOGIN_COOKIE = "tvtopup_login"
USER = web.RequestKey("admin_user", AdminUser)
TOKEN = web.RequestKey("admin_token", str)  # the session token (the CSRF token derives from it)
FORM = web.RequestKey("admin_form", object)  # the POST's form, once session, CSRF and role passed
PATH = "/admin"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PATH, httponly=True, samesite="Strict",
                        secure=request.app[SETTINGS].admin.secure_cookie)


def login_url(request: web.Request) -> str:
    return f"{PATH}/login?next={quote(request.path_qs, safe='')}"


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a page of ours, never another site."""
    if target and target.startswith(f"{PATH}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PATH}/"


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def login_token_ok(request: web.Request, given: str) -> bool:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    return bool(expected) and hmac.compare_digest(expected.encode(), (given or "").encode())


async def _session(request: web.Request) -> tuple[AdminUser | None, str]:
    token = request.cookies.get(COOKIE, "")
    return await admin_users.session_user(request.app[BILLING], token), token


def _forbidden(reason: str) -> web.Response:
    return web.Response(status=403, text=f"403 Forbidden: {reason}", content_type="text/plain",
                        headers={"Cache-Control": "no-store"})


def page(role: str = "viewer") -> Callable[[Handler], Handler]:
    """A GET page for ``role`` and above."""
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def inner(request: web.Request) -> web.StreamResponse:
            user, token = await _session(request)
            if user is None:
                return web.Response(status=303, headers={"Location": login_url(request)})
            if not admin_users.role_at_least(user.role, role):
                return _forbidden(f"this page needs the {role} role")
            request[USER], request[TOKEN] = user, token
            return await handler(request)
        return inner
    return wrap


def action(role: str = "operator") -> Callable[[Handler], Handler]:
    """A POST for ``role`` and above, with the session's CSRF token; the form is at ``request[FORM]``."""
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def inner(request: web.Request) -> web.StreamResponse:
            user, token = await _session(request)
            if user is None:
                return web.Response(status=303, headers={"Location": f"{PATH}/login"})
            form = await request.post()
            if not admin_users.csrf_ok(token, str(form.get("csrf", ""))):
                return _forbidden("the form's CSRF token is missing or wrong; reload the page")
            if not admin_users.role_at_least(user.role, role):
                return _forbidden(f"this needs the {role} role")
            request[USER], request[TOKEN], request[FORM] = user, token, form
            return await handler(request)
        return inner
    return wrap


__all__ = ["COOKIE", "LOGIN_COOKIE", "USER", "TOKEN", "FORM", "page", "action", "set_cookie", "safe_next",
           "new_login_token", "login_token_ok", "login_url"]
