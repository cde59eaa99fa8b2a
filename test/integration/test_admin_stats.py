# SPDX-License-Identifier: ISC
"""What the console counts: SHOW POOLS and SHOW CLIENTS in a known state, SHOW STATS
counters growing by exactly what a scripted workload does (PgBouncer's semantics: an
autocommit statement is one transaction, BEGIN and COMMIT are queries), averages over
stats_period with the log_stats line, and SHOW LATENCY's percentiles against known sleeps."""

import threading

import pytest

from conftest import wait_until

HIST_REL_ERROR = 1 / 16  # histogram.h


def start(weir, pg, mode="transaction", pool_size="3", **keys):
    return weir({"weir": {"admin_users": "scram_user", "pool_mode": mode,
                          "default_pool_size": pool_size, **keys},
                 "databases": {"app": f"host=127.0.0.1 port={pg.port} dbname=app",
                               "roomy": f"host=127.0.0.1 port={pg.port} dbname=app "
                                        f"pool_size=10"}})


def unprepared(conn):
    conn.prepare_threshold = None  # psycopg prepares what it has run 5 times, by default
    return conn


def console(inst):
    return unprepared(inst.connect(dbname="weir", autocommit=True))  # simple queries only


def client(inst, **extra):
    """A client whose queries are each one simple Query."""
    return unprepared(inst.connect(autocommit=True, **extra))


def rows(conn, sql):
    cur = conn.execute(sql)
    names = [d.name for d in cur.description]
    return [dict(zip(names, r)) for r in cur]


def pool(conn, db="app"):
    return next(r for r in rows(conn, "SHOW POOLS") if r["database"] == db)


def totals(conn, db="app"):
    return next(r for r in rows(conn, "SHOW STATS_TOTALS") if r["database"] == db)


def delta(after, before):
    return {k: after[k] - before[k] for k in after if k != "database"}


def test_show_pools_and_clients_in_a_known_state(weir, pg):
    inst = start(weir, pg)
    holders = [inst.connect() for _ in range(3)]
    for h in holders:
        h.execute("SELECT 1")  # inside a transaction: each holds a server
    queued = [inst.connect(autocommit=True) for _ in range(2)]
    threads = [threading.Thread(target=q.execute, args=("SELECT 2",)) for q in queued]
    for t in threads:
        t.start()
    with console(inst) as adm:
        wait_until(lambda: pool(adm)["cl_waiting"] == 2, 5, "two clients to queue")
        first = pool(adm)
        assert (first["cl_active"], first["cl_waiting"]) == (3, 2)
        assert (first["sv_active"], first["sv_idle"], first["sv_login"]) == (3, 0, 0)
        wait_until(lambda: pool(adm)["maxwait"] >= 1, 5, "maxwait to pass a second")
        second = pool(adm)
        assert (second["maxwait"], second["maxwait_us"]) > (first["maxwait"],
                                                             first["maxwait_us"])
        clients = [r for r in rows(adm, "SHOW CLIENTS") if r["database"] == "app"]
        states = sorted(r["state"] for r in clients)
        assert states == ["active"] * 3 + ["waiting"] * 2
        assert all(r["link"] for r in clients if r["state"] == "active")
        assert all(r["wait"] >= 1 for r in clients if r["state"] == "waiting")
        servers = [r for r in rows(adm, "SHOW SERVERS") if r["database"] == "app"]
        assert sorted(r["state"] for r in servers) == ["active"] * 3
        links = {r["link"] for r in servers}
        assert links == {r["ptr"] for r in clients if r["state"] == "active"}
        for h in holders:
            h.commit()
        for t in threads:
            t.join(10)
        after = pool(adm)
        assert (after["cl_active"], after["cl_waiting"], after["sv_active"]) == (5, 0, 0)
        assert after["sv_idle"] == 3
    for c in holders + queued:
        c.close()


def script(conn):
    """8 queries, 6 transactions, 107 bytes of Query messages."""
    for _ in range(5):
        conn.execute("SELECT 1")
    conn.execute("BEGIN")
    conn.execute("SELECT 1")
    conn.execute("COMMIT")


@pytest.mark.parametrize("mode,assignments", [("transaction", 6), ("session", 0)])
def test_stats_counters_grow_by_exactly_the_workload(weir, pg, mode, assignments):
    inst = start(weir, pg, mode=mode)
    with client(inst) as conn, console(inst) as adm:
        conn.execute("SELECT 0")  # the login's bytes are counted with the first request
        before = totals(adm)
        console_before = totals(adm, "weir")
        script(conn)
        d = delta(totals(adm), before)
        assert d["query_count"] == 8
        assert d["xact_count"] == 6
        assert d["server_assignment_count"] == assignments
        assert d["bytes_received"] == 5 * 14 + 11 + 14 + 12
        assert d["bytes_sent"] > 0
        assert d["query_time"] > 0 and d["xact_time"] > 0
        assert d["client_login_count"] == 0
        assert (d["client_parse_count"], d["server_parse_count"], d["bind_count"]) == (0, 0, 0)
        assert delta(totals(adm, "weir"), console_before)["query_count"] == 2
        with client(inst) as second:
            second.execute("SELECT 1")
        assert delta(totals(adm), before)["client_login_count"] == 1


def test_prepared_statements_are_counted(weir, pg):
    inst = start(weir, pg, pool_size="1")
    with inst.connect(autocommit=True) as conn, console(inst) as adm:
        conn.execute("SELECT 0")
        before = totals(adm)
        for i in range(3):
            assert conn.execute("SELECT %s::int", [i], prepare=True).fetchone() == (i,)
        d = delta(totals(adm), before)
        assert (d["client_parse_count"], d["server_parse_count"], d["bind_count"]) == (1, 1, 3)
        # psycopg prepares with a Parse and a Sync of their own: one more round trip, so
        # one more query and (in transaction pooling) one more transaction
        assert (d["query_count"], d["xact_count"]) == (4, 4)


def test_averages_over_stats_period_and_the_log_stats_line(weir, pg):
    inst = start(weir, pg, stats_period="1")
    with client(inst) as conn, console(inst) as adm:
        def busy_period():
            for _ in range(20):
                conn.execute("SELECT 1")
            avg = next(r for r in rows(adm, "SHOW STATS_AVERAGES") if r["database"] == "app")
            return avg["xact_count"] > 0 and avg["xact_time"] > 0 and avg["query_time"] > 0
        wait_until(busy_period, 10, "a stats_period with transactions")
        stats = next(r for r in rows(adm, "SHOW STATS") if r["database"] == "app")
        assert stats["avg_xact_count"] > 0 and stats["total_xact_count"] >= 20
    wait_until(lambda: "stats: " in inst.log() and " xacts/s, " in inst.log(), 5,
               "the log_stats line")


def latency(conn, db, kind, user=None, period="total"):
    return next(r for r in rows(conn, "SHOW LATENCY")
                if r["database"] == db and r["user"] == user and r["kind"] == kind
                and r["period"] == period)


def test_latency_percentiles_match_known_sleeps(weir, pg):
    inst = start(weir, pg, pool_size="1")
    with client(inst) as conn, console(inst) as adm:
        for _ in range(10):
            conn.execute("SELECT 1")
        for _ in range(20):
            conn.execute("SELECT pg_sleep(0.01)")
        q = latency(adm, "app", "query")
        assert q["count"] == 30
        # the 15th and later values are sleeps of at least 10 ms: within the stated error
        assert 10000 * (1 - HIST_REL_ERROR) <= q["p50_us"] <= 20000
        assert 10000 * (1 - HIST_REL_ERROR) <= q["p99_us"] <= q["max_us"]
        assert q["max_us"] >= 10000
        assert q["mean_us"] >= 20 * 10000 / 30
        per_pool = latency(adm, "app", "query", user="scram_user")
        assert per_pool["count"] == 30 and per_pool["p50_us"] == q["p50_us"]
        assert latency(adm, "app", "xact")["count"] == 30
        assert latency(adm, "app", "server_login")["count"] == 1
        assert latency(adm, "app", "client_login")["count"] == 1


def concurrent_sleeps(inst, dbname, clients=4, rounds=3):
    conns = [client(inst, dbname=dbname) for _ in range(clients)]

    def run(conn):
        for _ in range(rounds):
            conn.execute("SELECT pg_sleep(0.05)")
    threads = [threading.Thread(target=run, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for c in conns:
        c.close()


def test_wait_percentiles_rise_when_the_pool_is_too_small(weir, pg):
    inst = start(weir, pg, pool_size="1")
    concurrent_sleeps(inst, "app")    # one server for four clients
    concurrent_sleeps(inst, "roomy")  # a server each
    with console(inst) as adm:
        small = latency(adm, "app", "wait")
        roomy = latency(adm, "roomy", "wait")
        # with one server, most requests wait for another client's 50 ms sleep; with a
        # server each, only the first requests wait, for a server to log in
        assert small["p50_us"] >= 50000 * (1 - HIST_REL_ERROR), small
        assert small["p99_us"] >= small["p50_us"]
        assert roomy["p50_us"] < 10000, roomy
        assert next(r for r in rows(adm, "SHOW STATS_TOTALS")
                    if r["database"] == "app")["wait_time"] >= 3 * 50000
