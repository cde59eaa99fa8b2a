# SPDX-License-Identifier: ISC
"""Debian's prometheus-pgbouncer-exporter, pointed at weir's console and at a real PgBouncer
(Debian's 1.18) in the same state, exports the same pool and list figures. The exporter is
old: its SHOW STATS and SHOW DATABASES readers want columns PgBouncer dropped in 1.8
(`total_requests`, `reserve_pool`), so as a program it stops at start-up against any recent
PgBouncer, and against weir in the same way; its pool and list collectors are what still
work, and they are compared here."""

import os
import shutil
import subprocess
import time

import psycopg2
import pytest
from prometheus_pgbouncer_exporter.collectors import ListsCollector, PoolsCollector

from conftest import (as_run_user, chown_run_user, free_port, make_run_user_dir,
                      port_accepts, wait_until)

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


@pytest.fixture
def pgbouncer(pg, weir):
    """A PgBouncer with the same settings as the weir it is compared with."""
    procs = []

    def start(inst):
        workdir = make_run_user_dir("pgb-")
        port = free_port()
        ini = workdir / "pgbouncer.ini"
        ini.write_text(
            f"[databases]\napp = host=127.0.0.1 port={pg.port} dbname=app\n"
            f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n"
            f"unix_socket_dir = {workdir}\nauth_type = scram-sha-256\n"
            f"auth_file = {inst.auth_file}\nadmin_users = scram_user\n"
            f"pool_mode = transaction\ndefault_pool_size = 10\n"
            f"logfile = {workdir}/pgbouncer.log\n")
        chown_run_user(ini)
        proc = subprocess.Popen([PGBOUNCER, str(ini)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, **as_run_user())
        procs.append((proc, workdir))
        wait_until(lambda: port_accepts(port), 10, "PgBouncer to listen")
        return port

    yield start
    for proc, workdir in procs:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def console(port, password):
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="scram_user", password=password,
                            dbname="pgbouncer")
    conn.set_session(autocommit=True)
    return conn


def hold_state(port, password):
    """One client inside a transaction, one idle: returns them (keep them open)."""
    def client():
        return psycopg2.connect(host="127.0.0.1", port=port, user="scram_user",
                                password=password, dbname="app")
    busy = client()
    busy.cursor().execute("SELECT 1")  # psycopg2 opened a transaction
    idle = client()
    return busy, idle


def collected(collector):
    out = {}
    for family in collector.collect():
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def app_pool(samples):
    return {k: v for k, v in samples.items() if ("database", "app") in k[1]}


def test_the_exporter_reads_the_same_figures_from_weir_and_pgbouncer(pg, weir, pgbouncer):
    inst = weir({"weir": {"admin_users": "scram_user", "pool_mode": "transaction"}})
    password = pg.passwords["scram_user"]
    ports = {"weir": inst.port, "pgbouncer": pgbouncer(inst)}
    held, pools, lists = [], {}, {}
    for name, port in ports.items():
        held += hold_state(port, password)
    time.sleep(0.3)
    for name, port in ports.items():
        conn = console(port, password)
        pools[name] = app_pool(collected(PoolsCollector(None, conn)))
        lists[name] = collected(ListsCollector(conn))
        conn.close()
    assert pools["weir"], "the exporter found no pool of app on weir"
    assert pools["weir"] == pools["pgbouncer"]
    active = [v for (n, _), v in pools["weir"].items() if n == "pgbouncer_active_clients"]
    assert active == [2]
    assert set(lists["weir"]) == set(lists["pgbouncer"])
    # free_clients and free_servers are PgBouncer's object caches, which weir does not keep
    for name in ["databases", "users", "pools", "used_clients", "used_servers",
                 "login_clients", "dns_names", "dns_pending"]:
        key = (f"pgbouncer_{name}", ())
        assert lists["weir"][key] == lists["pgbouncer"][key], key
    for conn in held:
        conn.close()


def test_the_exporter_program_stops_alike_on_weir_and_pgbouncer(pg, weir, pgbouncer):
    inst = weir({"weir": {"admin_users": "scram_user"}})
    env = dict(os.environ, PGPASSWORD=pg.passwords["scram_user"])
    errors = {}
    for name, port in {"weir": inst.port, "pgbouncer": pgbouncer(inst)}.items():
        out = subprocess.run(["prometheus-pgbouncer-exporter", "--port", str(free_port()),
                              "--host", "127.0.0.1", "--pgbouncer-port", str(port),
                              "--pgbouncer-host", "127.0.0.1", "--pgbouncer-user",
                              "scram_user"], env=env, capture_output=True, text=True,
                             timeout=30)
        errors[name] = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else \
            out.stderr.strip().splitlines()[-1]
    assert errors["weir"] == errors["pgbouncer"] == "KeyError: 'total_requests'"
