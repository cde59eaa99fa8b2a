# temporary: validates the harness against PostgreSQL directly (to be deleted)
import os, socket, struct, subprocess, time
import psycopg, pytest
from psycopg.conninfo import make_conninfo
from conftest import (PgWire, wire_login, wire_query, WireError, startup_message, ssl_request,
                      cancel_request, read_error_or_close, PROTOCOL_3_2, md5_secret, wait_until)

def dsn(pg, user, password, dbname="app"):
    return make_conninfo(host="127.0.0.1", port=pg.port, user=user, password=password, dbname=dbname, sslmode="disable", connect_timeout=10)

@pytest.mark.parametrize("user", ["scram_user", "md5_user", "plain_user", "trust_user"])
def test_psycopg_direct(pg, user):
    with psycopg.connect(dsn(pg, user, pg.passwords[user])) as c:
        assert c.execute("select current_user").fetchone()[0] == user

def test_psycopg_sqlstate(pg):
    with pytest.raises(psycopg.OperationalError) as ei:
        psycopg.connect(dsn(pg, "scram_user", "wrong"))
    print("wrongpw:", repr(ei.value.sqlstate), str(ei.value))
    with pytest.raises(psycopg.OperationalError) as ei:
        psycopg.connect(dsn(pg, "scram_user", pg.passwords["scram_user"], "nosuchdb"))
    print("nodb:", repr(ei.value.sqlstate), str(ei.value))

@pytest.mark.parametrize("user", ["scram_user", "md5_user", "plain_user", "trust_user"])
def test_wire_login_direct(pg, user):
    with PgWire(pg.port) as w:
        r = wire_login(w, user, pg.passwords[user])
        print(user, r.auth_methods, r.backend_key)
        assert wire_query(w, "select 1, null") == [["1", None]]
    with PgWire(pg.port) as w:
        if user != "trust_user":
            with pytest.raises(WireError) as ei:
                wire_login(w, user, "wrong")
            print(ei.value.fields)
            assert ei.value.sqlstate == "28P01"

def test_wire_nodb(pg):
    with PgWire(pg.port) as w:
        with pytest.raises(WireError) as ei:
            wire_login(w, "scram_user", pg.passwords["scram_user"], database="nosuch")
        assert ei.value.sqlstate == "3D000"

@pytest.mark.parametrize("ver,extra", [(PROTOCOL_3_2, {}), (3 << 16, {"_pq_.foo": "bar"}), (PROTOCOL_3_2, {"_pq_.foo": "bar"})])
def test_negotiate_direct(pg, ver, extra):
    with PgWire(pg.port) as w:
        r = wire_login(w, "scram_user", pg.passwords["scram_user"], version=ver, extra=extra)
        print(r.negotiate)
        assert r.negotiate is not None and r.negotiate[0] == 196608
        assert r.negotiate[1] == list(extra)
        assert wire_query(w, "select 2") == [["2"]]

def test_ssl_direct(pg):
    with PgWire(pg.port) as w:
        w.send(ssl_request())
        assert w.read_bytes(1) == b"N"
        wire_login(w, "md5_user", pg.passwords["md5_user"])
        assert wire_query(w, "select 3") == [["3"]]
    with psycopg.connect(dsn(pg, "scram_user", pg.passwords["scram_user"]).replace("sslmode=disable", "sslmode=prefer")) as c:
        c.execute("select 1")

def test_cancel_direct(pg):
    with PgWire(pg.port) as w:
        w.send(cancel_request(12345, 67890))
        assert w.read_to_eof(5) == b""

@pytest.mark.parametrize("name,data", ids=["zero","huge","garbage","r10m"], argvalues=[("zero", b"\0\0\0\0"), ("huge", b"\x7f\xff\xff\xff" + b"\0" * 100), ("garbage", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ("random10m", os.urandom(10 << 20))])
def test_malformed_direct(pg, name, data):
    with PgWire(pg.port) as w:
        try:
            w.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        print(name, read_error_or_close(w))

def test_sampler_and_md5(pg):
    assert pg.rolpassword("md5_user") == md5_secret("md5_user", pg.passwords["md5_user"])
    assert pg.rolpassword("scram_user").startswith("SCRAM-SHA-256$4096:")
    db = pg.create_database("samp")
    with pg.sampler("scram_user", db) as s:
        conns = [psycopg.connect(dsn(pg, "scram_user", pg.passwords["scram_user"], db)) for _ in range(5)]
        wait_until(lambda: s.max >= 5, 5, "sampler")
        for c in conns: c.close()
    print(s.max, s.samples)
    assert s.max == 5
    pg.drop_database(db)

def test_pgbench_direct(pg):
    db = pg.create_database("bench", owner="md5_user")
    subprocess.run(["pgbench", "-i", "-s", "1", "-q", "-h", str(pg.socket_dir), "-p", str(pg.port), "-U", "md5_user", db], check=True, capture_output=True)
    env = dict(os.environ, PGPASSWORD=pg.passwords["md5_user"])
    p = subprocess.run(["pgbench", "-C", "-c", "5", "-j", "2", "-T", "2", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "md5_user", db], env=env, capture_output=True, text=True)
    print(p.stdout, p.stderr)
    assert p.returncode == 0 and "number of failed transactions: 0 " in p.stdout
    pg.drop_database(db)

def test_restart_direct(pg):
    pg.restart()
    assert pg.is_running()
