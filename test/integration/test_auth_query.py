# SPDX-License-Identifier: ISC
"""auth_query: users that exist only in PostgreSQL log in through weir, which looks their
secret up over its own libpq connections (application_name weir_auth_query) as auth_user.
The roles are made in the test cluster by these tests; the auth role is a superuser so
that the default query can read pg_authid. Refusals are checked with the hand-written wire
client (psycopg hides the SQLSTATE of a failed login), and each one is followed by a login
that must still work."""

import re
import threading
import time
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

from conftest import (PgWire, WireError, free_port, startup_message, wait_until, wire_login,
                      wire_query)

AUTH_OK = 0
AUTH_MD5 = 5
AUTH_SASL = 10

AUTH_ROLE = "aq_auth"
AUTH_PASSWORD = "aq-auth-pass-9"
PASSWORDS = {
    "aq_scram": "aq-scram-pass-1",
    "aq_md5": "aq-md5-pass-2",
    "aq_other": "aq-other-pass-3",
}
MANY = [f"aq_many_{i}" for i in range(10)]
NO_PASSWORD_ROLE = "aq_nopass"
APP = "weir_auth_query"


def create_role(pg, name, password=None, md5=False, superuser=False):
    with pg.connect() as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        if md5:
            conn.execute("SET password_encryption = 'md5'")
        query = sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name))
        if superuser:
            query += sql.SQL(" SUPERUSER")
        if password is not None:
            query += sql.SQL(" PASSWORD {}").format(password)
        conn.execute(query)


@pytest.fixture(scope="module")
def roles(pg):
    """The auth role and the roles known only to PostgreSQL."""
    create_role(pg, AUTH_ROLE, AUTH_PASSWORD, superuser=True)
    create_role(pg, "aq_scram", PASSWORDS["aq_scram"])
    create_role(pg, "aq_other", PASSWORDS["aq_other"])
    create_role(pg, "aq_md5", PASSWORDS["aq_md5"], md5=True)
    create_role(pg, NO_PASSWORD_ROLE)
    for name in MANY:
        create_role(pg, name, f"{name}-pass")
    yield pg
    pg.sql(sql.SQL("ALTER ROLE {} RESET ALL").format(sql.Identifier(AUTH_ROLE)))


@pytest.fixture
def md5_hba(pg):
    """pg_hba.conf with an md5 line for aq_md5 first; restored afterwards."""
    path = pg.data_dir / "pg_hba.conf"
    original = path.read_text()
    path.write_text("host all aq_md5 127.0.0.1/32 md5\n" + original)
    pg.sql("SELECT pg_reload_conf()")
    try:
        yield
    finally:
        path.write_text(original)
        pg.sql("SELECT pg_reload_conf()")


def start(weir, pg, auth_type="scram-sha-256", weir_keys=None, databases=None, users=None):
    """weir with auth_user set globally; auth_file holds the auth role and scram_user."""
    keys = {"auth_type": auth_type, "auth_user": AUTH_ROLE}
    keys.update(weir_keys or {})
    config = {"weir": keys}
    if databases:
        config["databases"] = databases
    if users is None:
        users = {AUTH_ROLE: AUTH_PASSWORD, "scram_user": pg.passwords["scram_user"]}
    # the auth connections of an earlier test's weir must not be counted in this one
    wait_until(lambda: auth_backends(pg) == 0, 10, "earlier auth connections to end")
    return weir(config, users=users)


def entry(pg, dbname="app", port=None, **keys):
    text = f"host=127.0.0.1 port={port or pg.port} dbname={dbname}"
    return " ".join([text] + [f"{k}={v}" for k, v in keys.items()])


def quoted(value):
    """A connection string value in single quotes, quotes inside doubled."""
    return "'" + value.replace("'", "''") + "'"


def login(inst, user, password, database="app", extra=None):
    """Logs in by hand and runs a query; returns (auth requests, current_user)."""
    with PgWire(inst.port) as wire:
        result = wire_login(wire, user, password, database=database, extra=extra)
        rows = wire_query(wire, "SELECT current_user")
    return result.auth_methods, rows[0][0]


def refused(inst, user, password, database="app"):
    with PgWire(inst.port) as wire:
        with pytest.raises(WireError) as info:
            wire_login(wire, user, password, database=database, timeout=30)
    return info.value


def assert_still_serving(inst, pg):
    """An auth_file user logs in and runs a query."""
    with inst.connect("scram_user", pg.passwords["scram_user"]) as conn:
        assert conn.execute("SELECT 7 * 6").fetchone() == (42,)


def auth_backends(pg, dbname=None):
    query = ("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
             + (" AND datname = %s" if dbname else ""))
    return pg.sql(query, [APP] + ([dbname] if dbname else []))[0][0]


def assert_same_refusal(wrong, other, user, other_user):
    assert wrong.sqlstate == other.sqlstate == "28P01", (wrong.fields, other.fields)
    assert wrong.message == f'password authentication failed for user "{user}"'
    assert (other.message.replace(other_user, "<user>")
            == wrong.message.replace(user, "<user>"))
    assert other.fields.get("S") == wrong.fields.get("S")
    assert other.login.auth_methods == wrong.login.auth_methods


# ---------------------------------------------------------------------------------------


def test_user_only_in_postgresql_logs_in_with_scram_pass_through(roles, pg, weir):
    inst = start(weir, pg)
    password = PASSWORDS["aq_scram"]
    assert password not in inst.ini_path.read_text() + inst.auth_file.read_text()
    methods, user = login(inst, "aq_scram", password)
    assert methods[0] == AUTH_SASL and methods[-1] == AUTH_OK
    assert user == "aq_scram"
    # Two sessions at once: two more server logins, made with the verifier auth_query
    # returned and the ClientKey of the client's proof.
    with inst.connect("aq_scram", password) as a, inst.connect("aq_scram", password) as b:
        pids = {c.execute("SELECT pg_backend_pid()").fetchone()[0] for c in (a, b)}
        assert len(pids) == 2
        assert b.execute("SELECT current_user").fetchone() == ("aq_scram",)


def test_md5_role_logs_in_with_auth_type_md5(roles, pg, weir, md5_hba):
    assert pg.rolpassword("aq_md5").startswith("md5")
    inst = start(weir, pg, auth_type="md5")
    methods, user = login(inst, "aq_md5", PASSWORDS["aq_md5"])
    assert methods[0] == AUTH_MD5 and methods[-1] == AUTH_OK
    assert user == "aq_md5"
    with inst.connect("aq_md5", PASSWORDS["aq_md5"]) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("aq_md5",)
    # With md5 asked, a SCRAM verifier from auth_query switches the client to SCRAM.
    methods, user = login(inst, "aq_scram", PASSWORDS["aq_scram"])
    assert methods[0] == AUTH_SASL and user == "aq_scram"


@pytest.mark.parametrize("auth_type", ["scram-sha-256", "md5"])
def test_wrong_password_unknown_user_and_no_password_are_refused_alike(roles, pg, weir,
                                                                       md5_hba, auth_type):
    inst = start(weir, pg, auth_type=auth_type)
    user = "aq_scram" if auth_type == "scram-sha-256" else "aq_md5"
    wrong = refused(inst, user, "not-the-password")
    unknown = refused(inst, "aq_nobody_at_all", "not-the-password")
    nopass = refused(inst, NO_PASSWORD_ROLE, "not-the-password")
    assert_same_refusal(wrong, unknown, user, "aq_nobody_at_all")
    assert_same_refusal(wrong, nopass, user, NO_PASSWORD_ROLE)
    assert wrong.login.auth_methods[:1] == [AUTH_SASL if auth_type != "md5" else AUTH_MD5]
    assert_still_serving(inst, pg)
    methods, current = login(inst, user, PASSWORDS[user])
    assert current == user
    assert inst.alive()


def test_per_database_auth_user_and_auth_query_override_the_global_ones(roles, pg, weir):
    nothing = "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = $1 AND false"
    default = ("SELECT rolname, rolpassword FROM pg_authid WHERE rolname = $1 "
               "AND rolname LIKE 'aq_s%'")
    inst = start(weir, pg, weir_keys={"auth_user": "aq_no_such_auth_role"}, databases={
        "app": entry(pg),
        "own_user": entry(pg, auth_user=AUTH_ROLE),
        "own_query": entry(pg, auth_user=AUTH_ROLE, auth_query=quoted(nothing)),
        "own_both": entry(pg, auth_user=AUTH_ROLE, auth_query=quoted(default)),
    })
    # the global auth_user cannot log in to PostgreSQL: the lookup fails
    assert refused(inst, "aq_scram", PASSWORDS["aq_scram"]).sqlstate == "28P01"
    assert login(inst, "aq_scram", PASSWORDS["aq_scram"], "own_user")[1] == "aq_scram"
    # the query of the entry finds nobody
    error = refused(inst, "aq_scram", PASSWORDS["aq_scram"], "own_query")
    assert error.sqlstate == "28P01", error.fields
    # the query of the entry finds aq_scram but not aq_other
    assert login(inst, "aq_scram", PASSWORDS["aq_scram"], "own_both")[1] == "aq_scram"
    assert refused(inst, "aq_other", PASSWORDS["aq_other"], "own_both").sqlstate == "28P01"
    assert login(inst, "aq_other", PASSWORDS["aq_other"], "own_user")[1] == "aq_other"
    assert_still_serving(inst, pg)


def test_auth_dbname_runs_the_query_in_another_entry(roles, pg, weir):
    authdb = pg.create_database("aqauth")
    try:
        inst = start(weir, pg, databases={
            "app": entry(pg, auth_dbname="authentry"),
            "authentry": entry(pg, dbname=authdb),
        })
        assert login(inst, "aq_scram", PASSWORDS["aq_scram"])[1] == "aq_scram"
        # the auth connection stays idle for reuse, in the database of the entry
        assert auth_backends(pg, authdb) >= 1
        assert auth_backends(pg, "app") == 0
    finally:
        inst.stop()
        wait_until(lambda: auth_backends(pg, authdb) == 0, 10, "auth connections to close")
        pg.drop_database(authdb)


@pytest.mark.parametrize("auth_dbname,message", [
    ("nowhere", 'authentication database "nowhere" is not configured'),
    ("pgbouncer", 'cannot use the reserved "pgbouncer" database as an auth_dbname'),
    ("weir", 'cannot use the reserved "weir" database as an auth_dbname'),
])
def test_bad_auth_dbname_refuses_the_login_with_the_configured_error(roles, pg, weir,
                                                                     auth_dbname, message):
    inst = start(weir, pg, weir_keys={"auth_dbname": auth_dbname})
    error = refused(inst, "aq_scram", PASSWORDS["aq_scram"])
    assert error.message == message, error.fields
    assert error.fields.get("S") == "FATAL"
    assert_still_serving(inst, pg)


def test_disabled_auth_database_refuses_the_login(roles, pg, weir):
    inst = start(weir, pg, weir_keys={"auth_dbname": "authentry", "admin_users": "scram_user"},
                 databases={"app": entry(pg), "authentry": entry(pg)})
    with inst.connect("scram_user", dbname="weir", autocommit=True) as admin:
        admin.execute("DISABLE authentry")
    error = refused(inst, "aq_scram", PASSWORDS["aq_scram"])
    assert error.message == 'authentication database "authentry" is disabled', error.fields
    assert_still_serving(inst, pg)


def pg_log_from(pg, offset):
    with open(pg.log_path, errors="replace") as f:
        f.seek(offset)
        return f.read()


def auth_session_statements(log):
    """The statements logged by the sessions of the auth role, by backend pid."""
    pids = set(re.findall(r"\[(\d+)\] LOG:  connection authorized: user=" + AUTH_ROLE, log))
    lines = []
    for line in log.splitlines():
        m = re.search(r"\[(\d+)\] LOG:  (statement|execute [^:]*): (.*)", line)
        if m and m.group(1) in pids:
            lines.append(m.group(3))
    return pids, lines


def test_auth_connection_runs_nothing_but_the_lookup_query(roles, pg, weir):
    pg.sql(sql.SQL("ALTER ROLE {} SET log_statement = 'all'").format(sql.Identifier(AUTH_ROLE)))
    # The query itself checks the session it runs in: a client's search_path or
    # application_name reaching it would make it find nobody.
    query = ("SELECT rolname, rolpassword FROM pg_authid WHERE rolname = $1 "
             "AND current_setting('search_path') = '\"$user\", public' "
             "AND current_setting('application_name') = 'weir_auth_query'")
    try:
        offset = pg.log_path.stat().st_size
        inst = start(weir, pg, weir_keys={"auth_query": query,
                                          "track_extra_parameters": "search_path"})
        dsn = inst.dsn("aq_scram", PASSWORDS["aq_scram"], options="-c search_path=evil")
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SHOW search_path").fetchone() == ("evil",)
        # the name must not be able to become SQL
        trick = "x' OR '1'='1"
        assert refused(inst, trick, "whatever").sqlstate == "28P01"
        methods, user = login(inst, "aq_other", PASSWORDS["aq_other"],
                              extra={"search_path": "evil2", "application_name": "evil3"})
        assert user == "aq_other"
        inst.stop()
        log = wait_until(lambda: (lambda text: text if "disconnection" in text else None)(
            pg_log_from(pg, offset)), 10, "the PostgreSQL log")
        pids, statements = auth_session_statements(log)
        assert pids, "no auth connection was logged"
        assert len(statements) >= 3, statements
        assert set(statements) == {query}, statements
        assert "evil" not in "\n".join(
            line for line in log.splitlines()
            if any(f"[{pid}]" in line for pid in pids)), "a client value reached the auth role"
    finally:
        pg.sql(sql.SQL("ALTER ROLE {} RESET log_statement").format(sql.Identifier(AUTH_ROLE)))


@contextmanager
def logged_statements(pg):
    """log_statement=all for the auth role while the block runs; yields a function that
    returns the statements its sessions ran so far."""
    offset = pg.log_path.stat().st_size
    pg.sql(sql.SQL("ALTER ROLE {} SET log_statement = 'all'").format(sql.Identifier(AUTH_ROLE)))
    try:
        yield lambda: auth_session_statements(pg_log_from(pg, offset))[1]
    finally:
        pg.sql(sql.SQL("ALTER ROLE {} RESET log_statement").format(sql.Identifier(AUTH_ROLE)))


def in_threads(n, fn):
    """Runs fn(i) for i in range(n) in n threads started together; returns the errors."""
    errors = []
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(10)
            fn(i)
        except Exception as exc:  # noqa: BLE001 - returned
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


@pytest.mark.deadline(60)
def test_concurrent_logins_of_one_name_share_one_query_and_the_cache(roles, pg, weir):
    slow = "SELECT rolname, rolpassword FROM pg_authid, pg_sleep(1) WHERE rolname = $1"
    with logged_statements(pg) as statements:
        inst = start(weir, pg, weir_keys={"auth_query": slow})

        def one(i):
            assert login(inst, "aq_other", PASSWORDS["aq_other"])[1] == "aq_other"

        assert in_threads(10, one) == []
        one(10)  # answered by the cache
        inst.stop()
        assert statements() == [slow]


def max_auth_backends_while(pg, fn):
    """Runs fn while sampling how many auth connections PostgreSQL has; returns the max."""
    seen = {"max": 0}
    stop = threading.Event()

    def sample():
        with pg.connect() as conn:
            while not stop.is_set():
                n = conn.execute("SELECT count(*) FROM pg_stat_activity "
                                 "WHERE application_name = %s", [APP]).fetchone()[0]
                seen["max"] = max(seen["max"], n)
                stop.wait(0.01)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        stop.set()
        thread.join(10)
    return seen["max"]


@pytest.mark.deadline(120)
def test_thirty_concurrent_logins_share_a_small_pool_of_auth_connections(roles, pg, weir):
    inst = start(weir, pg, weir_keys={"max_client_conn": 100})
    users = []

    def one(i):
        name = MANY[i % len(MANY)]
        with psycopg.connect(inst.dsn(name, f"{name}-pass")) as conn:
            users.append(conn.execute("SELECT current_user").fetchone()[0])

    errors = []
    peak = max_auth_backends_while(pg, lambda: errors.extend(in_threads(30, one)))
    assert not errors, errors[:3]
    assert sorted(users) == sorted(MANY * 3)
    assert 1 <= peak <= 2, f"{peak} auth connections at once"
    assert auth_backends(pg) <= 2


def test_postgresql_unreachable_for_the_lookup_refuses_like_a_wrong_password(roles, pg, weir):
    inst = start(weir, pg, weir_keys={"auth_dbname": "down"},
                 databases={"app": entry(pg), "down": entry(pg, port=free_port())})
    wrong = refused(inst, "aq_scram", "not-the-password")
    right = refused(inst, "aq_scram", PASSWORDS["aq_scram"])
    assert_same_refusal(wrong, right, "aq_scram", "aq_scram")
    assert "auth_query connection failed" in inst.log()
    assert_still_serving(inst, pg)


@pytest.mark.deadline(60)
def test_a_slow_auth_query_times_out_and_fails_the_login(roles, pg, weir):
    slow = ("SELECT rolname, rolpassword FROM pg_authid, pg_sleep(8) WHERE rolname = $1")
    inst = start(weir, pg, weir_keys={"auth_query": f"{slow}"})
    began = time.monotonic()
    error = refused(inst, "aq_scram", PASSWORDS["aq_scram"])
    took = time.monotonic() - began
    assert error.sqlstate == "28P01", error.fields
    assert 4 <= took < 8, f"refused after {took:.1f}s"
    assert "auth_query timeout" in inst.log()
    assert_still_serving(inst, pg)


@contextmanager
def sent_startup(inst, user):
    wire = PgWire(inst.port)
    wire.send(startup_message({"user": user, "database": "app"}))
    try:
        yield wire
    finally:
        wire.close()


@pytest.mark.deadline(60)
def test_clients_gone_or_timed_out_while_waiting_for_the_lookup_leave_nothing_behind(
        roles, pg, weir):
    # aq_other's lookup outlasts client_login_timeout, aq_scram's does not
    slow = ("SELECT rolname, rolpassword FROM pg_authid, "
            "pg_sleep(CASE WHEN rolname = 'aq_other' THEN 4 ELSE 1 END) WHERE rolname = $1")
    inst = start(weir, pg, weir_keys={"auth_query": slow, "client_login_timeout": 2})
    with sent_startup(inst, "aq_scram"):
        pass  # gone at once, while its lookup runs
    with sent_startup(inst, "aq_other") as wire:
        msg = wire.read_message(timeout=10)
        assert msg and msg[0] == b"E", msg
        assert b"client_login_timeout" in msg[1]
    # a later login of the first name is served (from the cache or a new query)
    assert login(inst, "aq_scram", PASSWORDS["aq_scram"])[1] == "aq_scram"
    assert_still_serving(inst, pg)
    # teardown checks that weir exits cleanly, LeakSanitizer included


def test_reload_drops_the_cache_and_idle_auth_connections(roles, pg, weir):
    dead_port = free_port()
    inst = start(weir, pg, weir_keys={"auth_dbname": "authentry"},
                 databases={"app": entry(pg), "authentry": entry(pg, dbname="postgres")})
    assert login(inst, "aq_scram", PASSWORDS["aq_scram"])[1] == "aq_scram"
    wait_until(lambda: auth_backends(pg, "postgres") == 1, 10, "an idle auth connection")
    text = inst.ini_path.read_text()
    old = f"authentry = host=127.0.0.1 port={pg.port} dbname=postgres"
    assert old in text
    inst.ini_path.write_text(text.replace(old, old.replace(str(pg.port), str(dead_port))))
    inst.reload()
    wait_until(lambda: "config reloaded" in inst.log(), 10, "the reload")
    wait_until(lambda: auth_backends(pg, "postgres") == 0, 10, "the idle auth connection to close")
    # neither the cached verifier nor the old connection serves: the new entry is down
    assert refused(inst, "aq_scram", PASSWORDS["aq_scram"]).sqlstate == "28P01"
    assert_still_serving(inst, pg)


def test_auth_user_without_a_password_and_a_security_definer_lookup(roles, pg, weir):
    """auth_user need not be a superuser nor have a password when PostgreSQL trusts it
    (trust_user is trusted by pg_hba): the query calls a SECURITY DEFINER function."""
    pg.sql("CREATE OR REPLACE FUNCTION public.aq_lookup(name text) "
           "RETURNS TABLE (rolname name, rolpassword text) LANGUAGE sql SECURITY DEFINER "
           "AS $$ SELECT rolname, rolpassword FROM pg_authid WHERE rolname = name $$",
           dbname="app")
    pg.sql("REVOKE ALL ON FUNCTION public.aq_lookup(text) FROM PUBLIC", dbname="app")
    pg.sql("GRANT EXECUTE ON FUNCTION public.aq_lookup(text) TO trust_user", dbname="app")
    inst = start(weir, pg, weir_keys={"auth_user": "trust_user",
                                      "auth_query": "SELECT * FROM public.aq_lookup($1)"},
                 users={"scram_user": pg.passwords["scram_user"]})
    assert "trust_user" not in inst.auth_file.read_text()
    assert login(inst, "aq_scram", PASSWORDS["aq_scram"])[1] == "aq_scram"
    assert refused(inst, "aq_scram", "not-the-password").sqlstate == "28P01"
    assert_still_serving(inst, pg)


@pytest.mark.parametrize("mode,ssl", [("require", True), ("verify-full", True),
                                      ("disable", False)])
def test_the_auth_connection_uses_tls_as_the_servers_do(weir, roles, mode, ssl):
    """The lookup returns verifiers: it travels under server_tls_sslmode like the servers."""
    pg = roles
    inst = start(weir, pg, weir_keys={"server_tls_sslmode": mode,
                                      "server_tls_ca_file": pg.certs.ca})
    assert login(inst, "aq_scram", PASSWORDS["aq_scram"])[1] == "aq_scram"
    rows = pg.sql("SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                  "WHERE a.application_name = %s", (APP,))
    assert rows and {r[0] for r in rows} == {ssl}, rows
