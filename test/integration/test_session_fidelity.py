# SPDX-License-Identifier: ISC
"""A session through weir is what a direct connection to PostgreSQL would be. In session
pooling a client logs in on a server whose own login used the client's startup values, so
RESET and RESET ALL go back to the client's values, not to another login's; the client is
told the backend's real process id, so pg_backend_pid(), NOTIFY and pg_terminate_backend
agree with it. In every mode the client is told each tracked value in the form PostgreSQL
reports it (client_encoding=utf8 is reported as UTF8), whatever the client sent. Each check
compares weir with a direct connection given the same startup packet."""

import psycopg
import pytest

from conftest import PgWire, wire_login
from drivers import simple, tx_config, wire_connect

USER = "scram_user"


@pytest.fixture
def pooled(pg, weir):
    """factory(mode, pool=2) -> (weir instance, database of the same name in PostgreSQL)."""
    def make(mode, pool=2, **weir_extra):
        db = pg.create_database("fidelity")
        return weir(tx_config(pg, db, pool, mode=mode, weir_extra=weir_extra)), db
    return make


def direct(pg, db, extra):
    w = PgWire(pg.port)
    w.login = wire_login(w, USER, pg.passwords[USER], db, extra=extra)
    return w


def through(inst, db, extra):
    return wire_connect(inst, USER, database=db, extra=extra)


def scalar(w, sql):
    reply = simple(w, sql)
    assert not reply.errors, reply
    return reply.rows[0][0] if reply.rows else reply.tags


def on_both(pg, inst, db, extra, fn):
    a, b = direct(pg, db, extra), through(inst, db, extra)
    try:
        return fn(a), fn(b)
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------------------------------------
# RESET goes back to the client's own startup values (session pooling)

STARTUPS = {
    "datestyle": {"DateStyle": "Postgres, DMY"},
    "timezone_options": {"options": "-c TimeZone=Asia/Tokyo"},
    "several": {"DateStyle": "German", "TimeZone": "America/Lima",
                "IntervalStyle": "sql_standard", "application_name": "fidelity-app"},
}


def reset_script(w):
    out = []
    for sql in ["SHOW DateStyle", "SHOW TimeZone", "SHOW IntervalStyle",
                "SHOW application_name",
                "SET DateStyle = 'ISO, YMD'", "SET TimeZone = 'UTC'",
                "SET IntervalStyle = 'iso_8601'", "SET application_name = 'changed'",
                "RESET DateStyle", "SHOW DateStyle", "RESET TimeZone", "SHOW TimeZone",
                "SET DateStyle = 'SQL'", "RESET ALL", "SHOW DateStyle", "SHOW TimeZone",
                "SHOW IntervalStyle", "SHOW application_name"]:
        out.append((sql, scalar(w, sql)))
    return out


@pytest.mark.parametrize("name", list(STARTUPS))
def test_reset_returns_to_the_clients_startup_value_in_session_pooling(pg, pooled, name):
    inst, db = pooled("session", pool=1)
    # a first client leaves the only server with other login values behind
    with psycopg.connect(inst.dsn(USER, pg.passwords[USER], dbname=db),
                         autocommit=True) as first:
        first.execute("SELECT 1")
    expected, got = on_both(pg, inst, db, STARTUPS[name], reset_script)
    assert got == expected


def test_servers_are_reused_by_clients_with_the_same_startup_values(pg, pooled):
    inst, db = pooled("session", pool=2)
    extra = {"DateStyle": "German"}
    pids = set()
    for _ in range(5):
        w = through(inst, db, extra)
        pids.add(scalar(w, "SELECT pg_backend_pid()"))
        w.close()
    # a server still running its reset query when the next client comes makes a second
    # one: more than the pool's two would mean servers were replaced instead of reused
    assert len(pids) <= 2, f"servers were not reused: {pids}"


# ---------------------------------------------------------------------------------------
# the welcome tells what PostgreSQL reports

CANONICAL = {
    "client_encoding_utf8": {"client_encoding": "utf8"},
    "client_encoding_utf-8": {"client_encoding": "utf-8"},
    "client_encoding_eucjp": {"client_encoding": "eucjp"},
    "datestyle_iso": {"DateStyle": "iso"},
    "timezone_lowercase": {"TimeZone": "europe/paris"},
    "long_application_name": {"application_name": "a" * 100},
    "options_encoding": {"options": "-c client_encoding=latin1"},
    "scs": {"standard_conforming_strings": "true"},
}
REPORTED = ["client_encoding", "DateStyle", "TimeZone", "application_name",
            "IntervalStyle", "standard_conforming_strings"]


def reported(w):
    return {k: w.login.parameters.get(k) for k in REPORTED}


@pytest.mark.parametrize("mode", ["session", "transaction"])
@pytest.mark.parametrize("name", list(CANONICAL))
def test_client_is_told_the_values_postgresql_reports(pg, pooled, mode, name):
    inst, db = pooled(mode)
    extra = CANONICAL[name]
    for _ in range(2):  # the second login may use what weir learned from the first
        expected, got = on_both(pg, inst, db, extra, reported)
        assert got == expected


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_invalid_startup_value_is_refused_like_postgresql_and_harms_no_one(pg, pooled, mode):
    inst, db = pooled(mode, pool=1)
    with pytest.raises(Exception) as direct_err:
        direct(pg, db, {"DateStyle": "nonsense"})
    with pytest.raises(Exception) as weir_err:
        through(inst, db, {"DateStyle": "nonsense"})
    assert weir_err.value.fields.get("C") == direct_err.value.fields.get("C") == "22023"
    assert weir_err.value.fields.get("M") == direct_err.value.fields.get("M")
    w = through(inst, db, {})
    assert scalar(w, "SELECT 'others go on'") == "others go on"
    w.close()


# ---------------------------------------------------------------------------------------
# the backend's real process id in session pooling


def test_session_client_is_told_its_backends_process_id(pg, pooled):
    inst, db = pooled("session")
    with psycopg.connect(inst.dsn(USER, pg.passwords[USER], dbname=db),
                         autocommit=True) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert conn.info.backend_pid == pid
        got = []
        conn.add_notify_handler(got.append)
        conn.execute("LISTEN weir_chan")
        conn.execute("NOTIFY weir_chan, 'hello'")
        conn.execute("SELECT 1")
        assert [(n.channel, n.payload, n.pid) for n in got] == [("weir_chan", "hello", pid)]


def test_session_client_can_terminate_its_own_backend(pg, pooled):
    inst, db = pooled("session")
    conn = psycopg.connect(inst.dsn(USER, pg.passwords[USER], dbname=db), autocommit=True)
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    conn.close()
    with psycopg.connect(inst.dsn(USER, pg.passwords[USER], dbname=db),
                         autocommit=True) as conn2:
        assert conn2.execute("SELECT 1").fetchone() == (1,)


def test_cancel_still_works_with_the_real_process_id(pg, pooled):
    inst, db = pooled("session")
    with psycopg.connect(inst.dsn(USER, pg.passwords[USER], dbname=db),
                         autocommit=True) as conn:
        import threading
        timer = threading.Timer(0.5, conn.cancel)
        timer.start()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(10)")
        timer.join()
        assert conn.execute("SELECT 'after cancel'").fetchone() == ("after cancel",)


def test_transaction_pooling_keeps_weirs_own_process_ids(pg, pooled):
    inst, db = pooled("transaction")
    with psycopg.connect(inst.dsn(USER, pg.passwords[USER], dbname=db),
                         autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert conn.info.backend_pid != backend


# ---------------------------------------------------------------------------------------
# the same seen from psql


def psql(port, db, commands, env_extra):
    import os
    import subprocess
    env = dict(os.environ, PGPASSWORD=PASSWORD_OF_USER, **env_extra)
    args = [a for c in commands for a in ("-c", c)]
    out = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-h", "127.0.0.1", "-p", str(port),
                          "-U", USER, "-d", db, *args],
                         env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.split("\n")


PASSWORD_OF_USER = "scram-pass-1"
PSQL_SCRIPT = ["SET DateStyle = 'ISO'", "SET TimeZone = 'UTC'", "RESET DateStyle",
               "SHOW DateStyle", "RESET ALL", "SHOW TimeZone", "\\encoding"]


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_psql_sees_what_a_direct_connection_sees(pg, pooled, mode):
    """PGDATESTYLE, PGTZ and PGCLIENTENCODING go into psql's startup packet: RESET comes
    back to them (session pooling), and \\encoding shows what PostgreSQL reported."""
    assert pg.passwords[USER] == PASSWORD_OF_USER
    inst, db = pooled(mode, pool=1)
    env = {"PGDATESTYLE": "Postgres, DMY", "PGTZ": "Asia/Tokyo", "PGCLIENTENCODING": "utf8"}
    psql(inst.port, db, ["SELECT 1"], {})  # the pool's one server logs in without them
    expected = psql(pg.port, db, PSQL_SCRIPT, env)
    got = psql(inst.port, db, PSQL_SCRIPT, env)
    if mode == "session":
        assert got == expected
    else:  # RESET goes to the server's login values in transaction pooling
        assert got[-2:] == expected[-2:] == ["UTF8", ""]
