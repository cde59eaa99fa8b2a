# SPDX-License-Identifier: ISC
"""PostgreSQL going away under weir: the session that lost its server gets an error, and
weir, still the same process, serves new clients once PostgreSQL is back."""

import psycopg
import pytest

from conftest import wait_until


@pytest.mark.deadline(180)
def test_postgres_restart_errors_the_session_and_new_clients_recover(pg, weir):
    inst = weir({"weir": {"server_login_retry": 1}})
    pid = inst.pid
    password = pg.passwords["scram_user"]
    conn = psycopg.connect(inst.dsn("scram_user", password), autocommit=True)
    try:
        old_backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        pg.restart("fast")
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    finally:
        conn.close()
        pg.ensure_running()

    def new_client_works():
        with psycopg.connect(inst.dsn("scram_user", password)) as fresh:
            return fresh.execute("SELECT pg_backend_pid()").fetchone()[0]

    new_backend = wait_until(new_client_works, 30, "a new client to work after the restart")
    assert new_backend != old_backend
    assert inst.alive() and inst.pid == pid, "weir must keep running through the restart"
    for _ in range(5):
        assert new_client_works()
