# SPDX-License-Identifier: ISC
"""pgbench through weir in transaction pooling: 100 clients on 2 threads share a pool of 5
server connections for 10 seconds, in each of pgbench's three query modes (simple
protocol, extended protocol with unnamed statements, and named prepared statements that
every client prepares once and then only Binds). Every transaction must succeed, and
PostgreSQL must never see more than 5 connections of the role in the benchmark database.
Each run's TPS and failed-transaction count go to the terminal as a `RESULT pgbench`
line even when pytest captures output.

A note on -M prepared: pgbench 15 prepares a client's statements with the synchronous
PQprepare (Parse + Sync) right before that client's first transaction, which blocks the
whole pgbench thread until the pooler answers. With 50 clients per thread and 5 servers,
the first 5 clients of a thread hold every server inside open transactions (BEGIN sent,
the rest of the script waiting for the blocked thread), so a pooler that needs a server
to answer a lone Parse/Sync deadlocks pgbench here (5 backends "idle in transaction" after
BEGIN). So -M prepared runs the select-only script (-S): one statement per transaction,
every server comes back after each one, and each client's prepare gets a server. The other
two modes run the default TPC-B-like script. doc/pooling.md explains this to users."""

import os
import re

import pytest

from conftest import PG_BIN
from drivers import activity, run_program, tx_config

PGBENCH = PG_BIN / "pgbench"

POOL_SIZE = 5
CLIENTS = 100
THREADS = 2
SECONDS = 10
USER = "scram_user"


@pytest.fixture(scope="module")
def bench_db(pg):
    """A database owned by the benchmark role, initialised with `pgbench -i -s 1`
    directly on PostgreSQL."""
    db = pg.create_database("bench", owner=USER)
    env = dict(os.environ, PGPASSWORD=pg.passwords[USER])
    proc = run_program([PGBENCH, "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", pg.port,
                        "-U", USER, db], 120, "pgbench -i", env=env)
    assert proc.returncode == 0, f"pgbench -i failed:\n{proc.stdout}\n{proc.stderr}"
    yield db
    pg.drop_database(db)


def field(pattern, output):
    m = re.search(pattern, output, re.MULTILINE)
    assert m, f"pgbench output has no line matching {pattern!r}:\n{output}"
    return m.group(1)


@pytest.mark.deadline(120)
@pytest.mark.parametrize("mode,script", [("simple", []), ("extended", []),
                                         ("prepared", ["-S"])],
                         ids=["simple", "extended", "prepared-select-only"])
def test_pgbench_100_clients_on_pool_of_5_all_transactions_succeed(pg, weir, bench_db, mode,
                                                                  script, capsys):
    inst = weir(tx_config(pg, bench_db, POOL_SIZE))  # room for 400 clients
    env = dict(os.environ, PGPASSWORD=pg.passwords[USER], PGCONNECT_TIMEOUT="20")
    with pg.sampler(USER, bench_db, interval=0.02) as sampler:
        proc = run_program([PGBENCH, "-M", mode, *script, "-c", CLIENTS, "-j", THREADS,
                            "-T", SECONDS, "-n", "-h", "127.0.0.1", "-p", inst.port,
                            "-U", USER, bench_db], SECONDS + 30, f"pgbench -M {mode}", env=env,
                           diagnose=lambda: "\n".join(
                               f"{pid} {state}: {query[:60]}" for pid, state, query
                               in activity(pg, USER, bench_db)))
    output = proc.stdout + proc.stderr
    print(f"\n--- pgbench -M {mode} -c {CLIENTS} -j {THREADS} -T {SECONDS} through weir "
          f"(pool of {POOL_SIZE}) ---\n{output}")
    assert proc.returncode == 0, (f"pgbench -M {mode} exited with {proc.returncode}:\n"
                                  f"{output[-6000:]}\n--- weir log (tail) ---\n"
                                  f"{inst.log()[-4000:]}")
    processed = int(field(r"^number of transactions actually processed: (\d+)", output))
    failed = int(field(r"^number of failed transactions: (\d+)", output))
    tps = float(field(r"^tps = ([0-9.]+)", output))
    with capsys.disabled():
        print(f"\nRESULT pgbench -M {mode} {' '.join(script)} -c {CLIENTS} -j {THREADS} -T {SECONDS}, pool "
              f"{POOL_SIZE}: tps={tps:.1f} processed={processed} failed={failed} "
              f"max_server_connections={sampler.max}")
    assert failed == 0, f"{failed} failed transactions"
    assert processed > CLIENTS, f"only {processed} transactions in {SECONDS}s"
    assert "aborted" not in output, output
    assert sampler.samples > 50, f"only {sampler.samples} pg_stat_activity samples"
    assert 1 <= sampler.max <= POOL_SIZE, (
        f"PostgreSQL saw {sampler.max} connections of {USER} in {bench_db}; "
        f"the pool allows {POOL_SIZE}")
