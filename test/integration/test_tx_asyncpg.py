# SPDX-License-Identifier: ISC
"""asyncpg through weir in transaction pooling, with the driver's defaults: asyncpg
prepares every statement it runs (named statements, statement cache of 100), so a pool of
5 servers shared by 50 connections only works if weir re-prepares each client's
statements on whichever server it gets. asyncio.wait_for timing out a query makes asyncpg
send a CancelRequest, which weir must route to the server running that query."""

import asyncio
import time

import pytest

from drivers import asyncpg_module, sleeping_backends, tx_config

USER = "scram_user"


def connect(asyncpg, inst, pg, db, **kw):
    return asyncpg.connect(host="127.0.0.1", port=inst.port, user=USER,
                           password=pg.passwords[USER], database=db, timeout=20,
                           ssl=False, **kw)


@pytest.mark.deadline(150)
def test_asyncpg_50_connections_x_200_queries_on_pool_of_5(pg, weir, capsys):
    asyncpg = asyncpg_module()
    with capsys.disabled():
        print(f"\nDRIVER asyncpg {asyncpg.__version__}")
    tasks, queries, pool = 50, 200, 5
    db = pg.create_database("apg")
    pg.sql("CREATE TABLE apg_rows (task int, n int)", dbname=db)
    pg.sql(f"GRANT ALL ON apg_rows TO {USER}", dbname=db)
    inst = weir(tx_config(pg, db, pool))

    async def task(t):
        conn = await connect(asyncpg, inst, pg, db)
        try:
            done = inserts = 0
            i = 0
            while done < queries:
                kind = i % 5
                if kind == 0:
                    assert await conn.fetchval("SELECT $1::int + $2::int", t, i) == t + i
                elif kind == 1:
                    row = await conn.fetchrow("SELECT $1::text AS a, $2::int * 2 AS b",
                                              f"t{t}", i)
                    assert (row["a"], row["b"]) == (f"t{t}", i * 2)
                elif kind == 2:
                    rows = await conn.fetch("SELECT g FROM generate_series(1, $1::int) g",
                                            i % 7 + 1)
                    assert [r["g"] for r in rows] == list(range(1, i % 7 + 2))
                elif kind == 3:
                    async with conn.transaction():
                        await conn.execute("INSERT INTO apg_rows VALUES ($1, $2)", t, i)
                        n = await conn.fetchval("SELECT count(*) FROM apg_rows WHERE task = $1",
                                                t)
                        assert n == i // 5 + 1
                    inserts += 1
                    done += 1  # two statements in that transaction
                else:
                    assert await conn.fetchval("SELECT current_database()") == db
                done += 1
                i += 1
            return done, inserts
        finally:
            await asyncio.wait_for(conn.close(), 10)

    async def run_all():
        return await asyncio.wait_for(
            asyncio.gather(*(task(t) for t in range(tasks)), return_exceptions=True), 60)

    with pg.sampler(USER, db) as sampler:
        results = asyncio.run(run_all())
    errors = [(t, r) for t, r in enumerate(results) if isinstance(r, BaseException)]
    assert not errors, (f"{len(errors)} of {tasks} tasks failed; first: {errors[:3]!r}"
                        f"\n--- weir log (tail) ---\n{inst.log()[-3000:]}")
    assert all(done >= queries for done, _ in results)
    inserted = pg.sql("SELECT count(*) FROM apg_rows", dbname=db)[0][0]
    assert inserted == sum(inserts for _, inserts in results)
    assert sampler.max <= pool, f"PostgreSQL saw {sampler.max} connections; pool is {pool}"


@pytest.mark.deadline(90)
def test_asyncpg_wait_for_timeout_cancels_pg_sleep_on_the_server_within_2s(pg, weir):
    asyncpg = asyncpg_module()
    db = pg.create_database("apgcancel")
    inst = weir(tx_config(pg, db, 2))

    async def scenario():
        conn = await connect(asyncpg, inst, pg, db)
        other = await connect(asyncpg, inst, pg, db)
        try:
            # warm up: asyncpg's first query on a connection runs its own setup
            assert await asyncio.wait_for(conn.fetchval("SELECT 1"), 10) == 1
            assert await asyncio.wait_for(other.fetchval("SELECT 1"), 10) == 1
            # another client's query runs on the other server meanwhile: the cancel
            # must reach only the query of the client that asked
            other_task = asyncio.ensure_future(
                asyncio.wait_for(other.fetchval("SELECT pg_sleep(2.5)::text || 'done'"), 20))

            seen_running = asyncio.Event()

            async def watch():
                while True:
                    rows = await asyncio.to_thread(sleeping_backends, pg, USER, db)
                    if any("pg_sleep(10)" in r[2] for r in rows):
                        seen_running.set()
                        return
                    await asyncio.sleep(0.05)

            watcher = asyncio.ensure_future(watch())
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(conn.fetch("SELECT pg_sleep(10)"), 1)
            timed_out_at = time.monotonic()
            if watcher.done() and watcher.exception():
                raise watcher.exception()
            watcher.cancel()
            assert seen_running.is_set(), "pg_sleep(10) was never seen running on the server"

            # within 2 s of the timeout no pg_sleep(10) runs for the role any more
            while True:
                rows = await asyncio.to_thread(sleeping_backends, pg, USER, db)
                if not any("pg_sleep(10)" in r[2] for r in rows):
                    break
                assert time.monotonic() - timed_out_at < 2.0, (
                    f"pg_sleep(10) still running 2 s after the timeout: {rows}")
                await asyncio.sleep(0.05)

            # the connection stays usable
            assert await asyncio.wait_for(conn.fetchval("SELECT 'usable'"), 10) == "usable"
            assert await asyncio.wait_for(conn.fetchval("SELECT $1::int * 3", 7), 10) == 21
            # and the other client's query was not canceled
            assert await other_task == "done"
        finally:
            for c in (conn, other):
                try:
                    await asyncio.wait_for(c.close(), 5)
                except Exception:  # noqa: BLE001 - a broken connection is reported above
                    c.terminate()

    asyncio.run(asyncio.wait_for(scenario(), 60))
