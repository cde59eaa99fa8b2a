# SPDX-License-Identifier: ISC
"""What a client does inside one session through weir in session pooling: session state
stays, COPY streams both ways, and values far larger than any buffer round-trip intact."""

import hashlib
import os

import psycopg
import pytest


def backend_pid(conn):
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_set_survives_for_the_whole_session(weir):
    inst = weir()
    with inst.connect(autocommit=True) as conn:
        pid = backend_pid(conn)
        conn.execute("SET work_mem = '7MB'")
        conn.execute("SET weir_test.marker = 'kept'")
        for i in range(20):
            assert conn.execute("SELECT %s::int", (i,)).fetchone() == (i,)
        assert conn.execute("SHOW work_mem").fetchone() == ("7MB",)
        assert conn.execute("SELECT current_setting('weir_test.marker')").fetchone() == ("kept",)
        assert backend_pid(conn) == pid


def test_temp_table_survives_for_the_whole_session(weir):
    inst = weir()
    with inst.connect(autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE scratch (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO scratch SELECT g, 'n' || g FROM generate_series(1, 50) g")
        for _ in range(10):
            conn.execute("SELECT 1")
        assert conn.execute("SELECT count(*), max(note) FROM scratch").fetchone() == (50, "n9")


def test_sql_prepare_and_execute_work_within_the_session(weir):
    inst = weir()
    with inst.connect(autocommit=True) as conn:
        conn.execute("PREPARE add_one (int) AS SELECT $1 + 1")
        for i in range(10):
            assert conn.execute(f"EXECUTE add_one({i})").fetchone() == (i + 1,)
        rows = conn.execute("SELECT name, from_sql FROM pg_prepared_statements").fetchall()
        assert ("add_one", True) in rows
        conn.execute("DEALLOCATE add_one")


def test_protocol_prepared_statement_works_within_the_session(weir):
    inst = weir()
    with inst.connect(autocommit=True) as conn:
        for i in range(10):
            cur = conn.execute("SELECT %s::int * 3, %s::text", (i, f"v{i}"), prepare=True)
            assert cur.fetchone() == (i * 3, f"v{i}")
        protocol_level = conn.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql").fetchone()[0]
        assert protocol_level >= 1, "psycopg's statement was not prepared on the server"


def test_copy_in_and_out_of_100000_rows_keeps_count_and_checksum(weir):
    n = 100_000
    expected = b"".join(b"%d\trow-%d-%s\n" % (i, i, b"x" * (i % 17)) for i in range(1, n + 1))
    expected_md5 = hashlib.md5(expected).hexdigest()
    inst = weir()
    with inst.connect(autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE copied (id int, v text)")
        cur = conn.cursor()
        with cur.copy("COPY copied (id, v) FROM STDIN") as copy:
            for start in range(0, len(expected), 65536):
                copy.write(expected[start:start + 65536])
        assert cur.rowcount == n

        count, server_md5 = conn.execute(
            "SELECT count(*), md5(string_agg(id || E'\\t' || v || E'\\n', '' ORDER BY id)) "
            "FROM copied").fetchone()
        assert (count, server_md5) == (n, expected_md5)

        received = bytearray()
        with cur.copy("COPY (SELECT id, v FROM copied ORDER BY id) TO STDOUT") as copy:
            for block in copy:
                received += block
        assert received.count(b"\n") == n
        assert hashlib.md5(received).hexdigest() == expected_md5

        rows = 0
        with cur.copy("COPY (SELECT id, v FROM copied ORDER BY id) TO STDOUT") as copy:
            for row in copy.rows():
                rows += 1
        assert rows == n


def test_20_mb_bytea_value_round_trips(weir):
    value = os.urandom(20 * 1024 * 1024)
    inst = weir()
    with inst.connect(autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE blobs (id int, v bytea)")
        conn.execute("INSERT INTO blobs VALUES (1, %b)", (value,))
        assert conn.execute("SELECT length(v), md5(v) FROM blobs").fetchone() == (
            len(value), hashlib.md5(value).hexdigest())
        fetched = conn.execute("SELECT v FROM blobs", binary=True).fetchone()[0]
        assert bytes(fetched) == value
        fetched = conn.execute("SELECT v FROM blobs").fetchone()[0]
        assert bytes(fetched) == value


def test_20_mb_text_value_round_trips(weir):
    chunk = "weir-" + "0123456789abcdef" * 4 + "\n"
    value = (chunk * (20 * 1024 * 1024 // len(chunk) + 1))[:20 * 1024 * 1024]
    inst = weir()
    with inst.connect(autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE texts (id int, v text)")
        conn.execute("INSERT INTO texts VALUES (1, %s)", (value,))
        assert conn.execute("SELECT length(v), md5(v) FROM texts").fetchone() == (
            len(value), hashlib.md5(value.encode()).hexdigest())
        assert conn.execute("SELECT v FROM texts").fetchone()[0] == value
        # The same size inside one simple-protocol Query message.
        literal = psycopg.sql.Literal(value).as_string(conn)
        assert conn.execute(f"SELECT md5({literal})".encode(), prepare=False).fetchone() == (
            hashlib.md5(value.encode()).hexdigest(),)


@pytest.mark.parametrize("rows", [1, 1000])
def test_pipelined_queries_all_get_their_results(weir, rows):
    inst = weir()
    with inst.connect(autocommit=True) as conn:
        with conn.pipeline():
            cursors = [conn.execute("SELECT g FROM generate_series(1, %s) g WHERE g %% %s = 0",
                                    (rows, i)) for i in range(1, 51)]
        for i, cur in enumerate(cursors, start=1):
            assert [r[0] for r in cur.fetchall()] == list(range(i, rows + 1, i))
