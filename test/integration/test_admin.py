# SPDX-License-Identifier: ISC
"""The admin console: who may log in and with what rights, the grammar, the errors, and
every SHOW's exact column names and wire types (PgBouncer's, from the compatibility
reference, section 3.3), so that pgbouncer_exporter and friends keep working."""

import os
import subprocess

import psycopg
import pytest

from conftest import as_run_user, default_users, message, query_message
from drivers import read_fatal_then_close, wire_connect

TEXT, INT4, INT8, NUMERIC, BYTEA = 25, 23, 20, 1700, 17

SOCKET_COLS = [
    ("type", TEXT), ("user", TEXT), ("database", TEXT), ("replication", TEXT),
    ("state", TEXT), ("addr", TEXT), ("port", INT4), ("local_addr", TEXT),
    ("local_port", INT4), ("connect_time", TEXT), ("request_time", TEXT), ("wait", INT4),
    ("wait_us", INT4), ("close_needed", INT4), ("ptr", TEXT), ("link", TEXT),
    ("remote_pid", INT4), ("tls", TEXT), ("application_name", TEXT),
    ("prepared_statements", INT4), ("id", INT4),
]
BUFFER_COLS = [(n, INT4) for n in ("recv_pos", "pkt_pos", "pkt_remain", "send_pos",
                                   "send_remain", "pkt_avail", "send_avail")]
STATS_FIELDS = ["server_assignment_count", "xact_count", "query_count"]


def numeric(names):
    return [(n, NUMERIC) for n in names]


EXPECTED = {
    "STATS": [("database", TEXT)] + numeric([
        "total_server_assignment_count", "total_xact_count", "total_query_count",
        "total_received", "total_sent", "total_xact_time", "total_query_time",
        "total_wait_time", "total_client_parse_count", "total_server_parse_count",
        "total_bind_count", "total_client_login_count", "avg_server_assignment_count",
        "avg_xact_count", "avg_query_count", "avg_recv", "avg_sent", "avg_xact_time",
        "avg_query_time", "avg_wait_time", "avg_client_parse_count",
        "avg_server_parse_count", "avg_bind_count", "avg_client_login_count"]),
    "STATS_TOTALS": [("database", TEXT)] + numeric([
        "server_assignment_count", "xact_count", "query_count", "bytes_received",
        "bytes_sent", "xact_time", "query_time", "wait_time", "client_parse_count",
        "server_parse_count", "bind_count", "client_login_count"]),
    "STATS_AVERAGES": [("database", TEXT)] + numeric([
        "server_assignment_count", "xact_count", "query_count", "bytes_received",
        "bytes_sent", "xact_time", "query_time", "wait_time", "avg_client_parse_count",
        "avg_server_parse_count", "avg_bind_count", "avg_client_login_count"]),
    "TOTALS": [("name", TEXT), ("value", NUMERIC)],
    "SERVERS": SOCKET_COLS,
    "CLIENTS": SOCKET_COLS,
    "SOCKETS": SOCKET_COLS + BUFFER_COLS,
    "ACTIVE_SOCKETS": SOCKET_COLS + BUFFER_COLS,
    "POOLS": [("database", TEXT), ("user", TEXT)] + [(n, INT4) for n in (
        "cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req",
        "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used",
        "sv_tested", "sv_login", "maxwait", "maxwait_us")] +
        [("pool_mode", TEXT), ("load_balance_hosts", TEXT)],
    "PEER_POOLS": [(n, INT4) for n in ("peer_id", "cl_active_cancel_req",
                                       "cl_waiting_cancel_req", "sv_active_cancel",
                                       "sv_login")],
    "DATABASES": [("name", TEXT), ("host", TEXT), ("port", INT4), ("database", TEXT),
                  ("force_user", TEXT), ("pool_size", INT4), ("min_pool_size", INT4),
                  ("reserve_pool_size", INT4), ("server_lifetime", INT4),
                  ("pool_mode", TEXT), ("load_balance_hosts", TEXT),
                  ("max_connections", INT4), ("current_connections", INT4),
                  ("max_client_connections", INT4), ("current_client_connections", INT4),
                  ("paused", INT4), ("disabled", INT4)],
    "PEERS": [("peer_id", INT4), ("host", TEXT), ("port", INT4), ("pool_size", INT4)],
    "USERS": [("name", TEXT), ("pool_size", TEXT), ("reserve_pool_size", TEXT),
              ("pool_mode", TEXT), ("max_user_connections", INT4),
              ("current_connections", INT4), ("max_user_client_connections", INT4),
              ("current_client_connections", INT4)],
    "LISTS": [("list", TEXT), ("items", INT4)],
    "FDS": [("fd", INT4), ("task", TEXT), ("user", TEXT), ("database", TEXT),
            ("addr", TEXT), ("port", INT4), ("cancel", INT8), ("link", INT4),
            ("client_encoding", TEXT), ("std_strings", TEXT), ("datestyle", TEXT),
            ("timezone", TEXT), ("password", TEXT), ("scram_client_key", BYTEA),
            ("scram_server_key", BYTEA)],
    "CONFIG": [("key", TEXT), ("value", TEXT), ("default", TEXT), ("changeable", TEXT)],
    "MEM": [("name", TEXT), ("size", INT4), ("used", INT4), ("free", INT4),
            ("memtotal", INT4)],
    "DNS_HOSTS": [("hostname", TEXT), ("ttl", INT8), ("addrs", TEXT)],
    "DNS_ZONES": [("zonename", TEXT), ("serial", INT8), ("count", INT4)],
    "STATE": [("key", TEXT), ("value", TEXT)],
    "VERSION": [("version", TEXT)],
    "LATENCY": [("database", TEXT), ("user", TEXT), ("kind", TEXT), ("period", TEXT)] +
               [(n, INT8) for n in ("count", "mean_us", "p50_us", "p90_us", "p95_us",
                                    "p99_us", "p99_9_us", "max_us")],
}

LISTS_ROWS = ["databases", "users", "peers", "pools", "peer_pools", "free_clients",
              "used_clients", "login_clients", "free_servers", "used_servers", "dns_names",
              "dns_zones", "dns_queries", "dns_pending"]


def console_config(**extra):
    keys = {"admin_users": "scram_user", "stats_users": "plain_user",
            "pool_mode": "transaction"}
    keys.update(extra)
    return {"weir": keys}


def console(inst, user="scram_user", dbname="weir"):
    conn = inst.connect(user=user, dbname=dbname, autocommit=True)
    conn.prepare_threshold = None  # psycopg would prepare a query run 5 times
    return conn


def columns(cur):
    return [(d.name, d.type_code) for d in cur.description]


@pytest.fixture
def admin(weir, pg):
    inst = weir(console_config(), users=dict(default_users(pg), outsider="outsider-pw"))
    with inst.connect(autocommit=True) as app:  # a pool, a server and statistics to show
        app.execute("SELECT 1")
    return inst


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_show_has_pgbouncers_columns_and_types(admin, name):
    with console(admin) as conn:
        cur = conn.execute(f"SHOW {name}")
        assert columns(cur) == EXPECTED[name]
        rows = cur.fetchall()
        assert all(len(r) == len(EXPECTED[name]) for r in rows)


def test_show_rows_that_monitoring_reads(admin):
    with console(admin) as conn:
        assert conn.execute("SHOW VERSION").fetchall() == [("weir 0.1.0",)]
        assert [r[0] for r in conn.execute("SHOW LISTS")] == LISTS_ROWS
        assert [r[0] for r in conn.execute("SHOW STATE")] == ["active", "paused", "suspended"]
        config = dict((r[0], r[1:]) for r in conn.execute("SHOW CONFIG"))
        assert config["max_client_conn"] == ("200", "100", "yes")
        assert config["listen_port"][2] == "no"
        pools = {(r[0], r[1]): r for r in conn.execute("SHOW POOLS")}
        assert pools[("app", "scram_user")][-2] == "transaction"
        assert pools[("app", "scram_user")][9] == 1, "the one idle server"
        assert ("weir", "weir") in pools, "the console's own pool is listed"
        dbs = {r[0]: r for r in conn.execute("SHOW DATABASES")}
        assert dbs["app"][1:5] == ("127.0.0.1", admin.pg.port, "app", None)
        assert dbs["app"][5] == 10 and dbs["app"][12] == 1
        assert dbs["weir"][9] == "statement"


def test_select_is_an_alias_of_show_and_names_are_case_insensitive(admin):
    with console(admin) as conn:
        assert conn.execute("select version").fetchall() == [("weir 0.1.0",)]
        assert conn.execute("  sHoW   VeRsIoN ;  ").fetchall() == [("weir 0.1.0",)]


def test_pgbouncer_is_an_alias_of_the_console(admin):
    with console(admin, dbname="pgbouncer") as conn:
        assert conn.execute("SHOW VERSION").fetchall() == [("weir 0.1.0",)]
        names = [r[0] for r in conn.execute("SHOW DATABASES")]
        assert names[0] == "pgbouncer"


def test_stats_user_may_show_but_not_control(admin):
    with console(admin, user="plain_user") as conn:
        assert conn.execute("SHOW POOLS").fetchall()
        for cmd in ["PAUSE", "RESUME", "SUSPEND", "DISABLE app", "ENABLE app", "RECONNECT",
                    "KILL app", "KILL_CLIENT 1", "WAIT_CLOSE", "RELOAD", "SHUTDOWN",
                    "SET default_pool_size = 5", "SHOW FDS"]:
            with pytest.raises(psycopg.errors.ProtocolViolation, match="admin access needed"):
                conn.execute(cmd)
        assert conn.execute("SHOW STATE").fetchall()[1] == ("paused", "no")
    assert admin.alive()


def test_other_users_are_not_allowed(admin):
    with pytest.raises(psycopg.OperationalError, match="not allowed"):
        admin.connect(user="outsider", password="outsider-pw", dbname="weir")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        admin.connect(user="scram_user", password="wrong", dbname="weir")
    with admin.connect(autocommit=True) as app:
        assert app.execute("SELECT 2").fetchone() == (2,)


def run_psql(inst, user, command, as_weirs_user):
    args = ["psql", "-X", "-A", "-t", "-h", str(inst.dir), "-p", str(inst.port), "-U", user,
            "-d", user, "-w", "-c", command]
    kwargs = as_run_user() if as_weirs_user else {}
    return subprocess.run(args, capture_output=True, text=True, timeout=30, **kwargs)


@pytest.mark.parametrize("user", ["weir", "pgbouncer"])
def test_same_uid_unix_socket_login_needs_no_password(admin, user):
    out = run_psql(admin, user, "SHOW STATE", as_weirs_user=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "active|yes"
    out = run_psql(admin, user, "PAUSE app", as_weirs_user=True)
    assert out.returncode == 0, out.stderr  # full rights
    out = run_psql(admin, user, "RESUME app", as_weirs_user=True)
    assert out.returncode == 0, out.stderr
    # another UID (root here) gets the normal authentication, and has no password
    out = run_psql(admin, user, "SHOW STATE", as_weirs_user=False)
    assert out.returncode != 0
    assert "password" in out.stderr


def test_auth_type_any_lets_anyone_look(weir, pg):
    inst = weir({"weir": {"auth_type": "any", "admin_users": "boss"},
                 "databases": {"app": f"host=127.0.0.1 port={pg.port} dbname=app "
                                      f"user=trust_user"}})
    with psycopg.connect(inst.dsn("nobody", dbname="weir"), autocommit=True) as conn:
        assert conn.execute("SHOW VERSION").fetchall() == [("weir 0.1.0",)]
        with pytest.raises(psycopg.errors.ProtocolViolation, match="admin access needed"):
            conn.execute("PAUSE")
    with psycopg.connect(inst.dsn("boss", dbname="weir"), autocommit=True) as conn:
        conn.execute("PAUSE app")
        conn.execute("RESUME app")


def test_console_is_exempt_from_max_client_conn(weir):
    inst = weir(console_config(max_client_conn="1"))
    with inst.connect(autocommit=True) as app:
        app.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError, match="max_client_conn"):
            inst.connect(autocommit=True)
        with console(inst) as conn:
            assert conn.execute("SHOW VERSION").fetchone() == ("weir 0.1.0",)
            with console(inst, user="plain_user") as second:
                assert second.execute("SHOW STATE").fetchone() == ("active", "yes")


@pytest.mark.parametrize("sql", [
    "FOO", "SHOW", "SHOW POOLS POOLS", "SHOW NOSUCHTHING", "PAUSE app app",
    "SHOW POOLS; SHOW STATS", "SELECT 1", "SHOW 'pools'", "SET x", "SET = 1",
    "KILL_CLIENT abc", "KILL_CLIENT", "SHOW " + "x" * 80,
])
def test_bad_commands_get_08P01_and_the_connection_stays(admin, sql):
    with console(admin) as conn:
        with pytest.raises(psycopg.errors.ProtocolViolation) as e:
            conn.execute(sql)
        assert e.value.sqlstate == "08P01"
        assert conn.execute("SHOW VERSION").fetchone() == ("weir 0.1.0",)


def test_invalid_command_message_is_pgbouncers(admin):
    with console(admin) as conn:
        with pytest.raises(psycopg.errors.ProtocolViolation) as e:
            conn.execute("FOO BAR BAZ")
        assert e.value.diag.message_primary == "invalid command 'FOO BAR BAZ', use SHOW HELP;"


def test_database_errors(admin):
    with console(admin) as conn:
        for cmd, msg in [("PAUSE nosuch", "no such database: nosuch"),
                         ("PAUSE weir", "cannot pause admin db: weir"),
                         ("RESUME app", "database app is not paused"),
                         ("RESUME", "pooler is not paused/suspended"),
                         ("DISABLE", "a database is required"),
                         ("ENABLE weir", "cannot enable admin db: weir"),
                         ("RECONNECT pgbouncer", "cannot reconnect admin db: pgbouncer"),
                         ("KILL weir", "cannot kill admin db: weir"),
                         ("WAIT_CLOSE nosuch", "no such database: nosuch"),
                         ("KILL_CLIENT 999999", "client not found")]:
            with pytest.raises(psycopg.errors.ProtocolViolation) as e:
                conn.execute(cmd)
            assert e.value.diag.message_primary == msg, cmd


def test_extended_protocol_is_refused_and_closes(admin):
    conn = admin.connect(dbname="weir", autocommit=True)  # psycopg may prepare here
    with pytest.raises(psycopg.OperationalError,
                       match="extended query protocol not supported by admin console"):
        conn.execute("SHOW VERSION", prepare=True)
    assert conn.closed or conn.broken
    conn.close()
    with console(admin) as again:
        assert again.execute("SHOW VERSION").fetchone() == ("weir 0.1.0",)


@pytest.mark.parametrize("kind", [b"F", b"d", b"x"])
def test_other_message_types_close_with_08P01(admin, kind):
    with console(admin) as kept:  # another console client keeps working throughout
        wire = wire_connect(admin, database="weir")
        wire.send(message(kind, b"\0\0\0\0"))
        fields, _ = read_fatal_then_close(wire, 10)
        wire.close()
        assert fields["C"] == "08P01"
        assert fields["M"].startswith("unsupported packet type for admin console") or \
            fields["M"] == "extended query protocol not supported by admin console"
        assert kept.execute("SHOW STATE").fetchone() == ("active", "yes")


def test_pipelined_and_oversized_queries(admin):
    wire = wire_connect(admin, database="weir")
    wire.send(query_message("SHOW VERSION") + query_message("SHOW STATE"))
    kinds = []
    while kinds.count(b"Z") < 2:
        kinds.append(wire.read_message(10)[0])
    assert kinds.count(b"T") == 2 and kinds.count(b"E") == 0
    wire.send(query_message("SHOW " + "x" * 5000))
    fields, _ = read_fatal_then_close(wire, 10)
    assert fields["C"] == "08P01"
    wire.close()


def test_fake_session_settings_for_drivers(admin):
    with console(admin) as conn:
        for name, value in [("client_encoding", "UTF-8"),
                            ("default_transaction_isolation", "read committed"),
                            ("standard_conforming_strings", "on"), ("datestyle", "ISO"),
                            ("timezone", "GMT")]:
            cur = conn.execute(f"SHOW {name}")
            assert columns(cur) == [(name, TEXT)]
            assert cur.fetchall() == [(value,)]
        notices = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        cur = conn.execute("SET client_encoding = 'UTF8'")
        assert cur.statusmessage == "SET"
        assert notices == ["SET ignored"]


def test_show_help_is_a_notice(admin):
    with console(admin) as conn:
        notices = []
        conn.add_notice_handler(lambda d: notices.append((d.message_primary, d.message_detail)))
        cur = conn.execute("SHOW HELP")
        assert cur.statusmessage == "SHOW"
        assert notices and notices[0][0] == "Console usage"
        assert "SHOW HELP|CONFIG" in notices[0][1] and "KILL_CLIENT" in notices[0][1]


def test_psql_connects_and_shows(admin):
    env = dict(PGPASSWORD=admin.pg.passwords["scram_user"])
    out = subprocess.run(["psql", "-X", "-h", "127.0.0.1", "-p", str(admin.port), "-U",
                          "scram_user", "weir", "-c", "SHOW POOLS"],
                         capture_output=True, text=True, timeout=30, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    assert "cl_active" in out.stdout and "transaction" in out.stdout


def test_connection_ids_are_unique_and_shared_by_clients_and_servers(admin):
    with admin.connect(autocommit=True) as a, admin.connect(autocommit=True) as b:
        a.execute("SELECT 1")
        b.execute("SELECT 1")
        with console(admin) as conn:
            ids = [r[-1] for r in conn.execute("SHOW CLIENTS")]
            ids += [r[-1] for r in conn.execute("SHOW SERVERS")]
            assert len(ids) == len(set(ids))
            assert len([i for i in ids if i > 0]) == len(ids)
