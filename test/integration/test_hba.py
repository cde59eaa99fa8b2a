# SPDX-License-Identifier: ISC
"""auth_type = hba: the method of the first matching rule of auth_hba_file decides how a
client logs in, against the real PostgreSQL behind weir. Every method (trust, reject,
password, md5, scram-sha-256, peer with and without an ident map), the rule order, the
record types, name lists and @file, addresses with a prefix or a mask, the replication
keyword, no matching rule, and a broken HBA file on RELOAD.

Peer logins need a client that is a given OS user at the other end of weir's Unix socket:
a child process running as the unprivileged user weir runs as connects, and hands the
connected socket back over a socketpair (the kernel keeps the credentials of the process
that connected), so the test drives the login with the hand-written wire client."""

import socket
import subprocess
import sys

import psycopg
import pytest

from conftest import (PgWire, WireError, as_run_user, chown_run_user, default_users,
                      md5_secret, run_user, wait_until, wire_login, wire_query)

AUTH_OK = 0
AUTH_CLEARTEXT = 3
AUTH_MD5 = 5
AUTH_SASL = 10

REPL_ROLE = "repl_user"
REPL_PASSWORD = "repl-secret"

# The child that connects to weir's Unix socket as the run user and passes the socket on.
CONNECT_AND_PASS = r"""
import socket, sys
path, fd = sys.argv[1], int(sys.argv[2])
conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
conn.connect(path)
socket.send_fds(socket.socket(fileno=fd), [b"s"], [conn.fileno()])
"""


class SocketWire(PgWire):
    """PgWire over an already connected socket (a Unix one here)."""

    def __init__(self, sock, timeout=10.0):  # noqa: super().__init__ would open TCP
        sock.settimeout(timeout)
        self.sock = sock
        self.buf = b""


def unix_path(inst):
    return f"{inst.dir}/.s.PGSQL.{inst.port}"


def unix_wire_as_run_user(inst):
    """A wire client on weir's Unix socket whose peer is the OS user weir runs as."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        proc = subprocess.run([sys.executable, "-c", CONNECT_AND_PASS, unix_path(inst),
                               str(theirs.fileno())], pass_fds=[theirs.fileno()],
                              capture_output=True, text=True, timeout=30, **as_run_user())
        assert proc.returncode == 0, proc.stderr
        _, fds, _, _ = socket.recv_fds(ours, 16, 1)
    assert len(fds) == 1
    return SocketWire(socket.socket(fileno=fds[0]))


def unix_wire_as_root(inst):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(unix_path(inst))
    return SocketWire(sock)


def write_run_user_file(path, text):
    path.write_text(text)
    chown_run_user(path)
    return path


def hba_weir(weir, pg, run_dir, rules, ident=None, users=None, weir_keys=None,
             databases=None):
    """weir with auth_type = hba and rules as its HBA file (ident: the ident map file)."""
    keys = {"auth_type": "hba",
            "auth_hba_file": write_run_user_file(run_dir / "hba.conf", rules)}
    if ident is not None:
        keys["auth_ident_file"] = write_run_user_file(run_dir / "ident.conf", ident)
    keys.update(weir_keys or {})
    config = {"weir": keys}
    if databases:
        config["databases"] = databases
    return weir(config, users=users)


def login(inst, user, password=None, database="app", wire=None, extra=None):
    """Logs in by hand; returns the authentication requests seen, after checking that the
    session reaches PostgreSQL as `user` (or the forced user)."""
    with wire or PgWire(inst.port) as w:
        result = wire_login(w, user, password, database=database, extra=extra)
        assert result.auth_methods[-1] == AUTH_OK
        rows = wire_query(w, "SELECT current_user")
        assert len(rows) == 1
        return result.auth_methods, rows[0][0]


def refused(inst, user, password=None, database="app", wire=None, extra=None):
    """The ErrorResponse that ends a login that must fail."""
    with wire or PgWire(inst.port) as w:
        with pytest.raises(WireError) as info:
            wire_login(w, user, password, database=database, extra=extra)
    return info.value


def still_usable(inst):
    """Another client still logs in and runs a query (the rules give trust_user trust)."""
    assert login(inst, "trust_user") == ([AUTH_OK], "trust_user")
    assert inst.alive()


TRUST_OK = "host app trust_user 127.0.0.1/32 trust\n"

METHOD_RULES = (TRUST_OK
                + "host app plain_user 127.0.0.1/32 password\n"
                + "host app md5_user 127.0.0.1/32 md5\n"
                + "host app scram_user 127.0.0.1/32 scram-sha-256\n"
                + "host app outsider 127.0.0.1/32 reject\n")


@pytest.fixture
def methods(weir, pg, run_dir):
    users = dict(default_users(pg), outsider="outsider-pw")
    return hba_weir(weir, pg, run_dir, METHOD_RULES, users=users)


def test_trust_rule_asks_for_no_password(methods):
    assert login(methods, "trust_user") == ([AUTH_OK], "trust_user")


def test_password_rule_asks_for_a_cleartext_password(pg, methods):
    password = pg.passwords["plain_user"]
    assert login(methods, "plain_user", password) == ([AUTH_CLEARTEXT, AUTH_OK], "plain_user")
    with psycopg.connect(methods.dsn("plain_user", password)) as conn:
        assert conn.execute("SELECT 6 * 7").fetchone() == (42,)
    error = refused(methods, "plain_user", "wrong")
    assert (error.sqlstate, error.message) == (
        "28P01", 'password authentication failed for user "plain_user"')
    assert error.login.auth_methods == [AUTH_CLEARTEXT]
    still_usable(methods)


def test_md5_rule_asks_for_md5(pg, methods):
    password = pg.passwords["md5_user"]
    assert login(methods, "md5_user", password) == ([AUTH_MD5, AUTH_OK], "md5_user")
    error = refused(methods, "md5_user", "wrong")
    assert (error.sqlstate, error.message) == (
        "28P01", 'password authentication failed for user "md5_user"')
    still_usable(methods)


def test_scram_rule_runs_scram(pg, methods):
    password = pg.passwords["scram_user"]
    assert login(methods, "scram_user", password) == ([AUTH_SASL, AUTH_OK], "scram_user")
    error = refused(methods, "scram_user", "wrong")
    assert error.sqlstate == "28P01"
    assert error.login.auth_methods == [AUTH_SASL]
    still_usable(methods)


def test_md5_rule_switches_to_scram_for_a_scram_verifier(weir, pg, run_dir):
    users = dict(default_users(pg), scram_user=pg.rolpassword("scram_user"))
    inst = hba_weir(weir, pg, run_dir, TRUST_OK + "host app scram_user 127.0.0.1/32 md5\n",
                    users=users)
    password = pg.passwords["scram_user"]
    assert login(inst, "scram_user", password) == ([AUTH_SASL, AUTH_OK], "scram_user")


def test_reject_rule_refuses_with_28000(methods):
    error = refused(methods, "outsider", "outsider-pw")
    assert error.sqlstate == "28000"
    assert error.message == ('pg_hba.conf rejects connection for host "127.0.0.1", '
                             'user "outsider", database "app", no encryption')
    assert error.login.auth_methods == [], "a rejected client is asked for nothing"
    assert "rejected by HBA line 5" in methods.log()
    still_usable(methods)


def test_no_matching_rule_refuses_with_28000(methods):
    error = refused(methods, "plain_user", "x", database="postgres")
    assert error.sqlstate == "28000"
    assert error.message == ('no pg_hba.conf entry for host "127.0.0.1", user "plain_user", '
                             'database "postgres", no encryption')
    assert "no authentication method is found" in methods.log()
    still_usable(methods)


def test_trust_rule_still_needs_the_user_in_auth_file(weir, pg, run_dir):
    inst = hba_weir(weir, pg, run_dir, "host app all 127.0.0.1/32 trust\n",
                    users={"trust_user": ""})
    error = refused(inst, "md5_user")
    assert (error.sqlstate, error.message) == ("28000", '"trust" authentication failed')
    still_usable(inst)


@pytest.mark.parametrize("trust_first", [True, False], ids=["trust-first", "reject-first"])
def test_first_matching_rule_wins(weir, pg, run_dir, trust_first):
    trust = "host app trust_user 127.0.0.1/32 trust\n"
    reject = "host app all 127.0.0.1/32 reject\n"
    rules = (trust + reject if trust_first else reject + trust) + "local all all trust\n"
    inst = hba_weir(weir, pg, run_dir, rules)
    if trust_first:
        still_usable(inst)
        error = refused(inst, "plain_user", pg.passwords["plain_user"])
    else:
        error = refused(inst, "trust_user")
    assert error.sqlstate == "28000"
    assert error.message == ('pg_hba.conf rejects connection for host "127.0.0.1", user '
                             f'"{"plain_user" if trust_first else "trust_user"}", '
                             'database "app", no encryption')
    # another client (on the Unix socket, the last rule) is still served
    assert login(inst, "trust_user", wire=unix_wire_as_root(inst)) == ([AUTH_OK], "trust_user")


def test_hostnossl_matches_a_plain_tcp_client(weir, pg, run_dir):
    inst = hba_weir(weir, pg, run_dir, "hostnossl app trust_user 127.0.0.1/32 trust\n"
                                       "host all all all reject\n")
    still_usable(inst)


def test_hostssl_does_not_match_a_plain_client(weir, pg, run_dir):
    inst = hba_weir(weir, pg, run_dir, "hostssl app all 127.0.0.1/32 trust\n"
                                       "host app plain_user 127.0.0.1/32 reject\n"
                                       + TRUST_OK)
    error = refused(inst, "plain_user")
    assert error.sqlstate == "28000"
    assert error.message == ('pg_hba.conf rejects connection for host "127.0.0.1", '
                             'user "plain_user", database "app", no encryption')
    assert "rejected by HBA line 2" in inst.log()
    still_usable(inst)


def test_database_and_user_lists_and_at_files(weir, pg, run_dir):
    other = pg.create_database("hba")
    write_run_user_file(run_dir / "dbs.txt", f"# databases\nnothing_here, {other}\n")
    write_run_user_file(run_dir / "users.txt", "trust_user\n\"plain_user\"\n")
    rules = ("host @dbs.txt @users.txt 127.0.0.1/32 trust\n"
             "host nothing,app \"md5_user\",scram_user 127.0.0.1/32 trust\n")
    databases = {"app": f"host=127.0.0.1 port={pg.port} dbname=app",
                 other: f"host=127.0.0.1 port={pg.port} dbname={other}"}
    inst = hba_weir(weir, pg, run_dir, rules, databases=databases)
    try:
        assert login(inst, "plain_user", database=other) == ([AUTH_OK], "plain_user")
        assert login(inst, "trust_user", database=other) == ([AUTH_OK], "trust_user")
        assert login(inst, "md5_user") == ([AUTH_OK], "md5_user")
        assert login(inst, "scram_user") == ([AUTH_OK], "scram_user")
        error = refused(inst, "md5_user", database=other)
        assert error.sqlstate == "28000"
        assert error.message == (f'no pg_hba.conf entry for host "127.0.0.1", user "md5_user", '
                                 f'database "{other}", no encryption')
        error = refused(inst, "trust_user")
        assert error.sqlstate == "28000"
        assert error.message.startswith("no pg_hba.conf entry for host")
        assert login(inst, "scram_user") == ([AUTH_OK], "scram_user")
    finally:
        inst.stop()
        pg.drop_database(other)


def test_address_prefix_and_mask(weir, pg, run_dir):
    rules = ("host all all 10.0.0.0/8 trust\n"
             "host app plain_user 127.0.0.1/32 password\n"
             "host app md5_user 127.0.0.1 255.255.255.255 md5\n"
             "host app trust_user 127.0.0.0 255.0.0.0 trust\n")
    inst = hba_weir(weir, pg, run_dir, rules)
    assert login(inst, "plain_user", pg.passwords["plain_user"])[0] == [AUTH_CLEARTEXT, AUTH_OK]
    assert login(inst, "md5_user", pg.passwords["md5_user"])[0] == [AUTH_MD5, AUTH_OK]
    still_usable(inst)
    error = refused(inst, "scram_user", pg.passwords["scram_user"])
    assert error.sqlstate == "28000", "the 10.0.0.0/8 trust rule must not match 127.0.0.1"
    assert error.message.startswith('no pg_hba.conf entry for host "127.0.0.1"')
    still_usable(inst)


@pytest.fixture
def repl_role(pg):
    if not pg.sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (REPL_ROLE,)):
        pg.sql(f"CREATE ROLE {REPL_ROLE} LOGIN REPLICATION PASSWORD '{REPL_PASSWORD}'")
        pg.sql(f"GRANT ALL ON DATABASE app TO {REPL_ROLE}")
    return dict(default_users(pg), **{REPL_ROLE: REPL_PASSWORD})


def repl_databases(pg):
    return {"app": f"host=127.0.0.1 port={pg.port} dbname=app",
            "replication": f"host=127.0.0.1 port={pg.port}"}


PHYSICAL = {"replication": "true"}


def test_replication_keyword_matches_only_replication_connections(weir, pg, run_dir,
                                                                   repl_role):
    rules = (f"host replication {REPL_ROLE} 127.0.0.1/32 scram-sha-256\n"
             f"host all {REPL_ROLE} 127.0.0.1/32 reject\n"
             + TRUST_OK)
    inst = hba_weir(weir, pg, run_dir, rules, users=repl_role, databases=repl_databases(pg))
    with PgWire(inst.port) as wire:
        result = wire_login(wire, REPL_ROLE, REPL_PASSWORD, database="replication",
                            extra=PHYSICAL)
        assert result.auth_methods == [AUTH_SASL, AUTH_OK]
        row = wire_query(wire, "IDENTIFY_SYSTEM")[0]
        assert len(row) == 4
    error = refused(inst, REPL_ROLE, REPL_PASSWORD)
    assert error.sqlstate == "28000"
    assert error.message.startswith("pg_hba.conf rejects connection for host")
    still_usable(inst)


def test_all_does_not_match_a_replication_connection(weir, pg, run_dir, repl_role):
    inst = hba_weir(weir, pg, run_dir, "host all all 127.0.0.1/32 trust\n", users=repl_role,
                    databases=repl_databases(pg))
    error = refused(inst, REPL_ROLE, REPL_PASSWORD, database="replication", extra=PHYSICAL)
    assert error.sqlstate == "28000"
    assert error.message == ('no pg_hba.conf entry for replication connection from host '
                             f'"127.0.0.1", user "{REPL_ROLE}", no encryption')
    still_usable(inst)


def peer_databases(pg):
    return {"app": f"host=127.0.0.1 port={pg.port} dbname=app",
            "peerdb": f"host=127.0.0.1 port={pg.port} dbname=app user=trust_user"}


def test_peer_on_the_unix_socket_as_the_same_os_user(weir, pg, run_dir):
    me = run_user().pw_name
    users = dict(default_users(pg), **{me: ""})
    inst = hba_weir(weir, pg, run_dir, "local all all peer\n" + TRUST_OK, users=users,
                    databases=peer_databases(pg))
    methods, current = login(inst, me, database="peerdb", wire=unix_wire_as_run_user(inst))
    assert (methods, current) == ([AUTH_OK], "trust_user")
    # root is not the user it asks to be
    error = refused(inst, me, database="peerdb", wire=unix_wire_as_root(inst))
    assert (error.sqlstate, error.message) == (
        "28000", f'peer authentication failed for user "{me}"')
    # the OS user weir is not trust_user either
    error = refused(inst, "trust_user", wire=unix_wire_as_run_user(inst))
    assert (error.sqlstate, error.message) == (
        "28000", 'peer authentication failed for user "trust_user"')
    assert f"provided user name (trust_user) and authenticated user name ({me})" in inst.log()
    still_usable(inst)


def test_peer_with_an_ident_map(weir, pg, run_dir):
    me = run_user().pw_name
    ident = f"# map system database\nos {me} trust_user\nos {me} scram_user\nos root all\n"
    inst = hba_weir(weir, pg, run_dir, "local all all peer map=os\n" + TRUST_OK, ident=ident)
    assert login(inst, "trust_user", wire=unix_wire_as_run_user(inst)) == (
        [AUTH_OK], "trust_user")
    error = refused(inst, "md5_user", wire=unix_wire_as_run_user(inst))
    assert (error.sqlstate, error.message) == (
        "28000", 'peer authentication failed for user "md5_user"')
    assert "ident map os cannot be matched" in inst.log()
    assert login(inst, "md5_user", wire=unix_wire_as_root(inst)) == ([AUTH_OK], "md5_user")
    still_usable(inst)


def test_peer_over_tcp_is_refused(weir, pg, run_dir):
    inst = hba_weir(weir, pg, run_dir, TRUST_OK + "host all all 127.0.0.1/32 peer\n")
    error = refused(inst, "plain_user")
    assert (error.sqlstate, error.message) == (
        "28000", 'peer authentication failed for user "plain_user"')
    assert "peer authentication is only supported on Unix sockets" in inst.log()
    still_usable(inst)


def test_broken_hba_file_on_reload_keeps_the_old_rules(weir, pg, run_dir):
    rules = TRUST_OK + "host all scram_user 127.0.0.1/32 scram-sha-256\n"
    inst = hba_weir(weir, pg, run_dir, rules, weir_keys={"admin_users": "scram_user"})
    hba_path = run_dir / "hba.conf"
    with inst.connect("trust_user", autocommit=True) as kept, \
            inst.connect("scram_user", dbname="weir", autocommit=True) as console:
        console.prepare_threshold = None
        write_run_user_file(hba_path, "host app trust_user 127.0.0.1/32 reject\n"
                                      "host all all db.example.com trust\n")
        with pytest.raises(psycopg.Error) as info:
            console.execute("RELOAD")
        assert info.value.sqlstate == "F0000"
        detail = info.value.diag.message_detail or ""
        assert f'{hba_path}:2: host names are not supported: "db.example.com"' in detail
        assert "reload failed, keeping the old config" in inst.log()
        assert kept.execute("SELECT 'kept'").fetchone() == ("kept",)
        still_usable(inst)  # the old trust rule, not the new reject one

        write_run_user_file(hba_path, "host app trust_user 127.0.0.1/32 reject\n" + rules)
        console.execute("RELOAD")
        error = refused(inst, "trust_user")
        assert error.sqlstate == "28000"
        assert error.message.startswith("pg_hba.conf rejects connection for host")
        assert kept.execute("SELECT 'still kept'").fetchone() == ("still kept",)


def test_broken_hba_file_at_start_up_is_fatal_with_its_line(run_weir, pg, run_dir):
    hba = write_run_user_file(run_dir / "hba.conf", "local all all trust\nhost all all\n")
    ini = write_run_user_file(run_dir / "weir.ini",
                              "[weir]\nlisten_port = 1\nauth_type = hba\n"
                              f"auth_hba_file = {hba}\nauth_file = {run_dir}/users.txt\n")
    write_run_user_file(run_dir / "users.txt", '"a" "b"\n')
    code, out = run_weir([ini])
    assert code == 1
    assert f"{hba}:2: end of line before IP address specification" in out


def test_md5_secret_user_logs_in_with_hba_password_rule(weir, pg, run_dir):
    """A password rule checks the cleartext password against an md5 auth_file secret."""
    password = pg.passwords["md5_user"]
    inst = hba_weir(weir, pg, run_dir, TRUST_OK + "host app md5_user 127.0.0.1/32 password\n",
                    users=dict(default_users(pg), md5_user=md5_secret("md5_user", password)))
    assert login(inst, "md5_user", password) == ([AUTH_CLEARTEXT, AUTH_OK], "md5_user")
    error = refused(inst, "md5_user", "nope")
    assert error.sqlstate == "28P01"
    still_usable(inst)


def test_cert_rule_fails_without_a_client_certificate(weir, pg, run_dir):
    """A plain client has no certificate: a `cert` rule refuses it before any exchange
    (test_tls.py has cert logins over TLS)."""
    inst = hba_weir(weir, pg, run_dir, TRUST_OK + "host app plain_user 127.0.0.1/32 cert\n")
    error = refused(inst, "plain_user", pg.passwords["plain_user"])
    assert (error.sqlstate, error.message) == (
        "28000", 'certificate authentication failed for user "plain_user"')
    assert error.login.auth_methods == []
    still_usable(inst)
