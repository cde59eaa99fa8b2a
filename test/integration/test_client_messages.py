# SPDX-License-Identifier: ISC
"""What a logged-in client sends, message by message, in every pool mode: a message type
the protocol does not have is a protocol violation (FATAL 08P01, then close, as
PostgreSQL does), and whatever one client does to the stream it shares with a server, the
next client of that server finds it clean."""

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
