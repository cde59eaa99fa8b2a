# SPDX-License-Identifier: ISC
"""The console's control commands and the signals that share their operations, each
observed from outside: pg_stat_activity, what clients get, and SHOW."""

import signal
import threading

import psycopg
import pytest

from conftest import wait_until

ADMIN = {"admin_users": "scram_user", "pool_mode": "transaction", "default_pool_size": "2"}


class Background:
    """Runs fn in a thread; .result or .error once done."""

    def __init__(self, fn):
        self.result = self.error = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn):
        try:
            self.result = fn()
        except Exception as e:  # noqa: BLE001 - handed to the test
            self.error = e

    def running_after(self, seconds):
        self.thread.join(seconds)
        return self.thread.is_alive()

    def wait(self, seconds=10):
        self.thread.join(seconds)
        assert not self.thread.is_alive(), "still running"
        return self


def start(weir, pg, extra_dbs=(), **keys):
    dbs = {"app": f"host=127.0.0.1 port={pg.port} dbname=app"}
    for name in extra_dbs:
        dbs[name] = f"host=127.0.0.1 port={pg.port} dbname={name}"
    return weir({"weir": {**ADMIN, **keys}, "databases": dbs})


def console(inst, user="scram_user"):
    conn = inst.connect(user=user, dbname="weir", autocommit=True)
    conn.prepare_threshold = None  # the console takes simple queries only
    return conn


def status(conn, sql):
    return conn.execute(sql).statusmessage


def pool_row(conn, db, user="scram_user"):
    cur = conn.execute("SHOW POOLS")
    names = [d.name for d in cur.description]
    for row in cur:
        if row[0] == db and row[1] == user:
            return dict(zip(names, row))
    return None


def db_row(conn, db):
    cur = conn.execute("SHOW DATABASES")
    names = [d.name for d in cur.description]
    return next(dict(zip(names, r)) for r in cur if r[0] == db)


def in_transaction(inst, dbname="app"):
    conn = inst.connect(dbname=dbname)
    conn.execute("SELECT 1")  # psycopg opened a transaction: the server is held
    return conn


def test_pause_of_one_database_waits_for_its_servers_while_another_serves(weir, pg):
    other = pg.create_database("other")
    inst = start(weir, pg, extra_dbs=[other])
    holder = in_transaction(inst)
    adm = console(inst)
    pause = Background(lambda: status(adm, "PAUSE app"))
    assert pause.running_after(0.7), "PAUSE answered while a server was in use"
    with inst.connect(dbname=other, autocommit=True) as elsewhere:
        assert elsewhere.execute("SELECT 'other db'").fetchone() == ("other db",)
    holder.commit()
    assert pause.wait().result == "PAUSE"
    wait_until(lambda: pg.backends("scram_user", "app") == 0, 5, "app's servers to close")
    with console(inst) as look:
        assert db_row(look, "app")["paused"] == 1
        queued = Background(lambda: holder.execute("SELECT 42").fetchone())
        assert queued.running_after(0.7), "a paused database handed out a server"
        assert pool_row(look, "app")["cl_waiting"] == 1
        assert status(look, "RESUME app") == "RESUME"
        assert queued.wait().result == (42,)
        assert db_row(look, "app")["paused"] == 0
    holder.close()
    adm.close()


def test_cancel_of_a_blocking_pause_resumes(weir, pg):
    inst = start(weir, pg)
    holder = in_transaction(inst)
    adm = console(inst)
    pause = Background(lambda: status(adm, "PAUSE"))
    assert pause.running_after(0.5)
    adm.cancel()
    assert isinstance(pause.wait().error, psycopg.errors.QueryCanceled)
    with console(inst) as look:
        assert look.execute("SHOW STATE").fetchall()[1] == ("paused", "no")
    assert holder.execute("SELECT 7").fetchone() == (7,)
    holder.commit()
    with inst.connect(autocommit=True) as fresh:
        assert fresh.execute("SELECT 8").fetchone() == (8,)
    assert adm.execute("SHOW VERSION").fetchone() == ("weir 0.1.0",)
    adm.close()
    holder.close()


def test_pause_twice_is_refused(weir, pg):
    inst = start(weir, pg)
    with console(inst) as adm:
        assert status(adm, "PAUSE") == "PAUSE"
        with pytest.raises(psycopg.errors.ProtocolViolation, match="already suspended/paused"):
            adm.execute("PAUSE")
        with pytest.raises(psycopg.errors.ProtocolViolation, match="already suspended/paused"):
            adm.execute("SUSPEND")
        assert status(adm, "RESUME") == "RESUME"


def test_disable_refuses_new_logins_only(weir, pg):
    inst = start(weir, pg)
    with inst.connect(autocommit=True) as kept, console(inst) as adm:
        kept.execute("SELECT 1")
        assert status(adm, "DISABLE app") == "DISABLE"
        with pytest.raises(psycopg.OperationalError, match='database "app" is disabled'):
            inst.connect(autocommit=True)
        assert kept.execute("SELECT 'still'").fetchone() == ("still",)
        assert db_row(adm, "app")["disabled"] == 1
        assert status(adm, "ENABLE app") == "ENABLE"
        with inst.connect(autocommit=True) as again:
            assert again.execute("SELECT 2").fetchone() == (2,)


def backend_pid(conn):
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_reconnect_replaces_servers_once_released_and_wait_close_waits(weir, pg):
    inst = start(weir, pg, default_pool_size="1")
    holder = inst.connect()
    old = backend_pid(holder)  # inside a transaction
    with console(inst) as adm, console(inst) as adm2:
        assert status(adm, "RECONNECT app") == "RECONNECT"
        assert [r[13] for r in adm.execute("SHOW SERVERS")] == [1], "close_needed"
        waiting = Background(lambda: status(adm2, "WAIT_CLOSE app"))
        assert waiting.running_after(0.5), "WAIT_CLOSE answered while a server was to close"
        assert backend_pid(holder) == old, "the transaction kept its server"
        holder.commit()
        assert waiting.wait().result == "WAIT_CLOSE"
    assert backend_pid(holder) != old
    holder.close()


def test_kill_drops_clients_and_servers_and_keeps_the_database_paused(weir, pg):
    other = pg.create_database("other")
    inst = start(weir, pg, extra_dbs=[other])
    victim = inst.connect(autocommit=True)
    victim.execute("SELECT 1")
    bystander = inst.connect(dbname=other, autocommit=True)
    with console(inst) as adm:
        assert status(adm, "KILL app") == "KILL"
        with pytest.raises(psycopg.OperationalError):
            victim.execute("SELECT 1")
        wait_until(lambda: pg.backends("scram_user", "app") == 0, 5, "app's servers to close")
        assert bystander.execute("SELECT 3").fetchone() == (3,)
        assert db_row(adm, "app")["paused"] == 1
        late = inst.connect(autocommit=True)
        queued = Background(lambda: late.execute("SELECT 4").fetchone())
        assert queued.running_after(0.5)
        assert status(adm, "RESUME app") == "RESUME"
        assert queued.wait().result == (4,)
        late.close()
    victim.close()
    bystander.close()


def test_kill_without_a_database_drops_every_client_but_the_console(weir, pg):
    other = pg.create_database("other")
    inst = start(weir, pg, extra_dbs=[other])
    a = inst.connect(autocommit=True)
    b = inst.connect(dbname=other, autocommit=True)
    a.execute("SELECT 1")
    b.execute("SELECT 1")
    with console(inst) as adm:
        assert status(adm, "KILL") == "KILL"
        for conn in (a, b):
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 1")
        assert adm.execute("SHOW STATE").fetchall()[1] == ("paused", "yes")
        assert status(adm, "RESUME") == "RESUME"
    a.close()
    b.close()


def test_kill_client_by_id(weir, pg):
    inst = start(weir, pg)
    victim = inst.connect(autocommit=True)
    victim.execute("SELECT 1")
    survivor = inst.connect(autocommit=True)
    survivor.execute("SELECT 1")
    with console(inst) as adm:
        rows = [r for r in adm.execute("SHOW CLIENTS") if r[2] == "app"]
        assert len(rows) == 2
        ids = sorted(r[-1] for r in rows)
        assert status(adm, f"KILL_CLIENT {ids[0]}") == "KILL_CLIENT"
        with pytest.raises(psycopg.OperationalError, match="admin forced disconnect"):
            victim.execute("SELECT 1")
        assert survivor.execute("SELECT 5").fetchone() == (5,)
        assert [r[-1] for r in adm.execute("SHOW CLIENTS") if r[2] == "app"] == [ids[1]]
        with pytest.raises(psycopg.errors.ProtocolViolation, match="client not found"):
            adm.execute(f"KILL_CLIENT {ids[0]}")
    victim.close()
    survivor.close()


def test_suspend_stops_traffic_until_resume_and_its_issuer_leaving_resumes(weir, pg):
    inst = start(weir, pg)
    client = inst.connect(autocommit=True)
    client.execute("SELECT 1")
    adm = console(inst)
    assert status(adm, "SUSPEND") == "SUSPEND"
    assert adm.execute("SHOW STATE").fetchall()[2] == ("suspended", "yes")
    stalled = Background(lambda: client.execute("SELECT 6").fetchone())
    assert stalled.running_after(0.7), "a suspended pooler read a client"
    assert status(adm, "RESUME") == "RESUME"
    assert stalled.wait().result == (6,)
    assert status(adm, "SUSPEND") == "SUSPEND"
    stalled = Background(lambda: client.execute("SELECT 9").fetchone())
    assert stalled.running_after(0.5)
    adm.close()  # the issuer leaves: weir resumes on its own
    assert stalled.wait().result == (9,)
    client.close()


def test_shutdown_exits_at_once(weir, pg):
    inst = start(weir, pg)
    adm = console(inst)
    with pytest.raises(psycopg.OperationalError):
        adm.execute("SHUTDOWN")
    inst.proc.wait(10)
    assert inst.proc.returncode == 0
    assert "SHUTDOWN command issued" in inst.log()


def over_unix_socket(inst, dbname):
    conn = inst.connect(dbname=dbname, autocommit=True, host=str(inst.dir))
    conn.prepare_threshold = None
    return conn


def test_shutdown_wait_for_clients(weir, pg):
    inst = start(weir, pg)
    client = inst.connect(autocommit=True)
    with console(inst) as adm:
        assert status(adm, "SHUTDOWN WAIT_FOR_CLIENTS") == "SHUTDOWN"
        with pytest.raises(psycopg.OperationalError):
            inst.connect(autocommit=True)  # no longer listening on TCP
        with pytest.raises(psycopg.OperationalError, match="server shutting down"):
            over_unix_socket(inst, "app")  # the Unix socket takes console logins only
        with over_unix_socket(inst, "weir") as late_console:
            assert late_console.execute("SHOW STATE").fetchone() == ("active", "yes")
        assert client.execute("SELECT 10").fetchone() == (10,)
        client.close()
        inst.proc.wait(10)  # the console does not keep weir alive
    assert inst.proc.returncode == 0


def test_shutdown_wait_for_servers_serves_only_the_servers_in_use(weir, pg):
    inst = start(weir, pg)
    holder = in_transaction(inst)
    idle = inst.connect(autocommit=True)
    idle.prepare_threshold = None
    with console(inst) as adm:
        assert status(adm, "SHUTDOWN WAIT_FOR_SERVERS") == "SHUTDOWN"
        assert adm.execute("SHOW STATE").fetchall()[1] == ("paused", "yes")
    with pytest.raises(psycopg.OperationalError, match="server shutting down"):
        idle.execute("SELECT 1")  # it would need a server
    with pytest.raises(psycopg.OperationalError, match="server shutting down"):
        over_unix_socket(inst, "app")
    assert holder.execute("SELECT 12").fetchone() == (12,)  # its transaction goes on
    holder.commit()  # the last server in use is released: weir exits
    inst.proc.wait(10)
    assert inst.proc.returncode == 0
    assert "no servers in use, shutting down" in inst.log()
    holder.close()
    idle.close()


def test_signals_pause_and_resume_like_the_console(weir, pg):
    inst = start(weir, pg)
    with console(inst) as adm:
        inst.signal(signal.SIGUSR1)
        wait_until(lambda: adm.execute("SHOW STATE").fetchall()[1] == ("paused", "yes"), 5,
                   "SIGUSR1 to pause")
        inst.signal(signal.SIGUSR2)
        wait_until(lambda: adm.execute("SHOW STATE").fetchall()[1] == ("paused", "no"), 5,
                   "SIGUSR2 to resume")
    with inst.connect(autocommit=True) as client:
        assert client.execute("SELECT 11").fetchone() == (11,)


def test_control_commands_keep_other_clients_working(weir, pg):
    inst = start(weir, pg)
    with inst.connect(autocommit=True) as client, console(inst) as adm:
        for cmd in ["RECONNECT", "WAIT_CLOSE", "DISABLE app", "ENABLE app", "SHOW SERVERS"]:
            adm.execute(cmd)
            assert client.execute("SELECT 1").fetchone() == (1,), cmd
        with pytest.raises(psycopg.errors.ProtocolViolation):
            adm.execute("KILL_CLIENT 999999")
        assert client.execute("SELECT 1").fetchone() == (1,)
