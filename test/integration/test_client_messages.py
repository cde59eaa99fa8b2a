# SPDX-License-Identifier: ISC
"""What a logged-in client sends, message by message, in every pool mode: a message type
the protocol does not have is a protocol violation (FATAL 08P01, then close, as
PostgreSQL does), and whatever one client does to the stream it shares with a server, the
next client of that server finds it clean."""

import socket
import struct

import psycopg
import pytest

from conftest import message, read_error_or_close
from drivers import simple, tx_config, wire_connect

USER = "scram_user"
MODES = ["session", "transaction", "statement"]


def start(pg, weir, mode, pool=1, **weir_extra):
    db = pg.create_database("msgs")
    return db, weir(tx_config(pg, db, pool, mode=mode, weir_extra=weir_extra))


def assert_serves(inst, db):
    with psycopg.connect(inst.dsn(USER, inst.pg.passwords[USER], dbname=db),
                         autocommit=True) as conn:
        assert conn.execute("SELECT 'still serving'").fetchone() == ("still serving",)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", [b"\x01", b"p", b"Z", b"z", b"\xff"],
                         ids=["0x01", "p", "Z", "z", "0xff"])
def test_unknown_message_type_after_login_gets_08P01_and_close(pg, weir, mode, kind):
    db, inst = start(pg, weir, mode)
    bystander = wire_connect(inst, USER, database=db)
    try:
        assert simple(bystander, "SELECT 1").rows == [["1"]]
        w = wire_connect(inst, USER, database=db)
        w.send(message(kind, b"\0\0\0\0"))
        fields = read_error_or_close(w)
        w.close()
        assert fields is not None, "weir closed without an ErrorResponse"
        assert fields.get("S") == "FATAL", fields
        assert fields.get("C") == "08P01", fields
        assert fields.get("M") == f"invalid frontend message type {kind[0]}", fields
        assert simple(bystander, "SELECT 2").rows == [["2"]]
    finally:
        bystander.close()
    assert_serves(inst, db)


def partial_message(kind, declared, sent):
    """A message header declaring `declared` bytes of body, and only `sent` of them."""
    return kind + struct.pack("!I", declared + 4) + b"x" * sent


@pytest.mark.deadline(90)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", [b"d", b"c", b"f", b"H", b"Q", b"P", b"D"])
def test_client_leaving_mid_message_does_not_poison_the_server(pg, weir, mode, kind):
    """pool_size=1: whatever half-message the first client left, the next client's query
    is answered by a server that never saw it (it was closed, not reused)."""
    db, inst = start(pg, weir, mode)
    first = wire_connect(inst, USER, database=db)
    assert simple(first, "SELECT pg_backend_pid()").rows  # the one server is now open
    first.send(partial_message(kind, 65536, 100))
    first.close()
    nxt = wire_connect(inst, USER, database=db)
    try:
        reply = simple(nxt, "SELECT 'clean'", timeout=10)
        assert reply.rows == [["clean"]], reply
        assert not reply.errors, reply
    finally:
        nxt.close()


@pytest.mark.deadline(90)
@pytest.mark.parametrize("mode", ["transaction", "statement"])
def test_crafted_length_cannot_swallow_the_next_clients_query(pg, weir, mode):
    """A CopyData whose declared length ends exactly after the next client's first Query:
    the server must not be handed on while the client's message is unfinished."""
    db, inst = start(pg, weir, mode)
    query = message(b"Q", b"SELECT 'swallowed?'\0")
    first = wire_connect(inst, USER, database=db)
    assert simple(first, "SELECT 1").rows == [["1"]]
    first.send(partial_message(b"d", 100 + len(query), 100))
    nxt = wire_connect(inst, USER, database=db)
    try:
        nxt.send(query)
        first.close()
        from drivers import read_reply
        reply = read_reply(nxt, timeout=10)
        assert reply.rows == [["swallowed?"]], reply
    finally:
        nxt.close()


def weir_vmdata_kb(inst):
    """The weir process's private data (heap and anonymous mappings) in KiB: what it has
    reserved, touched or not."""
    with open(f"/proc/{inst.pid}/status") as f:
        for line in f:
            if line.startswith("VmData:"):
                return int(line.split()[1])
    raise AssertionError("no VmData line")


@pytest.mark.deadline(90)
@pytest.mark.parametrize("kind", [b"P", b"B"])
def test_declared_length_reserves_no_memory_until_bytes_arrive(pg, weir, kind):
    """Parse and Bind headers declaring 60 MB each (under the default limit of what weir
    reads whole), from four clients in transaction pooling with prepared statements on:
    weir's memory grows with what arrives (1 KB each), not with what the headers declare,
    and the other clients go on."""
    db, inst = start(pg, weir, "transaction", pool=6)
    bystander = wire_connect(inst, USER, database=db)
    try:
        assert simple(bystander, "SELECT 1").rows == [["1"]]
        before = weir_vmdata_kb(inst)
        attackers = []
        for _ in range(4):
            w = wire_connect(inst, USER, database=db)
            w.send(kind + struct.pack("!I", 60_000_000) + b"x" * 1000)
            attackers.append(w)
        assert simple(bystander, "SELECT 2").rows == [["2"]]
        grown = weir_vmdata_kb(inst) - before
        assert grown < 20_000, f"weir reserved {grown} KiB more for 4 KB of input"
        for w in attackers:
            w.close()
        assert simple(bystander, "SELECT 3").rows == [["3"]]
    finally:
        bystander.close()
    assert inst.alive()


@pytest.mark.parametrize("kind", [b"P", b"B"])
@pytest.mark.parametrize("limit", [None, 100_000], ids=["default", "100000"])
def test_parse_or_bind_above_the_inspection_limit_gets_54000(pg, weir, kind, limit):
    extra = {} if limit is None else {"max_inspected_packet_size": limit}
    db, inst = start(pg, weir, "transaction", pool=2, **extra)
    declared = 0x7FFFFFFF - 4 if limit is None else limit + 1
    bystander = wire_connect(inst, USER, database=db)
    try:
        w = wire_connect(inst, USER, database=db)
        w.send(kind + struct.pack("!I", declared + 4) + b"x" * 1000)
        fields = read_error_or_close(w)
        w.close()
        assert fields is not None, "closed without an ErrorResponse"
        assert fields.get("S") == "FATAL", fields
        assert fields.get("C") == "54000", fields
        assert "max_inspected_packet_size" in fields.get("M", ""), fields
        assert simple(bystander, "SELECT 'fine'").rows == [["fine"]]
    finally:
        bystander.close()


def test_parse_below_the_inspection_limit_still_works(pg, weir):
    from drivers import bind_msg, execute_msg, extended, parse_msg
    db, inst = start(pg, weir, "transaction", pool=2, max_inspected_packet_size=100000)
    w = wire_connect(inst, USER, database=db)
    try:
        pad = "y" * 90_000
        reply = extended(w, parse_msg("s1", f"SELECT length('{pad}')"), bind_msg("s1"),
                         execute_msg())
        assert reply.rows == [["90000"]], reply
    finally:
        w.close()


@pytest.mark.deadline(60)
@pytest.mark.parametrize("junk_mb", [1, 8])
def test_client_that_sent_a_lot_after_a_fatal_still_reads_the_fatal(pg, weir, junk_mb):
    """The client sends a bad message followed by megabytes in one go: weir answers FATAL,
    then keeps reading (and dropping) what comes until the client closes, so the client
    gets the error and a clean end of stream instead of a reset."""
    db, inst = start(pg, weir, "transaction")
    w = wire_connect(inst, USER, database=db)
    try:
        w.send(message(b"\x01", b"") + b"\0" * (junk_mb << 20))
        w.sock.shutdown(socket.SHUT_WR)
        fields = read_error_or_close(w)
    finally:
        w.close()
    assert fields is not None, "the client got a close (or a reset) without the FATAL"
    assert fields.get("C") == "08P01", fields
    assert_serves(inst, db)
