# SPDX-License-Identifier: ISC
"""psycopg 3 through weir in transaction pooling, with the driver's defaults: automatic
server-side preparation after prepare_threshold (5) executions, COPY through
cursor.copy(), libpq pipeline mode, and session parameters (TimeZone, application_name)
that must follow each client from server to server and never leak to another client."""

import datetime
import threading
import time
from decimal import Decimal

import psycopg
import pytest

from drivers import (Background, activity, call_with_deadline, clients,  # noqa: F401
                     run_concurrently, tx_config)

USER = "scram_user"
OP_DEADLINE = 20


def make_db(pg, prefix, table_sql=None):
    """A dedicated database (so backend counts see only this test); table_sql runs in it
    as superuser and the test role gets every right on the tables it creates."""
    db = pg.create_database(prefix)
    if table_sql:
        pg.sql(table_sql, dbname=db)
        pg.sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {USER}", dbname=db)
        pg.sql(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {USER}", dbname=db)
    return db


def start(weir, pg, db, pool_size, **weir_extra):
    return weir(tx_config(pg, db, pool_size, weir_extra=weir_extra))


# ---------------------------------------------------------------------------------------
# automatic preparation


STATEMENTS = [
    ("SELECT %s::int + %s::int", lambda c, i: (c, i), lambda c, i: (c + i,)),
    ("SELECT %s::text || '/' || %s::text", lambda c, i: (f"c{c}", f"i{i}"),
     lambda c, i: (f"c{c}/i{i}",)),
    ("SELECT count(*) FROM generate_series(1, %s::int) g WHERE g %% %s::int = 0",
     lambda c, i: (100 + i, c + 1), lambda c, i: ((100 + i) // (c + 1),)),
    ("SELECT %s::int * 2, %s::numeric / 4, %s::date + 1",
     lambda c, i: (c, i, "2024-02-28"),
     lambda c, i: (c * 2, Decimal(i) / 4, datetime.date(2024, 2, 29))),
    ("INSERT INTO auto_prep (client, n) VALUES (%s, %s) RETURNING n * 10",
     lambda c, i: (c, i), lambda c, i: (i * 10,)),
]


@pytest.mark.deadline(150)
def test_psycopg_auto_prepare_20_threads_on_pool_of_3_give_correct_results(pg, weir, clients,
                                                                          capsys):
    with capsys.disabled():
        print(f"\nDRIVER psycopg {psycopg.__version__} (libpq {psycopg.pq.version()})")
    threads, rounds, pool = 20, 14, 3
    db = make_db(pg, "autoprep", "CREATE TABLE auto_prep (client int, n int)")
    inst = start(weir, pg, db, pool)
    conns = [clients.add(inst.connect(dbname=db, autocommit=(c % 2 == 0)))
             for c in range(threads)]
    for conn in conns:
        assert conn.prepare_threshold == 5, "psycopg's default prepare_threshold changed"

    def worker(c):
        conn = conns[c]
        for i in range(rounds):
            # vary the order so that the clients' statements interleave differently
            order = STATEMENTS[i % len(STATEMENTS):] + STATEMENTS[:i % len(STATEMENTS)]
            for query, params, expected in order:
                row = conn.execute(query, params(c, i)).fetchone()
                assert row == expected(c, i), f"client {c} round {i}: {query} gave {row}"
            if not conn.autocommit:
                conn.commit()
        # The client's statements are prepared on the server it uses now: the next
        # execution is a Bind of a named statement, which must be there.
        with conn.transaction():
            query, params, expected = STATEMENTS[0]
            assert conn.execute(query, params(c, 99)).fetchone() == expected(c, 99)
            prepared = conn.execute("SELECT count(*) FROM pg_prepared_statements "
                                    "WHERE NOT from_sql").fetchone()[0]
        if not conn.autocommit:
            conn.commit()
        return prepared

    with pg.sampler(USER, db) as sampler:
        prepared = run_concurrently([lambda c=c: worker(c) for c in range(threads)],
                                    OP_DEADLINE, "psycopg auto-prepare workers",
                                    on_timeout=clients.cut_all)
    assert all(n >= 1 for n in prepared), (
        f"protocol-level prepared statements seen on the servers: {prepared}")
    counts = pg.sql("SELECT client, count(*), sum(n) FROM auto_prep GROUP BY client "
                    "ORDER BY client", dbname=db)
    assert counts == [(c, rounds, sum(range(rounds))) for c in range(threads)]
    assert sampler.max <= pool, f"PostgreSQL saw {sampler.max} connections; pool is {pool}"


# ---------------------------------------------------------------------------------------
# COPY


@pytest.mark.deadline(150)
def test_psycopg_copy_in_and_out_from_6_clients_on_pool_of_3(pg, weir, clients):
    n_clients, rows, pool = 6, 20_000, 3
    db = make_db(pg, "copy", "CREATE TABLE copied (client int, n int, v text)")
    inst = start(weir, pg, db, pool)
    conns = [clients.add(inst.connect(dbname=db, autocommit=True)) for _ in range(n_clients)]

    def payload(c):
        return b"".join(b"%d\t%d\tv-%d-%s\n" % (c, n, n, b"x" * (n % 13)) for n in range(rows))

    def worker(c):
        conn = conns[c]
        cur = conn.cursor()
        data = payload(c)
        # autocommit COPY: the server may be released right after it
        with cur.copy("COPY copied (client, n, v) FROM STDIN") as copy:
            for off in range(0, len(data), 50_000):
                copy.write(data[off:off + 50_000])
        assert cur.rowcount == rows
        got = bytearray()
        with cur.copy("COPY (SELECT client, n, v FROM copied WHERE client = %s ORDER BY n) "
                      "TO STDOUT", (c,)) as copy:
            for chunk in copy:
                got += chunk
        assert bytes(got) == data, f"client {c}: COPY TO STDOUT returned other data"
        # COPY inside a transaction, then statements in the same transaction
        with conn.transaction():
            with cur.copy("COPY copied (client, n, v) FROM STDIN") as copy:
                copy.write_row((c + 100, 1, "in-tx"))
                copy.write_row((c + 100, 2, "in-tx"))
            assert conn.execute("SELECT count(*) FROM copied WHERE client = %s",
                                (c + 100,)).fetchone() == (2,)
            out = bytearray()
            with cur.copy("COPY (SELECT n FROM copied WHERE client = %s ORDER BY n) TO STDOUT",
                          (c + 100,)) as copy:
                for chunk in copy:
                    out += chunk
            assert bytes(out) == b"1\n2\n"
        assert conn.execute("SELECT 'after copy'").fetchone() == ("after copy",)
        return True

    with pg.sampler(USER, db) as sampler:
        run_concurrently([lambda c=c: worker(c) for c in range(n_clients)], OP_DEADLINE,
                         "COPY workers", on_timeout=clients.cut_all)
    total = pg.sql("SELECT count(*) FROM copied", dbname=db)[0][0]
    assert total == n_clients * (rows + 2)
    assert sampler.max <= pool, f"PostgreSQL saw {sampler.max} connections; pool is {pool}"


# ---------------------------------------------------------------------------------------
# pipeline mode


@pytest.mark.deadline(150)
def test_psycopg_pipeline_of_many_statements_from_8_clients_on_pool_of_3(pg, weir, clients):
    assert psycopg.Pipeline.is_supported(), "libpq without pipeline mode"
    n_clients, statements, pool = 8, 150, 3
    db = make_db(pg, "pipe", "CREATE TABLE piped (client int, n int, PRIMARY KEY (client, n))")
    inst = start(weir, pg, db, pool)
    conns = [clients.add(inst.connect(dbname=db, autocommit=(c % 2 == 0)))
             for c in range(n_clients)]

    def worker(c):
        conn = conns[c]
        for rnd in range(3):
            base = rnd * statements
            with conn.pipeline() as p:
                curs = []
                for n in range(base, base + statements):
                    curs.append(conn.execute(
                        "INSERT INTO piped (client, n) VALUES (%s, %s) RETURNING n", (c, n)))
                    if n % 50 == 49:
                        p.sync()
                count_cur = conn.execute("SELECT count(*) FROM piped WHERE client = %s", (c,))
                echo = [conn.execute("SELECT %s::int, %s::text", (k, f"e{k}"))
                        for k in range(20)]
            assert [cur.fetchone()[0] for cur in curs] == list(range(base, base + statements))
            assert count_cur.fetchone() == (base + statements,)
            assert [cur.fetchone() for cur in echo] == [(k, f"e{k}") for k in range(20)]
            if not conn.autocommit:
                conn.commit()
        # an error inside a pipeline aborts the rest of that sync block only
        with pytest.raises(psycopg.errors.UniqueViolation):
            with conn.pipeline():
                conn.execute("INSERT INTO piped (client, n) VALUES (%s, 0)", (c,))
                conn.execute("SELECT 1")
        if not conn.autocommit:
            conn.rollback()
        assert conn.execute("SELECT count(*) FROM piped WHERE client = %s",
                            (c,)).fetchone() == (3 * statements,)
        if not conn.autocommit:
            conn.commit()
        return True

    with pg.sampler(USER, db) as sampler:
        run_concurrently([lambda c=c: worker(c) for c in range(n_clients)], OP_DEADLINE,
                         "pipeline workers", on_timeout=clients.cut_all)
    assert pg.sql("SELECT count(*) FROM piped", dbname=db)[0][0] == n_clients * 3 * statements
    assert sampler.max <= pool, f"PostgreSQL saw {sampler.max} connections; pool is {pool}"


# ---------------------------------------------------------------------------------------
# session parameters follow their client


SETTINGS_QUERY = ("SELECT current_setting('TimeZone'), current_setting('application_name'), "
                  "pg_backend_pid()")


@pytest.mark.deadline(150)
def test_set_time_zone_and_application_name_follow_the_client_and_never_leak(pg, weir,
                                                                           clients):
    pool = 3
    db = make_db(pg, "params")
    default_tz = pg.sql("SELECT current_setting('TimeZone')", dbname=db)[0][0]
    inst = start(weir, pg, db, pool)

    # Client A changes both parameters with SQL SET; the background clients either set
    # their own values (at connect time or with SET) or none, and check every transaction.
    a = clients.add(inst.connect(dbname=db, autocommit=True))
    pinner = clients.add(inst.connect(dbname=db, autocommit=True))
    background = []
    for b in range(6):
        if b % 3 == 0:
            conn = inst.connect(dbname=db, autocommit=True)  # sets nothing
            expect = (default_tz, "")
        elif b % 3 == 1:
            conn = inst.connect(dbname=db, autocommit=True,  # startup packet
                                application_name=f"bg-{b}",
                                options="-c TimeZone=America/Lima")
            expect = ("America/Lima", f"bg-{b}")
        else:
            conn = inst.connect(dbname=db, autocommit=(b % 2 == 0))  # SQL SET
            conn.execute("SET TIME ZONE 'Europe/Helsinki'")
            conn.execute(f"SET application_name = 'bg-set-{b}'")
            if not conn.autocommit:
                conn.commit()
            expect = ("Europe/Helsinki", f"bg-set-{b}")
        background.append((clients.add(conn), expect))

    stop = threading.Event()
    leaks = []

    def bg_worker(conn, expect):
        seen = 0
        while not stop.is_set():
            tz, app, _pid = conn.execute(SETTINGS_QUERY).fetchone()
            if (tz, app) != expect:
                leaks.append((expect, (tz, app)))
            if not conn.autocommit:
                conn.commit()
            seen += 1
            time.sleep(0.002)
        return seen

    def client_a():
        a.execute("SET TIME ZONE 'Asia/Kathmandu'")
        a.execute("SET application_name = 'tz-client-a'")
        pids, wrong = [], []
        expect = ("Asia/Kathmandu", "tz-client-a")
        for i in range(90):
            pinned = i % 3 == 0
            if pinned:  # hold the server A used last, so that A lands on another one
                pinner.execute("BEGIN")
                pinner.execute("SELECT pg_backend_pid()")
            if i == 45:  # a SET inside a committed transaction counts too
                with a.transaction():
                    a.execute("SET TIME ZONE 'Pacific/Chatham'")
                expect = ("Pacific/Chatham", "tz-client-a")
            if i % 2:
                tz, app, pid = a.execute(SETTINGS_QUERY).fetchone()
            else:
                with a.transaction():
                    a.execute("SELECT 1")
                    tz, app, pid = a.execute(SETTINGS_QUERY).fetchone()
            pids.append(pid)
            if (tz, app) != expect:
                wrong.append((i, expect, (tz, app)))
            if pinned:
                pinner.execute("COMMIT")
        return pids, wrong

    bg = [Background(lambda c=c, e=e: bg_worker(c, e), f"background client {k}")
          for k, (c, e) in enumerate(background)]
    try:
        with pg.sampler(USER, db) as sampler:
            pids, wrong = call_with_deadline(client_a, OP_DEADLINE, "client A's transactions",
                                             on_timeout=clients.cut_all)
    finally:
        stop.set()
    done = [t.wait(OP_DEADLINE) for t in bg]
    assert not wrong, f"client A did not see its own settings: {wrong[:5]}"
    assert len(set(pids)) >= 2, (
        f"client A used only server {set(pids)} in 90 transactions with 3 servers under load")
    assert not leaks, f"other clients saw settings that were not theirs: {leaks[:5]}"
    assert all(n > 0 for n in done), f"background transactions per client: {done}"
    assert sampler.max <= pool, f"PostgreSQL saw {sampler.max} connections; pool is {pool}"

    # A fresh client, on every server of the pool, sees the defaults
    fresh = clients.add(inst.connect(dbname=db, autocommit=True))
    holders = [clients.add(inst.connect(dbname=db, autocommit=True))
               for _ in range(pool - 1)]

    def fresh_checks():
        for rot in range(pool):
            for h in holders[:rot]:
                h.execute("BEGIN")
                h.execute("SELECT 1")
            tz, app, pid = fresh.execute(SETTINGS_QUERY).fetchone()
            assert (tz, app) == (default_tz, ""), f"fresh client on server {pid}: {(tz, app)}"
            for h in holders[:rot]:
                h.execute("COMMIT")

    call_with_deadline(fresh_checks, OP_DEADLINE, "fresh client checks",
                       on_timeout=clients.cut_all)
    rows = activity(pg, USER, db)
    assert len(rows) <= pool, rows
