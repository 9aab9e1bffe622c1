"""A local Ministra (Stalker middleware) REST API v1 that answers as the public Stalker source does.

Source: github.com/iptvhakr/stalker_portal (a mirror of Infomir's stalker_portal), commit
72deceee1e32ea00cf33ecf2376b80902ab11134 (release 5.1.1), ``server/lib/restapi/v1/``:

- ``restmanager.class.php``: HTTP Basic auth (``401`` with ``WWW-Authenticate``), one
  command per request, any exception becomes ``{"status": "ERROR", "results": null,
  "error": message}`` with HTTP 200 (``restresponse.class.php``: the body starts as
  ``{"status": "OK", "results": ""}``; ``setError`` adds ``error``; ``setBody`` the result).
- ``restrequest.class.php``: ``api/<resource>/<id1,id2,...>``; GET/POST/PUT/DELETE map to
  get/create/update/delete; the body is ``parse_str`` (form fields, ``name[]`` arrays).
  ``getConvertedIdentifiers`` (send_event, stb_msg): an identifier of 12 or more characters
  is a MAC (``Stb::getUidByMacs``), otherwise an account number (``Stb::getUidByLs``).
- ``restcommandaccounts.class.php``: a MAC only if 12+ characters *and* a ``:`` after the
  first character; otherwise ``Stb::getUidByAccountNumber`` (``users.ls``).
- ``restcommandaccountsubscription.class.php``: 12+ characters is a MAC, with no ``:`` check.
- ``restcommandusers.class.php``: like accounts, by login.
- ``restcommandsendevent.class.php``, ``restcommandstbmsg.class.php``, ``restcommandtariffs.class.php``.

And from ``server/lib/`` at the same commit: ``user.class.php`` (``getAccountInfo``:
``status`` is ``!users.status``, ``tariff_plan`` the plan's ``external_id`` or, with no plan,
the default plan's; ``end_date`` only with ``enable_internal_billing``; ``subscribed`` the
external ids of optional packages subscribed; ``updateAccount``: an unknown ``tariff_plan``
external id becomes plan id 0, i.e. the default plan; ``setStatus``;
``updateOptionalPackageSubscription``/``subscribeToPackage``/``unsubscribeFromPackage``: only
an optional package of the account's plan, not yet subscribed (resp. subscribed), counts; the
result is true if any one did), ``tariff.class.php``. ``Stb::getUidBy*`` and
``Middleware::normalizeMac`` are ionCube-encoded at that commit; they are read from the last
plain-text version, commit 4d11cbd3f1fcc9a6070161e9451c3f52b10b754d, ``server/lib/stb.class.php``
(every ``getUidBy*`` is ``SELECT id FROM users WHERE <column> IN (...)``) and
``server/lib/middleware.class.php`` (``normalizeMac``: upper case, 12 characters get colons,
anything but 17 characters is no MAC). See ``tests/provider_fixtures/ministra/SOURCES.md``.

What tests read: ``users`` (by id), ``events`` (``(user id, event, fields)`` sent to boxes,
including the "STB will be rebooted" message ``subscribeToPackage`` sends), ``received``
(``(method, path, fields)`` of every authorised request), ``refuse = {resource: n}`` (the
next n calls answer ``status: ERROR``, ``Account is busy``; not from the source: a fault).
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

API = "/stalker_portal/api/"


class CommandError(Exception):
    """A ``RESTCommandException``: answered ``status: ERROR`` with the message."""


@dataclass
class User:
    id: int
    login: str
    ls: str  # the account number
    mac: str = ""
    status: int = 0  # as stored: 0 is on, 1 is off (the API shows the inverse)
    tariff_plan_id: int = 0
    expire_billing_date: str = "0000-00-00 00:00:00"
    subscribed: set[int] = field(default_factory=set)  # services_package ids (user_package_subscription)


@dataclass
class Plan:
    id: int
    external_id: str
    name: str
    user_default: int = 0
    packages: dict[int, int] = field(default_factory=dict)  # package id -> optional (0/1)


def normalize_mac(mac: str) -> str | None:
    """``Middleware::normalizeMac``: upper case; 12 characters get colons; else 17 or nothing."""
    mac = mac.strip().upper()
    if len(mac) == 12:
        mac = ":".join(mac[i:i + 2] for i in range(0, 12, 2))
    return mac if len(mac) == 17 else None


def parse_str(body: str) -> dict[str, Any]:
    """PHP ``parse_str`` for the forms the API takes: ``a=1&b[]=2&b[]=3``."""
    data: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        if key.endswith("[]"):
            data.setdefault(key[:-2], []).append(value)
        else:
            data[key] = value
    return data


class FakeStalker:
    def __init__(self, *, username: str = "billing", password: str = "ministra-pw",
                 internal_billing: bool = True) -> None:
        self.username, self.password = username, password
        self.internal_billing = internal_billing  # Config enable_internal_billing
        self.users: dict[int, User] = {}
        self.plans: dict[int, Plan] = {}
        self.packages: dict[int, str] = {}  # services_package id -> external_id
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        self.refuse: dict[str, int] = {}
        self.bad_auth = 0
        self.app = web.Application()
        self.app.router.add_route("*", API + "{resource}", self._handle)
        self.app.router.add_route("*", API + "{resource}/{ids}", self._handle)

    # ---- set-up (what an operator does in the admin pages) ---------------------------------------

    def add_package(self, external_id: str) -> int:
        pid = len(self.packages) + 1
        self.packages[pid] = external_id
        return pid

    def add_plan(self, external_id: str, *, mandatory: tuple[str, ...] = (), optional: tuple[str, ...] = (),
                 default: bool = False) -> Plan:
        ids = {e: next((i for i, x in self.packages.items() if x == e), None) or self.add_package(e)
               for e in (*mandatory, *optional)}
        plan = Plan(len(self.plans) + 1, external_id, external_id.title(), int(default),
                    {ids[e]: int(e in optional) for e in ids})
        self.plans[plan.id] = plan
        return plan

    def add_account(self, ls: str, *, login: str | None = None, mac: str = "", plan: str | None = None,
                    status: int = 1) -> User:
        plan_id = next((p.id for p in self.plans.values() if p.external_id == plan), 0)
        user = User(len(self.users) + 1, login or f"user{ls}", ls, normalize_mac(mac) or "" if mac else "",
                    int(not status), plan_id)
        self.users[user.id] = user
        return user

    def account(self, ls: str) -> dict[str, Any]:
        """``getAccountInfo`` of the account with that number."""
        return self._info(next(u for u in self.users.values() if u.ls == ls))

    def messages(self, ls: str) -> list[str]:
        """``send_msg`` texts sent to the account's box, the reboot notices left out."""
        user = next(u for u in self.users.values() if u.ls == ls)
        return [f["msg"] for uid, kind, f in self.events if uid == user.id and kind == "send_msg"]

    # ---- the API --------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if request.headers.get("Authorization", "") != expected:
            self.bad_auth += 1  # RESTResponse::sendAuthRequest
            return web.json_response({"status": "ERROR", "results": "", "error": "401 Unauthorized request"},
                                     status=401, headers={"WWW-Authenticate": 'Basic realm="Stalker API"'})
        resource = request.match_info["resource"]
        ids = request.match_info["ids"].split(",") if request.match_info.get("ids") else []
        data = parse_str(await request.text())
        self.received.append((request.method, request.path, data))
        action = {"GET": "get", "POST": "create", "PUT": "update", "DELETE": "delete"}.get(request.method)
        body: dict[str, Any] = {"status": "OK", "results": ""}
        try:
            if self.refuse.get(resource, 0) > 0:
                self.refuse[resource] -= 1
                raise CommandError("Account is busy")
            body["results"] = self._command(resource, action, ids, data)
        except CommandError as exc:
            body = {"status": "ERROR", "results": None, "error": str(exc)}
        return web.json_response(body)

    def _command(self, resource: str, action: str | None, ids: list[str], data: dict[str, Any]) -> Any:
        name = "".join(part[:1].upper() + part[1:] for part in resource.split("_"))
        handlers = {"Accounts": self._accounts, "AccountSubscription": self._account_subscription,
                    "SendEvent": self._send_event, "StbMsg": self._stb_msg, "Tariffs": self._tariffs,
                    "Users": self._users}
        if name not in handlers:
            raise CommandError(f'Resource "{name}" does not exist')
        return handlers[name](action, ids, data, resource)

    @staticmethod
    def _unsupported(resource: str, action: str | None) -> CommandError:
        return CommandError(f'Resource "{resource}" does not support action "{action}"')

    # identifiers -----------------------------------------------------------------------------------

    def _by(self, column: str, values: list[str]) -> list[int]:
        if column == "mac":
            values = [m for m in (normalize_mac(v) for v in values) if m]
        return [u.id for u in self.users.values() if getattr(u, column) in values]

    def _accounts_ids(self, ids: list[str], other: str = "ls") -> list[int]:
        """``RESTCommandAccounts::getUsersIdsFromIdentifiers`` (``strpos(id, ":")`` truthy: not at 0)."""
        if ids and len(ids[0]) >= 12 and ids[0].find(":") > 0:
            return self._by("mac", ids)
        return self._by(other, ids)

    def _subscription_ids(self, ids: list[str]) -> list[int]:
        return self._by("mac", ids) if ids and len(ids[0]) >= 12 else self._by("ls", ids)

    def _converted_ids(self, ids: list[str]) -> list[int]:
        """``RESTRequest::getConvertedIdentifiers``."""
        return self._by("mac", ids) if ids and len(ids[0]) >= 12 else self._by("ls", ids)

    @staticmethod
    def _one(ids: list[str], users: list[int]) -> None:
        if len(ids) == 1 and not users:
            raise CommandError("Account not found")
        if len(ids) > 1:
            raise CommandError("Only one identifier allowed")

    # accounts --------------------------------------------------------------------------------------

    def _info(self, user: User) -> dict[str, Any]:
        plan = self.plans.get(user.tariff_plan_id)
        if plan is None:
            plan = next((p for p in self.plans.values() if p.user_default), None)
        info: dict[str, Any] = {
            "login": user.login, "full_name": "", "phone": "", "account_number": user.ls,
            "tariff_plan": plan.external_id if plan else None, "stb_sn": "", "stb_mac": user.mac or None,
            "stb_type": None, "status": int(not user.status), "online": 0, "ip": None, "version": None,
            "comment": None, "end_date": user.expire_billing_date, "account_balance": "", "last_active": None}
        if not self.internal_billing:
            del info["end_date"]
        optional = self._plan_packages(user, optional=True)
        subscribed = [pid for pid in optional if pid in user.subscribed]
        info["subscribed"] = [self.packages[pid] for pid in subscribed]
        info["subscribed_id"] = [str(pid) for pid in subscribed]
        return info

    def _plan_packages(self, user: User, *, optional: bool) -> list[int]:
        plan = self.plans.get(user.tariff_plan_id)  # getPackages: the user's own plan only
        return [pid for pid, opt in (plan.packages.items() if plan else ()) if opt == int(optional)]

    def _accounts(self, action, ids, data, resource, by: str = "ls"):
        if action == "get":
            users = self._accounts_ids(ids, by)
            if len(ids) == 1 and not users:
                raise CommandError("Account not found")
            if ids and len(ids) > len(users):
                raise CommandError("One or more identifiers are incorrect")
            return [self._info(self.users[uid]) for uid in users]
        if action == "update":
            return self._update_account(ids, data)
        raise self._unsupported(resource, action)

    def _update_account(self, ids: list[str], data: dict[str, Any]) -> bool:
        if not data:
            raise CommandError("HTTP POST data is empty")
        allowed = ("login", "password", "full_name", "phone", "account_number", "tariff_plan", "status",
                   "stb_mac", "comment", "end_date", "account_balance")
        account = {k: v for k, v in data.items() if k in allowed}
        if not account:
            raise CommandError("Insert data is empty")
        if not ids:
            raise CommandError("Identifier required")
        users = self._accounts_ids(ids)
        self._one(ids, users)
        for uid in users:
            user = self.users[uid]
            if "status" in account:  # User::setStatus: users.status = !status
                user.status = int(not _php_truthy(account["status"]))
            if account.get("tariff_plan"):  # an unknown external id becomes plan 0: the default plan
                user.tariff_plan_id = next((p.id for p in self.plans.values()
                                            if p.external_id == account["tariff_plan"]), 0)
            if "end_date" in account:
                user.expire_billing_date = account["end_date"]
        return True  # Mysql update ->result(): the query ran (an assumption: see docs)

    def _users(self, action, ids, data, resource):
        if action != "get":
            return self._accounts(action, ids, data, resource, by="login")
        accounts = self._accounts(action, ids, data, resource, by="login")
        return accounts[0] if accounts else accounts

    # optional packages -----------------------------------------------------------------------------

    def _account_subscription(self, action, ids, data, resource):
        users = self._subscription_ids(ids)
        if action == "get":
            self._one(ids, users)
            return [{"mac": self.users[uid].mac, "subscribed": self._info(self.users[uid])["subscribed"],
                     "subscribed_id": self._info(self.users[uid])["subscribed_id"]} for uid in users]
        if action not in ("create", "update", "delete"):
            raise self._unsupported(resource, action)
        if action != "delete":  # create and update check their data first
            if not data:
                raise CommandError("HTTP PUT data is empty" if action == "update" else "HTTP POST data is empty")
            keys = ("subscribed", "subscribed_id") + (("unsubscribed", "unsubscribed_id") if action == "update" else ())
            if not any(k in data for k in keys):
                raise CommandError("Insert data is empty")
        self._one(ids, users)
        result = True
        for uid in users:
            user = self.users[uid]
            current = self._info(user)["subscribed"]
            if action == "update":
                change = (_list(data.get("subscribed")), _list(data.get("unsubscribed")))
            elif action == "create":
                wanted = _list(data.get("subscribed"))
                change = (list(dict.fromkeys(wanted)), [e for e in current if e not in wanted] if wanted else [])
            else:
                change = ([], current)
            result = self._update_optional(user, *change) and result
        return result

    def _update_optional(self, user: User, subscribe: list[str], unsubscribe: list[str]) -> bool:
        """``updateOptionalPackageSubscription`` (by external id, billing check forced off)."""
        if not subscribe and not unsubscribe:
            return False
        total = False
        optional = self._plan_packages(user, optional=True)
        for pid, external in self.packages.items():
            if external in subscribe and pid in optional and pid not in user.subscribed:
                user.subscribed.add(pid)
                self.events.append((user.id, "send_msg_and_reboot",
                                    {"msg": "Services are updated according to the subscription. "
                                            "The STB will be rebooted."}))
                total = True
            if external in unsubscribe and pid in optional and pid in user.subscribed:
                user.subscribed.discard(pid)
                self.events.append((user.id, "send_msg_and_reboot",
                                    {"msg": "Services are updated according to the subscription. "
                                            "The STB will be rebooted."}))
                total = True
        return total

    # messages ----------------------------------------------------------------------------------------

    def _send_event(self, action, ids, data, resource):
        if action != "create":
            raise self._unsupported(resource, action)
        users = self._converted_ids(ids)
        if not users and ids:
            raise CommandError("STB not found")
        targets = users if ids else list(self.users)
        event = data.get("event")
        known = ("send_msg", "send_msg_with_video", "reboot", "reload_portal", "update_channels", "play_channel",
                 "play_radio_channel", "update_image", "cut_off", "show_menu")
        if event not in known:
            return False
        for uid in targets:
            self.events.append((uid, event, dict(data)))
        return True

    def _stb_msg(self, action, ids, data, resource):
        if action != "create":
            raise self._unsupported(resource, action)
        users = self._converted_ids(ids)
        if not users:
            raise CommandError("Empty stb list")
        if not data.get("msg"):
            raise CommandError("Empty msg")
        for uid in users:
            self.events.append((uid, "send_msg", dict(data)))
        return True

    def _tariffs(self, action, ids, data, resource):
        if action != "get":
            raise self._unsupported(resource, action)
        plans = [p for p in self.plans.values() if not ids or str(p.id) == ids[0]]
        out = [{"id": str(p.id), "external_id": p.external_id, "name": p.name, "user_default": str(p.user_default),
                "packages": [{"id": str(pid), "external_id": self.packages[pid], "optional": str(opt)}
                             for pid, opt in p.packages.items()]} for p in plans]
        return out[0] if ids and out else (None if ids else out)


def _php_truthy(value: Any) -> bool:
    return value not in ("", "0", None, [], 0)


def _list(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    return list(value) if isinstance(value, list) else [value]


__all__ = ["API", "FakeStalker", "normalize_mac", "parse_str"]
