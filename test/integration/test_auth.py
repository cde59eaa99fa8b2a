# SPDX-License-Identifier: ISC
"""Logins through weir with each auth_type and kind of auth_file secret, and the errors a
failed login gets. psycopg shows what a real client sees; the hand-written wire client
shows which authentication request weir sent and the ErrorResponse's SQLSTATE (psycopg
does not expose the SQLSTATE of a failed connection attempt)."""

import psycopg
import pytest

from conftest import PgWire, WireError, md5_secret, wire_login, wire_query

AUTH_OK = 0
AUTH_CLEARTEXT = 3
AUTH_MD5 = 5
AUTH_SASL = 10

# auth_type -> the authentication request a client must get
REQUEST_FOR = {"plain": AUTH_CLEARTEXT, "md5": AUTH_MD5, "scram-sha-256": AUTH_SASL}


def check_login(inst, user, password, expect_request):
    """Logs in through weir by hand (checking the authentication request) and with
    psycopg; both must reach PostgreSQL as `user` and run a query."""
    with PgWire(inst.port) as wire:
        result = wire_login(wire, user, password)
        assert result.auth_methods[0] == expect_request, (
            f"weir sent authentication request {result.auth_methods}, "
            f"expected {expect_request} first")
        assert result.auth_methods[-1] == AUTH_OK
        assert wire_query(wire, "SELECT current_user, current_database()") == [[user, "app"]]
    with psycopg.connect(inst.dsn(user, password)) as conn:
        row = conn.execute("SELECT current_user, current_database(), 6 * 7").fetchone()
        assert row == (user, "app", 42)


def test_login_with_auth_type_trust(pg, weir):
    inst = weir({"weir": {"auth_type": "trust"}}, users={"trust_user": ""})
    check_login(inst, "trust_user", None, AUTH_OK)


def test_auth_type_any_logs_anyone_in_as_the_forced_user(pg, weir):
    """auth_type=any asks for no password; the database's forced user is who the client
    is, in PostgreSQL and in weir's log, whatever name it sent."""
    password = pg.passwords["plain_user"]
    inst = weir({"weir": {"auth_type": "any", "log_connections": 1},
                 "databases": {"app": f"host=127.0.0.1 port={pg.port} dbname=app "
                                      f"user=plain_user password={password}"}}, users={})
    for name in ("made_up_1", "made_up_2"):
        with PgWire(inst.port) as wire:
            result = wire_login(wire, name)
            assert result.auth_methods == [AUTH_OK]
            assert wire_query(wire, "SELECT current_user, 1") == [["plain_user", "1"]]
    assert "login attempt: db=app user=plain_user" in inst.log()


def test_login_with_auth_type_plain_and_plaintext_secret(pg, weir):
    inst = weir({"weir": {"auth_type": "plain"}},
                users={"plain_user": pg.passwords["plain_user"]})
    check_login(inst, "plain_user", pg.passwords["plain_user"], AUTH_CLEARTEXT)


def test_login_with_auth_type_md5_and_md5_secret_against_md5_server(pg, weir):
    password = pg.passwords["md5_user"]
    assert pg.rolpassword("md5_user") == md5_secret("md5_user", password)
    inst = weir({"weir": {"auth_type": "md5"}},
                users={"md5_user": md5_secret("md5_user", password)})
    check_login(inst, "md5_user", password, AUTH_MD5)


@pytest.mark.parametrize("auth_type", ["plain", "md5", "scram-sha-256"])
def test_plaintext_secret_logs_in_to_scram_server(pg, weir, auth_type):
    password = pg.passwords["scram_user"]
    inst = weir({"weir": {"auth_type": auth_type}}, users={"scram_user": password})
    check_login(inst, "scram_user", password, REQUEST_FOR[auth_type])


def test_scram_pass_through_with_verifier_copied_from_pg_authid(pg, weir):
    verifier = pg.rolpassword("scram_user")
    assert verifier.startswith("SCRAM-SHA-256$")
    password = pg.passwords["scram_user"]
    inst = weir({"weir": {"auth_type": "scram-sha-256"}}, users={"scram_user": verifier})
    assert password not in inst.ini_path.read_text() + inst.auth_file.read_text()

    check_login(inst, "scram_user", password, AUTH_SASL)
    # Two sessions at once need two server logins, both made with the keys weir derived
    # from client proofs.
    with psycopg.connect(inst.dsn("scram_user", password)) as first, \
            psycopg.connect(inst.dsn("scram_user", password)) as second:
        pid1 = first.execute("SELECT pg_backend_pid()").fetchone()[0]
        pid2 = second.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert pid1 != pid2
        assert second.execute("SELECT current_user").fetchone()[0] == "scram_user"


# (auth_type, user, auth_file secret)
FAILING_LOGINS = [
    ("plain", "plain_user", lambda pg: pg.passwords["plain_user"]),
    ("md5", "md5_user", lambda pg: md5_secret("md5_user", pg.passwords["md5_user"])),
    ("scram-sha-256", "scram_user", lambda pg: pg.passwords["scram_user"]),
    ("scram-sha-256", "scram_user", lambda pg: pg.rolpassword("scram_user")),
]
FAILING_IDS = ["plain", "md5", "scram-plaintext-secret", "scram-verifier-secret"]


def failed_login(inst, user, password):
    with PgWire(inst.port) as wire:
        with pytest.raises(WireError) as info:
            wire_login(wire, user, password)
    return info.value


@pytest.mark.parametrize("auth_type,user,secret", FAILING_LOGINS, ids=FAILING_IDS)
def test_wrong_password_is_rejected_with_28P01(pg, weir, auth_type, user, secret):
    inst = weir({"weir": {"auth_type": auth_type}}, users={user: secret(pg)})
    error = failed_login(inst, user, "not-the-password")
    assert error.sqlstate == "28P01", error.fields
    assert error.login.auth_methods[:1] == [REQUEST_FOR[auth_type]], (
        "the password must be asked for before it is refused")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(inst.dsn(user, "not-the-password"))
    assert inst.alive()


@pytest.mark.parametrize("auth_type,user,secret", FAILING_LOGINS, ids=FAILING_IDS)
def test_unknown_user_gets_same_error_as_wrong_password(pg, weir, auth_type, user, secret):
    inst = weir({"weir": {"auth_type": auth_type}}, users={user: secret(pg)})
    wrong = failed_login(inst, user, "not-the-password")
    unknown = failed_login(inst, "nobody_here", "not-the-password")
    assert unknown.sqlstate == "28P01", unknown.fields
    # The same exchange and the same words, the user's own name aside: nothing tells a
    # client whether the name exists.
    assert unknown.login.auth_methods == wrong.login.auth_methods
    assert (unknown.message.replace("nobody_here", "<user>")
            == wrong.message.replace(user, "<user>"))
    assert unknown.fields.get("S") == wrong.fields.get("S")


def test_unknown_database_is_rejected_with_3D000(pg, weir):
    inst = weir()
    with PgWire(inst.port) as wire:
        with pytest.raises(WireError) as info:
            wire_login(wire, "scram_user", pg.passwords["scram_user"], database="no_such_db")
    assert info.value.sqlstate == "3D000", info.value.fields
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(inst.dsn("scram_user", pg.passwords["scram_user"], "no_such_db"))
    with inst.connect("scram_user") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
