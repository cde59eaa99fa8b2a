# SPDX-License-Identifier: ISC
"""TLS towards PostgreSQL (server_tls_*): each sslmode against the test cluster (which
serves TLS), certificate checks, what clients see when the check fails, cancel requests
over TLS, and which reloads replace server connections. A small TCP proxy in front of
PostgreSQL shows what weir sends before any encryption, and can refuse TLS itself."""

import socket
import struct
import threading
import time

import psycopg
import pytest
from conftest import SSL_REQUEST_CODE, wait_until

USER = "scram_user"


def server_keys(pg, mode, host="127.0.0.1", port=None, **extra):
    keys = {"server_tls_sslmode": mode, "server_tls_ca_file": pg.certs.ca,
            "admin_users": USER}
    keys.update(extra)
    return {"weir": keys,
            "databases": {"app": f"host={host} port={port or pg.port} dbname=app"}}


def weir_backend_ssl(pg):
    """ssl of weir's backends for USER: a set of booleans."""
    return {r[0] for r in pg.sql(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
        "WHERE a.usename = %s AND a.datname = 'app'", (USER,))}


def console(inst):
    conn = inst.connect(dbname="weir", autocommit=True, host=str(inst.dir))
    conn.prepare_threshold = None
    return conn


class Proxy:
    """Forwards 127.0.0.1:port to PostgreSQL; records the first 8 bytes of each
    connection; with refuse_tls it answers an SSLRequest with 'N' itself."""

    def __init__(self, target_port, refuse_tls=False):
        self.target = target_port
        self.refuse_tls = refuse_tls
        self.first = []
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            head = b""
            while len(head) < 8:
                chunk = c.recv(8 - len(head))
                if not chunk:
                    return
                head += chunk
            self.first.append(head)
            if self.refuse_tls and struct.unpack("!II", head) == (8, SSL_REQUEST_CODE):
                c.sendall(b"N")
                head = b""
            s = socket.create_connection(("127.0.0.1", self.target))
            s.sendall(head)
            for a, b in ((c, s), (s, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()
        except OSError:
            c.close()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def ssl_requests(self):
        return sum(1 for h in self.first if struct.unpack("!II", h) == (8, SSL_REQUEST_CODE))

    def close(self):
        self.closed = True
        self.lsock.close()


@pytest.fixture
def proxy(pg):
    made = []

    def make(**kw):
        p = Proxy(pg.port, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.mark.parametrize("mode,ssl", [("disable", False), ("allow", True), ("prefer", True),
                                      ("require", True), ("verify-ca", True),
                                      ("verify-full", True)])
def test_each_sslmode_against_a_postgresql_that_serves_tls(pg, weir, mode, ssl):
    inst = weir(server_keys(pg, mode))
    with inst.connect(autocommit=True) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                            ).fetchone() == (ssl,)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_verify_full_checks_the_name_or_address_weir_connects_to(pg, weir, host):
    inst = weir(server_keys(pg, "verify-full", host=host))
    with inst.connect(autocommit=True) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                            ).fetchone() == (True,)


def test_verify_full_against_a_host_list_checks_the_host_used(pg, weir):
    inst = weir(server_keys(pg, "verify-full", host="localhost,127.0.0.1"))
    with inst.connect(autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("mode", ["verify-ca", "verify-full"])
def test_a_certificate_from_an_unknown_ca_is_refused_and_clients_are_told(pg, weir, mode):
    inst = weir(server_keys(pg, mode, server_tls_ca_file=pg.certs.stranger_ca))
    with pytest.raises(psycopg.OperationalError) as info:
        inst.connect(autocommit=True)
    assert "certificate verify failed" in str(info.value), str(info.value)
    assert weir_backend_ssl(pg) == set()


def test_require_fails_the_login_when_the_server_refuses_tls(pg, weir, proxy):
    p = proxy(refuse_tls=True)
    inst = weir(server_keys(pg, "require", port=p.port))
    with pytest.raises(psycopg.OperationalError, match="server does not support TLS"):
        inst.connect(autocommit=True)


def test_prefer_goes_on_in_plaintext_when_the_server_refuses_tls(pg, weir, proxy):
    p = proxy(refuse_tls=True)
    inst = weir(server_keys(pg, "prefer", port=p.port))
    with inst.connect(autocommit=True) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                            ).fetchone() == (False,)
    assert p.ssl_requests() == 1


def test_cancel_of_a_query_on_a_tls_server_goes_over_tls(pg, weir, proxy):
    p = proxy()
    inst = weir(server_keys(pg, "require", port=p.port))
    with inst.connect(autocommit=True) as conn:
        timer = threading.Timer(0.5, conn.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(20)")
        assert time.monotonic() - started < 10
        timer.join()
        assert conn.execute("SELECT 1").fetchone() == (1,)
    # two connections through the proxy: the server's and the cancel's, both TLS
    wait_until(lambda: len(p.first) >= 2, 5, "the cancel connection")
    assert p.ssl_requests() == len(p.first) == 2, p.first


def test_changed_server_tls_settings_replace_servers_and_unchanged_keep_them(pg, weir):
    inst = weir(server_keys(pg, "require", pool_mode="transaction"))
    with inst.connect(autocommit=True) as conn, console(inst) as adm:
        (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone()
        adm.execute("RELOAD")  # nothing changed: the server stays
        assert conn.execute("SELECT pg_backend_pid()").fetchone() == (pid,)
        adm.execute("SET server_tls_sslmode = 'disable'")
        (new_pid, ssl) = conn.execute(
            "SELECT pid, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
        assert new_pid != pid and ssl is False
        wait_until(lambda: pid not in {r[0] for r in pg.sql(
            "SELECT pid FROM pg_stat_activity")}, 5, "the old server to close")


def test_show_servers_describes_the_tls_session(pg, weir):
    inst = weir(server_keys(pg, "require"))
    with inst.connect(autocommit=True) as conn, console(inst) as adm:
        conn.execute("SELECT 1")
        cur = adm.execute("SHOW SERVERS")
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur]
        assert rows and all(r["tls"].startswith("TLSv1.3/TLS_") for r in rows), rows
