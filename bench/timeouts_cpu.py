# SPDX-License-Identifier: ISC
"""weir's CPU with many idle clients while every client timeout is set (the janitor's cost).

    python3 bench/timeouts_cpu.py --weir-bin PATH [--clients 10000] [--seconds 60]
                                  [--mode timeouts|none|both] [--run-dir DIR]

As root. It starts a scratch PostgreSQL 15 (on tmpfs, as user weir), one role with a SCRAM
verifier, and weir (as user weir, -q) in transaction pooling with a pool of 5. With
--mode timeouts every client timeout is set to an hour, so that none fires during the
measurement: query_timeout, client_idle_timeout, idle_transaction_timeout,
transaction_timeout, query_wait_timeout and query_wait_notify; --mode none sets none of
them (the floor); both (the default) measures one after the other, each with a fresh weir.
bench/idle_clients.py logs the clients in and holds them idle; after 5 s of settling, weir's
utime+stime (/proc/PID/stat, clock ticks) and its on-CPU time (/proc/PID/schedstat,
nanoseconds) are read at the start and the end of --seconds, and printed as milliseconds
of CPU per second, over the whole window and per tenth of it. Build weir without
sanitizers (bench/run's build-bench/ does: -O2 -g) and compare builds with the same options.
"""

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import bench as b  # noqa: E402 - the process and port helpers of bench/run

USER = "bench_scram"
DATABASE = "bench"
HOUR = 3600
TIMEOUTS = ("query_timeout", "client_idle_timeout", "idle_transaction_timeout",
            "transaction_timeout", "query_wait_timeout", "query_wait_notify")


def say(text):
    print(f"timeouts_cpu: {text}", flush=True)


def cpu_now(pid):
    """(utime+stime in seconds, on-CPU nanoseconds) of a process."""
    ns = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    return b.cpu_seconds(pid), ns


class Run:
    def __init__(self, opts):
        self.opts = opts
        self.dir = Path(opts.run_dir)
        self.procs = b.Processes(self.dir)
        self.ports = set()
        self.password = "pw-" + os.urandom(9).hex()

    def setup(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if hard < self.opts.clients + 200:
            raise RuntimeError(f"open file limit {hard} is too low for {self.opts.clients}")
        b.Processes.kill_leftovers(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        shutil.chown(self.dir, b.RUN_USER, b.RUN_USER)
        self.weir_bin = self.dir / "weir"
        shutil.copy2(self.opts.weir_bin, self.weir_bin)
        os.chmod(self.weir_bin, 0o755)
        self.start_postgres()

    def start_postgres(self):
        pgdata = self.dir / "pgdata"
        b.run_quiet([str(b.PG_BIN / "initdb"), "-D", str(pgdata), "-U", "postgres", "-A",
                     "trust", "-E", "UTF8", "--locale=C", "--no-sync"], as_user=True)
        with open(pgdata / "postgresql.conf", "a") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nunix_socket_directories = "
                       f"'{self.dir}'\nfsync = off\nautovacuum = off\n"
                       "password_encryption = 'scram-sha-256'\n")
        (pgdata / "pg_hba.conf").write_text("local all all trust\n"
                                            "host all all 127.0.0.1/32 scram-sha-256\n")
        self.pg_port = b.free_port(self.ports)
        log = self.dir / "postgresql.log"
        proc = self.procs.spawn("postgres", [str(b.PG_BIN / "postgres"), "-D", str(pgdata),
                                             "-p", str(self.pg_port)], log)
        b.wait_listening(self.pg_port, proc, log, 60)
        for _ in range(100):
            if subprocess.run([str(b.PG_BIN / "pg_isready"), "-q", "-h", str(self.dir), "-p",
                               str(self.pg_port)]).returncode == 0:
                break
            time.sleep(0.1)
        self.psql(f"CREATE ROLE {USER} LOGIN PASSWORD '{self.password}'")
        self.psql(f"CREATE DATABASE {DATABASE} OWNER {USER}")
        secret = self.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{USER}'")
        userlist = self.dir / "userlist.txt"
        userlist.write_text(f'"{USER}" "{secret.strip()}"\n')
        shutil.chown(userlist, b.RUN_USER, b.RUN_USER)
        os.chmod(userlist, 0o600)

    def psql(self, sql):
        return b.run_quiet(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h",
                            str(self.dir), "-p", str(self.pg_port), "-U", "postgres", "-c",
                            sql])

    def start_weir(self, with_timeouts):
        self.weir_port = b.free_port(self.ports)
        ini, log = self.dir / "weir.ini", self.dir / "weir.log"
        text = f"""[databases]
{DATABASE} = host=127.0.0.1 port={self.pg_port} dbname={DATABASE}

[weir]
listen_addr = 127.0.0.1
listen_port = {self.weir_port}
unix_socket_dir =
logfile = {log}
auth_type = scram-sha-256
auth_file = {self.dir}/userlist.txt
pool_mode = transaction
default_pool_size = 5
max_client_conn = {self.opts.clients + 100}
log_connections = 0
log_disconnections = 0
"""
        if with_timeouts:
            text += "".join(f"{key} = {HOUR}\n" for key in TIMEOUTS)
        ini.write_text(text)
        shutil.chown(ini, b.RUN_USER, b.RUN_USER)
        proc = self.procs.spawn("weir", [str(self.weir_bin), "-q", str(ini)],
                                self.dir / "weir.out")
        b.wait_listening(self.weir_port, proc, log)
        return proc

    def hold_clients(self):
        env = dict(os.environ, PGPASSWORD=self.password)
        proc = subprocess.Popen(["/usr/bin/python3", str(BENCH / "idle_clients.py"),
                                 "127.0.0.1", str(self.weir_port), USER, DATABASE,
                                 str(self.opts.clients)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=env, cwd="/",
                                start_new_session=True)
        self.procs.track("idle_clients", proc)
        ready = proc.stdout.readline().split()
        if len(ready) < 6 or ready[0] != "ready" or int(ready[3]) != 0:
            raise RuntimeError(f"idle_clients.py said {' '.join(ready)!r}")
        return proc, int(ready[1])

    def measure(self, with_timeouts):
        label = "every client timeout = 1 h" if with_timeouts else "no client timeout"
        weir = self.start_weir(with_timeouts)
        clients, logged_in = self.hold_clients()
        say(f"{label}: {logged_in} clients logged in; settling 5 s")
        time.sleep(5)
        step = self.opts.seconds / 10
        marks = [(time.monotonic(), *cpu_now(weir.pid))]
        for _ in range(10):
            time.sleep(step)
            marks.append((time.monotonic(), *cpu_now(weir.pid)))
        if weir.poll() is not None:
            raise RuntimeError("weir exited during the measurement")
        t0, ticks0, ns0 = marks[0]
        t1, ticks1, ns1 = marks[-1]
        parts = [f"{(m[2] - p[2]) / 1e6 / (m[0] - p[0]):.2f}" for p, m in zip(marks, marks[1:])]
        say(f"{label}: {logged_in} idle clients, {t1 - t0:.1f} s: "
            f"utime+stime {(ticks1 - ticks0) * 1e3 / (t1 - t0):.2f} ms/s, "
            f"on-CPU {(ns1 - ns0) / 1e6 / (t1 - t0):.3f} ms/s "
            f"(per {step:g} s: {' '.join(parts)})")
        clients.stdin.write("close\n")
        clients.stdin.flush()
        clients.stdout.readline()
        self.procs.stop("idle_clients", ((signal.SIGTERM, 5),))
        self.procs.stop("weir")

    def shutdown(self):
        for name in ("idle_clients", "weir"):
            self.procs.stop(name, ((signal.SIGTERM, 5),))
        self.procs.stop("postgres", ((signal.SIGINT, 30), (signal.SIGQUIT, 5)))
        shutil.rmtree(self.dir / "pgdata", ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weir-bin", required=True)
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--mode", choices=("timeouts", "none", "both"), default="both")
    ap.add_argument("--run-dir", default="/dev/shm/weir-timeouts")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("timeouts_cpu: run as root (PostgreSQL and weir run as user weir)")
    run = Run(opts)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        run.setup()
        for with_timeouts in {"timeouts": (True,), "none": (False,),
                              "both": (False, True)}[opts.mode]:
            run.measure(with_timeouts)
    finally:
        run.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
