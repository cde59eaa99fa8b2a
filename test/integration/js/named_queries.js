// SPDX-License-Identifier: ISC
//
// node-postgres named queries ({name, text, values}) from many concurrent clients, for
// weir's transaction pooling tests (test_tx_node.py). node-postgres sends Parse with the
// query's name the first time a connection runs it, and only Bind/Execute afterwards.
//
// usage: node named_queries.js '{"host":..., "port":..., "user":..., "password":...,
//                                "database":..., "clients":20, "iterations":60}'
// Prints one JSON line: {"pg": version, "clients", "iterations", "ok", "errorCount",
// "errors": [first few], "serversPerClient": [...], "inserted": [...]}.
'use strict';

const { Client } = require('pg');
const pgVersion = require('pg/package.json').version;

const cfg = JSON.parse(process.argv[2]);

function check(cond, what) {
  if (!cond) throw new Error(`wrong result: ${what}`);
}

async function runClient(c) {
  const client = new Client({
    host: cfg.host,
    port: cfg.port,
    user: cfg.user,
    password: cfg.password,
    database: cfg.database,
    connectionTimeoutMillis: 15000,
    query_timeout: 20000,
  });
  client.on('error', () => {}); // reported through the failing query
  await client.connect();
  let ok = 0;
  let inserted = 0;
  const pids = new Set();
  try {
    for (let i = 0; i < cfg.iterations; i++) {
      // the same name and text in every client
      let r = await client.query({ name: 'add', text: 'SELECT $1::int + $2::int AS s',
                                   values: [c, i] });
      check(r.rows[0].s === c + i, `add ${c} ${i} -> ${JSON.stringify(r.rows)}`);
      ok++;

      // the same name, different text in odd and even clients
      const odd = c % 2 === 1;
      r = await client.query({
        name: 'shape',
        text: odd ? "SELECT $1::text || '-odd' AS v" : 'SELECT ($1::int * 10)::text AS v',
        values: [String(i)],
      });
      check(r.rows[0].v === (odd ? `${i}-odd` : String(i * 10)),
            `shape ${c} ${i} -> ${JSON.stringify(r.rows)}`);
      ok++;

      // a name of this client only
      r = await client.query({ name: `own_${c}`,
                               text: 'SELECT $1::int AS c, pg_backend_pid() AS pid',
                               values: [c] });
      check(r.rows[0].c === c, `own ${c} -> ${JSON.stringify(r.rows)}`);
      pids.add(r.rows[0].pid);
      ok++;

      if (i % 5 === 0) {
        // named statements inside a transaction
        await client.query('BEGIN');
        await client.query({ name: 'ins', text: 'INSERT INTO node_rows (client, n) VALUES ($1, $2)',
                             values: [c, i] });
        r = await client.query({ name: 'cnt',
                                 text: 'SELECT count(*)::int AS n FROM node_rows WHERE client = $1',
                                 values: [c] });
        await client.query('COMMIT');
        inserted++;
        check(r.rows[0].n === inserted, `cnt ${c} -> ${JSON.stringify(r.rows)} want ${inserted}`);
        ok++;
      }
    }
  } finally {
    await client.end().catch(() => {});
  }
  return { ok, servers: pids.size, inserted };
}

async function main() {
  const runs = [];
  for (let c = 0; c < cfg.clients; c++) runs.push(runClient(c));
  const results = await Promise.allSettled(runs);
  const out = {
    pg: pgVersion,
    clients: cfg.clients,
    iterations: cfg.iterations,
    ok: 0,
    errorCount: 0,
    errors: [],
    serversPerClient: [],
    inserted: [],
  };
  results.forEach((res, c) => {
    if (res.status === 'fulfilled') {
      out.ok += res.value.ok;
      out.serversPerClient.push(res.value.servers);
      out.inserted.push(res.value.inserted);
    } else {
      out.errorCount++;
      if (out.errors.length < 5) out.errors.push(`client ${c}: ${res.reason && res.reason.stack}`);
      out.serversPerClient.push(0);
      out.inserted.push(0);
    }
  });
  console.log(JSON.stringify(out));
}

main().catch((err) => {
  console.log(JSON.stringify({ fatal: String(err && err.stack) }));
  process.exit(1);
});
