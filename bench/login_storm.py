# SPDX-License-Identifier: ISC
"""A login storm: clients that reconnect in a loop, each login TLS + SCRAM through libpq.

Used by bench/run's storm-tls scenario, and usable on its own against any pooler:

    python3 login_storm.py HOST PORT USER DATABASE CLIENTS [--seconds S] [--sslmode MODE]

Each of CLIENTS threads connects with psycopg (libpq: sslmode=require unless --sslmode
says otherwise, the password from PGPASSWORD), runs SELECT 1, closes, and starts again.
libpq does the TLS handshake and the SCRAM key derivation in C, outside the GIL, so the
threads do log in concurrently. A thread whose login failed waits 0.1 s before the next
try, so that a pooler that refuses every login (no TLS, say) is not hammered in a loop.

With --seconds S it starts at once, prints "running" and stops after S seconds. Without,
it prints "ready" once loaded, starts the threads at the first line on stdin (so that
loading Python and psycopg is not part of a measurement), prints "running", and stops at
the next line or end of file. SIGTERM stops it too. At the end it prints one line

    done logins <ok> failed <failed> seconds <elapsed> per_s <ok per second>

followed by up to five lines "error: ..." with the first distinct failures.
Needs Debian's python3-psycopg (psycopg 3).
"""

import argparse
import signal
import sys
import threading
import time

import psycopg
from psycopg.conninfo import make_conninfo

RETRY_PAUSE = 0.1


class Storm:
    def __init__(self, conninfo, clients):
        self.conninfo = conninfo
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failed = 0
        self.errors = []
        self.threads = [threading.Thread(target=self.loop, daemon=True) for _ in range(clients)]

    def loop(self):
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.conninfo) as conn:
                    conn.execute("SELECT 1").fetchone()
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                with self.lock:
                    self.failed += 1
                    text = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                    if len(self.errors) < 5 and text not in self.errors:
                        self.errors.append(text)
                self.stop.wait(RETRY_PAUSE)
                continue
            with self.lock:
                self.ok += 1

    def run(self, seconds):
        if not seconds:
            print("ready", flush=True)
            sys.stdin.readline()
        start = time.monotonic()
        for t in self.threads:
            t.start()
        print("running", flush=True)
        if seconds:
            self.stop.wait(seconds)
        else:
            waiter = threading.Thread(target=lambda: (sys.stdin.readline(), self.stop.set()),
                                      daemon=True)
            waiter.start()
            self.stop.wait()
        self.stop.set()
        elapsed = time.monotonic() - start
        for t in self.threads:
            t.join(15)  # a login in flight ends within connect_timeout
        with self.lock:
            print(f"done logins {self.ok} failed {self.failed} seconds {elapsed:.2f} "
                  f"per_s {self.ok / elapsed:.1f}", flush=True)
            for text in self.errors:
                print(f"error: {text}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("user")
    ap.add_argument("database")
    ap.add_argument("clients", type=int)
    ap.add_argument("--seconds", type=float, help="stop after this long (default: at a "
                    "line on stdin)")
    ap.add_argument("--sslmode", default="require", help="libpq sslmode (default require)")
    opts = ap.parse_args()
    conninfo = make_conninfo(host=opts.host, port=opts.port, user=opts.user,
                             dbname=opts.database, sslmode=opts.sslmode, connect_timeout=10,
                             application_name="login_storm")
    storm = Storm(conninfo, opts.clients)
    signal.signal(signal.SIGTERM, lambda *_: storm.stop.set())
    storm.run(opts.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
