# SPDX-License-Identifier: ISC
"""Authentication hardening (issue 9, items 12, 14 and 15).

Key derivations never freeze the event loop: while a pool logs in to a server that asks
for many SCRAM iterations, or clients send passwords to be checked against a costly
verifier, a bystander client of another pool runs `SELECT 1` in a loop and its slowest
round trip stays far below one derivation. A server asking for more iterations than
server_scram_max_iterations is refused before any derivation starts.

weir authenticates the server too: once SCRAM has started, AuthenticationOk counts only
after a SASLFinal whose signature verified, and server_require_auth refuses the methods
an operator does not want (libpq's require_auth syntax).

Clients' SASL messages are refused as PostgreSQL refuses them: bytes after the declared
SASL data, and an authzid in client-first, are 08P01.

The servers that misbehave are fakepg.py's; the bystander's pool is the real PostgreSQL.
"""

import base64
import hashlib
import os
import re
import secrets
import struct
import threading
import time

import psycopg
import pytest

from conftest import (PgWire, WireError, format_auth_file, free_port, message,
                      read_error_or_close, startup_message, wait_until, wire_login,
                      wire_query)
from drivers import wait_for_log
from fakepg import FakePG, Script, scram_verifier

FAKE_USER = "fake_user"
FAKE_PASSWORD = "fake-pass-9"
SLOW_USER = "slow_user"
SLOW_PASSWORD = "slow-pass-7"
DEFAULT_CAP = 100000
# A bystander's round trip must stay below this, and below a share of one derivation.
BYSTANDER_LIMIT = 0.25


def pbkdf2_seconds(iterations):
    """How long this machine takes for one PBKDF2-HMAC-SHA-256 of `iterations` (the
    reference the timing assertions compare against; OpenSSL's, like weir's)."""
    start = time.monotonic()
    hashlib.pbkdf2_hmac("sha256", b"calibration", b"0123456789abcdef", iterations)
    return time.monotonic() - start


def iterations_for(seconds, low=1_000_000, high=8_000_000):
    """An iteration count whose derivation takes about `seconds` here."""
    per_million = pbkdf2_seconds(1_000_000)
    return max(low, min(high, int(seconds / per_million * 1_000_000)))


class Bystander:
    """A client of another pool (the real PostgreSQL through weir), logged in before the
    `with` block, that runs SELECT 1 in a loop in a thread while the block runs. After it:
    .worst is the slowest round trip, .count how many ran, .errors what failed."""

    def __init__(self, inst, user="scram_user", dbname="app"):
        self.conn = inst.connect(user, dbname=dbname, autocommit=True)
        assert self.conn.execute("SELECT 1").fetchone() == (1,)
        self.worst = 0.0
        self.count = 0
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                row = self.conn.execute("SELECT 1").fetchone()
            except psycopg.Error as exc:
                self.errors.append(repr(exc))
                return
            took = time.monotonic() - start
            if row != (1,):
                self.errors.append(f"SELECT 1 returned {row!r}")
            self.worst = max(self.worst, took)
            self.count += 1
            self._stop.wait(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)
        self.conn.close()
        return False

    def check(self, limit):
        assert not self.errors, f"the bystander's queries failed: {self.errors}"
        assert self.count > 0, "the bystander ran no query"
        assert self.worst < limit, (
            f"the bystander waited {self.worst:.3f}s for one SELECT 1 (limit {limit:.3f}s, "
            f"{self.count} queries): the event loop was blocked")


def fake_config(fake, **weir_keys):
    """weir config with database `fake` on the fake server (and `app` on PostgreSQL)."""
    keys = {"auth_type": "plain", "server_login_retry": "0.3"}
    keys.update({k: str(v) for k, v in weir_keys.items()})
    return {"weir": keys,
            "databases": {"fake": f"host=127.0.0.1 port={fake.port} dbname=fake"}}


def fake_users(pg, **extra):
    users = {"scram_user": pg.passwords["scram_user"], FAKE_USER: FAKE_PASSWORD}
    users.update(extra)
    return users


def login_error(inst, user, password, database, timeout=30.0):
    """The WireError a login through weir ends with (the test fails if it succeeds)."""
    with PgWire(inst.port, timeout=timeout) as wire:
        with pytest.raises(WireError) as info:
            wire_login(wire, user, password, database=database, timeout=timeout)
    return info.value


def login_and_query(inst, user, password, database, timeout=30.0):
    """Logs in through weir and runs SELECT 1; returns its rows."""
    with PgWire(inst.port, timeout=timeout) as wire:
        wire_login(wire, user, password, database=database, timeout=timeout)
        return wire_query(wire, "SELECT 1", timeout=timeout)


def timed(fn, *args, **kwargs):
    """(seconds, result or the exception raised)."""
    start = time.monotonic()
    try:
        result = fn(*args, **kwargs)
    except (Exception, pytest.fail.Exception) as exc:  # noqa: BLE001 - the caller asserts
        result = exc
    return time.monotonic() - start, result


def in_threads(calls):
    """Runs each (fn, args) in its own thread at once; returns [(seconds, result)]."""
    results = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i, fn, args):
        barrier.wait()
        results[i] = timed(fn, *args)

    threads = [threading.Thread(target=run, args=(i, fn, args), daemon=True)
               for i, (fn, args) in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def append_weir_keys(inst, **keys):
    """Adds a [weir] block to the running instance's file (later lines win) and reloads."""
    lines = "".join(f"{k} = {v}\n" for k, v in keys.items())
    with open(inst.ini_path, "a") as f:
        f.write(f"\n[weir]\n{lines}")
    mark = inst.log().count("config reloaded")
    inst.reload()
    wait_until(lambda: inst.log().count("config reloaded") > mark, 10, "the reload")


# ---------------------------------------------------------------------------------------
# item 12: the iteration cap, and derivations off the loop


@pytest.mark.deadline(120)
def test_server_asking_for_more_scram_iterations_than_the_cap_is_refused_at_once(pg, weir):
    """10,000,000 iterations (about 5 s of PBKDF2) against the default cap of 100000: the
    pool's clients get an error naming the value and the key at once, weir never sends a
    client-final, and the bystander of another pool does not notice."""
    script = Script(auth="scram", password=FAKE_PASSWORD, iterations=10_000_000,
                    check_password=False)
    with FakePG(script) as fake:
        inst = weir(fake_config(fake), users=fake_users(pg))
        with Bystander(inst) as bystander:
            took, error = timed(login_error, inst, FAKE_USER, FAKE_PASSWORD, "fake")
            time.sleep(0.2)
        print(f"\nrefused login took {took:.3f}s; bystander worst {bystander.worst:.4f}s "
              f"over {bystander.count} queries")
        bystander.check(BYSTANDER_LIMIT)
        assert isinstance(error, WireError), f"the login was not refused: {error!r}"
        assert error.sqlstate == "28000", error.fields
        assert error.message == ("server asked for 10000000 SCRAM iterations, more than "
                                 "server_scram_max_iterations (100000)"), error.fields
        assert took < 2.0, f"the refusal took {took:.2f}s"
        session = fake.wait_for_sessions(1)[0]
        assert session.sasl_client_first is not None
        session.closed.wait(5)
        assert session.sasl_client_final is None, "weir answered the server-first anyway"
    wait_for_log(inst, "server login failed: server asked for 10000000 SCRAM iterations")
    with inst.connect("scram_user") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.deadline(180)
def test_allowed_large_scram_iterations_are_derived_off_the_loop_after_a_reload(pg, weir):
    """A count above the default cap is refused; raising server_scram_max_iterations by a
    reload lets the next login through, and its seconds-long derivation runs in a thread:
    the bystander's slowest query stays far below it."""
    iterations = iterations_for(1.5)
    script = Script(auth="scram", password=FAKE_PASSWORD, iterations=iterations).prepare()
    reference = pbkdf2_seconds(iterations)
    with FakePG(script) as fake:
        inst = weir(fake_config(fake), users=fake_users(pg))
        error = login_error(inst, FAKE_USER, FAKE_PASSWORD, "fake")
        assert f"server asked for {iterations} SCRAM iterations" in error.message, error.fields
        append_weir_keys(inst, server_scram_max_iterations=10_000_000)
        time.sleep(0.4)  # server_login_retry
        with Bystander(inst) as bystander:
            took, rows = timed(login_and_query, inst, FAKE_USER, FAKE_PASSWORD, "fake")
        print(f"\n{iterations} iterations: PBKDF2 here {reference:.3f}s, login through weir "
              f"{took:.3f}s; bystander worst {bystander.worst:.4f}s over {bystander.count}")
        assert rows == [["1"]], rows
        assert took > 0.5 * reference, "the login was too quick to have derived the keys"
        bystander.check(min(BYSTANDER_LIMIT, took / 4))
        assert bystander.count >= 5
        session = fake.sessions[-1]
        assert session.authenticated and session.error is None, session


def wrong_login(inst, user, database="fake"):
    return login_error(inst, user, "not-the-password", database)


@pytest.mark.deadline(180)
def test_wrong_passwords_against_a_costly_verifier_slow_only_the_logins(pg, weir):
    """auth_type=plain and an auth_file verifier of 1,000,000 iterations: four clients send
    wrong passwords at once and one the right password. Each check is a derivation in the
    KDF pool; the wrong ones get 28P01, the right one logs in, and the bystander's queries
    keep flowing."""
    salt = os.urandom(16)
    reference = pbkdf2_seconds(1_000_000)
    verifier = scram_verifier(SLOW_PASSWORD, salt, 1_000_000)
    with FakePG(Script(auth="ok")) as fake:
        inst = weir(fake_config(fake), users=fake_users(pg, **{SLOW_USER: verifier}))
        with Bystander(inst) as bystander:
            calls = [(wrong_login, (inst, SLOW_USER))] * 4
            calls.append((login_and_query, (inst, SLOW_USER, SLOW_PASSWORD, "fake")))
            results = in_threads(calls)
        slowest = max(took for took, _ in results)
        print(f"\n1,000,000 iterations: PBKDF2 here {reference:.3f}s; logins took "
              f"{', '.join(f'{t:.2f}' for t, _ in results)}s; bystander worst "
              f"{bystander.worst:.4f}s over {bystander.count} queries")
        assert reference > 0.2, "this machine derives too fast for the test to mean much"
        for took, error in results[:4]:
            assert isinstance(error, WireError), f"a wrong password was accepted: {error!r}"
            assert error.sqlstate == "28P01", error.fields
            assert error.message == f'password authentication failed for user "{SLOW_USER}"'
        assert results[4][1] == [["1"]], f"the right password did not log in: {results[4]}"
        # Five derivations, one at a time (clients get one thread): the last came late.
        assert slowest > 2 * reference, f"logins took {results}"
        bystander.check(min(BYSTANDER_LIMIT, reference / 2))
        with psycopg.connect(inst.dsn(SLOW_USER, SLOW_PASSWORD, "fake")) as conn:
            assert conn.execute("SELECT 1").fetchone() == ("1",)


@pytest.mark.deadline(120)
def test_keys_of_a_plaintext_secret_are_derived_off_the_loop_once(pg, weir):
    """SCRAM against a plaintext auth_file secret with scram_iterations = 1,000,000: the
    first logins wait for one derivation in the KDF pool (the bystander does not), later
    ones use the cached keys. Logins that start together all succeed."""
    reference = pbkdf2_seconds(1_000_000)
    with FakePG(Script(auth="ok")) as fake:
        config = fake_config(fake, auth_type="scram-sha-256", scram_iterations=1_000_000)
        inst = weir(config, users=fake_users(pg, **{SLOW_USER: SLOW_PASSWORD}))
        with Bystander(inst) as bystander:
            first = in_threads([(login_and_query, (inst, SLOW_USER, SLOW_PASSWORD, "fake"))]
                               * 3)
        later, rows = timed(login_and_query, inst, SLOW_USER, SLOW_PASSWORD, "fake")
        print(f"\nfirst logins {', '.join(f'{t:.3f}' for t, _ in first)}s, a later one "
              f"{later:.3f}s; PBKDF2 here {reference:.3f}s; bystander worst "
              f"{bystander.worst:.4f}s over {bystander.count}")
        for took, result in first:
            assert result == [["1"]], f"a first login failed: {result!r}"
        assert rows == [["1"]]
        # Every login here also pays for the test client's own proof (one derivation of
        # `reference`); only the first ones wait for weir's as well.
        assert max(t for t, _ in first) - later > 0.5 * reference, "the keys were not cached"
        bystander.check(min(BYSTANDER_LIMIT, reference / 2))


def send_password(inst, user, password):
    """A wire client that logs in (auth_type=plain) up to sending its password and
    returns without reading the answer."""
    wire = PgWire(inst.port, timeout=30)
    wire.send(startup_message({"user": user, "database": "fake"}))
    kind, payload = wire.read_message(10)
    assert kind == b"R" and struct.unpack("!I", payload[:4])[0] == 3, (kind, payload)
    wire.send(message(b"p", password.encode() + b"\0"))
    return wire


@pytest.mark.deadline(120)
def test_clients_gone_or_timed_out_during_their_derivation_leave_nothing_behind(pg, weir):
    """Clients that hang up, or hit client_login_timeout, while their password check waits
    in the KDF pool (queued or running): their jobs are cancelled or their results dropped,
    the timed-out ones get PgBouncer's error, and weir goes on (the harness checks that it
    exits cleanly with no sanitizer report)."""
    salt = os.urandom(16)
    verifier = scram_verifier(SLOW_PASSWORD, salt, 2_000_000)
    with FakePG(Script(auth="ok")) as fake:
        inst = weir(fake_config(fake, client_login_timeout=0.5),
                    users=fake_users(pg, **{SLOW_USER: verifier}))
        gone = [send_password(inst, SLOW_USER, "wrong") for _ in range(3)]
        for wire in gone:
            wire.close()
        waiting = [send_password(inst, SLOW_USER, "wrong") for _ in range(3)]
        for wire in waiting:
            fields = read_error_or_close(wire, timeout=10)
            wire.close()
            assert fields is not None, "the timed-out client got no error"
            assert fields.get("C") == "08P01" and fields.get("M") == "client_login_timeout", \
                fields
        assert inst.alive()
        with inst.connect("scram_user") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        # the derivations still running finish in their threads, their results dropped
        time.sleep(1.0)
        assert inst.alive()


@pytest.mark.deadline(120)
def test_server_connect_timeout_during_a_server_derivation_fails_the_login(pg, weir):
    """A server login waiting for its derivation is still under server_connect_timeout:
    it fails, the pool's clients get the error, and the derivation's result is dropped."""
    iterations = iterations_for(1.5, low=1_500_000)
    script = Script(auth="scram", password=FAKE_PASSWORD, iterations=iterations,
                    check_password=False)
    with FakePG(script) as fake:
        inst = weir(fake_config(fake, server_connect_timeout=0.5,
                                server_scram_max_iterations=10_000_000),
                    users=fake_users(pg))
        took, error = timed(login_error, inst, FAKE_USER, FAKE_PASSWORD, "fake")
        assert isinstance(error, WireError), error
        assert error.message == "server connect timeout", error.fields
        assert took < 2.0, f"the timeout took {took:.2f}s"
        wait_for_log(inst, "closing because: connect timeout")
        with inst.connect("scram_user") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert fake.sessions[0].sasl_client_final is None


# ---------------------------------------------------------------------------------------
# item 14: the server's signature, and server_require_auth


SCRAM_INCOMPLETE = ("server sent AuthenticationOk before completing SCRAM authentication "
                    "(no SASLFinal with its signature)")


@pytest.mark.parametrize("fault", ["ok_after_client_final", "ok_after_client_first"])
def test_authentication_ok_before_the_sasl_final_fails_the_server_login(pg, weir, fault):
    """A server that says AuthenticationOk without proving it knows the password (no
    SASLFinal) is refused: both clients waiting for the pool get the error, the reason is
    logged, and other pools keep working."""
    script = Script(auth="scram", password=FAKE_PASSWORD, scram_fault=fault, auth_delay=0.5)
    with FakePG(script) as fake:
        inst = weir(fake_config(fake), users=fake_users(pg))
        results = in_threads([(login_error, (inst, FAKE_USER, FAKE_PASSWORD, "fake"))] * 2)
        for took, error in results:
            assert isinstance(error, WireError), f"the login was not refused: {error!r}"
            assert error.sqlstate == "08P01", error.fields
            assert error.message == SCRAM_INCOMPLETE, error.fields
        wait_for_log(inst, f"server login failed: {SCRAM_INCOMPLETE}")
        # session pooling: each login opens a server of its own, none more after the failure
        assert len(fake.sessions) <= 2, fake.sessions
        with inst.connect("scram_user") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_wrong_server_signature_fails_the_server_login(pg, weir):
    script = Script(auth="scram", password=FAKE_PASSWORD, scram_fault="bad_signature")
    with FakePG(script) as fake:
        inst = weir(fake_config(fake), users=fake_users(pg))
        error = login_error(inst, FAKE_USER, FAKE_PASSWORD, "fake")
        assert error.sqlstate == "28P01", error.fields
        assert error.message == "invalid SCRAM signature from the server", error.fields
        assert fake.sessions[0].sasl_client_final is not None
        wait_for_log(inst, "server login failed: invalid SCRAM signature from the server")
        with inst.connect("scram_user") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_correct_scram_exchange_with_the_fake_server_logs_in(pg, weir):
    """The control case of the two above: the same fake, behaving."""
    with FakePG(Script(auth="scram", password=FAKE_PASSWORD)) as fake:
        inst = weir(fake_config(fake), users=fake_users(pg))
        assert login_and_query(inst, FAKE_USER, FAKE_PASSWORD, "fake") == [["1"]]
        session = fake.sessions[0]
        assert session.startup["user"] == FAKE_USER and session.startup["database"] == "fake"
        assert session.sasl_mechanism == "SCRAM-SHA-256"


REQUIRE_CASES = [
    # (server_require_auth, what the server asks for, refused method or None)
    ("!password,!md5", "cleartext", "password"),
    ("!password,!md5", "md5", "md5"),
    ("!password,!md5", "scram", None),
    ("!password,!md5", "ok", None),
    ("scram-sha-256", "ok", "none"),
    ("scram-sha-256", "md5", "md5"),
    ("password", "scram", "scram-sha-256"),
    ("md5, password", "cleartext", None),
]


@pytest.mark.parametrize("setting,asked,refused", REQUIRE_CASES,
                         ids=[f"{s}-{a}" for s, a, _ in REQUIRE_CASES])
def test_server_require_auth_refuses_the_methods_it_does_not_list(pg, weir, setting, asked,
                                                                  refused):
    with FakePG(Script(auth=asked, password=FAKE_PASSWORD)) as fake:
        inst = weir(fake_config(fake, server_require_auth=setting), users=fake_users(pg))
        if refused is None:
            assert login_and_query(inst, FAKE_USER, FAKE_PASSWORD, "fake") == [["1"]]
            return
        error = login_error(inst, FAKE_USER, FAKE_PASSWORD, "fake")
        assert error.sqlstate == "28000", error.fields
        assert error.message.startswith(
            f'server asked for authentication method "{refused}" ('), error.fields
        assert error.message.endswith(
            f'which server_require_auth "{setting}" does not allow'), error.fields
        session = fake.sessions[0]
        assert session.passwords == [] and session.sasl_client_first is None, (
            "weir answered a request it refuses")
        wait_for_log(inst, f'server_require_auth "{setting}"')


def test_server_require_auth_is_empty_by_default_and_allows_a_cleartext_server(pg, weir):
    """As in libpq, no setting means any method: the password goes to the server."""
    with FakePG(Script(auth="cleartext", password=FAKE_PASSWORD)) as fake:
        inst = weir(fake_config(fake), users=fake_users(pg))
        assert login_and_query(inst, FAKE_USER, FAKE_PASSWORD, "fake") == [["1"]]
        assert fake.sessions[0].passwords == [FAKE_PASSWORD]


def write_ini(pg, run_dir, extra_line):
    auth_file = run_dir / "userlist.txt"
    auth_file.write_text(format_auth_file({"scram_user": pg.passwords["scram_user"]}))
    lines = ["[weir]", "listen_addr = 127.0.0.1", f"listen_port = {free_port()}",
             f"unix_socket_dir = {run_dir}", f"auth_file = {auth_file}", extra_line, "",
             "[databases]", f"app = host=127.0.0.1 port={pg.port} dbname=app", ""]
    path = run_dir / "weir.ini"
    path.write_text("\n".join(lines))
    return path, lines.index(extra_line) + 1


@pytest.mark.parametrize("value,why", [
    ("password,!md5", "negated and plain methods cannot be mixed"),
    ("gss", 'unknown method "gss" (weir knows password, md5, scram-sha-256, none)'),
    ("md5,md5", 'method "md5" is listed twice'),
])
def test_invalid_server_require_auth_stops_start_up_with_file_and_line(pg, run_dir, run_weir,
                                                                       value, why):
    ini, line = write_ini(pg, run_dir, f"server_require_auth = {value}")
    code, out = run_weir(["-v", ini])
    assert code != 0, out
    want = f'weir.ini:{line}: invalid value "{value}" for parameter server_require_auth: {why}'
    assert want in out, out


def test_invalid_server_require_auth_on_reload_keeps_the_old_config(pg, weir):
    inst = weir()
    with open(inst.ini_path, "a") as f:
        f.write("\n[weir]\nserver_require_auth = !password,scram-sha-256\n")
    line = len(inst.ini_path.read_text().splitlines())
    inst.reload()
    wait_until(lambda: "reload failed" in inst.log(), 10, "the failed reload")
    assert re.search(rf"reload failed, keeping the old config: .*weir\.ini:{line}: invalid "
                     r"value .* for parameter server_require_auth", inst.log()), inst.log()
    with inst.connect("scram_user") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


# ---------------------------------------------------------------------------------------
# item 15: SASL messages PostgreSQL refuses


def sasl_begin(inst, user):
    """A wire client that has got weir's AuthenticationSASL."""
    wire = PgWire(inst.port)
    wire.send(startup_message({"user": user, "database": "app"}))
    kind, payload = wire.read_message()
    assert kind == b"R" and struct.unpack("!I", payload[:4])[0] == 10, (kind, payload)
    return wire


def sasl_initial(data, declared=None, mech=b"SCRAM-SHA-256"):
    n = len(data) if declared is None else declared
    return message(b"p", mech + b"\0" + struct.pack("!I", n) + data)


def client_first(authzid=""):
    nonce = base64.b64encode(secrets.token_bytes(18)).decode()
    return f"n,{authzid},n=,r={nonce}".encode()


def assert_still_serving(inst):
    with inst.connect("scram_user") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("user", ["scram_user", "nobody_here"])
def test_sasl_initial_response_with_trailing_bytes_is_refused_with_08P01(pg, weir, user):
    inst = weir()
    with sasl_begin(inst, user) as wire:
        first = client_first()
        wire.send(sasl_initial(first + b"extra", declared=len(first)))
        fields = read_error_or_close(wire)
    assert fields is not None, "weir closed without an error"
    assert fields.get("S") == "FATAL" and fields.get("C") == "08P01", fields
    assert fields.get("M") == "invalid message format", fields
    assert_still_serving(inst)


@pytest.mark.parametrize("user", ["scram_user", "nobody_here"])
def test_client_first_with_an_authzid_is_refused_with_08P01(pg, weir, user):
    """PostgreSQL's words, for a known user and an unknown one alike."""
    inst = weir()
    with sasl_begin(inst, user) as wire:
        wire.send(sasl_initial(client_first("a=bob")))
        fields = read_error_or_close(wire)
    assert fields is not None, "weir closed without an error"
    assert fields.get("S") == "FATAL" and fields.get("C") == "08P01", fields
    assert fields.get("M") == "client uses authorization identity, but it is not supported", \
        fields
    assert_still_serving(inst)


@pytest.mark.parametrize("payload", [b"secret\0extra", b"no terminator"],
                         ids=["trailing_bytes", "no_nul"])
@pytest.mark.parametrize("auth_type", ["plain", "md5"])
def test_password_message_of_the_wrong_size_is_refused_with_08P01(pg, weir, payload, auth_type):
    """A PasswordMessage is one NUL-terminated string: PostgreSQL refuses anything else
    with 08P01 "invalid password packet size", and so does weir."""
    inst = weir({"weir": {"auth_type": auth_type}})
    with PgWire(inst.port) as wire:
        wire.send(startup_message({"user": "plain_user", "database": "app"}))
        kind, _ = wire.read_message()
        assert kind == b"R", kind
        wire.send(message(b"p", payload))
        fields = read_error_or_close(wire)
    assert fields is not None, "weir closed without an error"
    assert fields.get("C") == "08P01", fields
    assert fields.get("M") == "invalid password packet size", fields
    assert_still_serving(inst)


def test_sasl_initial_response_exactly_as_declared_still_logs_in(pg, weir):
    """The control case: the same hand-made messages, well formed, log in."""
    inst = weir()
    with PgWire(inst.port) as wire:
        result = wire_login(wire, "scram_user", pg.passwords["scram_user"])
        assert result.auth_methods == [10, 0]
        assert wire_query(wire, "SELECT 1") == [["1"]]
