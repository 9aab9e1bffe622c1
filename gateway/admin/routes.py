"""The operator's web pages under ``/admin/``: server-rendered (Jinja2), charts as inline SVG,
no script. ``setup(app)`` adds them to the gateway.

Every page needs a login (:mod:`gateway.admin.auth`); actions that move value (assign a held
payment, retry an event) need the ``operator`` role, a CSRF token, and are written to the
audit log. The figures are those of ``tvtopup report …`` (:mod:`billing_core.reports`).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web

from billing_core import admin_users, cards, dealers, payments, reports
from billing_core import subscriptions as subs
from billing_core.errors import DomainError, Unauthorized
from billing_core.money import Money
from billing_core.renewal import iso
from gateway.admin import auth
from gateway.admin.charts import bar_chart
from gateway.keys import BILLING, SETTINGS, STATE
from gateway.state import StateUnavailable
from gateway.state.limits import RateLimit
from tv_notify import outbox

log = logging.getLogger("tvtopup.admin")
HERE = Path(__file__).resolve().parent
DASHBOARD_DAYS = 14
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}
routes = web.RouteTableDef()


def setup(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    env.filters["when"] = lambda epoch: iso(epoch) if epoch else ""
    env.filters["money"] = lambda minor, ccy: str(Money(minor, ccy)) if ccy else ""
    app.router.add_routes(routes)
    from gateway.admin import care  # its handlers render with this module's helpers

    app.router.add_routes(care.routes)
    app.router.add_static("/admin/static", HERE / "static", name="admin-static")


def render(request: web.Request, template: str, context: dict, *, status: int = 200) -> web.Response:
    user = request.get(auth.USER)
    base = {"user": user, "csrf": admin_users.csrf_token(request[auth.TOKEN]) if user else "",
            "operator": request.app[SETTINGS].operator.name, "path": request.path}
    response = aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)
    response.headers.update(HEADERS)
    return response


def redirect(location: str) -> web.Response:
    """303 See Other: after a POST, the browser GETs ``location``."""
    return web.Response(status=303, headers={"Location": location, **HEADERS})


def _today_window(request: web.Request, days: int) -> tuple[int, int, str]:
    """``[since, until)`` covering the last ``days`` local days, today included; and today."""
    tz = ZoneInfo(request.app[SETTINGS].operator.timezone)
    today = datetime.fromtimestamp(request.app[BILLING].now(), tz).date()
    start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), tz)
    end = datetime.combine(today + timedelta(days=1), datetime.min.time(), tz)
    return int(start.timestamp()), int(end.timestamp()), today.isoformat()


# ---- login --------------------------------------------------------------------------------------

@routes.get("/admin")
async def _root(request: web.Request) -> web.StreamResponse:
    return redirect("/admin/")


@routes.get("/admin/login")
async def login_form(request: web.Request) -> web.StreamResponse:
    return _login_page(request, "", 200)


def _login_page(request: web.Request, error: str, status: int) -> web.Response:
    token = auth.new_login_token()
    response = render(request, "login.html", {"login_token": token, "error": error,
                                              "next": auth.safe_next(request.query.get("next"))}, status=status)
    auth.set_cookie(request, response, auth.LOGIN_COOKIE, token, 600)
    return response


@routes.post("/admin/login")
async def login(request: web.Request) -> web.StreamResponse:
    settings, ip = request.app[SETTINGS], request.remote or ""
    try:
        allowed = await RateLimit(request.app[STATE], "admin-login", settings.admin.login_per_minute, 60).hit(ip)
    except StateUnavailable:
        return web.Response(status=503, text="try again shortly", headers={"Retry-After": "5"})
    if not allowed:
        return _login_page(request, "Too many attempts from this address; wait a minute.", 429)
    form = await request.post()
    if not auth.login_token_ok(request, str(form.get("csrf", ""))):
        return _login_page(request, "The form expired; please try again.", 403)
    try:
        session = await admin_users.log_in(request.app[BILLING], str(form.get("name", "")),
                                           str(form.get("password", "")), ip=ip,
                                           session_s=settings.admin.session_hours * 3600)
    except Unauthorized:
        return _login_page(request, "Wrong user name or password.", 401)
    response = redirect(auth.safe_next(str(form.get("next", ""))))
    auth.set_cookie(request, response, auth.COOKIE, session.token, settings.admin.session_hours * 3600)
    response.del_cookie(auth.LOGIN_COOKIE, path=auth.PATH)
    return response


@routes.post("/admin/logout")
@auth.action("viewer")
async def logout(request: web.Request) -> web.StreamResponse:
    await admin_users.log_out(request.app[BILLING], request[auth.TOKEN])
    response = redirect("/admin/login")
    response.del_cookie(auth.COOKIE, path=auth.PATH)
    return response


# ---- dashboard ------------------------------------------------------------------------------------

@routes.get("/admin/")
@auth.page()
async def dashboard(request: web.Request) -> web.StreamResponse:
    billing, op = request.app[BILLING], request.app[SETTINGS].operator
    since, until, today = _today_window(request, DASHBOARD_DAYS)
    days = reports.days_between(since, until, op.timezone)
    sold = await reports.sales_report(billing, since=since, until=until, by=("day", "channel"),
                                      timezone=op.timezone)
    renewed = await reports.renewals_report(billing, since=since, until=until, timezone=op.timezone)
    batches = await cards.card_report(billing)
    backlog = await reports.outbox_backlog(billing)
    return render(request, "dashboard.html", {
        "today": today, "revenue": _revenue_charts(sold, days), "days": days,
        "today_totals": reports.sales_totals(line for line in sold if dict(line.group)["day"] == today).values(),
        "renewals_chart": _renewals_chart(renewed, days), "renewals": renewed,
        "cards_chart": _cards_chart(batches), "batches": batches, "backlog": backlog,
        "backlog_chart": bar_chart(["events"], {k: [backlog[k]] for k in ("pending", "retrying", "dead")},
                                   title="Events waiting", stacked=False)})


def _revenue_charts(lines: list[reports.SalesLine], days: list[str]) -> list[dict]:
    """One chart per currency: money per day, stacked by channel (TVU for card redemptions)."""
    by_currency: dict[str, dict[str, list[int]]] = {}
    for line in lines:
        g = dict(line.group)
        series = by_currency.setdefault(line.currency, {}).setdefault(g["channel"], [0] * len(days))
        if g["day"] in days:
            series[days.index(g["day"])] += line.amount_minor if line.currency else line.tvu
    charts = []
    for ccy, series in sorted(by_currency.items(), key=lambda kv: (kv[0] == "", kv[0])):
        fmt = (lambda v, c=ccy: str(Money(v, c))) if ccy else (lambda v: f"{v} TVU")
        title = f"Revenue per day, {ccy}, by channel" if ccy else "Scratch cards redeemed per day (TVU)"
        charts.append({"currency": ccy or "TVU", "title": title,
                       "svg": bar_chart(days, series, title=title, fmt=fmt, short=lambda d: d[5:])})
    return charts


def _renewals_chart(lines: list[reports.RenewalLine], days: list[str]):
    found = {line.key: line for line in lines}
    series = {"renewals": [found[d].renewals if d in found else 0 for d in days],
              "expiries": [found[d].expiries if d in found else 0 for d in days]}
    return bar_chart(days, series, title="Renewals and expiries per day", stacked=False, short=lambda d: d[5:])


def _cards_chart(batches: list):
    rows = [b.to_json() for b in batches][-12:]
    labels = [r["batch"] for r in rows]
    series = {"redeemed": [int(r["redeemed"]) for r in rows],
              "activated, not redeemed": [max(0, int(r["activated"]) - int(r["redeemed"])) for r in rows]}
    return bar_chart(labels, series, title="Scratch cards per batch: redeemed and outstanding")


# ---- subscribers -----------------------------------------------------------------------------------

@routes.get("/admin/subscribers")
@auth.page()
async def subscriber_search(request: web.Request) -> web.StreamResponse:
    q = request.query.get("q", "").strip()
    if not q:
        return render(request, "subscribers.html", {"q": q, "found": [], "error": ""})
    try:
        found = await subs.find_subscribers(request.app[BILLING], q)
    except DomainError as exc:
        return render(request, "subscribers.html", {"q": q, "found": [], "error": exc.detail or exc.code},
                      status=exc.http_status)
    if len(found) == 1:
        return redirect(f"/admin/subscribers/{found[0].card}")
    return render(request, "subscribers.html", {"q": q, "found": found, "error": ""})


@routes.get("/admin/subscribers/{card}")
@auth.page()
async def subscriber(request: web.Request) -> web.StreamResponse:
    billing = request.app[BILLING]
    try:
        sub = await subs.show_subscriber(billing, request.match_info["card"])
    except DomainError as exc:
        return render(request, "subscribers.html", {"q": request.match_info["card"], "found": [],
                                                    "error": exc.detail or exc.code}, status=exc.http_status)
    activity = await reports.subscriber_activity(billing, sub.card)
    return render(request, "subscriber.html", {
        "sub": sub, "a": activity, "events": [outbox.event_json(e) for e in activity.events],
        "assigned": request.query.get("assigned", "")})


# ---- cards, dealers -----------------------------------------------------------------------------------

@routes.get("/admin/cards")
@auth.page()
async def card_batches(request: web.Request) -> web.StreamResponse:
    batches = await cards.card_report(request.app[BILLING])
    return render(request, "cards.html", {"rows": [b.to_json() for b in batches], "chart": _cards_chart(batches)})


@routes.get("/admin/dealers")
@auth.page()
async def dealer_list(request: web.Request) -> web.StreamResponse:
    found = await dealers.list_dealers(request.app[BILLING])
    return render(request, "dealers.html", {"rows": [dealers.dealer_json(d) for d in found]})


# ---- payments held in suspense -------------------------------------------------------------------------

@routes.get("/admin/suspense")
@auth.page()
async def suspense(request: web.Request) -> web.StreamResponse:
    return await _suspense_page(request, "", 200)


async def _suspense_page(request: web.Request, error: str, status: int) -> web.Response:
    held = await payments.suspense(request.app[BILLING])
    conflicts = await payments.conflicts(request.app[BILLING])
    may_assign = admin_users.role_at_least(request[auth.USER].role, "operator")
    return render(request, "suspense.html", {"held": held, "conflicts": conflicts, "error": error,
                                             "may_assign": may_assign}, status=status)


@routes.post("/admin/suspense/assign")
@auth.action("operator")
async def assign(request: web.Request) -> web.StreamResponse:
    billing, user, form = request.app[BILLING], request[auth.USER], request[auth.FORM]
    txid, card = str(form.get("txid", "")).strip(), str(form.get("card", "")).strip()
    try:
        paid = await payments.assign_payment(billing, txid, card, operator=f"admin:{user.name}",
                                             confirmed=form.get("confirm_amount") == "1")
    except DomainError as exc:
        return await _suspense_page(request, f"{txid}: {exc.detail or exc.code}", exc.http_status)
    await admin_users.record(billing, user, "payment.assign", f"{paid.provider}:{paid.txid}",
                             {"card": paid.card, "amount": str(paid.amount), "tvu": paid.tvu,
                              "renewed": paid.renewed}, request.remote or "")
    log.info("%s assigned payment %s:%s to card %s", user.name, paid.provider, paid.txid, paid.card)
    return redirect(f"/admin/subscribers/{paid.card}?assigned={paid.provider}:{paid.txid}")


# ---- events ---------------------------------------------------------------------------------------

@routes.get("/admin/events")
@auth.page()
async def events(request: web.Request) -> web.StreamResponse:
    return await _events_page(request, "", "", 200)


async def _events_page(request: web.Request, error: str, done: str, status: int) -> web.Response:
    billing = request.app[BILLING]
    wanted = request.query.get("status", "dead")
    try:
        found = await outbox.list_events(billing, status=wanted if wanted != "all" else None, limit=200)
    except DomainError as exc:
        found, error, status = [], exc.detail or exc.code, exc.http_status
    return render(request, "events.html", {
        "events": [outbox.event_json(e) for e in found], "status": wanted, "error": error, "done": done,
        "backlog": await reports.outbox_backlog(billing),
        "may_retry": admin_users.role_at_least(request[auth.USER].role, "operator")}, status=status)


@routes.post("/admin/events/retry")
@auth.action("operator")
async def retry(request: web.Request) -> web.StreamResponse:
    billing, user, form = request.app[BILLING], request[auth.USER], request[auth.FORM]
    key = str(form.get("event", "")).strip()
    try:
        retried = await outbox.retry_event(billing, key)
    except DomainError as exc:
        return await _events_page(request, f"{key}: {exc.detail or exc.code}", "", exc.http_status)
    await admin_users.record(billing, user, "event.retry", key,
                             {"requeued": retried.requeued, "hurried": retried.hurried}, request.remote or "")
    log.info("%s retried event %s", user.name, key)
    return await _events_page(request, "", f"Event {key} is queued again.", 200)


# ---- reports, audit -------------------------------------------------------------------------------------

@routes.get("/admin/reports")
@auth.page()
async def report_page(request: web.Request) -> web.StreamResponse:
    billing, op, q = request.app[BILLING], request.app[SETTINGS].operator, request.query
    by = [k for k in q.get("by", "channel").split(",") if k]
    try:
        since, until = reports.local_period(q.get("from"), q.get("to"), op.timezone)
        sold = await reports.sales_report(billing, since=since, until=until, by=by,
                                          currency=q.get("currency") or None, timezone=op.timezone,
                                          region=op.region)
        renewed = await reports.renewals_report(billing, since=since, until=until, timezone=op.timezone)
        expiring = await reports.expiring_report(billing, days=int(q.get("days", "7") or 7))
    except (DomainError, ValueError) as exc:
        detail = exc.detail if isinstance(exc, DomainError) else "days is a whole number"
        return render(request, "reports.html", {"error": detail, "q": q, "groups": reports.GROUPS, "by": by,
                                                "sales": [], "totals": [], "renewals": [], "expiring": []},
                      status=400)
    keys = [k for k in reports.GROUPS if k in by]
    return render(request, "reports.html", {
        "error": "", "q": q, "groups": reports.GROUPS, "by": by, "keys": keys,
        "sales": [line.to_json() for line in sold],
        "totals": [t.to_json() for t in reports.sales_totals(sold).values()],
        "renewals": [line.to_json() for line in renewed], "expiring": [e.to_json() for e in expiring]})


@routes.get("/admin/audit")
@auth.page("admin")
async def audit(request: web.Request) -> web.StreamResponse:
    records = await admin_users.audit_log(request.app[BILLING], action=request.query.get("action") or None,
                                          limit=200)
    return render(request, "audit.html", {"records": records})


__all__ = ["setup", "routes"]
