"""Customer-care pages under ``/admin/``: a subscriber's care page (edit, suspend, resume,
terminate, reverse a payment), the lapsed list and the operator's notices.

Same rules as the other pages (:mod:`gateway.admin.auth`): a login for every page, and for
every POST the session's CSRF token and a role: ``operator`` edits, suspends, resumes and
sends notices; ``admin`` also terminates and reverses payments. The use cases
(:mod:`billing_core.care`, :mod:`billing_core.corrections`) write the audit record, naming the
user and the address.
"""
from __future__ import annotations

import logging

from aiohttp import web

from billing_core import admin_users, care, corrections, reports
from billing_core import subscriptions as subs
from billing_core.audit import Actor
from billing_core.errors import DomainError
from gateway.admin import auth
from gateway.admin.routes import redirect, render
from gateway.keys import BILLING, SETTINGS

log = logging.getLogger("tvtopup.admin")
routes = web.RouteTableDef()
DONE = {"edited": "Details saved.", "suspended": "Suspended: the entitlement is revoked.",
        "resumed": "Resumed.", "terminated": "Terminated.", "reversed": "Payment reversed."}


def _actor(request: web.Request) -> Actor:
    return Actor(f"admin:{request[auth.USER].name}", request.remote or "")


def _field(request: web.Request, name: str) -> str:
    return str(request[auth.FORM].get(name, "")).strip()


# ---- a subscriber's care page ------------------------------------------------------------

@routes.get("/admin/subscribers/{card}/care")
@auth.page("operator")
async def care_page(request: web.Request) -> web.StreamResponse:
    return await _care_page(request, "", 200)


async def _care_page(request: web.Request, error: str, status: int) -> web.Response:
    billing, card = request.app[BILLING], request.match_info["card"]
    try:
        sub = await subs.show_subscriber(billing, card)
    except DomainError as exc:
        return render(request, "subscribers.html", {"q": card, "found": [], "error": exc.detail or exc.code},
                      status=exc.http_status)
    activity = await reports.subscriber_activity(billing, sub.card)
    role = request[auth.USER].role
    return render(request, "care.html", {
        "sub": sub, "payments": activity.payments, "error": error, "done": DONE.get(request.query.get("done", ""), ""),
        "languages": billing.languages, "is_admin": admin_users.role_at_least(role, "admin")}, status=status)


def _care_action(run, done: str):
    """A POST on a card's care page: ``run(request, billing, card)``; back to the page, or the
    page again with the refusal (4xx, nothing changed)."""
    async def handler(request: web.Request) -> web.StreamResponse:
        card = request.match_info["card"]
        try:
            await run(request, request.app[BILLING], card)
        except DomainError as exc:
            return await _care_page(request, exc.detail or exc.code, exc.http_status)
        log.info("%s: %s on card %s", request[auth.USER].name, done, card)
        return redirect(f"/admin/subscribers/{card}/care?done={done}")
    return handler


async def _edit(request, billing, card):
    values = {k: _field(request, k) or None for k in ("msisdn", "name", "lang", "region")}
    await care.edit_subscriber(billing, card, actor=_actor(request), **values)


async def _suspend(request, billing, card):
    await care.suspend_subscriber(billing, card, reason=_field(request, "reason"), actor=_actor(request))


async def _resume(request, billing, card):
    await care.resume_subscriber(billing, card, actor=_actor(request),
                                 credit_suspended_time=request.app[SETTINGS].care.credit_suspended_time)


async def _terminate(request, billing, card):
    await care.terminate_subscriber(billing, card, reason=_field(request, "reason"), actor=_actor(request))


async def _reverse(request, billing, card):
    await corrections.reverse_payment(
        billing, _field(request, "txid"), reason=_field(request, "reason"), actor=_actor(request), card=card,
        allow_negative=request.app[SETTINGS].payments.allow_negative_after_reversal)


routes.post("/admin/subscribers/{card}/edit")(auth.action("operator")(_care_action(_edit, "edited")))
routes.post("/admin/subscribers/{card}/suspend")(auth.action("operator")(_care_action(_suspend, "suspended")))
routes.post("/admin/subscribers/{card}/resume")(auth.action("operator")(_care_action(_resume, "resumed")))
routes.post("/admin/subscribers/{card}/terminate")(auth.action("admin")(_care_action(_terminate, "terminated")))
routes.post("/admin/subscribers/{card}/reverse")(auth.action("admin")(_care_action(_reverse, "reversed")))


# ---- lapsed ---------------------------------------------------------------------------------

@routes.get("/admin/lapsed")
@auth.page()
async def lapsed_page(request: web.Request) -> web.StreamResponse:
    q = request.query
    try:
        days = int(q.get("days", "30") or 30)
        rows = await care.lapsed(request.app[BILLING], days=days, region=q.get("region") or None)
    except (DomainError, ValueError) as exc:
        detail = exc.detail if isinstance(exc, DomainError) else "days is a whole number"
        return render(request, "lapsed.html", {"rows": [], "q": q, "error": detail}, status=400)
    return render(request, "lapsed.html", {"rows": rows, "q": q, "error": ""})


# ---- the operator's notices --------------------------------------------------------------------

@routes.get("/admin/notify")
@auth.page("operator")
async def notify_page(request: web.Request) -> web.StreamResponse:
    return render(request, "notify.html", {"form": {}, "result": None, "error": ""})


@routes.post("/admin/notify")
@auth.action("operator")
async def notify_send(request: web.Request) -> web.StreamResponse:
    form = {k: _field(request, k) for k in ("target", "value", "channel", "text", "mode")}
    target = {"card": None, "package": None, "region": None}
    if form["target"] in target:
        target[form["target"]] = form["value"] or None
    try:
        done = await care.send_notice(request.app[BILLING], form["text"], channel=form["channel"],
                                      actor=_actor(request), everyone=form["target"] == "all",
                                      per_second=request.app[SETTINGS].care.notify_per_second,
                                      dry_run=form["mode"] != "send", **target)
    except DomainError as exc:
        return render(request, "notify.html", {"form": form, "result": None, "error": exc.detail or exc.code},
                      status=exc.http_status)
    return render(request, "notify.html", {"form": form, "result": done.to_json(), "error": ""})


__all__ = ["routes"]
