# SPDX-License-Identifier: ISC
"""Pool modes side by side: transaction mode hands a server back after each
transaction, statement mode after each statement and refuses transaction blocks with
PgBouncer's error, session mode keeps everything a session holds (temp tables, SQL-level
PREPARE); pool_mode set on a database or a user overrides the global one
([users] > [databases] > global)."""

import psycopg
import pytest

from conftest import parse_error_fields, query_message
from drivers import (activity, call_with_deadline, clients, run_concurrently,  # noqa: F401
                     tx_config, wait_for_log, wire_connect)

USER = "scram_user"
OP = 20
STATEMENT_MODE_ERROR = "transaction blocks not allowed in statement pooling mode"


def step(fn, what, clients):
    return call_with_deadline(fn, OP, what, on_timeout=clients.cut_all)


@pytest.mark.deadline(90)
def test_transaction_mode_10_idle_clients_share_one_server_between_transactions(pg, weir,
                                                                              clients):
    db = pg.create_database("txmode")
    inst = weir(tx_config(pg, db, 1))
    conns = [clients.add(inst.connect(dbname=db)) for _ in range(10)]  # not autocommit

    def scenario():
        pids = []
        for rnd in range(3):
            for i, conn in enumerate(conns):
                conn.execute("SELECT %s", (i,))
                pids.append(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
                conn.commit()
        return pids

    with pg.sampler(USER, db) as sampler:
        pids = step(scenario, "10 clients taking turns on one server", clients)
    assert len(set(pids)) == 1, f"one server expected, saw {set(pids)}"
    assert sampler.max == 1


@pytest.mark.deadline(60)
def test_statement_mode_refuses_begin_with_pgbouncers_error(pg, weir, clients):
    db = pg.create_database("stmt")
    inst = weir(tx_config(pg, db, 2, mode="statement"))
    w = clients.add(wire_connect(inst, USER, database=db))

    def scenario():
        w.send(query_message("BEGIN"))
        msgs = []
        while True:
            msg = w.read_message(10)
            if msg is None:
                break
            msgs.append(msg)
            if msg[0] in (b"E", b"Z"):
                break
        return msgs

    msgs = step(scenario, "BEGIN in statement mode", clients)
    errors = [m for m in msgs if m[0] == b"E"]
    assert errors, f"BEGIN was not refused: {msgs}"
    fields = parse_error_fields(errors[0][1])
    assert fields["M"] == STATEMENT_MODE_ERROR, fields
    wait_for_log(inst, f"closing because: {STATEMENT_MODE_ERROR}", 10)
    # psycopg outside autocommit starts every transaction with BEGIN
    conn = clients.add(inst.connect(dbname=db))
    with pytest.raises(psycopg.Error) as info:
        step(lambda: conn.execute("SELECT 1"), "psycopg implicit BEGIN", clients)
    assert STATEMENT_MODE_ERROR in str(info.value)
    # no server stays inside a transaction
    rows = activity(pg, USER, db, "starts_with(state, 'idle in transaction')")
    assert rows == [], rows


@pytest.mark.deadline(90)
def test_statement_mode_autocommit_statements_from_10_clients_on_pool_of_2(pg, weir, clients):
    db = pg.create_database("stmtok")
    pg.sql("CREATE TABLE t (client int, n int)", dbname=db)
    pg.sql(f"GRANT ALL ON t TO {USER}", dbname=db)
    inst = weir(tx_config(pg, db, 2, mode="statement"))
    conns = [clients.add(inst.connect(dbname=db, autocommit=True)) for _ in range(10)]

    def worker(c):
        conn = conns[c]
        for i in range(40):  # past psycopg's prepare_threshold: named statements too
            assert conn.execute("SELECT %s::int + %s::int", (c, i)).fetchone() == (c + i,)
            conn.execute("INSERT INTO t VALUES (%s, %s)", (c, i))
        # one simple-protocol message with several statements is one implicit transaction
        cur = conn.execute(f"SELECT {c}; SELECT {c} * 2", prepare=False)
        assert cur.fetchone() == (c,)
        assert cur.nextset() and cur.fetchone() == (c * 2,)
        return conn.execute("SELECT count(*) FROM t WHERE client = %s", (c,)).fetchone()[0]

    with pg.sampler(USER, db) as sampler:
        counts = run_concurrently([lambda c=c: worker(c) for c in range(10)], OP,
                                  "statement-mode workers", on_timeout=clients.cut_all)
    assert counts == [40] * 10
    assert sampler.max <= 2


@pytest.mark.deadline(60)
def test_session_mode_still_keeps_temp_tables_and_sql_prepare(pg, weir, clients):
    db = pg.create_database("sess")
    inst = weir(tx_config(pg, db, 2, mode="session"))
    a = clients.add(inst.connect(dbname=db, autocommit=True))
    b = clients.add(inst.connect(dbname=db, autocommit=True))

    def scenario():
        pid = a.execute("SELECT pg_backend_pid()").fetchone()[0]
        a.execute("CREATE TEMP TABLE scratch (n int)")
        a.execute("PREPARE add_one (int) AS SELECT $1 + 1")
        for i in range(10):
            a.execute("INSERT INTO scratch VALUES (%s)", (i,))
            b.execute("SELECT %s", (i,))  # another client busy on the pool meanwhile
        with a.transaction():
            a.execute("INSERT INTO scratch VALUES (100)")
        return (pid, a.execute("SELECT count(*), sum(n) FROM scratch").fetchone(),
                a.execute("EXECUTE add_one(41)").fetchone(),
                a.execute("SELECT pg_backend_pid()").fetchone()[0])

    pid, counts, executed, pid_after = step(scenario, "session-mode scenario", clients)
    assert counts == (11, 145)
    assert executed == (42,)
    assert pid_after == pid


def begin_works(inst, db, user, clients):
    """True if BEGIN opens a transaction block; False if it is refused with the
    statement-mode error."""
    conn = clients.add(inst.connect(user, dbname=db, autocommit=True))

    def attempt():
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT 1")
            conn.execute("COMMIT")
            return True
        except psycopg.Error as exc:
            assert STATEMENT_MODE_ERROR in str(exc), exc
            return False

    return step(attempt, f"BEGIN as {user}", clients)


@pytest.mark.deadline(60)
def test_pool_mode_of_a_database_entry_overrides_the_global_one(pg, weir, clients):
    db = pg.create_database("dbmode")
    cfg = tx_config(pg, db, 2, mode="session", db_extra="pool_mode=statement")
    inst = weir(cfg)
    assert begin_works(inst, db, USER, clients) is False
    assert begin_works(inst, "app", USER, clients) is True  # the global mode


@pytest.mark.deadline(60)
def test_pool_mode_of_a_user_overrides_the_database_and_global_ones(pg, weir, clients):
    db = pg.create_database("usermode")
    # md5 authentication, so that md5_user (whose auth_file secret is an md5 hash) can log in
    cfg = tx_config(pg, db, 2, mode="transaction", db_extra="pool_mode=statement",
                    weir_extra={"auth_type": "md5"})
    cfg["users"] = {"md5_user": "pool_mode=transaction", "plain_user": "pool_mode=statement"}
    inst = weir(cfg)
    assert begin_works(inst, db, USER, clients) is False        # [databases]
    assert begin_works(inst, db, "md5_user", clients) is True   # [users] beats [databases]
    assert begin_works(inst, "app", "plain_user", clients) is False  # [users] beats global
    assert begin_works(inst, "app", USER, clients) is True
