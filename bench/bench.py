# SPDX-License-Identifier: ISC
"""weir against PgBouncer (and a direct connection), side by side, on this machine.

bench/run installs packages and builds weir, then runs this file with Debian's python3 as
root. This file owns everything after that: a scratch PostgreSQL 15 on tmpfs, weir and
PgBouncer with one shared configuration text (and, with --weir-base, a second, baseline
weir as a third pooler), the scenarios (pgbench runs, idle clients), interleaved and
repeated in rotated order, and the report (a table on stdout, JSON on disk). The TLS
scenarios (churn-tls, storm-tls) restart each pooler with a second configuration that
requires TLS of clients, with a throw-away CA and server certificate made by the openssl
CLI in the run directory; the storm's reconnecting clients are bench/login_storm.py.
Every process it starts runs in its own session and is stopped when it exits, also on
Ctrl-C or SIGTERM. The report itself (medians, ratios, targets) is in report.py.
"""

import argparse
import datetime
import glob
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import report

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
RUN_USER = "weir"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NOFILE = 65536
DATABASE = "bench"
SCRAM_USER = "bench_scram"
MD5_USER = "bench_md5"
POOL_SIZE = 20
STORM_CLIENTS = 50  # storm-tls: clients reconnecting in a loop with TLS + SCRAM
ERROR_WORDS = re.compile(r"\b(ERROR|FATAL|PANIC|WARNING|LOG: could not|sanitizer)\b", re.I)


class Interrupted(Exception):
    pass


def _on_signal(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def say(text):
    print(f"\033[1mbench:\033[0m {text}", flush=True)


# --- scenarios ------------------------------------------------------------------------


class Scenario:
    """One measurement: a pgbench command line (kind "pgbench"), idle clients ("idle"), or
    a pgbench run alone and then during a login storm ("storm"). tls: every client
    connection is sslmode=require, to poolers that require TLS. in_full_run: False for
    scenarios that run only when --only names them."""

    def __init__(self, name, title, kind, clients, args=(), user=SCRAM_USER, direct=True,
                 threads=2, needs_prepared=False, per="xact", repeat_factor=1, tls=False,
                 in_full_run=True):
        self.name, self.title, self.kind, self.clients = name, title, kind, clients
        self.args, self.user, self.direct, self.threads = list(args), user, direct, threads
        self.needs_prepared, self.per = needs_prepared, per
        self.repeat_factor = repeat_factor
        self.tls, self.in_full_run = tls, in_full_run

    def describe(self):
        if self.kind == "idle":
            return f"{self.clients} idle clients (SCRAM login, then held)"
        text = "pgbench " + " ".join(
            self.args + [f"-c {self.clients}", f"-j {min(self.threads, self.clients)}"])
        if self.tls:
            text = "PGSSLMODE=require " + text
        if self.kind == "storm":
            text += (f", alone and while {STORM_CLIENTS} clients reconnect in a loop "
                     "(bench/login_storm.py, TLS + SCRAM)")
        return text


def scenarios(idle_clients):
    out = []
    for mode in ("simple", "extended", "prepared"):
        for clients in (10, 100, 500):
            out.append(Scenario(f"select-{mode}-c{clients}",
                                f"select-only, -M {mode}, {clients} clients",
                                "pgbench", clients, ["-S", "-M", mode],
                                needs_prepared=(mode == "prepared")))
    out.append(Scenario("tpcb-c50", "TPC-B-like (default script), 50 clients", "pgbench", 50,
                        ["-M", "simple"]))
    out.append(Scenario("churn-md5-c50", "connection churn -C -S, md5 secret, 50 clients",
                        "pgbench", 50, ["-C", "-S", "-M", "simple"], user=MD5_USER,
                        direct=False, per="connection"))
    out.append(Scenario("churn-scram-c50", "connection churn -C -S, SCRAM secret, 50 clients",
                        "pgbench", 50, ["-C", "-S", "-M", "simple"], direct=False,
                        per="connection"))
    # One client is the noisiest run (each transaction wakes three processes on two
    # vCPUs) and the cheapest: it gets twice the repeats.
    out.append(Scenario("latency-c1", "select-only, 1 client (latency over direct)", "pgbench", 1,
                        ["-S", "-M", "simple"], threads=1, repeat_factor=2))
    out.append(Scenario("fairness-c2000", "select-only, 2,000 clients on a pool of 20", "pgbench",
                        2000, ["-S", "-M", "simple"], direct=False))
    out.append(Scenario("idle", f"{idle_clients:,} idle logged-in clients", "idle", idle_clients,
                        direct=False))
    # TLS terminated by the pooler (certificates made by the run).
    out.append(Scenario("churn-tls-c50", "connection churn -C -S, TLS + SCRAM, 50 clients",
                        "pgbench", 50, ["-C", "-S", "-M", "simple"], direct=False,
                        per="connection", tls=True))
    out.append(Scenario("storm-tls", f"select-only, 10 TLS clients, alone and during a storm of "
                        f"{STORM_CLIENTS} TLS + SCRAM reconnects", "storm", 10,
                        ["-S", "-M", "simple"], direct=False, tls=True))
    return out


def select_scenarios(all_scenarios, only):
    if not only:
        return [s for s in all_scenarios if s.in_full_run]
    import fnmatch
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    chosen = [s for s in all_scenarios
              if any(s.name == p or s.name.startswith(p.rstrip("-") + "-")
                     or fnmatch.fnmatch(s.name, p)
                     for p in patterns)]
    if not chosen:
        names = ", ".join(s.name for s in all_scenarios)
        sys.exit(f"bench: --only {only!r} matches no scenario; scenarios: {names}")
    return chosen


# --- processes ------------------------------------------------------------------------


class Processes:
    """Children started in their own sessions, recorded in RUN/pids so that a run killed
    hard can be cleaned up by the next one."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.pid_dir = run_dir / "pids"
        self.live = {}

    def spawn(self, name, argv, log_path, as_user=True, env=None):
        if as_user:
            argv = ["setpriv", f"--reuid={RUN_USER}", f"--regid={RUN_USER}", "--init-groups",
                    "--"] + argv
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(argv, cwd="/", stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=env)
        return self.track(name, proc)

    def track(self, name, proc):
        self.live[name] = proc
        self.pid_dir.mkdir(exist_ok=True)
        (self.pid_dir / name).write_text(str(proc.pid))
        return proc

    def stop(self, name, signals=((signal.SIGTERM, 8), (signal.SIGTERM, 4))):
        proc = self.live.pop(name, None)
        if proc is None:
            return
        for sig, wait in signals:
            if proc.poll() is not None:
                break
            try:
                proc.send_signal(sig)
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        (self.pid_dir / name).unlink(missing_ok=True)

    @staticmethod
    def kill_leftovers(run_dir):
        """Kill processes a previous, hard-killed run left (only if their command line
        still names its run directory)."""
        pid_dir = run_dir / "pids"
        if not pid_dir.is_dir():
            return
        for entry in pid_dir.iterdir():
            try:
                pid = int(entry.read_text())
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (ValueError, OSError):
                continue
            if str(run_dir) in cmd or (entry.name in ("idle_clients", "login_storm")
                                       and f"{entry.name}.py" in cmd):
                say(f"stopping pid {pid} left by a previous run ({entry.name})")
                # PostgreSQL: immediate shutdown, which also ends its backends
                os.kill(pid, signal.SIGQUIT if entry.name == "postgres" else signal.SIGKILL)
                for _ in range(50):
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.1)


def run_quiet(argv, as_user=False, **kw):
    if as_user:
        argv = ["setpriv", f"--reuid={RUN_USER}", f"--regid={RUN_USER}", "--init-groups",
                "--"] + argv
    res = subprocess.run(argv, cwd="/", capture_output=True, text=True, **kw)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({res.returncode}):\n{res.stdout}{res.stderr}")
    return res.stdout


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port(taken):
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    low = low if low > 21000 else 32768
    for _ in range(500):
        port = 20000 + int.from_bytes(os.urandom(2), "little") % (low - 20000)
        if port not in taken and port_free(port):
            taken.add(port)
            return port
    raise RuntimeError("no free TCP port")


def wait_listening(port, proc, log_path, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode} during start-up:\n"
                               + tail(log_path, 20))
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"not listening on port {port} after {seconds}s:\n" + tail(log_path, 20))


def tail(path, lines):
    try:
        return "".join(Path(path).read_text(errors="replace").splitlines(True)[-lines:])
    except OSError:
        return ""


def cpu_times(pid):
    """(utime, stime) of a process (all its threads) in seconds, from /proc/PID/stat: the
    CPU spent in the pooler's own code and libraries, and in the kernel on its behalf."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid):
    return sum(cpu_times(pid))


PERF_EVENTS = {"raw_syscalls:sys_enter": "syscalls", "context-switches": "switches"}


class SyscallCounter:
    """Counts a process's system calls and context switches with `perf stat` (where perf
    works: it needs the linux-perf package and tracepoint access), to show where a pooler's
    kernel time comes from. Without perf it counts nothing and the bench goes on."""

    def __init__(self, pid, out_path):
        self.out_path = out_path
        self.proc = None
        if not shutil.which("perf"):
            return
        try:
            self.proc = subprocess.Popen(
                ["perf", "stat", "-x,", "-e", ",".join(PERF_EVENTS), "-p", str(pid), "-o",
                 str(out_path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError:
            self.proc = None

    def stop(self):
        """{"syscalls": n, "switches": n} since the start, or {} when perf did not count."""
        if not self.proc:
            return {}
        try:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            return {}
        counts = {}
        try:
            text = Path(self.out_path).read_text(errors="replace")
        except OSError:
            return {}
        for line in text.splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2] in PERF_EVENTS and fields[0].isdigit():
                counts[PERF_EVENTS[fields[2]]] = int(fields[0])
        return counts


def make_certificates(tls_dir):
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it (EC P-256, valid
    two days), made with the openssl CLI in tls_dir; returns (key, certificate, CA) paths.
    The key is readable by the run user only. Nothing of it outlives the run directory."""
    tls_dir.mkdir()
    key, csr, cert = tls_dir / "server.key", tls_dir / "server.csr", tls_dir / "server.crt"
    ca_key, ca_cert, ext = tls_dir / "ca.key", tls_dir / "ca.crt", tls_dir / "server.ext"
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run_quiet(["openssl", "req", "-x509", "-new", *curve, "-keyout", str(ca_key), "-out",
               str(ca_cert), "-days", "2", "-subj", "/CN=weir bench throw-away CA"])
    run_quiet(["openssl", "req", "-new", *curve, "-keyout", str(key), "-out", str(csr),
               "-subj", "/CN=127.0.0.1"])
    ext.write_text("subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n"
                   "extendedKeyUsage = serverAuth\n")
    run_quiet(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey",
               str(ca_key), "-set_serial", "1", "-days", "2", "-extfile", str(ext), "-out",
               str(cert)])
    for path in (tls_dir, key, cert, ca_cert):
        shutil.chown(path, RUN_USER, RUN_USER)
    os.chmod(key, 0o600)
    ca_key.unlink()
    return key, cert, ca_cert


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def background_busy(seconds=0.5):
    """Share of the machine's CPU in use while the benchmark itself is idle (other users'
    work: the noise this run had to live with)."""
    def sample():
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
        return sum(v), v[0] + v[1] + v[2] + v[7]  # see Bench.cpu_snapshot
    t0, b0 = sample()
    time.sleep(seconds)
    t1, b1 = sample()
    return 0.0 if t1 == t0 else (b1 - b0) / (t1 - t0)


# --- the bench ------------------------------------------------------------------------


class Bench:
    def __init__(self, opts):
        self.opts = opts
        self.run_dir = Path(opts.run_dir)
        self.procs = Processes(self.run_dir)
        self.ports = set()
        self.pg_port = None
        self.poolers = {}  # name -> {"port", "ini", "log", "bin", "kind"}
        self.passwords = {}
        self.waited_total = 0.0
        self.retries_left = opts.retries
        self.conn_seconds = {}  # (scenario, target) -> pgbench's initial connection time
        self.errors = []  # anything odd: crashes, failed transactions, pgbench errors
        self.pgbouncer_version = None
        self.pgbouncer_prepared = False
        self.tls_files = None  # (key, certificate, CA) when a TLS scenario runs

    # --- set-up ---

    def setup(self, chosen):
        # Inherited by the poolers, pgbench and the idle clients. Raising the hard limit
        # needs CAP_SYS_RESOURCE, which a container may not give root: then the hard limit.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, max(hard, NOFILE)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        self.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if self.nofile < self.opts.idle_clients + 200:
            raise RuntimeError(f"open file limit {self.nofile} is too low for "
                               f"{self.opts.idle_clients} idle clients")
        Processes.kill_leftovers(self.run_dir)
        if self.run_dir.exists():
            shutil.rmtree(self.run_dir)
        self.run_dir.mkdir(parents=True)
        fs = subprocess.run(["stat", "-f", "-c", "%T", str(self.run_dir)], capture_output=True,
                            text=True).stdout.strip()
        if fs != "tmpfs":
            say(f"warning: {self.run_dir} is on {fs}, not tmpfs")
        shutil.chown(self.run_dir, RUN_USER, RUN_USER)
        (self.run_dir / "pgbench").mkdir()
        self.weir_bin = self.run_dir / "weir"
        self.weir_version = None
        if not self.opts.noise:
            self.weir_version = self.copy_weir(self.opts.weir_bin, self.weir_bin)
        self.weir_base_bin = self.run_dir / "weir-base"
        self.weir_base_version = None
        if self.opts.weir_base:
            self.weir_base_version = self.copy_weir(self.opts.weir_base, self.weir_base_bin)
        self.pgbouncer_version = run_quiet(["pgbouncer", "--version"]).splitlines()[0]
        ver = tuple(int(x) for x in re.findall(r"\d+", self.pgbouncer_version)[:2])
        self.pgbouncer_prepared = ver >= (1, 21)
        self.start_postgres()
        self.create_database()
        if any(scen.tls for scen in chosen):
            self.tls_files = make_certificates(self.run_dir / "tls")
            say("TLS scenarios: a throw-away CA and server certificate in "
                f"{self.run_dir / 'tls'}")
        for name in self.pooler_names():
            self.configure_pooler(name)
            self.start_pooler(name)
        self.warm_up()

    @staticmethod
    def copy_weir(source, dest):
        """Copy a weir binary into the run directory (readable by the run user); its -V."""
        shutil.copy2(source, dest)
        os.chmod(dest, 0o755)
        return run_quiet([str(dest), "-V"]).splitlines()[0]

    def roles(self):
        """(candidate, reference, baseline): the pooler measured, the one it is compared
        with, and the baseline weir of --weir-base (None without it)."""
        if self.opts.noise:
            return "pgbouncer-b", "pgbouncer", None
        return "weir", "pgbouncer", "weir-base" if self.opts.weir_base else None

    def pooler_names(self):
        cand, ref, base = self.roles()
        return [cand] + ([base] if base else []) + [ref]

    def start_postgres(self):
        pgdata = self.run_dir / "pgdata"
        run_quiet([str(PG_BIN / "initdb"), "-D", str(pgdata), "-U", "postgres", "-A", "trust",
                   "-E", "UTF8", "--locale=C", "--no-sync"], as_user=True)
        with open(pgdata / "postgresql.conf", "a") as conf:
            conf.write(f"""
listen_addresses = '127.0.0.1'
unix_socket_directories = '{self.run_dir}'
max_connections = 700
shared_buffers = 512MB
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 8GB
checkpoint_timeout = 30min
autovacuum = off
password_encryption = 'scram-sha-256'
logging_collector = off
log_min_messages = warning
""")
        (pgdata / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {MD5_USER} 127.0.0.1/32 md5\n"
            "host all all 127.0.0.1/32 scram-sha-256\n")
        log = self.run_dir / "postgresql.log"
        for attempt in range(5):
            self.pg_port = free_port(self.ports)
            proc = self.procs.spawn("postgres", [str(PG_BIN / "postgres"), "-D", str(pgdata),
                                                 "-p", str(self.pg_port)], log)
            try:
                wait_listening(self.pg_port, proc, log, 60)
                break
            except RuntimeError:
                self.procs.stop("postgres")
                if attempt == 4 or "could not bind" not in tail(log, 20):
                    raise
        for _ in range(100):  # listening is not accepting logins yet
            if subprocess.run([str(PG_BIN / "pg_isready"), "-q", "-U", "postgres", "-h",
                               str(self.run_dir), "-p", str(self.pg_port)]).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("PostgreSQL does not accept connections:\n" + tail(log, 20))

    def psql(self, sql, user="postgres", db="postgres"):
        """Run SQL as a superuser or the table owner over the Unix socket; a list runs as
        separate commands (each in its own transaction)."""
        commands = []
        for command in [sql] if isinstance(sql, str) else sql:
            commands += ["-c", command]
        return run_quiet(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h",
                          str(self.run_dir), "-p", str(self.pg_port), "-U", user, "-d", db]
                         + commands)

    def create_database(self):
        for user in (SCRAM_USER, MD5_USER):
            self.passwords[user] = "pw-" + os.urandom(9).hex()
        self.psql(f"SET password_encryption = 'scram-sha-256'; "
                  f"CREATE ROLE {SCRAM_USER} LOGIN PASSWORD '{self.passwords[SCRAM_USER]}'")
        self.psql(f"SET password_encryption = 'md5'; "
                  f"CREATE ROLE {MD5_USER} LOGIN PASSWORD '{self.passwords[MD5_USER]}'")
        self.psql(f"CREATE DATABASE {DATABASE} OWNER {SCRAM_USER}")
        say("pgbench -i -s 10")
        run_quiet(["pgbench", "-i", "-s", "10", "-q", "-h", str(self.run_dir), "-p",
                   str(self.pg_port), "-U", SCRAM_USER, DATABASE])
        self.psql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {MD5_USER}", SCRAM_USER, DATABASE)
        lines = []
        for user in (SCRAM_USER, MD5_USER):
            secret = self.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{user}'")
            secret = secret.strip()
            prefix = "SCRAM-SHA-256$" if user == SCRAM_USER else "md5"
            if not secret.startswith(prefix):
                raise RuntimeError(f"role {user} has an unexpected secret type")
            lines.append(f'"{user}" "{secret}"\n')
        userlist = self.run_dir / "userlist.txt"
        userlist.write_text("".join(lines))
        shutil.chown(userlist, RUN_USER, RUN_USER)
        os.chmod(userlist, 0o600)

    def configure_pooler(self, name):
        port = free_port(self.ports)
        ini = self.run_dir / f"{name}.ini"
        log = self.run_dir / f"{name}.log"
        kind = "weir" if name in ("weir", "weir-base") else "pgbouncer"
        # One text for both: weir reads the [pgbouncer] section as its own.
        text = f"""; generated by bench/run: the same settings for every pooler
[databases]
{DATABASE} = host=127.0.0.1 port={self.pg_port} dbname={DATABASE}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
logfile = {log}
pidfile = {self.run_dir}/{name}.pid
auth_type = md5
auth_file = {self.run_dir}/userlist.txt
pool_mode = {self.opts.pool_mode}
default_pool_size = {POOL_SIZE}
max_client_conn = 20000
server_check_query = select 1
log_connections = 0
log_disconnections = 0
log_stats = 0
"""
        if kind == "pgbouncer" and self.pgbouncer_prepared:
            text += "max_prepared_statements = 200\n"
        ini.write_text(text)
        shutil.chown(ini, RUN_USER, RUN_USER)
        ini_tls = None
        if self.tls_files:
            # The TLS scenarios' configuration: the same, and clients must use TLS.
            key, cert, _ = self.tls_files
            ini_tls = self.run_dir / f"{name}-tls.ini"
            ini_tls.write_text(text + f"client_tls_sslmode = require\n"
                               f"client_tls_key_file = {key}\n"
                               f"client_tls_cert_file = {cert}\n")
            shutil.chown(ini_tls, RUN_USER, RUN_USER)
        binary = {"weir": str(self.weir_bin), "weir-base": str(self.weir_base_bin)}.get(
            name, shutil.which("pgbouncer"))
        self.poolers[name] = {"port": port, "ini": ini, "ini_tls": ini_tls, "tls": False,
                              "log": log, "bin": binary, "kind": kind}

    def start_pooler(self, name):
        p = self.poolers[name]
        out = self.run_dir / f"{name}.out"
        ini = p["ini_tls"] if p["tls"] else p["ini"]
        proc = self.procs.spawn(name, [p["bin"], "-q", str(ini)], out)
        wait_listening(p["port"], proc, p["log"])
        p["proc"] = proc

    def set_tls(self, name, tls):
        """Restart a pooler with the configuration that requires TLS of clients, or back
        with the one that does not, when the next run needs the other."""
        p = self.poolers[name]
        if p["tls"] == tls:
            return
        say(f"restarting {name} {'requiring' if tls else 'without'} TLS for clients")
        p["tls"] = tls
        self.restart_pooler(name)

    def restart_pooler(self, name):
        self.procs.stop(name)
        Path(f"{self.run_dir}/{name}.pid").unlink(missing_ok=True)
        self.start_pooler(name)
        self.warm_up([name])

    def pooler_alive(self, name, where):
        """Restart a pooler that died, and record it; True if it was alive."""
        p = self.poolers[name]
        if p["proc"].poll() is None:
            return True
        status = p["proc"].returncode
        lines = tail(p["log"], 15) + tail(self.run_dir / f"{name}.out", 15)
        self.errors.append({"where": where, "what": f"{name} exited with status {status}",
                            "log": lines.splitlines()})
        say(f"{name} DIED (status {status}) during {where}; restarting it\n{lines}")
        self.procs.live.pop(name, None)
        self.start_pooler(name)
        self.warm_up([name])
        return False

    def warm_up(self, names=None):
        """Open each pool's servers and load the tables into shared buffers. A pooler that
        requires TLS and fails it (a weir without TLS) is recorded and left as it is: its
        TLS runs fail and say so."""
        names = names or list(self.poolers)
        for name in names:
            tls = self.poolers[name]["tls"]
            for user in (SCRAM_USER, MD5_USER):
                try:
                    self.pgbench_raw(self.poolers[name]["port"], user,
                                     ["-S", "-c", str(POOL_SIZE), "-j", "2", "-T", "1"], tls)
                except RuntimeError as exc:
                    if not tls:
                        raise
                    self.errors.append({"where": f"{name} warm-up with TLS",
                                        "what": "pgbench failed",
                                        "log": str(exc).splitlines()[-3:]})
                    say(f"{name} fails the TLS warm-up: {str(exc).splitlines()[-1]}")
                    break
        self.pgbench_raw(self.pg_port, SCRAM_USER, ["-S", "-c", "4", "-j", "2", "-T", "1"])

    def pgbench_raw(self, port, user, args, tls=False):
        env = dict(os.environ, PGPASSWORD=self.passwords[user])
        if tls:
            env["PGSSLMODE"] = "require"
        res = subprocess.run(["pgbench", "-n", "-h", "127.0.0.1", "-p", str(port), "-U", user]
                             + args + [DATABASE], capture_output=True, text=True, env=env,
                             cwd="/", timeout=120)
        if res.returncode != 0:
            raise RuntimeError(f"warm-up pgbench on port {port} failed:\n{res.stdout}{res.stderr}")

    # --- one run ---

    def target_port(self, target):
        return self.pg_port if target == "direct" else self.poolers[target]["port"]

    def connect_allowance(self, scen, target, threads):
        """Seconds pgbench will spend logging its clients in before the timed part (-T
        counts them): learned from the previous run of the same scenario and target, else
        a generous guess (libpq's SCRAM key derivation costs several ms per login)."""
        if "-C" in scen.args:
            return 0
        learned = self.conn_seconds.get((scen.name, target))
        if learned is not None:
            return learned * 1.3
        per_login = 0.02 if target == "direct" else 0.012
        return scen.clients * per_login / threads

    def run_pgbench(self, scen, target, tag, on_steady=None):
        """One pgbench run. on_steady, if given, is called once every client holds its
        connection (the storm starts then); the measured window begins when it returns."""
        if scen.name.startswith("tpcb"):
            self.psql(["VACUUM pgbench_branches, pgbench_tellers", "TRUNCATE pgbench_history"],
                      SCRAM_USER, DATABASE)
        prefix = self.run_dir / "pgbench" / "log"
        out_path = self.run_dir / "pgbench" / "out"
        for old in glob.glob(f"{prefix}*"):
            os.unlink(old)
        threads = min(scen.threads, scen.clients)
        allowance = self.connect_allowance(scen, target, threads)
        seconds = self.opts.duration + (math.ceil(allowance) if allowance > 0.2 else 0)
        argv = (["pgbench", "-n", "-h", "127.0.0.1", "-p", str(self.target_port(target)), "-U",
                 scen.user, "-c", str(scen.clients), "-j", str(threads), "-T", str(seconds),
                 "-l", f"--log-prefix={prefix}"] + scen.args + [DATABASE])
        env = dict(os.environ, PGPASSWORD=self.passwords[scen.user])
        if scen.tls:
            env["PGSSLMODE"] = "require"
        pid = None if target == "direct" else self.poolers[target]["proc"].pid
        base_fds = len(os.listdir(f"/proc/{pid}/fd")) if pid else 0
        cpu0 = cpu_times(pid) if pid else None
        counter = None  # from the start with -C, else once the clients are connected
        count = pid and self.opts.syscalls
        if count and "-C" in scen.args:
            counter = SyscallCounter(pid, self.run_dir / "perf-stat.txt")
        window_start = time.time()
        start = time.monotonic()
        with open(out_path, "w") as out_file:
            proc = subprocess.Popen(argv, cwd="/", stdin=subprocess.DEVNULL, stdout=out_file,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.procs.track("pgbench", proc)
        steady = False
        deadline = start + seconds + 60 + scen.clients / 10
        try:
            # Pooler CPU counts from the moment every client holds a connection to it
            # (logins are the churn scenarios' business), and transactions from then on.
            while pid and "-C" not in scen.args and proc.poll() is None:
                try:
                    if len(os.listdir(f"/proc/{pid}/fd")) >= base_fds + scen.clients:
                        if on_steady:
                            on_steady()
                        cpu0, window_start, steady = cpu_times(pid), time.time(), True
                        if count:
                            counter = SyscallCounter(pid, self.run_dir / "perf-stat.txt")
                        break
                except OSError:
                    break
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            proc.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with open(out_path, "a") as f:
                f.write("pgbench: error: timed out (killed by bench)\n")
        finally:
            self.procs.stop("pgbench", ((signal.SIGTERM, 3),))  # no-op once it has exited
        wall = time.monotonic() - start
        out = out_path.read_text(errors="replace")
        alive = target == "direct" or self.pooler_alive(target, tag)
        cpu1 = cpu_times(pid) if pid and alive else None
        steady_s = time.time() - window_start
        kernel_counts = counter.stop() if counter else {}
        run = parse_pgbench(out)
        run.update(wall_s=round(wall, 2), T=seconds, status=proc.returncode)
        if steady:
            run["steady_s"] = round(steady_s, 3)
        if "init_conn_ms" in run:
            self.conn_seconds[(scen.name, target)] = run["init_conn_ms"] / 1000
            run["window_s"] = round(seconds - run["init_conn_ms"] / 1000, 2)
        run.update(log_percentiles(sorted(glob.glob(f"{prefix}*")),
                                   window_start if steady else None))
        counted = run.get("xacts_in_window") if steady else run.get("xacts")
        if cpu0 is not None and cpu1 is not None:
            user, kernel = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
            run["cpu_s"] = round(user + kernel, 3)
            run["cpu_window"] = "after logins" if steady else "whole run"
            if counted:
                run["cpu_us"] = round((user + kernel) * 1e6 / counted, 2)
                run["cpu_user_us"] = round(user * 1e6 / counted, 2)
                run["cpu_kernel_us"] = round(kernel * 1e6 / counted, 2)
                for what, n in kernel_counts.items():
                    run[f"{what}_per"] = round(n / counted, 2)
        problems = [ln for ln in out.splitlines() if "error" in ln.lower() or "abort" in ln.lower()]
        if not run.get("xacts"):
            problems.append("no transaction completed")
        if proc.returncode != 0 or run.get("failed") or problems or not alive:
            run["error"] = problems[:5] or [f"pgbench exit status {proc.returncode}"]
            self.errors.append({"where": tag, "what": "pgbench reported errors",
                                "status": proc.returncode, "failed": run.get("failed"),
                                "log": problems[:10]})
        return run

    def run_storm(self, scen, target, tag):
        """pgbench alone, then the same pgbench while login_storm.py reconnects
        STORM_CLIENTS clients in a loop (from the moment pgbench's clients are logged in
        to its end): the latencies of both runs, and the storm's logins. TPS and pooler
        CPU are those of the measured window (from then to pgbench's end), per second."""
        alone = self.run_pgbench(scen, target, tag + " alone")
        p = self.poolers[target]
        env = dict(os.environ, PGPASSWORD=self.passwords[scen.user], PGSSLMODE="require")
        # Started (Python and psycopg loaded) before pgbench; its threads start on "go".
        proc = subprocess.Popen(
            ["/usr/bin/python3", str(BENCH / "login_storm.py"), "127.0.0.1", str(p["port"]),
             scen.user, DATABASE, str(STORM_CLIENTS)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd="/",
            start_new_session=True)
        self.procs.track("login_storm", proc)
        said, errors = [proc.stdout.readline().strip()], []
        if said[0] != "ready":
            self.procs.stop("login_storm", ((signal.SIGTERM, 5),))
            problem = f"login_storm.py did not start: {said[0]!r}"
            self.errors.append({"where": tag, "what": problem})
            return {"error": [problem]}

        def start_storm():
            try:
                proc.stdin.write("go\n")
                proc.stdin.flush()
            except OSError:
                return
            said.append(proc.stdout.readline().strip())

        try:
            during = self.run_pgbench(scen, target, tag + " storm", on_steady=start_storm)
            if len(said) == 2:
                proc.stdin.write("stop\n")
                proc.stdin.flush()
                said.append(proc.stdout.readline().strip())
                errors = [ln.strip()[7:] for ln in proc.stdout if ln.startswith("error:")]
                proc.wait(timeout=30)
        finally:
            self.procs.stop("login_storm", ((signal.SIGTERM, 5),))
        run = {k: during[k] for k in ("xacts", "failed", "p50_ms", "p99_ms", "p999_ms",
                                      "max_ms", "error") if k in during}
        for prefix, r in (("", during), ("alone_", alone)):
            if r.get("xacts_in_window") and r.get("steady_s"):
                run[f"{prefix}tps"] = round(r["xacts_in_window"] / r["steady_s"], 1)
                if "cpu_s" in r:
                    run[f"{prefix}cpu_ms_per_s"] = round(r["cpu_s"] * 1000 / r["steady_s"], 1)
            if prefix and r.get("xacts"):
                run.update(alone_p50_ms=r.get("p50_ms"), alone_p99_ms=r.get("p99_ms"))
        for k in ("p50_ms", "p99_ms"):
            if run.get(k) is not None and run.get(f"alone_{k}"):
                run[f"{k[:3]}_storm_over_alone"] = round(run[k] / run[f"alone_{k}"], 3)
        if alone.get("error"):
            run.setdefault("error", []).extend(alone["error"])
        if len(said) < 2:  # pgbench failed before its clients were in: no storm
            return run
        done = said[2].split() if len(said) > 2 else []
        if said[:2] != ["ready", "running"] or len(done) < 9 or done[0] != "done":
            problem = f"login_storm.py said {said!r}"
            run.setdefault("error", []).append(problem)
            self.errors.append({"where": tag, "what": problem})
            return run
        run.update(storm_logins=int(done[2]), storm_failed=int(done[4]),
                   storm_s=float(done[6]), storm_logins_per_s=float(done[8]))
        if run["storm_failed"]:
            run.setdefault("error", []).extend(errors[:3])
            self.errors.append({"where": tag, "what": f"{run['storm_failed']} storm logins "
                                "failed", "log": errors})
        return run

    def run_idle(self, scen, target, tag):
        self.restart_pooler(target)  # a fresh process: earlier scenarios' memory does not count
        p = self.poolers[target]
        pid = p["proc"].pid
        time.sleep(0.5)
        before = rss_kb(pid)
        cpu0 = cpu_seconds(pid)
        env = dict(os.environ, PGPASSWORD=self.passwords[SCRAM_USER])
        proc = subprocess.Popen(["/usr/bin/python3", str(BENCH / "idle_clients.py"), "127.0.0.1",
                                 str(p["port"]), SCRAM_USER, DATABASE, str(scen.clients)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                cwd="/", start_new_session=True)
        self.procs.track("idle_clients", proc)
        run = {}
        try:
            ready = proc.stdout.readline().split()
            if len(ready) < 6 or ready[0] != "ready":
                raise RuntimeError(f"idle_clients.py said {' '.join(ready)!r}")
            run["logged_in"], run["login_failed"] = int(ready[1]), int(ready[3])
            run["login_s"] = float(ready[5])
            errors = []
            while run["login_failed"] and len(errors) < min(5, run["login_failed"]):
                errors.append(proc.stdout.readline().strip())
            time.sleep(2)
            run["cpu_login_s"] = round(cpu_seconds(pid) - cpu0, 3)
            if run["logged_in"]:
                run["cpu_us"] = round(run["cpu_login_s"] * 1e6 / run["logged_in"], 2)
            after = rss_kb(pid)
            run.update(rss_before_kb=before, rss_after_kb=after)
            if run["logged_in"]:
                run["bytes_per_client"] = round((after - before) * 1024 / run["logged_in"], 1)
            proc.stdin.write("close\n")
            proc.stdin.flush()
            proc.stdout.readline()
            proc.wait(timeout=60)
            time.sleep(1)
            if self.pooler_alive(target, tag):
                run["rss_after_close_kb"] = rss_kb(pid)
            if run["login_failed"]:
                run["error"] = errors
                self.errors.append({"where": tag, "what": f"{run['login_failed']} logins failed",
                                    "log": errors})
        finally:
            self.procs.stop("idle_clients", ((signal.SIGTERM, 5),))
        return run

    # --- the whole run ---

    def targets_for(self, scen):
        cand, ref, base = self.roles()
        targets = [cand] + ([base] if base else [])
        if not (scen.needs_prepared and not self.pgbouncer_prepared):
            targets.append(ref)
        if scen.direct and not self.opts.noise:
            targets.append("direct")
        return targets

    def run(self, chosen):
        results = {}
        plan = []
        for scen in chosen:
            if scen.needs_prepared and self.opts.noise and not self.pgbouncer_prepared:
                continue
            targets = self.targets_for(scen)
            repeats = (self.opts.idle_repeats if scen.kind == "idle"
                       else self.opts.repeats * scen.repeat_factor)
            for r in range(repeats):
                k = r % len(targets)
                for target in targets[k:] + targets[:k]:
                    plan.append((scen, r, target))
        say(f"{len(plan)} runs of {self.opts.duration}s, {self.opts.repeats} repeats, "
            f"targets rotated between repeats")
        started = time.monotonic()
        for i, (scen, r, target) in enumerate(plan, 1):
            entry = results.setdefault(scen.name, {
                "title": scen.title, "command": scen.describe(), "kind": scen.kind,
                "per": scen.per, "clients": scen.clients, "targets": self.targets_for(scen),
                "runs": [], "discarded": [], "background_busy": []})
            tag = f"{scen.name} {target} r{r + 1}"
            if target != "direct":
                self.set_tls(target, scen.tls)
            for attempt in range(3):
                busy = self.wait_quiet()
                before = self.cpu_snapshot()
                if scen.kind == "idle":
                    run = self.run_idle(scen, target, tag)
                elif scen.kind == "storm":
                    run = self.run_storm(scen, target, tag)
                else:
                    run = self.run_pgbench(scen, target, tag)
                others = self.others_share(before)
                run.update(target=target, repeat=r + 1, background_busy=busy,
                           others_cpu=others)
                failed_outright = run.get("error") and not run.get("xacts")  # noise or not
                if (scen.kind == "idle" or others * 100 <= self.opts.max_others
                        or failed_outright or attempt == 2 or self.retries_left <= 0):
                    break
                self.retries_left -= 1
                entry["discarded"].append(run)
                say(f"{tag}: other processes used {others * 100:.0f}% of the machine during "
                    f"the run ({report.run_summary(run)}); running it again")
            entry["background_busy"].append(others)
            entry["runs"].append(run)
            say(f"[{i}/{len(plan)} {time.monotonic() - started:5.0f}s] {tag}: "
                + report.run_summary(run))
        return results

    def cpu_snapshot(self):
        """The machine's total CPU time (all CPUs, in clock ticks) and, for every user
        process that is not part of this bench, its CPU time including its reaped
        children. The bench is this process, its children, PostgreSQL with its backends
        and the poolers; kernel threads count for nobody."""
        total = sum(int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:9])
        stats = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            f = text[text.rindex(")") + 2:].split()
            stats[int(entry)] = (int(f[1]), sum(int(x) for x in f[11:15]))
        children = {}
        for pid, (ppid, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        todo = [os.getpid()] + [p.pid for p in self.procs.live.values()]
        ours = set()
        while todo:
            pid = todo.pop()
            if pid not in ours and pid in stats:
                ours.add(pid)
                todo += children.get(pid, [])
        others = {pid: cpu for pid, (ppid, cpu) in stats.items()
                  if pid not in ours and pid != 2 and ppid != 2}
        return total, others

    def others_share(self, before):
        """Share of the machine's CPU (both CPUs together) that processes other than this
        bench's used since the snapshot `before`: other users' tests, say, which is noise
        for the run. A process that ended in between is counted by its parent's children
        time, which includes what it had used before the snapshot: that is taken off."""
        total0, others0 = before
        total1, others1 = self.cpu_snapshot()
        used = sum(cpu - others0.get(pid, 0) for pid, cpu in others1.items())
        used -= sum(cpu for pid, cpu in others0.items() if pid not in others1)
        if total1 <= total0:
            return 0.0
        return round(max(0.0, used) / (total1 - total0), 3)

    def wait_quiet(self):
        """The share of CPU others use now; if above --max-busy, wait (at most 20 s per
        run and --wait-budget in all) for it to drop. Returns the last sample."""
        busy = background_busy(0.3)
        waited = 0.0
        while (busy * 100 > self.opts.max_busy and waited < 20
               and self.waited_total < self.opts.wait_budget):
            if waited == 0:
                say(f"machine {busy * 100:.0f}% busy (other work, or the last run's processes "
                    "still exiting); waiting for it to calm")
            busy = background_busy(1.0)
            waited += 1.0
            self.waited_total += 1.0
        return round(busy, 3)

    def collect_log_problems(self):
        out = {}
        for name, p in self.poolers.items():
            lines = []
            for path in (p["log"], self.run_dir / f"{name}.out"):
                try:
                    text = Path(path).read_text(errors="replace")
                except OSError:
                    continue
                lines += [ln for ln in text.splitlines() if ERROR_WORDS.search(ln)
                          and "is not implemented yet" not in ln]
            out[name] = {"count": len(lines), "first": lines[:20]}
        return out

    def shutdown(self):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # finish stopping what was started
        for name in ("pgbench", "idle_clients", "login_storm"):
            self.procs.stop(name, ((signal.SIGTERM, 3),))
        for name in list(self.poolers):
            self.procs.stop(name)
        self.procs.stop("postgres", ((signal.SIGINT, 30), (signal.SIGQUIT, 5)))
        shutil.rmtree(self.run_dir / "pgdata", ignore_errors=True)
        shutil.rmtree(self.run_dir / "pgbench", ignore_errors=True)


# --- pgbench output -------------------------------------------------------------------


def parse_pgbench(out):
    run = {}
    patterns = {
        "tps": r"^tps = ([\d.]+)",
        "xacts": r"^number of transactions actually processed: (\d+)",
        "failed": r"^number of failed transactions: (\d+)",
        "lat_avg_ms": r"^latency average = ([\d.]+) ms",
        "conn_ms": r"^average connection time = ([\d.]+) ms",
        "init_conn_ms": r"^initial connection time = ([\d.]+) ms",
    }
    for key, pattern in patterns.items():
        m = re.search(pattern, out, re.M)
        if m:
            run[key] = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
    return run


def log_percentiles(paths, window_start=None):
    """p50/p99/p99.9 in ms from pgbench --log files (one line per transaction: client,
    number, latency in µs, script, completion time in s and µs). With window_start (a
    time.time() value: when every client held its connection), only the transactions that
    completed after it count, as for the CPU: while pgbench's threads are still logging in
    their clients, fewer clients queue and latencies are not those of the scenario."""
    lat = []
    start_us = int(window_start * 1e6) if window_start else 0
    for path in paths:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[2].isdigit():
                    if int(parts[4]) * 1000000 + int(parts[5]) >= start_us:
                        lat.append(int(parts[2]))
        os.unlink(path)
    if not lat:
        return {}
    lat.sort()
    n = len(lat)

    def pct(q):
        return round(lat[min(n - 1, max(0, math.ceil(q * n) - 1))] / 1000, 3)

    out = {"logged": n, "p50_ms": pct(0.50), "p99_ms": pct(0.99), "p999_ms": pct(0.999),
           "max_ms": round(lat[-1] / 1000, 3)}
    if window_start:
        out["xacts_in_window"] = n
    return out


# --- machine facts --------------------------------------------------------------------


def machine_facts():
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]

    def git(*args):
        res = subprocess.run(["git", "-C", str(REPO)] + list(args), capture_output=True,
                             text=True)
        return res.stdout.strip()

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_gb": round(int(mem) / 1024 / 1024, 1),
        "kernel": os.uname().release,
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--", "src", "include")),
        "pgbench": subprocess.run(["pgbench", "--version"], capture_output=True,
                                  text=True).stdout.strip(),
    }


def main():
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="1 repeat of 3 s per run and 2,000 idle clients (about 4 minutes)")
    ap.add_argument("--out", help="JSON file to write (default bench/results/latest.json, "
                    "with --noise bench/results/noise.json)")
    ap.add_argument("--only", help="comma-separated scenario names, prefixes or globs "
                    "(select-simple, churn, 'select-*-c500', idle)")
    ap.add_argument("--weir-bin", help="use this weir binary instead of building build-bench/weir")
    ap.add_argument("--weir-base", metavar="BIN",
                    help="also run this baseline weir binary (say, a build of an older commit) "
                    "as a third pooler, weir-base, and report weir/weir-base ratios")
    ap.add_argument("--weir-base-rev", metavar="REV",
                    help="bench/run: build git revision REV (in a scratch worktree, as "
                    "build-bench/ is built) and use it as --weir-base; here: the revision "
                    "--weir-base was built from, recorded in the JSON")
    ap.add_argument("--pool-mode", default="transaction",
                    choices=["transaction", "session", "statement"],
                    help="pool_mode of both poolers (default transaction; the tables in "
                         "doc/benchmarks.md are transaction pooling)")
    ap.add_argument("--noise", action="store_true",
                    help="PgBouncer against a second PgBouncer (the noise floor), no weir")
    ap.add_argument("--repeats", type=int, help="repeats of each run (default 3, quick 1)")
    ap.add_argument("--duration", type=int, help="seconds per pgbench run (default 8, quick 3)")
    ap.add_argument("--idle-clients", type=int,
                    help="idle clients to hold (default 10000, quick 2000)")
    ap.add_argument("--max-busy", type=float, default=25, metavar="PCT",
                    help="before each run, wait while other processes use more than PCT%% of "
                    "the CPU (default 25; at most 20 s per run)")
    ap.add_argument("--wait-budget", type=float, metavar="S",
                    help="seconds of such waiting in all (default 180, quick 20)")
    ap.add_argument("--max-others", type=float, default=10, metavar="PCT",
                    help="run a measurement again (at most twice) when other processes used "
                    "more than PCT%% of the machine's CPU during it (default 10)")
    ap.add_argument("--retries", type=int, metavar="N",
                    help="such re-runs in all (default 10, quick 3)")
    ap.add_argument("--report", metavar="JSON", help="print the tables of an earlier run, "
                    "run nothing")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    ap.add_argument("--syscalls", action="store_true", help="also count each pooler's system "
                    "calls and context switches with perf stat (adds a little to their CPU; "
                    "keep it for runs that explain, not for runs that compare)")
    ap.add_argument("--run-dir", default=os.environ.get("WEIR_BENCH_DIR", "/dev/shm/weir-bench"),
                    help="scratch directory on tmpfs (default /dev/shm/weir-bench)")
    opts = ap.parse_args()

    if opts.report:
        data = json.loads(Path(opts.report).read_text())
        print(report.render(data, opts.markdown))
        return 0
    if not opts.weir_bin and not opts.noise:
        ap.error("--weir-bin is required (bench/run builds weir and passes it)")
    if opts.weir_base and opts.noise:
        ap.error("--noise and --weir-base exclude each other")
    if opts.weir_base_rev and not opts.weir_base:
        ap.error("--weir-base-rev needs --weir-base (bench/run builds it and passes both)")
    mode = "noise" if opts.noise else "quick" if opts.quick else "full"
    if opts.repeats or opts.duration or opts.idle_clients or opts.only:
        mode += " (custom)"
    if opts.syscalls:
        mode += " (counting system calls)"
    opts.repeats = opts.repeats or (1 if opts.quick else 3)
    opts.duration = opts.duration or (3 if opts.quick else 8)
    opts.idle_clients = opts.idle_clients or (2000 if opts.quick else 10000)
    opts.idle_repeats = 1 if opts.quick else 2
    if opts.retries is None:
        opts.retries = 3 if opts.quick else 10
    if opts.wait_budget is None:
        opts.wait_budget = 20 if opts.quick else 180
    if opts.repeats < 1 or opts.duration < 1 or opts.idle_clients < 1:
        ap.error("--repeats, --duration and --idle-clients must be positive")

    chosen = select_scenarios(scenarios(opts.idle_clients), opts.only)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    bench = Bench(opts)
    facts = machine_facts()
    started = time.monotonic()
    try:
        say(f"scratch PostgreSQL 15 and the poolers in {opts.run_dir}")
        bench.setup(chosen)
        base = f" (weir-base: {bench.weir_base_version})" if bench.weir_base_version else ""
        say(f"{bench.weir_version or 'noise run'}{base}; {bench.pgbouncer_version}; PostgreSQL on "
            f"port {bench.pg_port}; "
            + ", ".join(f"{n} on {p['port']}" for n, p in bench.poolers.items()))
        results = bench.run(chosen)
        log_problems = bench.collect_log_problems()
    except Interrupted as exc:
        say(f"interrupted ({exc}); stopping everything")
        return 130
    finally:
        bench.shutdown()
    facts["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    cand, ref, base = bench.roles()
    data = {
        "meta": dict(facts, command="bench/run " + " ".join(sys.argv[1:]),
                     mode=mode,
                     repeats=opts.repeats, duration_s=opts.duration,
                     idle_clients=opts.idle_clients, waited_for_quiet_s=bench.waited_total,
                     reruns=opts.retries - bench.retries_left, max_others_pct=opts.max_others,
                     runtime_s=round(time.monotonic() - started),
                     weir_version=None if opts.noise else bench.weir_version,
                     weir_bin=None if opts.noise else str(Path(opts.weir_bin).resolve()),
                     weir_base_version=bench.weir_base_version,
                     weir_base_bin=(str(Path(opts.weir_base).resolve()) if opts.weir_base
                                    else None),
                     weir_base_rev=opts.weir_base_rev,
                     pgbouncer_version=bench.pgbouncer_version,
                     pgbouncer_prepared=bench.pgbouncer_prepared,
                     candidate=cand, reference=ref, baseline=base, pool_size=POOL_SIZE,
                     pool_mode=opts.pool_mode),
        "scenarios": results,
        "errors": bench.errors,
        "pooler_log_problems": log_problems,
    }
    report.summarize(data)
    out = Path(opts.out or BENCH / "results" / ("noise.json" if opts.noise else "latest.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(report.render(data, opts.markdown))
    say(f"JSON written to {out}; logs in {opts.run_dir}; took {data['meta']['runtime_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
