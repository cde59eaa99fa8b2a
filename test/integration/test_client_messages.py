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
