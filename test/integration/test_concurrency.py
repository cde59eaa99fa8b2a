# SPDX-License-Identifier: ISC
"""Many clients on a small pool: every client is served, and weir never opens more server
connections than the pool allows (checked from PostgreSQL's own pg_stat_activity)."""

import asyncio
import os
import re
import subprocess

import psycopg
import pytest

POOL_SIZE = 10


@pytest.mark.deadline(420)
def test_1000_concurrent_clients_all_complete_on_a_pool_of_10(pg, weir):
    clients = 1000
    db = pg.create_database("many")
    inst = weir({
        "weir": {"default_pool_size": POOL_SIZE, "max_client_conn": 2000},
        "databases": {"many": f"host=127.0.0.1 port={pg.port} dbname={db}"},
    })
    dsn = inst.dsn("scram_user", pg.passwords["scram_user"], "many", connect_timeout=120)

    async def one_client(i):
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        try:
            cur = await conn.execute("SELECT %s::int * 2, current_database()", (i,))
            assert await cur.fetchone() == (i * 2, db)
            cur = await conn.execute("SELECT sum(g) FROM generate_series(1, %s) g", (i,))
            assert (await cur.fetchone())[0] == (i * (i + 1) // 2 if i else None)
            cur = await conn.execute("SELECT pg_backend_pid()")
            return (await cur.fetchone())[0]
        finally:
            await conn.close()

    async def all_clients():
        tasks = [one_client(i) for i in range(clients)]
        return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 360)

    with pg.sampler("scram_user", db) as sampler:
        results = asyncio.run(all_clients())

    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, (f"{len(failures)} of {clients} clients failed, e.g. "
                          + "; ".join(repr(f) for f in failures[:5]))
    assert len(set(results)) <= POOL_SIZE, f"clients saw {len(set(results))} server backends"
    assert sampler.samples > 0 and sampler.max >= 1, "the sampler saw no server connection"
    assert sampler.max <= POOL_SIZE, (
        f"{sampler.max} server connections at once for a pool of {POOL_SIZE}")
    assert inst.alive()


@pytest.mark.deadline(240)
def test_pgbench_with_reconnects_has_no_failures_and_stays_within_pool_size(pg, weir):
    db = pg.create_database("bench", owner="md5_user")
    subprocess.run(["pgbench", "-i", "-s", "1", "-q", "-h", str(pg.socket_dir),
                    "-p", str(pg.port), "-U", "md5_user", db],
                   check=True, capture_output=True, timeout=120)
    inst = weir({
        "weir": {"auth_type": "md5", "pool_mode": "session", "default_pool_size": POOL_SIZE},
        "databases": {"bench": f"host=127.0.0.1 port={pg.port} dbname={db}"},
    })
    env = dict(os.environ, PGPASSWORD=pg.passwords["md5_user"])
    with pg.sampler("md5_user", db) as sampler:
        run = subprocess.run(["pgbench", "-C", "-c", "50", "-j", "2", "-T", "15",
                              "-h", "127.0.0.1", "-p", str(inst.port), "-U", "md5_user", "bench"],
                             env=env, capture_output=True, text=True, timeout=180)
    report = f"--- stdout ---\n{run.stdout}\n--- stderr ---\n{run.stderr}"
    assert run.returncode == 0, report
    assert re.search(r"^number of failed transactions: 0 ", run.stdout, re.M), report
    processed = re.search(r"^number of transactions actually processed: (\d+)", run.stdout, re.M)
    assert processed and int(processed.group(1)) > 0, report
    assert sampler.samples > 0 and sampler.max >= 1, "the sampler saw no server connection"
    assert sampler.max <= POOL_SIZE, (
        f"{sampler.max} server connections at once for a pool of {POOL_SIZE}")
    assert inst.alive()
