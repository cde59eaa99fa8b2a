# SPDX-License-Identifier: ISC
"""Reload (SIGHUP) of a changed [databases] entry: clients stay connected, and the servers
made from the old definition are replaced, not reused. The new definition here names the
host as `localhost`, so the new servers also go through weir's asynchronous resolver."""

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
