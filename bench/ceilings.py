"""Ceilings measured in the same run as the gateway: what the stack itself can do.

    python bench/ceilings.py bare PORT            a bare aiohttp handler
    python bench/ceilings.py sqlite PORT FILE     one INSERT transaction per request, raw aiosqlite
    python bench/ceilings.py postgresql PORT DSN  one INSERT transaction per request, raw asyncpg pool
"""
from __future__ import annotations

import asyncio
import sys

import aiosqlite
import asyncpg
from aiohttp import web

ACK = {"ResultCode": 0, "ResultDesc": "Success"}


async def bare(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response(ACK)


def sqlite_app(path: str) -> web.Application:
    app = web.Application()

    async def ctx(app):
        db = await aiosqlite.connect(path, isolation_level=None)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        await db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, txid TEXT UNIQUE, body TEXT)")
        app["db"] = db
        app["lock"] = asyncio.Lock()  # one connection: one transaction at a time
        yield
        await db.close()

    async def handler(request: web.Request) -> web.Response:
        body = await request.json()
        db = app["db"]
        async with app["lock"]:
            await db.execute("BEGIN IMMEDIATE")
            await db.execute("INSERT INTO t (txid, body) VALUES (?, ?)", (body["TransID"], body["BillRefNumber"]))
            await db.execute("COMMIT")
        return web.json_response(ACK)

    app.cleanup_ctx.append(ctx)
    app.router.add_post("/mobile-money/daraja/c2b/confirmation", handler)
    return app


def postgresql_app(dsn: str) -> web.Application:
    app = web.Application()

    async def ctx(app):
        pool = await asyncpg.create_pool(dsn, min_size=10, max_size=20)
        await pool.execute("CREATE TABLE IF NOT EXISTS t (id bigserial PRIMARY KEY, txid text UNIQUE, body text)")
        app["pool"] = pool
        yield
        await pool.close()

    async def handler(request: web.Request) -> web.Response:
        body = await request.json()
        async with app["pool"].acquire() as conn:
            async with conn.transaction():
                await conn.execute("INSERT INTO t (txid, body) VALUES ($1, $2)", body["TransID"], body["BillRefNumber"])
        return web.json_response(ACK)

    app.cleanup_ctx.append(ctx)
    app.router.add_post("/mobile-money/daraja/c2b/confirmation", handler)
    return app


def main() -> None:
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "bare":
        app = web.Application()
        app.router.add_post("/mobile-money/daraja/c2b/confirmation", bare)
    elif mode == "sqlite":
        app = sqlite_app(sys.argv[3])
    else:
        app = postgresql_app(sys.argv[3])
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, reuse_port=True)


if __name__ == "__main__":
    main()
