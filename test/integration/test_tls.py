# SPDX-License-Identifier: ISC
"""TLS towards clients (client_tls_*): the SSLRequest upgrade, direct TLS with ALPN, the
sslmodes from both ends, client certificates, reload of the certificate, the `tls` column,
and large transfers through TLS. The certificates are made at test time (tlscerts.py); the
test PostgreSQL serves TLS with the same CA, so weir's server side is exercised too."""

import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time

import psycopg
import pytest
from conftest import (PgWire, free_port, read_error_or_close, ssl_request, startup_message, wire_login,
                      wire_query)

ADMIN = "scram_user"


def tls_keys(pg, mode="require", cert=None, key=None, **extra):
    c = pg.certs
    keys = {"client_tls_sslmode": mode,
            "client_tls_cert_file": cert or c.server,
            "client_tls_key_file": key or c.server_key,
            "client_tls_ca_file": c.ca,
            "admin_users": ADMIN}
    keys.update(extra)
    return {"weir": keys}


def connect(inst, host="127.0.0.1", **extra):
    return inst.connect(host=host, autocommit=True, **extra)


def console(inst):
    conn = inst.connect(dbname="weir", autocommit=True, host=str(inst.dir), sslmode="disable")
    conn.prepare_threshold = None
    return conn


def show(conn, what):
    cur = conn.execute(f"SHOW {what}")
    names = [d.name for d in cur.description]
    return [dict(zip(names, r)) for r in cur]


def still_serves(inst, **extra):
    with connect(inst, sslmode="require", **extra) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


# -- the sslmodes, from the client's side


def test_require_gives_a_tls_session_that_show_clients_describes(pg, weir):
    inst = weir(tls_keys(pg))
    with connect(inst, sslmode="require", application_name="tls-probe") as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT 40 + 2").fetchone() == (42,)
        with console(inst) as adm:
            row = next(r for r in show(adm, "CLIENTS") if r["application_name"] == "tls-probe")
            assert row["tls"].startswith("TLSv1.3/TLS_"), row["tls"]
            plain = [r for r in show(adm, "CLIENTS") if r["database"] == "weir"]
            assert plain and plain[0]["tls"] == ""
    assert "tls=TLSv1.3/" in inst.log()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_verify_full_accepts_the_right_host_name(pg, weir, host):
    inst = weir(tls_keys(pg))
    with connect(inst, host=host, sslmode="verify-full", sslrootcert=pg.certs.ca) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_verify_ca_and_verify_full_with_a_wrong_host_name(pg, weir):
    c = pg.certs
    inst = weir(tls_keys(pg, cert=c.other_server, key=c.other_server_key))
    with connect(inst, host="localhost", sslmode="verify-ca", sslrootcert=c.ca) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match='does not match host name "localhost"'):
        connect(inst, host="localhost", sslmode="verify-full", sslrootcert=c.ca)
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        connect(inst, host="localhost", sslmode="verify-ca", sslrootcert=c.stranger_ca)
    still_serves(inst)


def test_required_tls_refuses_plaintext_tcp_but_not_the_unix_socket(pg, weir):
    inst = weir(tls_keys(pg))
    with pytest.raises(psycopg.OperationalError) as info:
        connect(inst, sslmode="disable")
    assert "SSL required" in str(info.value)
    with inst.connect(host=str(inst.dir), sslmode="disable", autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with connect(inst, sslmode="prefer") as conn:
        assert conn.pgconn.ssl_in_use
    still_serves(inst)


@pytest.mark.parametrize("mode", ["allow", "prefer"])
def test_allow_and_prefer_take_both_kinds_of_client(pg, weir, mode):
    inst = weir(tls_keys(pg, mode=mode))
    with connect(inst, sslmode="disable") as plain, connect(inst, sslmode="require") as tls:
        assert not plain.pgconn.ssl_in_use and tls.pgconn.ssl_in_use
        assert plain.execute("SELECT 1").fetchone() == tls.execute("SELECT 1").fetchone()


def test_tls_disabled_answers_n_and_a_client_that_requires_it_fails(pg, weir):
    inst = weir()
    with pytest.raises(psycopg.OperationalError, match="server does not support SSL"):
        connect(inst, sslmode="require")
    with connect(inst, sslmode="prefer") as conn:
        assert not conn.pgconn.ssl_in_use


# -- client certificates


def test_verify_ca_demands_a_client_certificate_from_the_ca(pg, weir):
    c = pg.certs
    inst = weir(tls_keys(pg, mode="verify-ca"))
    cert, key = c.client("scram_user")
    with connect(inst, sslmode="require", sslcert=cert, sslkey=key) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError):
        connect(inst, sslmode="require")  # no certificate
    with pytest.raises(psycopg.OperationalError):
        connect(inst, sslmode="require", sslcert=c.stranger, sslkey=c.stranger_key)
    with connect(inst, sslmode="require", sslcert=cert, sslkey=key) as conn:
        assert conn.execute("SELECT 2").fetchone() == (2,)


# -- the raw protocol: plaintext injection, direct TLS


def test_plaintext_bytes_behind_the_ssl_request_are_refused(pg, weir):
    inst = weir(tls_keys(pg))
    with PgWire(inst.port) as wire:
        wire.send(ssl_request() + startup_message({"user": "scram_user", "database": "app"}))
        fields = read_error_or_close(wire)
    assert fields and fields["C"] == "08P01", fields
    assert "unencrypted data after SSL request" in fields["M"]
    still_serves(inst)


def direct_tls(inst, alpn=("postgresql",), ca=None):
    ctx = ssl.create_default_context(cafile=str(ca)) if ca else ssl.create_default_context()
    ctx.check_hostname = False
    if not ca:
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    raw = socket.create_connection(("127.0.0.1", inst.port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost")


class TlsWire(PgWire):
    """PgWire over an already established TLS socket."""

    def __init__(self, sock):  # pylint: disable=super-init-not-called
        self.sock = sock
        self.buf = b""


def test_direct_tls_with_alpn_logs_in(pg, weir):
    inst = weir(tls_keys(pg))
    sock = direct_tls(inst, ca=pg.certs.ca)
    assert sock.selected_alpn_protocol() == "postgresql"
    with TlsWire(sock) as wire:
        wire_login(wire, "scram_user", pg.passwords["scram_user"])
        assert wire_query(wire, "SELECT 7") == [["7"]]


def test_direct_tls_without_alpn_or_with_another_protocol_is_refused(pg, weir):
    inst = weir(tls_keys(pg))
    sock = direct_tls(inst, alpn=None)
    with TlsWire(sock) as wire:
        wire.send(startup_message({"user": "scram_user", "database": "app"}))
        with pytest.raises((ConnectionError, ssl.SSLError, AssertionError)):
            assert wire.read_message() is None
            raise ConnectionError("closed")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        direct_tls(inst, alpn=("http/1.1",)).recv(1)
    still_serves(inst)


def test_direct_tls_is_not_accepted_when_tls_is_disabled(pg, weir):
    inst = weir()
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        direct_tls(inst).recv(1)
    with connect(inst, sslmode="disable") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


# -- traffic


@pytest.mark.parametrize("pool_mode", ["session", "transaction"])
def test_large_results_and_copy_cross_tls_on_both_sides_intact(pg, weir, pool_mode):
    inst = weir(tls_keys(pg, pool_mode=pool_mode, server_tls_sslmode="require"))
    with connect(inst, sslmode="require") as conn:
        (n,) = conn.execute("SELECT length(repeat('x', 8 * 1024 * 1024))").fetchone()
        assert n == 8 * 1024 * 1024
        (s,) = conn.execute("SELECT string_agg(md5(i::text), '') FROM "
                            "generate_series(1, 200000) i").fetchone()
        (expected,) = pg.sql("SELECT string_agg(md5(i::text), '') FROM "
                             "generate_series(1, 200000) i")[0]
        assert s == expected
        conn.execute("CREATE TEMP TABLE t (v text)" if pool_mode == "session"
                     else "SELECT 1")
        if pool_mode == "session":
            with conn.cursor().copy("COPY t FROM STDIN") as copy:
                for i in range(50000):
                    copy.write_row([f"row-{i}-" + "y" * 100])
            assert conn.execute("SELECT count(*), sum(length(v)) FROM t").fetchone()[0] == 50000


def test_many_tls_clients_at_once(pg, weir):
    inst = weir(tls_keys(pg, pool_mode="transaction", default_pool_size=4))
    errors = []

    def run(i):
        try:
            with connect(inst, sslmode="require") as conn:
                for j in range(20):
                    assert conn.execute("SELECT %s::int", (i * 100 + j,)).fetchone() == \
                        (i * 100 + j,)
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


# -- reload


def test_reload_with_a_new_certificate_serves_it_to_new_clients_only(pg, weir):
    c = pg.certs
    inst = weir(tls_keys(pg))
    cert_path, key_path = inst.dir / "live.crt", inst.dir / "live.key"
    ini = inst.ini_path.read_text()
    for src, dst in ((c.server, cert_path), (c.server_key, key_path)):
        shutil.copy(src, dst)
        shutil.chown(dst, "weir", "weir")
    inst.ini_path.write_text(ini.replace(str(c.server_key), str(key_path))
                             .replace(str(c.server), str(cert_path)))
    with console(inst) as adm:
        adm.execute("RELOAD")
        old = connect(inst, host="localhost", sslmode="verify-full", sslrootcert=c.ca)
        shutil.copy(c.other_server, cert_path)
        shutil.copy(c.other_server_key, key_path)
        adm.execute("RELOAD")
        with pytest.raises(psycopg.OperationalError, match="does not match host name"):
            connect(inst, host="localhost", sslmode="verify-full", sslrootcert=c.ca)
        with connect(inst, host="localhost", sslmode="verify-ca", sslrootcert=c.ca) as new:
            assert new.execute("SELECT 1").fetchone() == (1,)
        assert old.execute("SELECT 2").fetchone() == (2,)
        # a broken certificate: the running context stays, and the log says why
        cert_path.write_text("not a certificate\n")
        adm.execute("RELOAD")
        assert "TLS setup failed: client TLS: cannot load certificate" in inst.log()
        with connect(inst, host="localhost", sslmode="verify-ca", sslrootcert=c.ca) as new:
            assert new.execute("SELECT 3").fetchone() == (3,)
        assert old.execute("SELECT 4").fetchone() == (4,)
        old.close()


def test_set_client_tls_sslmode_on_the_console_applies_to_new_clients(pg, weir):
    inst = weir(tls_keys(pg, mode="disable"))
    with connect(inst, sslmode="prefer") as before:
        assert not before.pgconn.ssl_in_use
        with console(inst) as adm:
            adm.execute("SET client_tls_sslmode = 'require'")
        with connect(inst, sslmode="prefer") as after:
            assert after.pgconn.ssl_in_use
        assert before.execute("SELECT 1").fetchone() == (1,)


def start_up_ini(run_dir, cert, key, extra=""):
    """A config that requires client TLS, for runs of weir that must stop at start-up."""
    ini = run_dir / "weir.ini"
    ini.write_text("[databases]\napp = host=127.0.0.1\n[weir]\n"
                   f"listen_port = {free_port()}\nunix_socket_dir = {run_dir}\n"
                   f"client_tls_sslmode = require\nclient_tls_cert_file = {cert}\n"
                   f"client_tls_key_file = {key}\n{extra}")
    shutil.chown(ini, "weir", "weir")
    return ini


def test_a_broken_certificate_at_start_up_stops_weir_with_the_reason(pg, run_dir, run_weir):
    bad = run_dir / "bad.crt"
    bad.write_text("garbage\n")
    shutil.chown(bad, "weir", "weir")
    code, out = run_weir([start_up_ini(run_dir, bad, pg.certs.server_key)])
    assert code != 0
    assert f'cannot load certificate "{bad}"' in out, out


# -- SCRAM-SHA-256-PLUS (channel binding to weir's certificate)


@pytest.mark.parametrize("secret", ["plaintext", "verifier"])
def test_channel_binding_require_logs_in_through_weir(pg, weir, secret):
    users = None
    if secret == "verifier":
        users = {"scram_user": pg.rolpassword("scram_user")}
    inst = weir(tls_keys(pg), users=users)
    with connect(inst, sslmode="require", channel_binding="require") as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("scram_user",)


def test_channel_binding_require_fails_without_tls(pg, weir):
    inst = weir(tls_keys(pg, mode="allow"))
    with pytest.raises(psycopg.OperationalError, match="channel binding"):
        connect(inst, sslmode="disable", channel_binding="require")


def _tls_wire_until_sasl(inst, pg):
    wire = TlsWire(direct_tls(inst, ca=pg.certs.ca))
    wire.send(startup_message({"user": "scram_user", "database": "app"}))
    kind, payload = wire.read_message()
    assert kind == b"R" and struct.unpack("!I", payload[:4])[0] == 10
    mechanisms = [m.decode() for m in payload[4:].split(b"\0") if m]
    return wire, mechanisms


def _sasl_initial(mech, first):
    body = mech.encode() + b"\0" + struct.pack("!I", len(first)) + first.encode()
    return b"p" + struct.pack("!I", len(body) + 4) + body


@pytest.mark.parametrize("mech,first", [
    ("SCRAM-SHA-256", "y,,n=,r=abcdefghijklmnop"),  # a downgrade: -PLUS was offered
    ("SCRAM-SHA-256-PLUS", "n,,n=,r=abcdefghijklmnop"),  # -PLUS without binding
    ("SCRAM-SHA-256", "p=tls-server-end-point,,n=,r=abcdefghijklmnop"),
    ("SCRAM-SHA-256-PLUS", "p=tls-unique,,n=,r=abcdefghijklmnop"),
])
def test_channel_binding_negotiation_errors_are_protocol_violations(pg, weir, mech, first):
    inst = weir(tls_keys(pg))
    wire, mechanisms = _tls_wire_until_sasl(inst, pg)
    assert mechanisms == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
    with wire:
        wire.send(_sasl_initial(mech, first))
        fields = read_error_or_close(wire)
    assert fields and fields["C"] == "08P01", fields
    still_serves(inst, channel_binding="require")


def test_plain_clients_are_offered_no_plus(pg, weir):
    inst = weir(tls_keys(pg, mode="allow"))
    with PgWire(inst.port) as wire:
        wire.send(startup_message({"user": "scram_user", "database": "app"}))
        kind, payload = wire.read_message()
        assert kind == b"R" and struct.unpack("!I", payload[:4])[0] == 10
        assert [m for m in payload[4:].split(b"\0") if m] == [b"SCRAM-SHA-256"]


def test_weir_binds_its_scram_login_to_postgresqls_certificate(pg, weir):
    keys = tls_keys(pg)
    keys["weir"].update(server_tls_sslmode="verify-full", server_tls_ca_file=pg.certs.ca)
    inst = weir(keys)
    with connect(inst, sslmode="require") as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                            ).fetchone() == (True,)
    assert "server SCRAM login with channel binding (tls-server-end-point)" in inst.log()


# -- protocols and ciphers


def test_protocols_and_tls13_ciphers_are_applied(pg, weir):
    inst = weir(tls_keys(pg, client_tls_protocols="tlsv1.2"))
    with connect(inst, sslmode="require", application_name="v12") as conn, console(inst) as adm:
        row = next(r for r in show(adm, "CLIENTS") if r["application_name"] == "v12")
        assert row["tls"].startswith("TLSv1.2/"), row["tls"]
        assert conn.execute("SELECT 1").fetchone() == (1,)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["postgresql"])
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection(("127.0.0.1", inst.port), timeout=10) as raw:
            ctx.wrap_socket(raw).recv(1)

    inst = weir(tls_keys(pg, client_tls13_ciphers="TLS_CHACHA20_POLY1305_SHA256"))
    with connect(inst, sslmode="require", application_name="chacha"), console(inst) as adm:
        row = next(r for r in show(adm, "CLIENTS") if r["application_name"] == "chacha")
        assert row["tls"] == "TLSv1.3/TLS_CHACHA20_POLY1305_SHA256"


@pytest.mark.parametrize("key,value,error", [
    ("client_tls_protocols", "tlsv9", 'invalid TLS protocols "tlsv9"'),
    ("client_tls_ciphers", "NO-SUCH-CIPHER", 'invalid TLS ciphers "NO-SUCH-CIPHER"'),
    ("client_tls13_ciphers", "TLS_NOPE", "failed to set the TLSv1.3 cipher suites"),
    ("client_tls_dheparams", "huge", 'invalid client_tls_dheparams "huge"'),
])
def test_invalid_tls_settings_stop_start_up_with_the_reason(pg, run_dir, run_weir, key, value,
                                                            error):
    ini = start_up_ini(run_dir, pg.certs.server, pg.certs.server_key, f"{key} = {value}\n")
    code, out = run_weir([ini])
    assert code != 0 and error in out, out


# -- authentication by client certificate


def write_file(path, text):
    path.write_text(text)
    shutil.chown(path, "weir", "weir")
    return path


def test_auth_type_cert_takes_the_certificates_common_name_as_the_user(pg, weir):
    c = pg.certs
    inst = weir(tls_keys(pg, auth_type="cert"))
    cert, key = c.client("scram_user")
    with connect(inst, sslmode="require", sslcert=cert, sslkey=key, password="") as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("scram_user",)
    with pytest.raises(psycopg.OperationalError,
                       match='certificate authentication failed for user "md5_user"'):
        connect(inst, user="md5_user", sslmode="require", sslcert=cert, sslkey=key)
    with pytest.raises(psycopg.OperationalError, match="certificate authentication failed"):
        connect(inst, sslmode="require", password="")  # TLS, but no certificate
    with pytest.raises(psycopg.OperationalError, match="SSL required"):
        connect(inst, sslmode="disable", password="")


def test_hba_cert_with_and_without_a_map_and_hostssl_rules(pg, weir, run_dir):
    c = pg.certs
    hba = write_file(run_dir / "hba.conf",
                     "hostssl app md5_user 127.0.0.1/32 cert map=certmap\n"
                     "hostssl app trust_user 127.0.0.1/32 cert\n"
                     "hostssl app scram_user 127.0.0.1/32 scram-sha-256\n"
                     "hostnossl all all all reject\n")
    ident = write_file(run_dir / "ident.conf", "certmap alice md5_user\n")
    inst = weir(tls_keys(pg, mode="allow", auth_type="hba", auth_hba_file=hba,
                         auth_ident_file=ident))
    alice, alice_key = c.client("alice")
    trust, trust_key = c.client("trust_user")
    with connect(inst, user="md5_user", sslmode="require", sslcert=alice,
                 sslkey=alice_key) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("md5_user",)
    with connect(inst, user="trust_user", sslmode="require", sslcert=trust,
                 sslkey=trust_key) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("trust_user",)
    # the map does not let trust_user's certificate in as md5_user, nor alice's as trust_user
    with pytest.raises(psycopg.OperationalError, match="certificate authentication failed"):
        connect(inst, user="md5_user", sslmode="require", sslcert=trust, sslkey=trust_key)
    with pytest.raises(psycopg.OperationalError, match="certificate authentication failed"):
        connect(inst, user="trust_user", sslmode="require", sslcert=alice, sslkey=alice_key)
    assert "ident map: certmap does not have a match" in inst.log()
    # hostssl matched the TLS client; the same user in plaintext meets hostnossl reject
    with connect(inst, sslmode="require", channel_binding="require") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="rejects connection"):
        connect(inst, sslmode="disable")


def test_psql_with_verify_full_and_channel_binding(pg, weir):
    inst = weir(tls_keys(pg))
    dsn = (f"host=localhost port={inst.port} dbname=app user=scram_user sslmode=verify-full "
           f"sslrootcert={pg.certs.ca} channel_binding=require")
    env = dict(os.environ, PGPASSWORD=pg.passwords["scram_user"])
    out = subprocess.run(["psql", dsn, "-XAtc", "SELECT 'through weir'"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "through weir", out.stderr
    out = subprocess.run(["psql", dsn.replace("localhost", "127.0.0.1").replace(
        f"sslrootcert={pg.certs.ca}", f"sslrootcert={pg.certs.stranger_ca}"), "-XAtc",
        "SELECT 1"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "certificate verify failed" in out.stderr, out.stderr


@pytest.mark.parametrize("pool_mode", ["session", "transaction"])
def test_a_tls_client_that_stops_reading_gets_every_byte_when_it_resumes(pg, weir, pool_mode):
    """Backpressure through TLS on both sides: the client's socket fills, weir keeps the
    ciphertext the kernel did not take and stops reading the server; once the client
    reads again, everything arrives in order, and another client was served meanwhile."""
    inst = weir(tls_keys(pg, pool_mode=pool_mode, server_tls_sslmode="require"))
    rows, width = 3000, 10000
    with TlsWire(direct_tls(inst, ca=pg.certs.ca)) as wire:
        wire_login(wire, "scram_user", pg.passwords["scram_user"])
        wire.send(b"Q" + struct.pack("!I", 4 + 1 + 80) + (
            f"SELECT i, repeat(chr(65 + i % 26), {width}) FROM generate_series(1, {rows}) i"
            .ljust(80).encode()) + b"\0")
        time.sleep(2)  # read nothing: weir's writes to this client block
        still_serves(inst)
        seen = 0
        while True:
            kind, payload = wire.read_message(timeout=30)
            if kind == b"D":
                seen += 1
                (n,) = struct.unpack("!i", payload[2:6])
                i = int(payload[6:6 + n])
                (m,) = struct.unpack("!i", payload[6 + n:10 + n])
                assert i == seen and m == width
                assert payload[10 + n:] == bytes([65 + i % 26]) * width
            elif kind == b"Z":
                break
        assert seen == rows
