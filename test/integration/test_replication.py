# SPDX-License-Identifier: ISC
"""Replication connections (`replication=database|true`) through weir: each one gets a
server of its own, in session mode, with the replication parameter passed on, and that
server is closed when the client leaves. Physical replication clients (pg_basebackup)
always ask for the database `replication`, so the config gives it a [databases] entry."""

import os
import subprocess
import tempfile

import psycopg
import pytest

from conftest import default_users, wait_until

ROLE = "repl_user"
PASSWORD = "repl-secret"


@pytest.fixture
def repl_weir(pg, weir):
    exists = pg.sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,))
    if not exists:
        pg.sql(f"CREATE ROLE {ROLE} LOGIN REPLICATION PASSWORD '{PASSWORD}'")
        pg.sql(f"GRANT ALL ON DATABASE app TO {ROLE}")
    users = dict(default_users(pg), **{ROLE: PASSWORD})
    config = {"databases": {"replication": f"host=127.0.0.1 port={pg.port}"},
              "weir": {"pool_mode": "transaction", "default_pool_size": 2}}
    return weir(config, users=users)


def walsenders(pg):
    rows = pg.sql("SELECT count(*) FROM pg_stat_activity "
                  "WHERE usename = %s AND backend_type = 'walsender'", (ROLE,))
    return rows[0][0]


def test_logical_replication_connection_runs_walsender_commands(pg, repl_weir):
    with psycopg.connect(repl_weir.dsn(ROLE, PASSWORD, "app", replication="database"),
                         autocommit=True) as conn:
        row = conn.execute("IDENTIFY_SYSTEM").fetchone()
        assert len(row) == 4 and row[3] == "app", row
        assert walsenders(pg) == 1


def test_replication_server_is_dedicated_and_closed_with_its_client(pg, repl_weir):
    conns = [psycopg.connect(repl_weir.dsn(ROLE, PASSWORD, "app", replication="database"),
                             autocommit=True) for _ in range(2)]
    for conn in conns:
        conn.execute("IDENTIFY_SYSTEM")
    assert walsenders(pg) == 2
    for conn in conns:
        conn.close()
    wait_until(lambda: walsenders(pg) == 0, 10, "replication servers closed")


def test_pg_basebackup_through_weir_completes(pg, repl_weir):
    target = tempfile.mkdtemp(prefix="weir-basebackup-")
    os.rmdir(target)
    env = dict(os.environ, PGPASSWORD=PASSWORD)
    proc = subprocess.run(["pg_basebackup", "-c", "fast", "-X", "stream", "-D", target,
                           "-d", f"host=127.0.0.1 port={repl_weir.port} user={ROLE}"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert os.path.exists(os.path.join(target, "backup_label"))
    assert os.path.exists(os.path.join(target, "PG_VERSION"))
    subprocess.run(["rm", "-rf", target], check=False)
