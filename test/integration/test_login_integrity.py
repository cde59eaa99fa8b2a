# SPDX-License-Identifier: ISC
"""Login integrity: two ways PgBouncer's login went wrong, and that weir's does not.

1. During an authentication exchange the only messages a client may send are its
   password or SASL responses ('p') and Terminate ('X'). Anything else (a second
   StartupMessage for another user, as in PgBouncer's CVE-2026-107350, an SSLRequest, a
   Query, extended-protocol messages) closes the client at once with FATAL 08P01: weir
   never restarts the login as the second user, never sends AuthenticationOk, and opens
   no backend for it.
2. Malformed `options` (`-c=`, a lone `-c`, `--`, a trailing backslash, thousands of
   `-c`) are refused at once with FATAL 08P01 (PgBouncer's CVE-2026-107349 spun the CPU
   on `-c=`): the answer comes within a second or two and weir's CPU time does not jump.

Every case is sent from a raw socket with hand-built messages (conftest's PgWire), SCRAM
computed here, and each test ends by logging another client in and running a query.
"""

import base64
import hashlib
import hmac
import os
import secrets
import struct
import time

import pytest

from conftest import (CANCEL_REQUEST_CODE, PgWire, message, query_message,
                      read_error_or_close, ssl_request, startup_message, wire_login,
                      wire_query)

# An answer (ErrorResponse and close) must come this fast: no waiting for a length.
ANSWER_WITHIN = 2.0
# weir's CPU (user + system) for one refused login stays below this (an ASan build).
CPU_LIMIT = 0.3
CLK_TCK = os.sysconf("SC_CLK_TCK")

AUTH_SASL, AUTH_SASL_CONTINUE, AUTH_CLEARTEXT, AUTH_MD5 = 10, 11, 3, 5
# auth_type -> (user, the authentication request weir answers its startup with)
METHODS = {
    "scram-sha-256": ("scram_user", AUTH_SASL),
    "md5": ("md5_user", AUTH_MD5),
    "plain": ("plain_user", AUTH_CLEARTEXT),
}
INTRUDER = "trust_user"


def second_startup():
    """A StartupMessage for another role. It is 38 bytes long: read as a typed message,
    its bytes 00 00 00 26 00 say type 0x00 and a length of 0x2600 (9728), so a pooler
    that waits for the whole "message" before looking at its type hangs."""
    return startup_message({"user": INTRUDER, "database": "app"})


INTRUDERS = {
    "startup": second_startup,
    "ssl_request": ssl_request,
    "cancel_request": lambda: struct.pack("!IIII", 16, CANCEL_REQUEST_CODE, 1, 2),
    "query": lambda: query_message("SELECT 1"),
    "parse": lambda: message(b"P", b"\0SELECT 1\0\0\0"),
    "sync": lambda: message(b"S"),
}


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/PID/stat."""
    text = open(f"/proc/{pid}/stat").read()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def weir_config(auth_type, **keys):
    """Session pooling (the harness's default): a login weir let through would open a
    backend for its user on PostgreSQL."""
    cfg = {"auth_type": auth_type}
    cfg.update(keys)
    return {"weir": cfg}


def begin(inst, user):
    """A raw client that has sent its StartupMessage and read the authentication request;
    returns (wire, request code, the rest of the request: an md5 salt, SASL mechanisms)."""
    wire = PgWire(inst.port)
    wire.send(startup_message({"user": user, "database": "app"}))
    kind, payload = wire.read_message()
    assert kind == b"R", (kind, payload)
    return wire, struct.unpack("!I", payload[:4])[0], payload[4:]


def client_first_message():
    nonce = base64.b64encode(secrets.token_bytes(18)).decode()
    return f"n=,r={nonce}"


def sasl_initial_response(first_bare):
    data = ("n,," + first_bare).encode()
    return message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(data)) + data)


def sasl_response(password, first_bare, server_first):
    """The client-final message with a correct proof for password."""
    attrs = dict(item.split("=", 1) for item in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored_key, auth_message, "sha256").digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
    return message(b"p", f"{without_proof},p={proof}".encode())


def read_server_first(wire):
    kind, payload = wire.read_message()
    assert kind == b"R", (kind, payload)
    assert struct.unpack("!I", payload[:4])[0] == AUTH_SASL_CONTINUE, payload
    return payload[4:].decode()


def send_quietly(wire, data):
    """Sends data; weir may already have closed the socket (it closes on what came first)."""
    try:
        wire.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def assert_refused_at_once(wire, start, what):
    """The next thing from weir is FATAL 08P01, then the close, within ANSWER_WITHIN
    seconds of start; read_error_or_close fails on anything else (an AuthenticationOk,
    another authentication request)."""
    fields = read_error_or_close(wire, timeout=ANSWER_WITHIN)
    took = time.monotonic() - start
    assert fields is not None, f"weir closed without an ErrorResponse after {what}"
    assert fields.get("S") == "FATAL" and fields.get("C") == "08P01", fields
    assert took < ANSWER_WITHIN, f"the refusal of {what} took {took:.2f}s"
    return fields


def assert_not_logged_in(pg, inst):
    """No backend for the intruder on PostgreSQL, no login of it in weir's log."""
    assert pg.backends(INTRUDER) == 0, "PostgreSQL has a backend for the second user"
    log = inst.log()
    assert f"user={INTRUDER}" not in log and f"/{INTRUDER}@" not in log, log[-3000:]


def assert_others_log_in(pg, inst, auth_type):
    user = METHODS[auth_type][0]
    with PgWire(inst.port) as wire:
        wire_login(wire, user, pg.passwords[user])
        assert wire_query(wire, "SELECT current_user") == [[user]]


# ---------------------------------------------------------------------------------------
# 1. only the expected response during an authentication exchange


def test_second_startup_after_sasl_initial_response_does_not_switch_user(pg, weir):
    """PgBouncer's CVE-2026-107350: SASLInitialResponse for scram_user, then a second
    StartupMessage for trust_user followed by scram_user's correct SASLResponse. weir
    refuses the StartupMessage with 08P01 and closes: no SASLFinal, no AuthenticationOk,
    no backend for trust_user.

    Guards src/client_login.c login_typed: the type byte is checked as soon as it has
    arrived, before relay_next_message waits for the length the untyped packet seems to
    carry, and only 'p' (or 'X') is accepted while authenticating."""
    inst = weir(weir_config("scram-sha-256"))
    wire, code, _ = begin(inst, "scram_user")
    with wire:
        assert code == AUTH_SASL
        first_bare = client_first_message()
        wire.send(sasl_initial_response(first_bare))
        server_first = read_server_first(wire)
        start = time.monotonic()
        final = sasl_response(pg.passwords["scram_user"], first_bare, server_first)
        send_quietly(wire, second_startup() + final)
        fields = assert_refused_at_once(wire, start, "a second StartupMessage")
    assert fields.get("M") == "expected a password message, got type byte 0x00", fields
    assert_not_logged_in(pg, inst)
    assert_others_log_in(pg, inst, "scram-sha-256")


def test_second_startup_pipelined_with_sasl_initial_response_is_refused(pg, weir):
    """The same two messages in one packet, before server-first has come: weir answers
    the SASLInitialResponse, then refuses the StartupMessage (src/client_login.c
    login_typed, after client_login_resume when the keys were derived in the KDF pool)."""
    inst = weir(weir_config("scram-sha-256"))
    wire, code, _ = begin(inst, "scram_user")
    with wire:
        assert code == AUTH_SASL
        start = time.monotonic()
        send_quietly(wire, sasl_initial_response(client_first_message()) + second_startup())
        read_server_first(wire)
        assert_refused_at_once(wire, start, "a second StartupMessage")
    assert_not_logged_in(pg, inst)
    assert_others_log_in(pg, inst, "scram-sha-256")


@pytest.mark.parametrize("intruder", list(INTRUDERS))
@pytest.mark.parametrize("auth_type", list(METHODS))
def test_other_message_right_after_the_authentication_request_is_refused(pg, weir, auth_type,
                                                                         intruder):
    """Instead of the first response to AuthenticationSASL, AuthenticationMD5Password or
    AuthenticationCleartextPassword: a second StartupMessage, an SSLRequest or a
    CancelRequest (untyped packets), a Query, a Parse or a Sync. Each gets FATAL 08P01
    and the close at once.

    Guards src/client_login.c login_typed: only 'p' is accepted during authentication,
    and it is decided on the first byte (an untyped packet's length bytes read as a
    typed length of kilobytes)."""
    inst = weir(weir_config(auth_type))
    user, expected = METHODS[auth_type]
    wire, code, _ = begin(inst, user)
    with wire:
        assert code == expected
        start = time.monotonic()
        send_quietly(wire, INTRUDERS[intruder]())
        assert_refused_at_once(wire, start, intruder)
    assert_not_logged_in(pg, inst)
    assert_others_log_in(pg, inst, auth_type)


@pytest.mark.parametrize("intruder", ["startup", "query", "ssl_request"])
def test_other_message_between_sasl_messages_is_refused(pg, weir, intruder):
    """After server-first, instead of the SASLResponse (src/client_login.c login_typed;
    src/client_auth.c would otherwise read it as client-final in LOGIN_SASL_FINAL)."""
    inst = weir(weir_config("scram-sha-256"))
    wire, _, _ = begin(inst, "scram_user")
    with wire:
        first_bare = client_first_message()
        wire.send(sasl_initial_response(first_bare))
        read_server_first(wire)
        start = time.monotonic()
        send_quietly(wire, INTRUDERS[intruder]())
        assert_refused_at_once(wire, start, intruder)
    assert_not_logged_in(pg, inst)
    assert_others_log_in(pg, inst, "scram-sha-256")


@pytest.mark.parametrize("auth_type", ["md5", "plain"])
def test_second_startup_before_the_right_password_does_not_log_in(pg, weir, auth_type):
    """md5 and plain: a second StartupMessage for trust_user, then the first user's right
    password in the same packet. weir refuses the StartupMessage; the password is never
    read (src/client_login.c login_typed stops at the first byte of the StartupMessage;
    src/client_auth.c on_password is not reached)."""
    inst = weir(weir_config(auth_type))
    user, expected = METHODS[auth_type]
    password = pg.passwords[user]
    wire, code, salt = begin(inst, user)
    with wire:
        assert code == expected
        if auth_type == "md5":
            inner = hashlib.md5((password + user).encode()).hexdigest().encode()
            answer = "md5" + hashlib.md5(inner + salt).hexdigest()
        else:
            answer = password
        start = time.monotonic()
        send_quietly(wire, second_startup() + message(b"p", answer.encode() + b"\0"))
        assert_refused_at_once(wire, start, "a second StartupMessage")
    assert_not_logged_in(pg, inst)
    assert_others_log_in(pg, inst, auth_type)


@pytest.mark.parametrize("auth_type", list(METHODS))
def test_right_response_in_hand_made_messages_logs_in(pg, weir, auth_type):
    """The control case: the same raw client, answering what it is asked, logs in."""
    inst = weir(weir_config(auth_type))
    assert_others_log_in(pg, inst, auth_type)


# ---------------------------------------------------------------------------------------
# 2. malformed `options`, refused at once


MALFORMED_OPTIONS = {
    "c_equals": "-c=",
    "c_alone": "-c",
    "dash_dash_equals": "--=",
    "c_space_equals": "-c =x",
    "dash_dash_alone": "--",
    "trailing_backslash": "-c application_name=x\\",
    "backslash_alone": "\\",
    "many_c": "-c " * 3000,
    "many_c_equals": "-c= " * 2000,
    "many_dash_dash": "-- " * 3000,
}

# With `options` in ignore_startup_parameters, items that are not "-c name=value" are
# skipped (the login goes on); broken items and dangling escapes are still refused.
WITH_OPTIONS_IGNORED = {
    "c_equals": "refused",
    "c_alone": "accepted",
    "dash_dash_equals": "refused",
    "c_space_equals": "refused",
    "dash_dash_alone": "accepted",
    "trailing_backslash": "refused",
    "backslash_alone": "refused",
    "many_c": "accepted",
    "many_c_equals": "refused",
    "many_dash_dash": "accepted",
}


def send_options(inst, options):
    """Sends scram_user's StartupMessage with `options`; returns (wire, start time)."""
    wire = PgWire(inst.port)
    start = time.monotonic()
    wire.send(startup_message({"user": "scram_user", "database": "app", "options": options}))
    return wire, start


@pytest.mark.parametrize("case", list(MALFORMED_OPTIONS))
def test_malformed_options_are_refused_at_once(pg, weir, case):
    """Guards src/client_login.c parse_options / next_option / apply_option: every item
    moves the cursor forward, a lone `-c` or `--` ends the parse, an empty name and a
    backslash with nothing after it are refused."""
    inst = weir(weir_config("scram-sha-256"))
    cpu0 = cpu_seconds(inst.pid)
    wire, start = send_options(inst, MALFORMED_OPTIONS[case])
    with wire:
        assert_refused_at_once(wire, start, f"options {case}")
    used = cpu_seconds(inst.pid) - cpu0
    assert used < CPU_LIMIT, f"weir used {used:.2f}s of CPU on options {case}"
    assert_others_log_in(pg, inst, "scram-sha-256")


@pytest.mark.parametrize("case", list(MALFORMED_OPTIONS))
def test_malformed_options_with_options_ignored_are_answered_at_once(pg, weir, case):
    """ignore_startup_parameters = options: a lone `-c` and other items that are not
    "-c name=value" are skipped and the login goes on to AuthenticationSASL at once;
    the rest is refused at once. Neither loops (src/client_login.c parse_options and
    bad_options)."""
    inst = weir(weir_config("scram-sha-256", ignore_startup_parameters="options"))
    cpu0 = cpu_seconds(inst.pid)
    wire, start = send_options(inst, MALFORMED_OPTIONS[case])
    with wire:
        if WITH_OPTIONS_IGNORED[case] == "refused":
            assert_refused_at_once(wire, start, f"options {case}")
        else:
            result = wire_login(wire, "scram_user", pg.passwords["scram_user"],
                                send_startup=False, timeout=ANSWER_WITHIN)
            assert result.auth_methods == [AUTH_SASL, 0], result.auth_methods
            assert wire_query(wire, "SELECT 1") == [["1"]]
    used = cpu_seconds(inst.pid) - cpu0
    assert used < CPU_LIMIT, f"weir used {used:.2f}s of CPU on options {case}"
    assert_others_log_in(pg, inst, "scram-sha-256")


def test_escaped_space_in_options_still_works(pg, weir):
    """The control case of the backslash ones: `\\ ` is an escaped space, as in
    PostgreSQL's pg_split_opts."""
    inst = weir(weir_config("scram-sha-256"))
    with PgWire(inst.port) as wire:
        wire_login(wire, "scram_user", pg.passwords["scram_user"],
                   extra={"options": "-c application_name=a\\ b"})
        assert wire_query(wire, "SHOW application_name") == [["a b"]]
