# SPDX-License-Identifier: ISC
"""Reload (SIGHUP) as an operator relies on it: a config with errors is rejected whole,
every error named with its file:line, and the old config keeps serving; under a running
pgbench, reloads that grow the pool, add a database and change one lose no transaction,
and PostgreSQL sees the new pool size; a smaller pool closes its surplus servers; a
removed database keeps its clients; auth_file changes apply to new logins; a key that
needs a restart is reported as such and keeps its running value; and start-up prints
every error of a bad file."""

import os
import re
import subprocess
import uuid

import psycopg
import pytest
from psycopg import sql

from conftest import PG_BIN, free_port, port_accepts, wait_until
from drivers import run_program, tx_config

PGBENCH = PG_BIN / "pgbench"
USER = "scram_user"
FAILED = "reload failed, keeping the old config: "


def rewrite(inst, old, new):
    text = inst.ini_path.read_text()
    assert old in text, f"{old!r} not in the config:\n{text}"
    inst.ini_path.write_text(text.replace(old, new, 1))


def reload_and_wait(inst, what="config reloaded"):
    """SIGHUP, then waits until the log holds one more `what` line than before."""
    before = inst.log().count(what)
    inst.reload()
    wait_until(lambda: inst.log().count(what) > before, 10, f"{what!r} after SIGHUP")


def line_of(text, needle):
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_config_with_errors_is_rejected_whole_every_error_logged_and_the_old_one_serves(
        pg, weir):
    inst = weir({"weir": {"pool_mode": "transaction"}})
    original = inst.ini_path.read_text()
    missing = f"/nonexistent/weir-{uuid.uuid4().hex[:8]}.ini"
    bad = original.replace("[weir]\n", "[weir]\n"
                           "default_pool_size = lots\n"
                           "no_such_key = 1\n"
                           "this line is garbage\n"
                           f"%include {missing}\n", 1)
    bad += f"[databases]\nnewdb = host=127.0.0.1 port={pg.port} dbname=app\n"
    with inst.connect(autocommit=True) as kept:
        inst.ini_path.write_text(bad)
        reload_and_wait(inst, FAILED)
        wait_until(lambda: inst.log().count(FAILED) >= 4, 5, "four reload errors")
        log = inst.log()
        name = inst.ini_path
        expected = [
            (line_of(bad, "default_pool_size = lots"),
             'invalid value "lots" for parameter default_pool_size'),
            (line_of(bad, "no_such_key"), "unknown parameter: weir/no_such_key"),
            (line_of(bad, "this line is garbage"), 'syntax error: expected "=" after key'),
            (line_of(bad, "%include"), f'could not open "{missing}"'),
        ]
        for line, message in expected:
            assert f"{FAILED}{name}:{line}: {message}" in log, (
                f"no error for line {line} ({message!r}) in:\n{log[-3000:]}")
        assert "config reloaded" not in log
        assert kept.execute("SELECT 'kept'").fetchone() == ("kept",)
        with inst.connect(autocommit=True) as fresh:
            assert fresh.execute("SELECT 1").fetchone() == (1,)
        with pytest.raises(psycopg.OperationalError, match="no such database: newdb"):
            psycopg.connect(inst.dsn(USER, pg.passwords[USER], dbname="newdb"))
    # once fixed, the same file reloads
    inst.ini_path.write_text(original + "[databases]\n"
                             f"newdb = host=127.0.0.1 port={pg.port} dbname=app\n")
    reload_and_wait(inst)
    with inst.connect(autocommit=True, dbname="newdb") as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("app",)


@pytest.fixture(scope="module")
def bench_db(pg):
    db = pg.create_database("rbench", owner=USER)
    env = dict(os.environ, PGPASSWORD=pg.passwords[USER])
    proc = run_program([PGBENCH, "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", pg.port,
                        "-U", USER, db], 120, "pgbench -i", env=env)
    assert proc.returncode == 0, f"pgbench -i failed:\n{proc.stdout}\n{proc.stderr}"
    yield db
    pg.drop_database(db)


def backend_pids(pg, dbname):
    return {row[0] for row in pg.sql(
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
        "AND usename = %s AND datname = %s", (USER, dbname))}


def console_rows(adm, sql):
    cur = adm.execute(sql)
    names = [d.name for d in cur.description]
    return [dict(zip(names, r)) for r in cur]


def shown_pool_size(adm, db):
    return next(r for r in console_rows(adm, "SHOW DATABASES") if r["name"] == db)["pool_size"]


def shown_servers(adm, db):
    row = next(r for r in console_rows(adm, "SHOW POOLS") if r["database"] == db)
    return sum(row[k] for k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"))


def console_reload(adm, inst):
    before = inst.log().count("config reloaded")
    assert adm.execute("RELOAD").statusmessage == "RELOAD"
    assert inst.log().count("config reloaded") == before + 1


@pytest.mark.deadline(150)
def test_reloads_under_pgbench_lose_no_transaction_and_postgres_sees_the_new_pool_size(
        pg, weir, bench_db):
    inst = weir(tx_config(pg, bench_db, 3, weir_extra={"admin_users": USER}))
    adm = inst.connect(dbname="weir", autocommit=True)
    adm.prepare_threshold = None  # the console takes simple queries only
    env = dict(os.environ, PGPASSWORD=pg.passwords[USER], PGCONNECT_TIMEOUT="20")
    bench = subprocess.Popen(
        [str(PGBENCH), "-M", "simple", "-c", "50", "-j", "2", "-T", "30", "-n",
         "-h", "127.0.0.1", "-p", str(inst.port), "-U", USER, bench_db],
        env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: len(backend_pids(pg, bench_db)) == 3, 10, "3 backends under load")
        assert shown_pool_size(adm, bench_db) == 3
        with pg.sampler(USER, bench_db, interval=0.02) as grown:
            rewrite(inst, "default_pool_size = 3", "default_pool_size = 8")
            console_reload(adm, inst)
            wait_until(lambda: len(backend_pids(pg, bench_db)) == 8, 10,
                       "8 backends after default_pool_size = 8")
            assert shown_pool_size(adm, bench_db) == 8
            wait_until(lambda: shown_servers(adm, bench_db) == 8, 10, "SHOW POOLS to show 8")
        assert grown.max <= 8, f"PostgreSQL saw {grown.max} backends with a pool of 8"

        text = inst.ini_path.read_text()
        inst.ini_path.write_text(
            text + f"[databases]\nadded = host=127.0.0.1 port={pg.port} dbname=app\n")
        console_reload(adm, inst)
        with inst.connect(autocommit=True, dbname="added") as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("app",)
        assert "added" in [r["name"] for r in console_rows(adm, "SHOW DATABASES")]

        before = backend_pids(pg, bench_db)
        rewrite(inst, f"dbname={bench_db}", f"dbname={bench_db} application_name=changed")
        rewrite(inst, "default_pool_size = 8", "default_pool_size = 4")
        reload_and_wait(inst)  # the third one by SIGHUP, which takes the same path
        wait_until(lambda: (lambda now: len(now) == 4 and not now & before)(
            backend_pids(pg, bench_db)), 12,
            "4 new backends replacing the 8 of the changed database")
        assert shown_pool_size(adm, bench_db) == 4
        wait_until(lambda: shown_servers(adm, bench_db) == 4, 10, "SHOW POOLS to show 4")

        good = inst.ini_path.read_text()
        inst.ini_path.write_text(good.replace("default_pool_size = 4",
                                              "default_pool_size = 4\ndefualt_pool_size = 9"))
        with pytest.raises(psycopg.errors.ConfigFileError) as e:
            adm.execute("RELOAD")
        typo_line = line_of(inst.ini_path.read_text(), "defualt_pool_size")
        assert f"{inst.ini_path}:{typo_line}:" in e.value.diag.message_detail
        assert shown_pool_size(adm, bench_db) == 4, "the old config keeps serving"
        inst.ini_path.write_text(good)
        out, err = bench.communicate(timeout=60)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.communicate()
        adm.close()
    output = out + err
    assert bench.returncode == 0, f"pgbench failed:\n{output[-4000:]}\n{inst.log()[-3000:]}"
    failed = int(re.search(r"^number of failed transactions: (\d+)", output, re.M).group(1))
    processed = int(re.search(r"^number of transactions actually processed: (\d+)", output,
                              re.M).group(1))
    assert failed == 0, output
    assert processed > 50, output
    assert "aborted" not in output, output
    assert inst.log().count("config reloaded") == 3


def test_smaller_pool_closes_its_surplus_idle_servers_and_opens_no_more(pg, weir):
    inst = weir({"weir": {"pool_mode": "transaction", "default_pool_size": "6"}})
    conns = [inst.connect() for _ in range(6)]
    try:
        for conn in conns:  # each holds a server inside its transaction
            conn.execute("SELECT 1")
        assert pg.backends(USER, "app") == 6
        for conn in conns:
            conn.commit()
        rewrite(inst, "default_pool_size = 6", "default_pool_size = 2")
        reload_and_wait(inst)
        wait_until(lambda: pg.backends(USER, "app") == 2, 5, "the pool to shrink to 2")
        assert "closing because: pool size reduced" in inst.log()
        with pg.sampler(USER, "app") as sampler:
            for _ in range(3):
                for conn in conns:
                    conn.execute("SELECT 1")
                    conn.commit()
        assert sampler.max <= 2, f"PostgreSQL saw {sampler.max} backends with a pool of 2"
    finally:
        for conn in conns:
            conn.close()


def test_removed_database_keeps_its_clients_and_refuses_new_logins(pg, weir):
    inst = weir({"weir": {"pool_mode": "transaction", "default_pool_size": "1",
                          "query_wait_timeout": "3"},
                 "databases": {"gone": f"host=127.0.0.1 port={pg.port} dbname=app"}})
    with inst.connect(autocommit=True, dbname="gone") as kept:
        assert kept.execute("SELECT 1").fetchone() == (1,)
        rewrite(inst, f"gone = host=127.0.0.1 port={pg.port} dbname=app\n", "")
        reload_and_wait(inst)
        assert 'database "gone" was removed from the config' in inst.log()
        for i in range(3):
            assert kept.execute("SELECT %s::int", (i,)).fetchone() == (i,)
        with pytest.raises(psycopg.OperationalError, match="no such database: gone"):
            psycopg.connect(inst.dsn(USER, pg.passwords[USER], dbname="gone"))
    with inst.connect(autocommit=True) as other:
        assert other.execute("SELECT 1").fetchone() == (1,)


@pytest.fixture
def reload_role(pg):
    role = f"reload_{uuid.uuid4().hex[:8]}"
    pg.sql(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'first-pass'").format(sql.Identifier(role)))
    pg.sql(sql.SQL("GRANT CONNECT ON DATABASE app TO {}").format(sql.Identifier(role)))
    yield role
    pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
           (role,))
    pg.sql(sql.SQL("REVOKE ALL ON DATABASE app FROM {}").format(sql.Identifier(role)))
    pg.sql(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_auth_file_reload_removes_a_user_and_changes_a_password(pg, weir, reload_role):
    users = {USER: pg.passwords[USER], "plain_user": pg.passwords["plain_user"],
             reload_role: "first-pass"}
    inst = weir(users=users)
    with inst.connect(reload_role, "first-pass", autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (reload_role,)
    with inst.connect("plain_user", autocommit=True) as kept:
        pg.sql(sql.SQL("ALTER ROLE {} PASSWORD 'second-pass'").format(
            sql.Identifier(reload_role)))
        inst.write_users({USER: pg.passwords[USER], reload_role: "second-pass"})
        reload_and_wait(inst)
        with pytest.raises(psycopg.OperationalError):
            inst.connect(reload_role, "first-pass")
        with inst.connect(reload_role, "second-pass", autocommit=True) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (reload_role,)
        with pytest.raises(psycopg.OperationalError):
            inst.connect("plain_user")
        assert kept.execute("SELECT 'kept'").fetchone() == ("kept",), "a client was dropped"


def test_restart_only_keys_are_reported_and_keep_their_running_values(pg, weir):
    inst = weir({"weir": {"pkt_buf": "4096"}})
    new_port = free_port()
    rewrite(inst, f"listen_port = {inst.port}", f"listen_port = {new_port}")
    rewrite(inst, "pkt_buf = 4096", "pkt_buf = 8192")
    rewrite(inst, "default_pool_size = 10", "default_pool_size = 3")
    reload_and_wait(inst)
    log = inst.log()
    for key, value in (("listen_port", new_port), ("pkt_buf", 8192)):
        assert (f'parameter "{key}" changed to "{value}" in the config; a restart is needed '
                "to apply it") in log, log[-3000:]
    assert "default_pool_size" not in log.split("got SIGHUP")[-1]
    assert port_accepts(inst.port), "weir stopped listening on its running port"
    assert not port_accepts(new_port), "weir listens on the new port without a restart"
    with inst.connect(autocommit=True) as conn:  # 4096-byte buffers still relay big rows
        assert conn.execute("SELECT repeat('x', 20000)").fetchone()[0] == "x" * 20000
    reload_and_wait(inst)  # the same pending change is not reported again
    assert inst.log().count("a restart is needed to apply it") == 2
    assert inst.alive()


def test_start_up_with_two_errors_prints_both_with_file_and_line(pg, run_dir, run_weir):
    ini = run_dir / "weir.ini"
    ini.write_text(f"[weir]\nlisten_port = {free_port()}\nunix_socket_dir = {run_dir}\n"
                   "pool_mode = sometimes\n"
                   "auth_type = trust\n"
                   "bogus_key = 1\n"
                   f"[databases]\napp = host=127.0.0.1 port={pg.port}\n")
    os.chown(ini, *(lambda st: (st.st_uid, st.st_gid))(os.stat(run_dir)))
    code, out = run_weir([ini])
    assert code != 0, out
    assert f'{ini}:4: invalid value "sometimes" for parameter pool_mode' in out, out
    assert f"{ini}:6: unknown parameter: weir/bogus_key" in out, out


def console_weir(weir, **keys):
    return weir({"weir": dict({"admin_users": USER, "pool_mode": "transaction"}, **keys)})


def test_console_reload_error_lists_every_error_and_set_applies_one_checked_key(pg, weir):
    inst = console_weir(weir)
    with inst.connect(dbname="weir", autocommit=True) as admin:
        original = inst.ini_path.read_text()
        inst.ini_path.write_text(original.replace("[weir]\n", "[weir]\nnope = 1\n"
                                                  "max_client_conn = many\n", 1))
        with pytest.raises(psycopg.Error) as info:
            admin.execute("RELOAD")
        assert info.value.sqlstate == "F0000"
        detail = info.value.diag.message_detail or ""
        assert f"{inst.ini_path}:2: unknown parameter: weir/nope" in detail, detail
        assert (f'{inst.ini_path}:3: invalid value "many" for parameter max_client_conn'
                in detail), detail
        inst.ini_path.write_text(original)
        admin.execute("RELOAD")

        def config():
            return {r[0]: r[1:] for r in admin.execute("SHOW CONFIG")}
        assert admin.execute("SET default_pool_size = 4").statusmessage.startswith("SET")
        assert config()["default_pool_size"][0] == "4"
        with pytest.raises(psycopg.Error, match='SET failed: invalid value "x" for parameter '
                                                "pool_mode"):
            admin.execute("SET pool_mode = x")
        assert config()["pool_mode"][0] == "transaction"
        with inst.connect(autocommit=True) as app:
            assert app.execute("SELECT 1").fetchone() == (1,)

        new_port = free_port()
        rewrite(inst, f"listen_port = {inst.port}", f"listen_port = {new_port}")
        admin.execute("RELOAD")
        assert config()["listen_port"] == (str(inst.port), "6432",
                                           f'no (restart needed for "{new_port}")')
        rewrite(inst, f"listen_port = {new_port}", f"listen_port = {inst.port}")
        admin.execute("RELOAD")
        assert config()["listen_port"][2] == "no"
