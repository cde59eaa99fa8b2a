# SPDX-License-Identifier: ISC
"""Reload (SIGHUP) of a changed [databases] entry: clients stay connected, and the servers
made from the old definition are replaced, not reused. The new definition here names the
host as `localhost`, so the new servers also go through weir's asynchronous resolver."""

import pytest

from conftest import wait_until


def backend_pid(conn):
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_changed_database_entry_replaces_its_servers_and_keeps_clients(pg, weir):
    inst = weir({"weir": {"pool_mode": "transaction", "default_pool_size": "1"}})
    with inst.connect(autocommit=True) as kept:
        old_pid = backend_pid(kept)
        text = inst.ini_path.read_text().replace("host=127.0.0.1", "host=localhost")
        inst.ini_path.write_text(text)
        inst.reload()
        wait_until(lambda: "configuration changed" in inst.log(), 10, "the reload")
        new_pid = backend_pid(kept)
        assert new_pid != old_pid, "a server of the old definition was reused"
        assert kept.execute("SELECT 'still here'").fetchone() == ("still here",)
    assert "closing because: obsolete connection" in inst.log()
    with inst.connect(autocommit=True) as fresh:
        assert backend_pid(fresh) == new_pid


def rewrite(inst, old, new):
    text = inst.ini_path.read_text()
    assert old in text, f"{old!r} not in the config"
    inst.ini_path.write_text(text.replace(old, new))
    inst.reload()
    wait_until(lambda: inst.log().count("config reloaded") >= 1, 10, "the reload")


@pytest.mark.parametrize("key,old,new,show", [
    ("timezone", "UTC", "Asia/Tokyo", "TimeZone"),
    ("datestyle", "ISO", "German", "DateStyle"),
    ("application_name", "before", "after", "application_name"),
    ("client_encoding", "UTF8", "LATIN1", "client_encoding"),
])
def test_changed_session_default_in_a_database_entry_reaches_new_clients(
        pg, weir, key, old, new, show):
    inst = weir({"weir": {"pool_mode": "transaction", "default_pool_size": "1"},
                 "databases": {"app": f"host=127.0.0.1 port={pg.port} dbname=app {key}={old}"}})
    with inst.connect(autocommit=True) as conn:
        before = conn.execute(f"SHOW {show}").fetchone()[0]
        assert before.startswith(old), before
    rewrite(inst, f"{key}={old}", f"{key}={new}")
    with inst.connect(autocommit=True) as conn:
        after = conn.execute(f"SHOW {show}").fetchone()[0]
        assert after.startswith(new), f"{show} is still {after!r} after the reload"
    assert "closing because: obsolete connection" in inst.log()


def prepared_on_server(conn):
    return conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]


def test_lower_max_prepared_statements_reaches_live_servers(pg, weir):
    inst = weir({"weir": {"pool_mode": "transaction", "default_pool_size": "1",
                          "max_prepared_statements": "10"}})
    with inst.connect(autocommit=True) as conn:
        conn.prepare_threshold = 0
        for i in range(10):
            assert conn.execute(f"SELECT {i} + %s", (1,)).fetchone() == (i + 1,)
        assert prepared_on_server(conn) >= 10
        rewrite(inst, "max_prepared_statements = 10", "max_prepared_statements = 2")
        assert conn.execute("SELECT 100 + %s", (1,)).fetchone() == (101,)
        n = conn.execute("SELECT count(*) FROM pg_prepared_statements",
                         prepare=False).fetchone()[0]
        assert n <= 2, f"{n} statements still prepared on the server with a cache of 2"
        for i in range(10):  # the evicted ones are prepared again on demand
            assert conn.execute(f"SELECT {i} + %s", (1,)).fetchone() == (i + 1,)
