# SPDX-License-Identifier: ISC
"""Timeouts and cancel requests in transaction pooling.

Each timeout ends the client with PgBouncer's error (FATAL, SQLSTATE 08P01, the reason as
the message) and logs `closing because: <reason>`; a client queued for a server is told
so with PgBouncer's NOTICE; a client killed inside a transaction leaves no transaction or
lock behind for the next client of that server. Cancel requests reach the server running
the client's query, do nothing for an idle client, and take a queued client out of the
queue with 57014 as PostgreSQL's own cancel would."""

import time

import psycopg
import pytest

from conftest import parse_error_fields, query_message, wait_until
from drivers import (QUEUED_NOTICE, assert_pooler_fatal, start_tx_weir as start,
                     Background, activity, call_with_deadline, clients,  # noqa: F401
                     cut_psycopg, read_fatal_then_close, read_reply, simple,
                     sleeping_backends, tx_config, wait_for_log, wait_for_sleeping,
                     wire_connect)

USER = "scram_user"
OP = 20
CANCELED = "canceling statement due to user request"


def wire(inst, db, clients):
    return clients.add(wire_connect(inst, USER, database=db))


def hold_server(w):
    """Opens a transaction on w, so that w keeps its server."""
    assert simple(w, "BEGIN").status == "T"
    r = simple(w, "SELECT pg_backend_pid()")
    assert not r.errors, r
    return int(r.rows[0][0])


# ---------------------------------------------------------------------------------------
# timeouts


@pytest.mark.deadline(60)
def test_query_timeout_ends_the_client_with_query_timeout(pg, weir, clients):
    db, inst = start(pg, weir, 2, "qtimeout", query_timeout=1)
    w = wire(inst, db, clients)
    assert simple(w, "SELECT 1").rows == [["1"]]  # short queries are fine
    w.send(query_message("SELECT pg_sleep(8)"))
    fields, waited = read_fatal_then_close(w, 6)
    assert_pooler_fatal(fields, "query timeout")
    assert 0.9 <= waited <= 3.5, f"query_timeout=1 fired after {waited:.1f}s"
    wait_for_log(inst, "closing because: query timeout")


@pytest.mark.deadline(60)
def test_query_wait_timeout_ends_a_client_queued_behind_an_open_transaction(pg, weir, clients):
    db, inst = start(pg, weir, 1, "qwait", query_wait_timeout=1)
    holder = wire(inst, db, clients)
    waiter = wire(inst, db, clients)
    hold_server(holder)
    waiter.send(query_message("SELECT 'should not run'"))
    fields, waited = read_fatal_then_close(waiter, 6)
    assert_pooler_fatal(fields, "query_wait_timeout")
    assert 0.9 <= waited <= 3.5, f"query_wait_timeout=1 fired after {waited:.1f}s"
    wait_for_log(inst, "closing because: query_wait_timeout")
    # the holder's transaction is untouched
    assert simple(holder, "SELECT 'holder ok'").rows == [["holder ok"]]
    assert simple(holder, "COMMIT").status == "I"


@pytest.mark.deadline(60)
def test_client_idle_timeout_ends_an_idle_client(pg, weir, clients):
    db, inst = start(pg, weir, 2, "cidle", client_idle_timeout=1)
    w = wire(inst, db, clients)
    assert simple(w, "SELECT 1").rows == [["1"]]
    fields, waited = read_fatal_then_close(w, 6)
    assert_pooler_fatal(fields, "client_idle_timeout")
    assert 0.9 <= waited <= 3.5, f"client_idle_timeout=1 fired after {waited:.1f}s"
    wait_for_log(inst, "closing because: client_idle_timeout")


@pytest.mark.deadline(60)
def test_idle_transaction_timeout_ends_a_client_idle_in_a_transaction(pg, weir, clients):
    db, inst = start(pg, weir, 2, "itx", idle_transaction_timeout=1)
    busy = wire(inst, db, clients)
    w = wire(inst, db, clients)
    hold_server(w)
    # a client that is not in a transaction may stay idle
    assert simple(busy, "SELECT 1").rows == [["1"]]
    fields, waited = read_fatal_then_close(w, 6)
    assert_pooler_fatal(fields, "idle transaction timeout")
    assert 0.9 <= waited <= 3.5, f"idle_transaction_timeout=1 fired after {waited:.1f}s"
    wait_for_log(inst, "closing because: idle transaction timeout")
    wait_until(lambda: not activity(pg, USER, db, "starts_with(state, 'idle in transaction')"),
               5, "the timed-out transaction to be gone from PostgreSQL")
    assert simple(busy, "SELECT 'still here'").rows == [["still here"]]


@pytest.mark.deadline(60)
def test_transaction_timeout_ends_a_long_transaction_even_when_it_is_busy(pg, weir, clients):
    db, inst = start(pg, weir, 2, "txto", transaction_timeout=2)
    w = wire(inst, db, clients)
    other = wire(inst, db, clients)
    hold_server(w)
    start_t = time.monotonic()
    fatal = None
    while time.monotonic() - start_t < 6:
        w.send(query_message("SELECT 1"))
        msg = w.read_message(5)
        while msg is not None and msg[0] not in (b"E", b"Z"):
            msg = w.read_message(5)
        if msg is None or msg[0] == b"E":
            fatal = parse_error_fields(msg[1]) if msg else None
            break
        # many short transactions of another client over the same time are fine
        assert simple(other, "SELECT 2").rows == [["2"]]
        time.sleep(0.2)
    waited = time.monotonic() - start_t
    assert fatal is not None, f"no error {waited:.1f}s into a transaction (timeout 2 s)"
    assert_pooler_fatal(fatal, "transaction timeout")
    assert 1.8 <= waited <= 4.5, f"transaction_timeout=2 fired after {waited:.1f}s"
    wait_for_log(inst, "closing because: transaction timeout")
    assert simple(other, "SELECT 'other ok'").rows == [["other ok"]]


@pytest.mark.deadline(60)
def test_query_wait_notify_tells_a_queued_client_and_its_query_runs_later(pg, weir, clients):
    db, inst = start(pg, weir, 1, "qnotify", query_wait_notify=1)
    holder = wire(inst, db, clients)
    waiter = wire(inst, db, clients)
    hold_server(holder)
    waiter.send(query_message("SELECT 'waited'"))
    start_t = time.monotonic()
    msg = waiter.read_message(5)
    assert msg is not None, "connection closed while queued"
    assert msg[0] == b"N", f"expected a NoticeResponse, got {msg}"
    notice = parse_error_fields(msg[1])
    waited = time.monotonic() - start_t
    assert notice.get("M") == QUEUED_NOTICE, notice
    assert 0.9 <= waited <= 3.5, f"query_wait_notify=1 sent its notice after {waited:.1f}s"
    assert simple(holder, "COMMIT").status == "I"
    reply = read_reply(waiter, 10)
    assert reply.rows == [["waited"]] and not reply.errors, reply
    assert QUEUED_NOTICE not in [n.get("M") for n in reply.notices], "notice sent twice"


@pytest.mark.deadline(60)
def test_client_killed_mid_transaction_leaves_no_transaction_or_lock(pg, weir, clients):
    db, inst = start(pg, weir, 1, "killed")
    pg.sql("CREATE TABLE acct (id int PRIMARY KEY, v text)", dbname=db)
    pg.sql("INSERT INTO acct VALUES (1, 'initial')", dbname=db)
    pg.sql(f"GRANT ALL ON acct TO {USER}", dbname=db)
    a = clients.add(inst.connect(dbname=db))  # not autocommit: BEGIN is implicit
    b = clients.add(inst.connect(dbname=db))

    def victim():
        a.execute("SELECT v FROM acct WHERE id = 1 FOR UPDATE")
        a.execute("UPDATE acct SET v = 'a-uncommitted' WHERE id = 1")
        a.execute("INSERT INTO acct VALUES (2, 'a-row')")

    call_with_deadline(victim, OP, "client A's transaction", on_timeout=clients.cut_all)
    assert activity(pg, USER, db, "starts_with(state, 'idle in transaction')"), \
        "A's transaction is not open on the server"
    cut_psycopg(a)  # the client process dies: its socket closes mid-transaction

    def next_client():
        b.execute("SET LOCAL lock_timeout = '5s'")
        seen = b.execute("SELECT id, v FROM acct ORDER BY id").fetchall()
        b.execute("UPDATE acct SET v = 'b' WHERE id = 1")
        b.commit()
        return seen

    seen = call_with_deadline(next_client, OP, "client B's update",
                              on_timeout=clients.cut_all)
    assert seen == [(1, "initial")], f"client B saw A's uncommitted work: {seen}"
    wait_until(lambda: not activity(pg, USER, db, "starts_with(state, 'idle in transaction')"),
               5, "no idle-in-transaction backend of the role")
    assert pg.sql("SELECT id, v FROM acct ORDER BY id", dbname=db) == [(1, "b")]


# ---------------------------------------------------------------------------------------
# cancel requests


@pytest.mark.deadline(60)
def test_psycopg_cancel_stops_pg_sleep_with_57014_within_2s(pg, weir, clients):
    db, inst = start(pg, weir, 2, "cancel")
    a = clients.add(inst.connect(dbname=db, autocommit=True))
    other = clients.add(inst.connect(dbname=db, autocommit=True))
    assert a.execute("SELECT 1").fetchone() == (1,)
    sleeper = Background(lambda: a.execute("SELECT pg_sleep(10)").fetchone(), "pg_sleep(10)")
    try:
        wait_for_sleeping(pg, USER, db)
        # another client's query on the other server must not be hit by A's cancel
        bystander = Background(lambda: other.execute("SELECT pg_sleep(1.5), 'done'").fetchone(),
                               "bystander")
        wait_until(lambda: len(sleeping_backends(pg, USER, db)) == 2, 5, "both queries running")
        canceled_at = time.monotonic()
        call_with_deadline(a.cancel, 5, "conn.cancel()")
        with pytest.raises(psycopg.errors.QueryCanceled) as info:
            sleeper.wait(5)
        stopped_after = sleeper.finished - canceled_at
        assert info.value.sqlstate == "57014"
        assert stopped_after < 2.0, f"the query stopped {stopped_after:.1f}s after the cancel"
        assert bystander.wait(10) == ("", "done")
        assert call_with_deadline(lambda: a.execute("SELECT 'usable'").fetchone(), OP,
                                  "query after cancel") == ("usable",)
    finally:
        clients.cut_all()


@pytest.mark.deadline(60)
def test_cancel_for_an_idle_client_does_nothing(pg, weir, clients):
    db, inst = start(pg, weir, 1, "cancelidle")
    idle = clients.add(inst.connect(dbname=db, autocommit=True))
    busy = clients.add(inst.connect(dbname=db, autocommit=True))
    assert idle.execute("SELECT 1").fetchone() == (1,)  # its server goes back to the pool
    # the only server now runs another client's query
    query = Background(lambda: busy.execute("SELECT pg_sleep(1.5), 'finished'").fetchone(),
                       "busy client's query")
    try:
        wait_for_sleeping(pg, USER, db)
        call_with_deadline(idle.cancel, 5, "cancel for the idle client")
        assert query.wait(10) == ("", "finished"), "the idle client's cancel hit another query"
        assert call_with_deadline(lambda: idle.execute("SELECT 'idle ok'").fetchone(), OP,
                                  "idle client's next query") == ("idle ok",)
    finally:
        clients.cut_all()


@pytest.mark.deadline(60)
def test_cancel_of_a_queued_client_removes_it_from_the_queue_with_57014(pg, weir, clients):
    db, inst = start(pg, weir, 1, "cancelq")
    pg.sql("CREATE TABLE marks (who text)", dbname=db)
    pg.sql(f"GRANT ALL ON marks TO {USER}", dbname=db)
    holder = wire(inst, db, clients)
    queued = clients.add(inst.connect(dbname=db, autocommit=True))
    assert queued.execute("SELECT 1").fetchone() == (1,)
    hold_server(holder)
    waiting = Background(lambda: queued.execute("INSERT INTO marks VALUES ('queued')"),
                         "queued client's INSERT")
    try:
        time.sleep(0.5)
        assert not waiting.done(), "the INSERT did not wait for the held server"
        canceled_at = time.monotonic()
        call_with_deadline(queued.cancel, 5, "cancel for the queued client")
        with pytest.raises(psycopg.errors.QueryCanceled) as info:
            waiting.wait(5)
        assert waiting.finished - canceled_at < 2.0
        assert info.value.sqlstate == "57014"
        assert info.value.diag.message_primary == CANCELED
        assert simple(holder, "COMMIT").status == "I"
        # the canceled INSERT never runs; the client goes on
        assert call_with_deadline(lambda: queued.execute("SELECT 'after'").fetchone(), OP,
                                  "query after the cancel") == ("after",)
        assert pg.sql("SELECT count(*) FROM marks", dbname=db) == [(0,)]
    finally:
        clients.cut_all()


@pytest.mark.deadline(90)
@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_query_timeout_cancels_the_query_on_postgresql_and_keeps_the_server(
        pg, weir, clients, mode):
    """query_timeout ends the client, but first weir cancels the query: the backend stops
    running it at once, and once PostgreSQL has answered the server goes back to the pool
    (the next client gets the same backend)."""
    db = pg.create_database("qtcancel")
    inst = weir(tx_config(pg, db, 1, mode=mode, weir_extra={"query_timeout": 1}))
    w = wire(inst, db, clients)
    pid = int(simple(w, "SELECT pg_backend_pid()").rows[0][0])
    w.send(query_message("SELECT pg_sleep(60)"))
    wait_for_sleeping(pg, USER, db)
    fields, _ = read_fatal_then_close(w, 6)
    assert_pooler_fatal(fields, "query timeout")
    wait_until(lambda: not sleeping_backends(pg, USER, db), 5,
               "pg_sleep(60) to stop running on PostgreSQL")
    nxt = wire(inst, db, clients)
    assert simple(nxt, "SELECT pg_backend_pid()").rows == [[str(pid)]], \
        "the server was not reused after its query was cancelled"
    assert simple(nxt, "SELECT 'clean'").rows == [["clean"]]


@pytest.mark.deadline(90)
def test_query_timeout_inside_a_transaction_rolls_back_and_keeps_the_server(pg, weir, clients):
    db = pg.create_database("qtcancel")
    pg.sql("CREATE TABLE t (x int)", dbname=db)
    pg.sql("GRANT ALL ON t TO scram_user", dbname=db)
    inst = weir(tx_config(pg, db, 1, weir_extra={"query_timeout": 1}))
    w = wire(inst, db, clients)
    pid = hold_server(w)
    assert not simple(w, "INSERT INTO t VALUES (1)").errors
    w.send(query_message("SELECT pg_sleep(60)"))
    fields, _ = read_fatal_then_close(w, 6)
    assert_pooler_fatal(fields, "query timeout")
    nxt = wire(inst, db, clients)
    assert simple(nxt, "SELECT pg_backend_pid()").rows == [[str(pid)]]
    assert simple(nxt, "SELECT count(*) FROM t").rows == [["0"]], "the insert was committed"


@pytest.mark.deadline(90)
def test_replication_stream_is_not_subject_to_query_timeout(pg, weir):
    """START_REPLICATION keeps a request open for as long as it streams; query_timeout
    must not end it (pg_receivewal and standbys stream for days)."""
    from conftest import PgWire, default_users, message, wire_login
    role, password = "repl_user", "repl-secret"
    if not pg.sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)):
        pg.sql(f"CREATE ROLE {role} LOGIN REPLICATION PASSWORD '{password}'")
        pg.sql(f"GRANT ALL ON DATABASE app TO {role}")
    users = dict(default_users(pg), **{role: password})
    inst = weir({"weir": {"pool_mode": "transaction", "query_timeout": 1},
                 "databases": {"replication": f"host=127.0.0.1 port={pg.port}"}},
                users=users)
    with PgWire(inst.port) as w:
        wire_login(w, role, password, "replication", extra={"replication": "true"})
        system = simple(w, "IDENTIFY_SYSTEM")
        assert not system.errors, system
        xlogpos = system.rows[0][2]
        w.send(query_message(f"START_REPLICATION PHYSICAL {xlogpos}"))
        kind, _ = w.read_message()
        assert kind == b"W", kind  # CopyBothResponse: streaming
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # keepalives may come; an error must not
            try:
                msg = w.read_message(timeout=max(0.05, deadline - time.monotonic()))
            except TimeoutError:
                break
            assert msg is not None, "weir closed the replication stream"
            assert msg[0] != b"E", parse_error_fields(msg[1])
        w.send(message(b"c"))  # CopyDone: end the stream as a client does
        reply = read_reply(w)
        assert not reply.errors, reply
    assert "query timeout" not in inst.log()
