# SPDX-License-Identifier: ISC
"""Time limits that the per-worker deadline wheel and the janitor enforce, beyond the
basic cases of test_tx_timeouts.py: the reserve pool, deadlines that move while a client
works (re-filed several times, idle then busy), the queued NOTICE once per wait, many
clients each closed at its own deadline, and timeouts switched on and off by a reload
for clients already connected.

Timings: the janitor runs every 200 ms, so a deadline fires up to about 0.2 s late; the
bounds below leave room for a loaded machine."""

import time

import pytest

from conftest import parse_error_fields, query_message
from drivers import (clients, read_fatal_then_close, read_reply, simple,  # noqa: F401
                     tx_config, wait_for_log, wire_connect)

USER = "scram_user"
QUEUED_NOTICE = "No server connection available in postgres backend, client being queued"


def start(pg, weir, pool, prefix, **weir_extra):
    db = pg.create_database(prefix)
    return db, weir(tx_config(pg, db, pool, weir_extra=weir_extra))


def wire(inst, db, clients):
    return clients.add(wire_connect(inst, USER, database=db))


def assert_pooler_fatal(fields, reason):
    assert fields.get("M") == reason, fields
    assert fields.get("S") == "FATAL", fields
    assert fields.get("C") == "08P01", fields


def backend_pid(w):
    r = simple(w, "SELECT pg_backend_pid()")
    assert not r.errors, r
    return int(r.rows[0][0])


def hold_server(w):
    """Opens a transaction on w, so that w keeps its server; returns the backend pid."""
    assert simple(w, "BEGIN").status == "T"
    return backend_pid(w)


# ---------------------------------------------------------------------------------------
# the reserve pool


@pytest.mark.deadline(60)
def test_reserve_pool_serves_a_transaction_queued_behind_the_only_server(pg, weir, clients):
    # The defect: the reserve server launched by a janitor pass was judged against the
    # pass's earlier `now` (an unsigned difference that wrapped) and closed at once as a
    # connect timeout, every server_login_retry; the queued client waited forever.
    db, inst = start(pg, weir, 1, "reserve", reserve_pool_size=1, reserve_pool_timeout=1)
    holder = wire(inst, db, clients)
    second = wire(inst, db, clients)
    held_pid = hold_server(holder)
    started = time.monotonic()
    reply = simple(second, "BEGIN", timeout=8)
    waited = time.monotonic() - started
    assert reply.status == "T" and not reply.errors, reply
    assert 0.9 <= waited <= 5, f"the reserve server served the client after {waited:.1f}s"
    assert backend_pid(second) != held_pid
    assert simple(second, "COMMIT").status == "I"
    assert simple(holder, "COMMIT").status == "I"
    log = wait_for_log(inst, "taking connection from reserve_pool")
    assert "connect timeout" not in log, log[-4000:]
