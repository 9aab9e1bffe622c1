"""Operator users without the web: password hashes, sessions in the database, roles, the CLI
that adds users, the migration, and the charts' escaping."""
from __future__ import annotations

import asyncio
import contextlib
import io
import json
import sys

import pytest
from sqlalchemy import create_engine, inspect

from billing_core import admin_users
from billing_core.db.migrate import alembic_config
from billing_core.errors import AlreadyExists, InvalidInput, Unauthorized
from gateway.admin.charts import bar_chart

PASSWORD = "correct horse battery"


def test_a_password_is_stored_as_a_salted_scrypt_hash():
    one, two = admin_users.hash_password(PASSWORD), admin_users.hash_password(PASSWORD)
    assert one != two and PASSWORD not in one and one.startswith("scrypt$16384$8$1$")
    assert admin_users.verify_password(PASSWORD, one) and admin_users.verify_password(PASSWORD, two)
    assert not admin_users.verify_password(PASSWORD + "!", one)
    assert not admin_users.verify_password(PASSWORD, "plain$" + PASSWORD) and not admin_users.verify_password("", "")


def test_roles_are_ordered():
    assert admin_users.role_at_least("admin", "operator") and admin_users.role_at_least("operator", "operator")
    assert not admin_users.role_at_least("viewer", "operator") and not admin_users.role_at_least("operator", "admin")


def test_charts_escape_what_they_are_given():
    svg = bar_chart(["<b>day</b>"], {"<script>x</script>": [5]}, title="t & t")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and 'data-value="5"' in svg and "t &amp; t" in svg


async def test_sessions_live_hashed_until_they_expire(billing, clock):
    user = await admin_users.add_user(billing, "Olga", "operator", PASSWORD)
    assert user.name == "olga"
    with pytest.raises(AlreadyExists):
        await admin_users.add_user(billing, "olga", "viewer", PASSWORD)
    with pytest.raises(InvalidInput):
        await admin_users.add_user(billing, "bob", "root", PASSWORD)
    with pytest.raises(InvalidInput):
        await admin_users.add_user(billing, "bob", "viewer", "short")
    with pytest.raises(Unauthorized):
        await admin_users.log_in(billing, "olga", "wrong", ip="10.0.0.1", session_s=3600)
    session = await admin_users.log_in(billing, "olga", PASSWORD, ip="10.0.0.1", session_s=3600)
    assert (await admin_users.session_user(billing, session.token)).name == "olga"
    assert await admin_users.session_user(billing, admin_users.token_hash(session.token)) is None
    clock.advance(3600)
    assert await admin_users.session_user(billing, session.token) is None  # expired
    again = await admin_users.log_in(billing, "olga", PASSWORD, ip="10.0.0.1", session_s=3600)
    await admin_users.set_password(billing, "olga", PASSWORD + " 2")  # ends the open sessions
    assert await admin_users.session_user(billing, again.token) is None
    third = await admin_users.log_in(billing, "olga", PASSWORD + " 2", ip="", session_s=3600)
    await admin_users.set_disabled(billing, "olga", True)
    assert await admin_users.session_user(billing, third.token) is None
    with pytest.raises(Unauthorized):
        await admin_users.log_in(billing, "olga", PASSWORD + " 2", ip="", session_s=3600)
    actions = [r.action for r in await admin_users.audit_log(billing)]
    assert actions == ["login.refused", "login", "login", "login", "login.refused"]


def run_cli(args, db_url, stdin=""):
    from gateway.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.MonkeyPatch.context() as mp:
        mp.setenv("TVTOPUP_DATABASE_URL", db_url)
        mp.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(args)
    return code, out.getvalue()


async def test_the_cli_adds_a_user_with_a_password_from_stdin(db_url, billing):
    code, out = await asyncio.to_thread(run_cli, ["admin", "add-user", "ada", "--role", "admin", "--password-stdin",
                                                  "--json"], db_url, PASSWORD + "\n")
    assert code == 0 and json.loads(out) == {"id": 1, "name": "ada", "role": "admin", "disabled": False}
    assert PASSWORD not in out
    session = await admin_users.log_in(billing, "ada", PASSWORD, ip="", session_s=60)
    assert session.user.role == "admin"
    code, _ = await asyncio.to_thread(run_cli, ["admin", "add-user", "bob", "--role", "viewer"], db_url)
    assert code == 2  # no terminal to ask: refused, nothing added
    assert [u.name for u in await admin_users.list_users(billing)] == ["ada"]


def test_migration_0008_goes_down_and_up(tmp_path):
    from alembic import command

    url = f"sqlite:///{tmp_path / 'm.db'}"
    command.upgrade(alembic_config(url), "head")
    command.downgrade(alembic_config(url), "0007")
    engine = create_engine(url)
    assert not {"admin_users", "admin_sessions", "audit_log"} & set(inspect(engine).get_table_names())
    command.upgrade(alembic_config(url), "head")
    assert {"admin_users", "admin_sessions", "audit_log"} <= set(inspect(engine).get_table_names())
    engine.dispose()
