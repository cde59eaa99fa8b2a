# SPDX-License-Identifier: ISC
"""Protocol-level prepared statements in transaction pooling, seen from the client: a
statement a client prepared is usable on every server it later lands on, names are the
client's own (two clients may use one name for different SQL), and the errors for a
duplicate or an unknown name are PostgreSQL's own (42P05, 26000), after which the
connection goes on working. Most checks use the raw protocol (drivers.py) so that the
exact message sequence is known; the server a client lands on is forced by holding the
other servers of the pool with open transactions."""

import hashlib

import pytest

from drivers import (bind_msg, call_with_deadline, clients, close_msg,  # noqa: F401
                     describe_msg, execute_msg, extended, parse_msg, simple, tx_config,
                     wire_connect)

USER = "scram_user"
OP = 20  # seconds for one step


def start_weir(pg, weir, pool):
    db = pg.create_database("prep")
    inst = weir(tx_config(pg, db, pool))
    return db, inst


def wire(inst, db, clients):
    return clients.add(wire_connect(inst, USER, database=db))


def ok(reply):
    assert not reply.errors, reply
    assert reply.status == "I", reply
    return reply


def begin_and_pid(w):
    ok_begin = simple(w, "BEGIN")
    assert not ok_begin.errors and ok_begin.status == "T", ok_begin
    reply = simple(w, "SELECT pg_backend_pid()")
    assert not reply.errors, reply
    return int(reply.rows[0][0])


def hold_only(pinners, keep_pid):
    """Each pinner opens a transaction (so together they hold every server of the pool);
    then all but the one holding keep_pid commit. Returns that pinner."""
    pids = [begin_and_pid(p) for p in pinners]
    assert keep_pid in pids, f"server {keep_pid} not among the pool's servers {pids}"
    keeper = None
    for p, pid in zip(pinners, pids):
        if pid == keep_pid and keeper is None:
            keeper = p
        else:
            assert simple(p, "COMMIT").status == "I"
    return keeper


def step(fn, what, clients):
    return call_with_deadline(fn, OP, what, on_timeout=clients.cut_all)


# ---------------------------------------------------------------------------------------


@pytest.mark.deadline(90)
def test_psycopg_prepared_statement_works_after_moving_to_a_server_that_never_saw_it(
        pg, weir, clients):
    db, inst = start_weir(pg, weir, 2)
    a = clients.add(inst.connect(dbname=db, autocommit=True))
    b = clients.add(inst.connect(dbname=db, autocommit=True))
    c = clients.add(inst.connect(dbname=db, autocommit=True))
    query = "SELECT %s::int * 2, pg_backend_pid()"

    def scenario():
        # B and C hold both servers of the pool, then C lets its server go
        b.execute("BEGIN")
        pb = b.execute("SELECT pg_backend_pid()").fetchone()[0]
        c.execute("BEGIN")
        pc = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert pb != pc
        c.execute("COMMIT")
        # A prepares its statement (Parse with a name) on the only free server
        assert a.execute(query, (21,), prepare=True).fetchone() == (42, pc)
        # C takes that server; B releases the one that has never seen A's statement
        c.execute("BEGIN")
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == pc
        b.execute("COMMIT")
        # psycopg now sends only Bind/Execute for the prepared statement
        results = [a.execute(query, (i,), prepare=True).fetchone() for i in range(5)]
        c.execute("COMMIT")
        return pb, results

    pb, results = step(scenario, "prepared statement scenario", clients)
    assert results == [(i * 2, pb) for i in range(5)]


@pytest.mark.deadline(90)
def test_raw_parse_then_bind_on_another_server_runs_the_clients_statement(pg, weir, clients):
    db, inst = start_weir(pg, weir, 2)
    a = wire(inst, db, clients)
    pinners = [wire(inst, db, clients) for _ in range(2)]

    def scenario():
        r = ok(extended(a, parse_msg("mine", "SELECT $1::int + 1000, pg_backend_pid()"),
                        bind_msg("mine", ["1"]), execute_msg()))
        first_pid = int(r.rows[0][1])
        assert r.rows[0][0] == "1001"
        keeper = hold_only(pinners, first_pid)
        # only the other server is free now: Bind/Execute without a Parse
        r2 = ok(extended(a, bind_msg("mine", ["2"]), execute_msg()))
        d = ok(extended(a, describe_msg(b"S", "mine")))
        assert simple(keeper, "COMMIT").status == "I"
        return first_pid, r2, d

    first_pid, r2, d = step(scenario, "raw prepared statement scenario", clients)
    assert r2.rows[0][0] == "1002"
    assert int(r2.rows[0][1]) != first_pid, "the client was not moved to the other server"
    assert d.kinds[:2] == [b"t", b"T"], d  # ParameterDescription, RowDescription


@pytest.mark.deadline(90)
def test_two_clients_using_the_same_statement_name_for_different_sql_get_their_own_results(
        pg, weir, clients):
    db, inst = start_weir(pg, weir, 1)  # one server: both clients' statements meet on it
    a = wire(inst, db, clients)
    b = wire(inst, db, clients)
    pa = clients.add(inst.connect(dbname=db, autocommit=True))
    pb = clients.add(inst.connect(dbname=db, autocommit=True))

    def scenario():
        ok(extended(a, parse_msg("s", "SELECT 'a:' || $1::text")))
        ok(extended(b, parse_msg("s", "SELECT $1::int * 100")))
        got = []
        for i in range(10):
            ra = ok(extended(a, bind_msg("s", [str(i)]), execute_msg()))
            rb = ok(extended(b, bind_msg("s", [str(i)]), execute_msg()))
            got.append((ra.rows[0][0], rb.rows[0][0]))
        # psycopg names its first prepared statement _pg3_0 in both connections
        pairs = []
        for i in range(10):
            pairs.append((pa.execute("SELECT %s::text || '-pa'", (str(i),),
                                     prepare=True).fetchone()[0],
                          pb.execute("SELECT %s::int - 1", (i,), prepare=True).fetchone()[0]))
        return got, pairs

    got, pairs = step(scenario, "same-name scenario", clients)
    assert got == [(f"a:{i}", str(i * 100)) for i in range(10)]
    assert pairs == [(f"{i}-pa", i - 1) for i in range(10)]


@pytest.mark.deadline(90)
def test_reusing_a_prepared_statement_name_gives_42P05_and_the_connection_stays_usable(
        pg, weir, clients):
    db, inst = start_weir(pg, weir, 2)
    a = wire(inst, db, clients)
    pinners = [wire(inst, db, clients) for _ in range(2)]

    def scenario():
        r = ok(extended(a, parse_msg("dup", "SELECT 'first', pg_backend_pid()"),
                        bind_msg("dup"), execute_msg()))
        first_pid = int(r.rows[0][1])
        # same server: PostgreSQL itself would answer 42P05
        same = extended(a, parse_msg("dup", "SELECT 'second'"))
        # another server, which has never seen the name: weir must answer the same
        keeper = hold_only(pinners, first_pid)
        other = extended(a, parse_msg("dup", "SELECT 'third'"))
        after = ok(extended(a, bind_msg("dup"), execute_msg()))
        plain = ok(simple(a, "SELECT 'still usable'"))
        assert simple(keeper, "COMMIT").status == "I"
        return same, other, after, plain

    same, other, after, plain = step(scenario, "duplicate name scenario", clients)
    for reply in (same, other):
        assert reply.error is not None, f"no error for a reused name: {reply}"
        assert reply.error["C"] == "42P05", reply
        assert reply.error["S"] == "ERROR", reply
        assert reply.error["M"] == 'prepared statement "dup" already exists', reply
        assert reply.status == "I", reply
    assert after.rows[0][0] == "first", "the statement under the name changed"
    assert plain.rows == [["still usable"]]


@pytest.mark.deadline(60)
def test_bind_or_describe_of_an_unknown_statement_gives_26000_and_the_connection_stays_usable(
        pg, weir, clients):
    db, inst = start_weir(pg, weir, 2)
    a = wire(inst, db, clients)

    def scenario():
        bind = extended(a, bind_msg("nosuch", ["1"]), execute_msg())
        describe = extended(a, describe_msg(b"S", "nosuch"))
        close = extended(a, close_msg(b"S", "nosuch"))  # PostgreSQL: no error
        plain = ok(simple(a, "SELECT 'still usable'"))
        fresh = ok(extended(a, parse_msg("known", "SELECT $1::int * 7"),
                            bind_msg("known", ["6"]), execute_msg()))
        # in a transaction block the error aborts the transaction, as in PostgreSQL
        ok_begin = simple(a, "BEGIN")
        in_tx = extended(a, bind_msg("nosuch"), execute_msg())
        rollback = simple(a, "ROLLBACK")
        return bind, describe, close, plain, fresh, ok_begin, in_tx, rollback

    bind, describe, close, plain, fresh, ok_begin, in_tx, rollback = step(
        scenario, "unknown name scenario", clients)
    for reply in (bind, describe):
        assert reply.error is not None, f"no error for an unknown name: {reply}"
        assert reply.error["C"] == "26000", reply
        assert reply.error["S"] == "ERROR", reply
        assert reply.error["M"] == 'prepared statement "nosuch" does not exist', reply
        assert reply.status == "I", reply
    assert not close.errors and close.kinds == [b"3", b"Z"], close
    assert plain.rows == [["still usable"]]
    assert fresh.rows == [["42"]]
    assert ok_begin.status == "T"
    assert in_tx.error["C"] == "26000" and in_tx.status == "E", in_tx
    assert rollback.status == "I" and not rollback.errors, rollback


@pytest.mark.deadline(90)
def test_close_then_parse_of_the_same_name_with_new_sql_takes_effect(pg, weir, clients):
    db, inst = start_weir(pg, weir, 2)
    a = wire(inst, db, clients)
    pinners = [wire(inst, db, clients) for _ in range(2)]

    def scenario():
        r1 = ok(extended(a, parse_msg("s", "SELECT 'old', pg_backend_pid()"), bind_msg("s"),
                         execute_msg()))
        closed = ok(extended(a, close_msg(b"S", "s")))
        r2 = ok(extended(a, parse_msg("s", "SELECT 'new'"), bind_msg("s"), execute_msg()))
        # and again from another server
        keeper = hold_only(pinners, int(r1.rows[0][1]))
        r3 = ok(extended(a, bind_msg("s"), execute_msg()))
        ok(extended(a, close_msg(b"S", "s")))
        r4 = ok(extended(a, parse_msg("s", "SELECT 'newer'"), bind_msg("s"), execute_msg()))
        gone = extended(a, bind_msg("s"), close_msg(b"S", "s"), bind_msg("s"), execute_msg())
        assert simple(keeper, "COMMIT").status == "I"
        return closed, r2, r3, r4, gone

    closed, r2, r3, r4, gone = step(scenario, "close scenario", clients)
    assert closed.kinds == [b"3", b"Z"], closed
    assert r2.rows == [["new"]]
    assert r3.rows == [["new"]]
    assert r4.rows == [["newer"]]
    # Bind, Close, then Bind of the closed name: BindComplete, CloseComplete, then 26000
    assert gone.kinds[:2] == [b"2", b"3"], gone
    assert gone.error and gone.error["C"] == "26000", gone


@pytest.mark.deadline(90)
@pytest.mark.parametrize("command", ["DEALLOCATE ALL", "DISCARD ALL"])
def test_deallocate_all_and_discard_all_forget_the_clients_statements(pg, weir, clients,
                                                                      command):
    db, inst = start_weir(pg, weir, 1)  # one server, shared with client B
    a = wire(inst, db, clients)
    b = wire(inst, db, clients)

    def scenario():
        ok(extended(a, parse_msg("s", "SELECT 'before'")))
        ok(extended(b, parse_msg("t", "SELECT 'b-statement'")))
        ok(simple(a, command))
        # A's name is free again; PostgreSQL would accept the Parse
        again = ok(extended(a, parse_msg("s", "SELECT 'after'"), bind_msg("s"),
                            execute_msg()))
        # B's statement is B's: it still works on the server A reset
        b_after = ok(extended(b, bind_msg("t"), execute_msg()))
        return again, b_after

    again, b_after = step(scenario, f"{command} scenario", clients)
    assert again.rows == [["after"]]
    assert b_after.rows == [["b-statement"]]


@pytest.mark.deadline(90)
def test_parse_and_bind_much_larger_than_a_packet_buffer_work(pg, weir, clients):
    db, inst = start_weir(pg, weir, 2)
    a = wire(inst, db, clients)
    b = wire(inst, db, clients)
    padding = "x" * 300_000
    query = f"SELECT md5($1::text), length($1::text), '{padding}' = repeat('x', 300000)"
    value = "".join(chr(0x41 + i % 26) for i in range(2_000_000))

    def scenario():
        r1 = ok(extended(a, parse_msg("big", query), bind_msg("big", [value]), execute_msg()))
        # B holds a server so that A's next Bind may need the big Parse replayed elsewhere
        begin_and_pid(b)
        r2 = ok(extended(a, bind_msg("big", [value[::-1]]), execute_msg()))
        assert simple(b, "COMMIT").status == "I"
        r3 = ok(extended(a, bind_msg("big", [value]), execute_msg()))
        return r1, r2, r3

    r1, r2, r3 = step(scenario, "large Parse/Bind scenario", clients)
    md5 = hashlib.md5(value.encode()).hexdigest()
    md5_rev = hashlib.md5(value[::-1].encode()).hexdigest()
    assert r1.rows == [[md5, str(len(value)), "t"]]
    assert r2.rows == [[md5_rev, str(len(value)), "t"]]
    assert r3.rows == [[md5, str(len(value)), "t"]]
