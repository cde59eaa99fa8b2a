# SPDX-License-Identifier: ISC
"""SQL DEALLOCATE of protocol-level prepared statements in transaction pooling. A client's
statement names are weir's (each maps to a statement weir prepared on some server under its
own name), so `DEALLOCATE name` sent as SQL must act on the client's names, and be answered
as PostgreSQL answers it: `CommandComplete DEALLOCATE`, 26000 for a name the client does
not have, 25P02 (and the name kept) inside an aborted transaction. Each scenario runs the
same bytes against PostgreSQL directly and through weir and compares the replies."""

import pytest

from conftest import PgWire, wire_login
from drivers import (bind_msg, describe_msg, execute_msg, extended, parse_msg, simple,
                     tx_config, wire_connect)

USER = "scram_user"


@pytest.fixture
def both(pg, weir):
    """(weir instance, database): a transaction pool of 2 servers in front of a database
    of the same name, so that the same client code can run against either."""
    db = pg.create_database("dealloc")
    return weir(tx_config(pg, db, 2)), db


def direct(pg, db):
    w = PgWire(pg.port)
    w.login = wire_login(w, USER, pg.passwords[USER], db)
    return w


def shape(reply):
    """What a driver can see of a reply: message kinds, tags, SQLSTATEs and messages, the
    transaction status."""
    return (b"".join(reply.kinds), reply.tags,
            [(e.get("C"), e.get("M")) for e in reply.errors], reply.status)


def run(w, steps):
    out = []
    for kind, arg in steps:
        if kind == "simple":
            out.append(shape(simple(w, arg)))
        else:
            out.append(shape(extended(w, *arg)))
    return out


def same_on_both(pg, inst, db, steps):
    pgw, ww = direct(pg, db), wire_connect(inst, USER, database=db)
    try:
        expected, got = run(pgw, steps), run(ww, steps)
    finally:
        pgw.close()
        ww.close()
    assert got == expected
    return got


def use(name, value="1"):
    return ("ext", (bind_msg(name, [value]), execute_msg()))


def prepare(name, sql="SELECT $1::int + 1"):
    return ("ext", (parse_msg(name, sql),))


def sql_deallocate(text):
    """A DEALLOCATE sent as libpq's PQexecParams sends it: the unnamed statement."""
    return ("ext", (parse_msg("", text), bind_msg(""), describe_msg(b"P", ""), execute_msg()))


@pytest.mark.parametrize("text", [
    "DEALLOCATE s1", "DEALLOCATE PREPARE s1", "deallocate S1;", "  DEALLOCATE\n\"s1\"  ",
    "/* c */ DEALLOCATE -- x\n s1 ;",
])
@pytest.mark.parametrize("how", ["simple", "extended"])
def test_sql_deallocate_of_a_protocol_statement_acts_like_postgresql(pg, both, text, how):
    inst, db = both
    dealloc = ("simple", text) if how == "simple" else sql_deallocate(text)
    got = same_on_both(pg, inst, db, [
        prepare("s1"), use("s1"), dealloc,
        use("s1"),             # gone: 26000, as on PostgreSQL
        prepare("s1", "SELECT $1::int * 10"), use("s1", "7"),  # the name can be reused
    ])
    assert got[2][1] == ["DEALLOCATE"], got


@pytest.mark.parametrize("how", ["simple", "extended"])
def test_sql_deallocate_of_an_unknown_name_gets_26000(pg, both, how):
    inst, db = both
    dealloc = ("simple", "DEALLOCATE nosuch") if how == "simple" else \
        sql_deallocate("DEALLOCATE nosuch")
    got = same_on_both(pg, inst, db, [dealloc, ("simple", "SELECT 1")])
    assert got[0][2][0][0] == "26000", got


@pytest.mark.parametrize("how", ["simple", "extended"])
def test_sql_deallocate_in_an_aborted_transaction_fails_and_keeps_the_name(pg, both, how):
    inst, db = both
    dealloc = ("simple", "DEALLOCATE s1") if how == "simple" else \
        sql_deallocate("DEALLOCATE s1")
    got = same_on_both(pg, inst, db, [
        prepare("s1"), ("simple", "BEGIN"), ("simple", "SELECT 1/0"), dealloc,
        ("simple", "ROLLBACK"), use("s1", "41"),
    ])
    assert got[3][2][0][0] == "25P02", got
    assert got[5][0].startswith(b"2D"), got  # s1 still works after the rollback


def test_deallocate_all_and_discard_all_forget_every_name(pg, both):
    inst, db = both
    same_on_both(pg, inst, db, [
        prepare("a"), prepare("b"), sql_deallocate("DEALLOCATE ALL"), use("a"), use("b"),
        prepare("a"), use("a"), ("simple", "DISCARD ALL"), use("a"),
    ])


def test_deallocated_statement_stays_usable_for_another_client_with_the_same_sql(pg, both):
    """The statement weir prepared on the server is shared by every client whose SQL is the
    same; one client's DEALLOCATE forgets only that client's name."""
    inst, db = both
    a, b = wire_connect(inst, USER, database=db), wire_connect(inst, USER, database=db)
    try:
        for w in (a, b):
            assert not extended(w, parse_msg("x", "SELECT 'shared'")).errors
        assert simple(a, "DEALLOCATE x").tags == ["DEALLOCATE"]
        reply = extended(b, bind_msg("x"), execute_msg())
        assert reply.rows == [["shared"]], reply
        assert extended(a, bind_msg("x"), execute_msg()).errors[0]["C"] == "26000"
    finally:
        a.close()
        b.close()


@pytest.mark.deadline(120)
def test_psycopg_with_a_small_prepared_cache_runs_many_statements(pg, both):
    """psycopg evicts from its statement cache with DEALLOCATE <name>: with prepared_max=2
    and every query prepared at once, each new query evicts one."""
    inst, db = both
    with inst.connect(dbname=db, autocommit=True) as conn:
        conn.prepare_threshold = 0
        conn.prepared_max = 2
        for round_ in range(3):
            for i in range(12):
                row = conn.execute(f"SELECT {i} + %s::int", (round_,)).fetchone()
                assert row == (i + round_,)
    assert "does not exist" not in inst.log()
