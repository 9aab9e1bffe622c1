"""The USSD session log: what each subscriber typed and saw, step by step, for support.

One row per hop: the session, the phone (E.164), the hop's number in the session, the
node the session reached, the input (a secret input such as a PIN is stored as
``****``), the screen answered (CON/END included) and how long the gateway took.
Rows older than ``ussd.log_days`` are pruned. Migration 0005 creates it.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from billing_core.db.schema import Id, metadata

ussd_steps = Table(
    "ussd_steps",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("session_id", String(64), nullable=False),
    Column("msisdn", String(20), nullable=False),
    Column("hop", Integer, nullable=False),
    Column("node", String(32), nullable=False),
    Column("input", String(64), nullable=False),
    Column("screen", String(200), nullable=False),
    Column("elapsed_us", Integer, nullable=False),
    Column("at", BigInteger, nullable=False),
    Index(None, "session_id", "hop"),
    Index(None, "msisdn", "at"),
    Index(None, "at"),
)
