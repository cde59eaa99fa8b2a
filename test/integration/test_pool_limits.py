# SPDX-License-Identifier: ISC
"""Limits that span pools: max_db_connections and max_user_connections are shared by every
pool of a database or of a user, so a pool whose database (or user) is at its cap takes the
room of another pool's idle server instead of leaving its clients waiting; replication
servers count and obey like any other; and a pool of a database with a forced user keeps
min_pool_size servers open from the start, before any client comes."""

import psycopg
import pytest

from conftest import default_users, wait_until
from drivers import read_fatal_then_close, simple, wire_connect

REPL_ROLE = "repl_user"
REPL_PASSWORD = "repl-secret"


def backends(pg, dbname, user=None):
    query = ("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
             "AND backend_type IN ('client backend', 'walsender')")
    params = [dbname]
    if user:
        query += " AND usename = %s"
        params.append(user)
    return pg.sql(query, params)[0][0]


def entry(pg, db, extra=""):
    return f"host=127.0.0.1 port={pg.port} dbname={db} {extra}".strip()


def quick_query(inst, user, db, timeout=8):
    w = wire_connect(inst, user, database=db)
    try:
        return simple(w, "SELECT current_user", timeout=timeout)
    finally:
        w.close()


@pytest.mark.deadline(60)
def test_database_at_max_db_connections_takes_the_room_of_another_pools_idle_server(pg, weir):
    db = pg.create_database("dbcap")
    inst = weir({"weir": {"pool_mode": "transaction", "max_db_connections": 1,
                          "query_wait_timeout": 20},
                 "databases": {db: entry(pg, db)}})
    assert quick_query(inst, "scram_user", db).rows == [["scram_user"]]
    assert backends(pg, db) == 1  # scram_user's pool keeps its server idle
    reply = quick_query(inst, "plain_user", db)
    assert reply.rows == [["plain_user"]], reply
    assert backends(pg, db, "scram_user") == 0
    assert backends(pg, db) == 1
    assert "closing because: evicted" in inst.log()


@pytest.mark.deadline(60)
def test_user_at_max_user_connections_takes_the_room_of_another_pools_idle_server(pg, weir):
    db1, db2 = pg.create_database("ucap"), pg.create_database("ucap")
    inst = weir({"weir": {"pool_mode": "transaction", "max_user_connections": 1,
                          "query_wait_timeout": 20},
                 "databases": {db1: entry(pg, db1), db2: entry(pg, db2)}})
    assert quick_query(inst, "scram_user", db1).rows == [["scram_user"]]
    assert backends(pg, db1) == 1
    assert quick_query(inst, "scram_user", db2).rows == [["scram_user"]]
    assert backends(pg, db1) == 0
    assert backends(pg, db2) == 1


@pytest.mark.deadline(60)
def test_busy_server_of_another_pool_is_not_taken(pg, weir):
    db = pg.create_database("dbcap")
    inst = weir({"weir": {"pool_mode": "transaction", "max_db_connections": 1,
                          "query_wait_timeout": 2},
                 "databases": {db: entry(pg, db)}})
    w = wire_connect(inst, "plain_user", database=db)
    assert simple(w, "SELECT 1").rows == [["1"]]
    # scram_user's first login needs a server: plain_user's idle one makes room for it
    holder = wire_connect(inst, "scram_user", database=db)
    try:
        assert simple(holder, "BEGIN").status == "T"
        w.send(b"Q" + (len(b"SELECT 1\0") + 4).to_bytes(4, "big") + b"SELECT 1\0")
        fields, _ = read_fatal_then_close(w, 10)
        assert fields.get("M") == "query_wait_timeout", fields
        assert simple(holder, "SELECT 'holder kept its server'").rows == [
            ["holder kept its server"]]
    finally:
        holder.close()
        w.close()


# ---------------------------------------------------------------------------------------
# replication servers


@pytest.fixture
def repl_users(pg):
    if not pg.sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (REPL_ROLE,)):
        pg.sql(f"CREATE ROLE {REPL_ROLE} LOGIN REPLICATION PASSWORD '{REPL_PASSWORD}'")
        pg.sql(f"GRANT ALL ON DATABASE app TO {REPL_ROLE}")
    return dict(default_users(pg), **{REPL_ROLE: REPL_PASSWORD})


def repl_connect(inst, db="app"):
    return psycopg.connect(inst.dsn(REPL_ROLE, REPL_PASSWORD, db, replication="database"),
                           autocommit=True)


@pytest.mark.deadline(60)
def test_replication_server_counts_against_max_db_connections(pg, weir, repl_users):
    inst = weir({"weir": {"pool_mode": "transaction", "max_db_connections": 1}}, users=repl_users)
    holder = inst.connect("scram_user")  # a transaction: its server stays busy
    try:
        holder.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError, match="max_db_connections"):
            repl_connect(inst).close()
        assert backends(pg, "app") == 1
        holder.rollback()
        # the regular server is idle now: the replication client takes its room
        with repl_connect(inst) as conn:
            assert conn.execute("IDENTIFY_SYSTEM").fetchone()[3] == "app"
            assert backends(pg, "app") == 1
    finally:
        holder.close()


@pytest.mark.deadline(60)
def test_replication_server_counts_against_max_user_connections(pg, weir, repl_users):
    inst = weir({"weir": {"pool_mode": "transaction", "max_user_connections": 1}},
                users=repl_users)
    first = repl_connect(inst)
    try:
        first.execute("IDENTIFY_SYSTEM")
        with pytest.raises(psycopg.OperationalError, match="max_user_connections"):
            repl_connect(inst).close()
    finally:
        first.close()


@pytest.mark.deadline(60)
def test_replication_login_fails_fast_within_server_login_retry(pg, weir, repl_users):
    users = dict(repl_users, **{REPL_ROLE: "not-the-password"})
    inst = weir({"weir": {"pool_mode": "transaction", "server_login_retry": 30}}, users=users)
    for _ in range(3):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(inst.dsn(REPL_ROLE, "not-the-password", "app",
                                     replication="database")).close()
    assert inst.log().count("server login failed") == 1, inst.log()


# ---------------------------------------------------------------------------------------
# min_pool_size with a forced user


@pytest.mark.deadline(60)
def test_forced_user_pool_keeps_min_pool_size_servers_without_any_client(pg, weir):
    db = pg.create_database("warm")
    password = pg.passwords["scram_user"]
    inst = weir({"weir": {"pool_mode": "transaction"},
                 "databases": {"warm": entry(pg, db, f"user=scram_user password={password} "
                                                      "min_pool_size=2")}})
    wait_until(lambda: backends(pg, db) == 2, 10, "two servers opened for the warm pool")
    # and on reload, a new entry of the same kind
    db2 = pg.create_database("warm")
    text = inst.ini_path.read_text().replace(
        "[databases]",
        f"[databases]\nwarm2 = {entry(pg, db2, f'user=scram_user password={password}')} "
        "min_pool_size=3")
    inst.ini_path.write_text(text)
    inst.reload()
    wait_until(lambda: backends(pg, db2) == 3, 10, "three servers opened after the reload")
    assert backends(pg, db) == 2


def test_pool_without_forced_user_opens_nothing_before_a_client(pg, weir):
    db = pg.create_database("cold")
    inst = weir({"weir": {"pool_mode": "transaction", "min_pool_size": 2},
                 "databases": {db: entry(pg, db)}})
    assert backends(pg, db) == 0
    with inst.connect("scram_user", dbname=db, autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        wait_until(lambda: backends(pg, db) == 2, 10, "min_pool_size servers once a client came")
