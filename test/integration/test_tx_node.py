# SPDX-License-Identifier: ISC
"""node-postgres named queries ({name, text, values}) through weir in transaction pooling:
20 concurrent clients on a pool of 3. Each client prepares a statement under a name once
and then only sends Bind/Execute for it, from whichever server it gets; some names are
shared by all clients with the same text, one name has different text in odd and even
clients. The program (js/named_queries.js) prints a JSON summary that is checked here."""

import json
import subprocess

import pytest

from drivers import JS_DIR, last_json_line, node_bin, run_program, tx_config

USER = "scram_user"
CLIENTS = 20
ITERATIONS = 60
POOL = 3


def proc_version(node):
    return subprocess.run([node, "--version"], capture_output=True, text=True,
                          timeout=10).stdout.strip()


@pytest.mark.deadline(120)
def test_node_postgres_named_queries_from_20_clients_on_pool_of_3(pg, weir, capsys):
    node = node_bin()
    db = pg.create_database("node")
    pg.sql("CREATE TABLE node_rows (client int, n int)", dbname=db)
    pg.sql(f"GRANT ALL ON node_rows TO {USER}", dbname=db)
    inst = weir(tx_config(pg, db, POOL))
    cfg = {"host": "127.0.0.1", "port": inst.port, "user": USER,
           "password": pg.passwords[USER], "database": db, "clients": CLIENTS,
           "iterations": ITERATIONS}
    with pg.sampler(USER, db) as sampler:
        proc = run_program([node, JS_DIR / "named_queries.js", json.dumps(cfg)], 90,
                           "node named_queries.js", cwd=JS_DIR)
    result = last_json_line(proc.stdout, "named_queries.js")
    print(f"\nnode-postgres {result.get('pg')}: {result}")
    with capsys.disabled():
        print(f"\nDRIVER node-postgres {result.get('pg')} (node {proc_version(node)})")
    assert proc.returncode == 0, f"node exited with {proc.returncode}: {proc.stdout}{proc.stderr}"
    assert result["errorCount"] == 0, (
        "errors:\n" + "\n".join(result["errors"]) + f"\n--- weir log (tail) ---\n"
        f"{inst.log()[-3000:]}")
    per_client = 3 * ITERATIONS + len(range(0, ITERATIONS, 5))
    assert result["ok"] == CLIENTS * per_client
    rows = pg.sql("SELECT client, count(*) FROM node_rows GROUP BY client ORDER BY client",
                  dbname=db)
    assert rows == [(c, len(range(0, ITERATIONS, 5))) for c in range(CLIENTS)]
    assert sum(1 for n in result["serversPerClient"] if n >= 2) > 0, (
        f"no client ever moved to another server: {result['serversPerClient']}")
    assert sampler.max <= POOL, f"PostgreSQL saw {sampler.max} connections; pool is {POOL}"
