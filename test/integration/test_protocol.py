# SPDX-License-Identifier: ISC
"""The start of a connection, byte by byte: bad first packets get an ErrorResponse or a
close and harm no one else; SSLRequest, CancelRequest and newer protocol versions get the
answers libpq expects; max_client_conn is enforced with PgBouncer's error."""

import random
import socket
import struct

import psycopg
import pytest

from conftest import (PROTOCOL_3_0, PROTOCOL_3_2, PgWire, WireError, cancel_request,
                      read_error_or_close, ssl_request, startup_message, wait_until,
                      wire_login, wire_query)


def assert_still_serving(inst, pg):
    assert inst.alive(), f"weir died\n--- weir log ---\n{inst.log()}"
    with psycopg.connect(inst.dsn("scram_user", pg.passwords["scram_user"])) as conn:
        assert conn.execute("SELECT 'still here'").fetchone() == ("still here",)


def send_until_closed(wire, data):
    """Sends data; a peer that closes part-way is fine, one that stops reading is not."""
    try:
        wire.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    except socket.timeout:
        pytest.fail("weir neither read the data nor closed the connection")


VALID_PARAMS = b"user\0scram_user\0database\0app\0\0"
BAD_STARTS = {
    "length_0": struct.pack("!II", 0, PROTOCOL_3_0),
    "length_4": struct.pack("!II", 4, PROTOCOL_3_0),
    "length_7": struct.pack("!II", 7, PROTOCOL_3_0),
    "length_2_31_minus_1": struct.pack("!II", 0x7FFFFFFF, PROTOCOL_3_0) + VALID_PARAMS,
    "http_request": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "unknown_version": struct.pack("!II", 8 + len(VALID_PARAMS), 0x00090009) + VALID_PARAMS,
    "no_terminator": struct.pack("!II", 8 + 14, PROTOCOL_3_0) + b"user\0scram_use",
    "random_10_mb": random.Random(20240601).randbytes(10 * 1024 * 1024),
}


@pytest.mark.parametrize("name", list(BAD_STARTS))
def test_bad_first_packet_gets_08P01_or_close_and_weir_keeps_serving(pg, weir, name):
    inst = weir()
    with PgWire(inst.port) as wire:
        send_until_closed(wire, BAD_STARTS[name])
        fields = read_error_or_close(wire)
    if fields is not None:
        assert fields.get("C") == "08P01", fields
        assert fields.get("S") in ("FATAL", "ERROR"), fields
    assert_still_serving(inst, pg)


def test_truncated_startup_packet_then_close_leaves_weir_serving(pg, weir):
    inst = weir()
    packet = startup_message({"user": "scram_user", "database": "app"})
    for cut in (1, 3, 4, 7, 12, len(packet) - 1):
        with PgWire(inst.port) as wire:
            wire.send(packet[:cut])
    assert_still_serving(inst, pg)


def test_ssl_request_gets_N_and_startup_continues_on_the_same_connection(pg, weir):
    inst = weir()
    with PgWire(inst.port) as wire:
        wire.send(ssl_request())
        assert wire.read_bytes(1) == b"N"
        wire_login(wire, "scram_user", pg.passwords["scram_user"])
        assert wire_query(wire, "SELECT 'after N'") == [["after N"]]


def test_libpq_sslmode_prefer_falls_back_to_plaintext(pg, weir):
    inst = weir()
    dsn = inst.dsn("scram_user", pg.passwords["scram_user"], sslmode="prefer")
    with psycopg.connect(dsn) as conn:
        assert conn.pgconn.ssl_in_use is False
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_cancel_request_with_unknown_key_is_closed_without_harm(pg, weir):
    inst = weir()
    rng = random.Random()
    with inst.connect("scram_user") as bystander:
        for _ in range(3):
            with PgWire(inst.port) as wire:
                wire.send(cancel_request(rng.getrandbits(31), rng.getrandbits(32)))
                assert wire.read_to_eof() == b"", "a CancelRequest gets no answer"
        assert bystander.execute("SELECT 'not cancelled'").fetchone() == ("not cancelled",)
    assert_still_serving(inst, pg)


@pytest.mark.parametrize("version,options", [
    (PROTOCOL_3_2, {}),
    (PROTOCOL_3_0, {"_pq_.foo": "bar"}),
    (PROTOCOL_3_2, {"_pq_.foo": "bar"}),
], ids=["protocol_3_2", "protocol_3_0_with_pq_option", "protocol_3_2_with_pq_option"])
def test_newer_protocol_gets_negotiate_protocol_version_then_login(pg, weir, version, options):
    inst = weir()
    with PgWire(inst.port) as wire:
        result = wire_login(wire, "scram_user", pg.passwords["scram_user"], version=version,
                            extra=options)
        assert result.negotiate == (PROTOCOL_3_0, list(options)), result.negotiate
        assert result.negotiate_before_auth_ok, "NegotiateProtocolVersion came after AuthOk"
        assert wire_query(wire, "SELECT 'negotiated'") == [["negotiated"]]


def test_max_client_conn_exceeded_gets_53300(pg, weir):
    limit = 3
    inst = weir({"weir": {"max_client_conn": limit}})
    password = pg.passwords["scram_user"]
    held = [psycopg.connect(inst.dsn("scram_user", password)) for _ in range(limit)]
    try:
        for conn in held:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        with PgWire(inst.port) as wire:
            with pytest.raises(WireError) as info:
                wire_login(wire, "scram_user", password)
        assert info.value.sqlstate == "53300", info.value.fields
        assert info.value.message == "no more connections allowed (max_client_conn)"
        with pytest.raises(psycopg.OperationalError, match=r"max_client_conn"):
            psycopg.connect(inst.dsn("scram_user", password))
        held.pop().close()

        def one_more():
            with psycopg.connect(inst.dsn("scram_user", password)) as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)
        wait_until(one_more, 10, "a client to be admitted once a slot is free")
    finally:
        for conn in held:
            conn.close()
