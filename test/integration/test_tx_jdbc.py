# SPDX-License-Identifier: ISC
"""pgjdbc through weir in transaction pooling: with prepareThreshold=1 every
PreparedStatement becomes a named server-side statement on its first execution, and 8
threads (each its own JDBC connection) run them many times on a pool of 3 servers, in
autocommit and in explicit transactions. The program (java/TxJdbc.java) is compiled with
javac against Debian's /usr/share/java/postgresql.jar and prints a JSON summary.

pgjdbc sends extra_float_digits in its startup packet; like PgBouncer, weir refuses
startup parameters it does not track unless ignore_startup_parameters lists them, which
is how PgBouncer is configured for JDBC clients."""

import pytest

from drivers import JAVA_DIR, JDBC_JAR, java_tools, last_json_line, run_program, tx_config

USER = "scram_user"
THREADS = 8
ITERATIONS = 150
POOL = 3


@pytest.fixture(scope="module")
def jdbc_classes(tmp_path_factory):
    javac, java = java_tools()
    out = tmp_path_factory.mktemp("jdbc-classes")
    proc = run_program([javac, "-d", out, "-cp", JDBC_JAR, JAVA_DIR / "TxJdbc.java"], 120,
                       "javac TxJdbc.java")
    assert proc.returncode == 0, f"javac failed:\n{proc.stdout}\n{proc.stderr}"
    return java, out


@pytest.mark.deadline(150)
def test_jdbc_prepare_threshold_1_with_8_threads_on_pool_of_3(pg, weir, jdbc_classes, capsys):
    java, classes = jdbc_classes
    db = pg.create_database("jdbc")
    pg.sql("CREATE TABLE jdbc_rows (thread int, n int)", dbname=db)
    pg.sql(f"GRANT ALL ON jdbc_rows TO {USER}", dbname=db)
    inst = weir(tx_config(pg, db, POOL,
                          weir_extra={"ignore_startup_parameters": "extra_float_digits"}))
    url = (f"jdbc:postgresql://127.0.0.1:{inst.port}/{db}?prepareThreshold=1"
           "&sslmode=disable&connectTimeout=15&socketTimeout=60&loginTimeout=20")
    with pg.sampler(USER, db) as sampler:
        proc = run_program([java, "-cp", f"{classes}:{JDBC_JAR}", "TxJdbc", url, USER,
                            pg.passwords[USER], THREADS, ITERATIONS], 120, "java TxJdbc")
    result = last_json_line(proc.stdout, "TxJdbc")
    print(f"\npgjdbc {result.get('driver')} on Java {result.get('java')}: {result}")
    with capsys.disabled():
        print(f"\nDRIVER pgjdbc {result.get('driver')} (Java {result.get('java')})")
    assert proc.returncode == 0, f"java exited with {proc.returncode}:\n{proc.stderr[-4000:]}"
    assert result["errorCount"] == 0, (
        "errors:\n" + "\n".join(result["errors"]) + f"\n--- weir log (tail) ---\n"
        f"{inst.log()[-3000:]}")
    inserts = len(range(0, ITERATIONS, 4))
    assert result["ok"] == THREADS * (2 * ITERATIONS + inserts)
    rows = pg.sql("SELECT thread, count(*) FROM jdbc_rows GROUP BY thread ORDER BY thread",
                  dbname=db)
    assert rows == [(t, inserts) for t in range(THREADS)]
    assert any(n >= 2 for n in result["serversPerThread"]), (
        f"no thread ever moved to another server: {result['serversPerThread']}")
    assert sampler.max <= POOL, f"PostgreSQL saw {sampler.max} connections; pool is {POOL}"
