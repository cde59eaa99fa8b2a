# SPDX-License-Identifier: ISC
"""Integration harness for weir.

It owns everything the tests need around weir: one real PostgreSQL 15 cluster for the
whole session (fixture ``pg``), a factory that starts weir instances on free ports and
checks on teardown that each one exited cleanly and printed no sanitizer report (fixture
``weir``), a helper for one-shot weir runs that are expected to exit (``run_weir``), and
a small hand-written PostgreSQL wire client (``PgWire``, ``wire_login``, ``wire_query``)
for the tests that must see the raw protocol: ErrorResponse fields, SSLRequest answers,
NegotiateProtocolVersion.

PostgreSQL and weir both refuse to run as root, so both run as the unprivileged user
``weir``; the tests themselves run as root. Every wait is a deadline loop.

Environment: WEIR_BIN (weir binary; default build-test/weir in the repository),
WEIR_PG_BIN (PostgreSQL server binaries; default /usr/lib/postgresql/15/bin),
WEIR_TEST_DEADLINE (seconds one test may take; default 240).
"""

import base64
import hashlib
import hmac
import os
import pwd
import random
import resource
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tlscerts import make_certs

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("WEIR_PG_BIN", "/usr/lib/postgresql/15/bin"))
RUN_USER = "weir"
SUPERUSER = "postgres"

# Passwords of the roles the cluster is created with; trust_user has none.
PASSWORDS = {
    "scram_user": "scram-pass-1",
    "md5_user": "md5-pass-2",
    "plain_user": "plain-pass-3",
    "trust_user": None,
}

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")

WEIR_START_DEADLINE = 10.0
WEIR_STOP_DEADLINE = 10.0
DEFAULT_TEST_DEADLINE = float(os.environ.get("WEIR_TEST_DEADLINE", "240"))

# libpq reads these; a developer's environment must not steer the tests.
for _var in [v for v in os.environ if v.startswith("PG")]:
    del os.environ[_var]

os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")


def _raise_open_files_limit(want=20000):
    """weir serves 1,000+ clients in one test, and so does this process; children inherit
    the limit. Root may raise the hard limit too."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        except (ValueError, OSError):
            pass
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


_raise_open_files_limit()


# ---------------------------------------------------------------------------------------
# small helpers


def wait_until(predicate, timeout, what, interval=0.05):
    """Calls predicate until it returns a true value (which is returned) or timeout
    seconds pass (AssertionError naming `what` and the last exception seen)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - the last one is reported
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f"; last error: {last_exc!r}" if last_exc else ""
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{detail}")
        time.sleep(interval)


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_PORT_RANGE = (12000, max(_ephemeral_low(), 13000))


def free_port():
    """A TCP port on 127.0.0.1 that can be bound right now. It is taken below the kernel's
    ephemeral range, so that no outgoing connection (the tests open thousands) can take it
    before the server binds it."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(*_PORT_RANGE)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free TCP port found")


def port_accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def run_user():
    return pwd.getpwnam(RUN_USER)


def as_run_user():
    """Popen/run keyword arguments that run the child as the unprivileged user."""
    pw = run_user()
    env = dict(os.environ, HOME=pw.pw_dir, USER=RUN_USER, LOGNAME=RUN_USER)
    return dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[], env=env, cwd="/")


def make_run_user_dir(prefix):
    """A fresh temporary directory owned by the unprivileged user (short path: it holds
    Unix sockets, whose names are limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    pw = run_user()
    os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


def chown_run_user(path):
    pw = run_user()
    os.chown(path, pw.pw_uid, pw.pw_gid)


def sanitizer_report(text):
    """The first sanitizer marker found in text, or None."""
    for marker in SANITIZER_MARKERS:
        if marker in text:
            return marker
    return None


def md5_secret(user, password):
    """PostgreSQL's stored md5 form: "md5" + md5(password + user)."""
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


def weir_bin():
    path = Path(os.environ.get("WEIR_BIN", REPO / "build-test" / "weir"))
    if not path.is_file():
        pytest.fail(f"weir binary not found at {path} (set WEIR_BIN or run dev/test)")
    return path


def ensure_run_user():
    if os.geteuid() != 0:
        pytest.exit("the integration tests run as root (PostgreSQL and weir run as user "
                    f"{RUN_USER!r}); use dev/test", returncode=2)
    try:
        run_user()
    except KeyError:
        subprocess.run(["useradd", "--system", "--create-home", "--shell",
                        "/usr/sbin/nologin", RUN_USER], check=True)


# ---------------------------------------------------------------------------------------
# PostgreSQL


class Postgres:
    """One PostgreSQL 15 cluster, run by the unprivileged user. Superuser access for
    checks goes over the Unix socket (trust)."""

    def __init__(self, base):
        self.base = base
        self.data_dir = base / "data"
        self.socket_dir = base
        self.log_path = base / "postgresql.log"
        self.port = free_port()
        self.passwords = dict(PASSWORDS)
        self.certs = None  # tlscerts.Certs once init() ran: the cluster serves TLS

    # -- process control

    def _run(self, args, check=True, timeout=120):
        return subprocess.run([str(a) for a in args], check=check, timeout=timeout,
                              capture_output=True, text=True, **as_run_user())

    def pg_ctl(self, *args, check=True):
        return self._run([PG_BIN / "pg_ctl", "-D", self.data_dir, "-l", self.log_path,
                          "-w", "-t", "60", *args], check=check)

    def init(self):
        certs_dir = self.base / "certs"
        certs_dir.mkdir()
        chown_run_user(certs_dir)
        pw = run_user()
        self.certs = make_certs(certs_dir, (pw.pw_uid, pw.pw_gid))
        self._run([PG_BIN / "initdb", "-D", self.data_dir, "-U", SUPERUSER, "-A", "trust",
                   "-E", "UTF8", "--locale=C", "--no-sync"])
        conf = f"""
port = {self.port}
listen_addresses = '127.0.0.1'
unix_socket_directories = '{self.socket_dir}'
max_connections = 300
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
log_connections = on
log_disconnections = on
ssl = on
ssl_cert_file = '{self.certs.server}'
ssl_key_file = '{self.certs.server_key}'
ssl_ca_file = '{self.certs.ca}'
"""
        with open(self.data_dir / "postgresql.conf", "a") as f:
            f.write(conf)
        hba = (
            "local all all trust\n"
            "host all trust_user 127.0.0.1/32 trust\n"
            "host all md5_user 127.0.0.1/32 md5\n"
            "host all plain_user 127.0.0.1/32 password\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host replication all 127.0.0.1/32 scram-sha-256\n"
        )
        (self.data_dir / "pg_hba.conf").write_text(hba)

    def start(self):
        self.pg_ctl("start")
        wait_until(lambda: self.sql("SELECT 1") == [(1,)], 30, "PostgreSQL to accept queries")

    def stop(self, mode="fast"):
        self.pg_ctl("stop", "-m", mode, check=False)

    def restart(self, mode="fast"):
        self.pg_ctl("restart", "-m", mode)
        wait_until(lambda: self.sql("SELECT 1") == [(1,)], 30, "PostgreSQL to accept queries")

    def is_running(self):
        return self.pg_ctl("status", check=False).returncode == 0

    def ensure_running(self):
        if not self.is_running():
            self.start()

    # -- SQL as superuser over the Unix socket

    def connect(self, dbname="postgres"):
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=SUPERUSER,
                               dbname=dbname, autocommit=True, connect_timeout=10)

    def sql(self, query, params=None, dbname="postgres"):
        """Runs one statement; returns its rows (or None for a statement without rows)."""
        with self.connect(dbname) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None

    def setup_roles(self):
        p = self.passwords
        self.sql(sql.SQL("CREATE ROLE scram_user LOGIN PASSWORD {}").format(p["scram_user"]))
        self.sql(sql.SQL("CREATE ROLE plain_user LOGIN PASSWORD {}").format(p["plain_user"]))
        self.sql("CREATE ROLE trust_user LOGIN")
        with self.connect() as conn:
            conn.execute("SET password_encryption = 'md5'")
            conn.execute(sql.SQL("CREATE ROLE md5_user LOGIN PASSWORD {}").format(p["md5_user"]))
        self.sql("CREATE DATABASE app")
        self.grant_all("app")

    def grant_all(self, dbname):
        roles = sql.SQL(", ").join(sql.Identifier(r) for r in PASSWORDS)
        self.sql(sql.SQL("GRANT ALL ON DATABASE {} TO {}").format(sql.Identifier(dbname), roles))
        self.sql(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(roles), dbname=dbname)

    def create_database(self, prefix="db", owner=None):
        """A new database with a unique name, usable by every test role; returns the name."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if owner:
            query = query + sql.SQL(" OWNER {}").format(sql.Identifier(owner))
        self.sql(query)
        self.grant_all(name)
        return name

    def drop_database(self, name):
        self.sql(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def rolpassword(self, role):
        """The stored secret of a role, as pg_authid holds it (SCRAM verifier or md5)."""
        rows = self.sql("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
        assert rows and rows[0][0], f"role {role} has no stored password"
        return rows[0][0]

    def backends(self, user, dbname=None):
        """How many client backends the role has now (optionally in one database)."""
        query = ("SELECT count(*) FROM pg_stat_activity "
                 "WHERE backend_type = 'client backend' AND usename = %s")
        params = [user]
        if dbname:
            query += " AND datname = %s"
            params.append(dbname)
        return self.sql(query, params)[0][0]

    def sampler(self, user, dbname=None, interval=0.02):
        return BackendSampler(self, user, dbname, interval)


class BackendSampler:
    """Samples pg_stat_activity in a thread while a `with` block runs: `.max` is the largest
    number of backends of the role seen, `.samples` how many samples were taken."""

    def __init__(self, pg, user, dbname, interval):
        self.pg = pg
        self.user = user
        self.dbname = dbname
        self.interval = interval
        self.max = 0
        self.samples = 0
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        query = ("SELECT count(*) FROM pg_stat_activity "
                 "WHERE backend_type = 'client backend' AND usename = %s"
                 + (" AND datname = %s" if self.dbname else ""))
        params = [self.user] + ([self.dbname] if self.dbname else [])
        try:
            with self.pg.connect() as conn:
                while not self._stop.is_set():
                    n = conn.execute(query, params).fetchone()[0]
                    self.max = max(self.max, n)
                    self.samples += 1
                    self._stop.wait(self.interval)
        except Exception as exc:  # noqa: BLE001 - reported by __exit__
            self.error = exc

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)
        if self.error is not None and exc[0] is None:
            raise AssertionError(f"pg_stat_activity sampler failed: {self.error!r}")
        return False


@pytest.fixture(scope="session")
def pg():
    """The one PostgreSQL 15 cluster of the run: .port, .socket_dir, .data_dir, .sql(),
    .connect(), .create_database(), .rolpassword(), .sampler(), .restart()."""
    ensure_run_user()
    base = make_run_user_dir("weir-pg-")
    cluster = Postgres(base)
    try:
        cluster.init()
        cluster.start()
        cluster.setup_roles()
    except subprocess.CalledProcessError as exc:
        log = cluster.log_path.read_text(errors="replace") if cluster.log_path.exists() else ""
        pytest.exit(f"could not set up PostgreSQL: {exc}\n{exc.stdout}\n{exc.stderr}\n{log}",
                    returncode=3)
    yield cluster
    cluster.stop("immediate")
    shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# weir


def default_users(pg):
    """auth_file entries that every role can log in with: plaintext for the SCRAM and
    password roles, the md5 hash for md5_user, an empty secret for trust_user."""
    p = pg.passwords
    return {
        "scram_user": p["scram_user"],
        "md5_user": md5_secret("md5_user", p["md5_user"]),
        "plain_user": p["plain_user"],
        "trust_user": "",
    }


def format_auth_file(users):
    """auth_file text: one `"user" "secret"` line per entry, quotes doubled."""
    items = users.items() if isinstance(users, dict) else users
    lines = []
    for user, secret in items:
        u = user.replace('"', '""')
        s = (secret or "").replace('"', '""')
        lines.append(f'"{u}" "{s}"')
    return "\n".join(lines) + "\n"


def render_ini(sections):
    out = []
    for name, keys in sections.items():
        out.append(f"[{name}]")
        out.extend(f"{k} = {v}" for k, v in keys.items())
        out.append("")
    return "\n".join(out)


class Weir:
    """One running weir process, started as the unprivileged user."""

    def __init__(self, pg, binary, workdir, config, users, args):
        self.pg = pg
        self.binary = binary
        self.dir = workdir
        self.port = free_port()
        self.ini_path = workdir / "weir.ini"
        self.auth_file = workdir / "userlist.txt"
        self.log_path = workdir / "weir.log"
        self.args = list(args)
        self.proc = None
        self.returncode = None
        self.stop_problem = None
        self.write_users(users)
        self.ini_path.write_text(self._config_text(config))
        chown_run_user(self.ini_path)

    def _placeholders(self):
        return {"port": self.port, "pg_port": self.pg.port, "dir": self.dir,
                "auth_file": self.auth_file}

    def _config_text(self, config):
        if isinstance(config, str):
            return config.format_map(self._placeholders())
        sections = {
            "weir": {
                "listen_addr": "127.0.0.1",
                "listen_port": self.port,
                "unix_socket_dir": self.dir,
                "auth_type": "scram-sha-256",
                "auth_file": self.auth_file,
                "pool_mode": "session",
                "default_pool_size": 10,
                "max_client_conn": 200,
            },
            "databases": {"app": f"host=127.0.0.1 port={self.pg.port} dbname=app"},
        }
        for name, keys in (config or {}).items():
            sections.setdefault(name, {}).update(keys)
        return render_ini(sections)

    def write_users(self, users):
        self.auth_file.write_text(format_auth_file(users))
        chown_run_user(self.auth_file)

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([str(self.binary), *self.args, str(self.ini_path)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         **as_run_user())
        deadline = time.monotonic() + WEIR_START_DEADLINE
        while not port_accepts(self.port):
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                pytest.fail(f"weir exited with status {self.proc.returncode} during start-up"
                            f"\n--- weir log ---\n{self.log()}")
            if time.monotonic() >= deadline:
                pytest.fail(f"weir did not accept TCP connections on port {self.port} within "
                            f"{WEIR_START_DEADLINE:g}s\n--- weir log ---\n{self.log()}")
            time.sleep(0.05)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig):
        assert self.alive(), f"weir is not running\n--- weir log ---\n{self.log()}"
        os.kill(self.proc.pid, sig)

    def reload(self):
        self.signal(signal.SIGHUP)

    def stop(self):
        """SIGTERM (exit once clients are gone), then SIGQUIT, then SIGKILL, each after a
        deadline. Returns the exit status; records in .stop_problem why it was not clean."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(WEIR_STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                self.stop_problem = f"weir did not exit within {WEIR_STOP_DEADLINE:g}s of SIGTERM"
                self.proc.send_signal(signal.SIGQUIT)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        self.returncode = self.proc.returncode
        return self.returncode

    def check_clean_exit(self):
        """Problems seen on stop: abnormal exit, slow stop, sanitizer reports (list of str)."""
        problems = []
        if self.stop_problem:
            problems.append(self.stop_problem)
        rc = self.returncode
        if rc is not None and rc < 0:
            problems.append(f"weir was killed by signal {-rc} ({signal.Signals(-rc).name})")
        elif rc:
            problems.append(f"weir exited with status {rc}")
        marker = sanitizer_report(self.log())
        if marker:
            problems.append(f"weir's output holds a sanitizer report ({marker!r})")
        return problems

    # -- clients

    def dsn(self, user, password=None, dbname="app", **extra):
        params = dict(host="127.0.0.1", port=self.port, user=user, dbname=dbname,
                      sslmode="disable", connect_timeout=10)
        if password is not None:
            params["password"] = password
        params.update(extra)
        return make_conninfo(**params)

    def connect(self, user="scram_user", password=None, dbname="app", autocommit=False,
                **extra):
        """psycopg connection through weir; the role's own password unless one is given;
        extra keywords are connection parameters."""
        if password is None:
            password = self.pg.passwords.get(user)
        return psycopg.connect(self.dsn(user, password, dbname, **extra), autocommit=autocommit)


@pytest.fixture
def weir(pg):
    """Factory: weir(config=None, users=None, args=("-v",)) starts weir and returns a Weir.

    config is None (defaults), a dict of sections to merge into the defaults
    ({"weir": {...}, "databases": {...}}), or full ini text with the placeholders {port},
    {pg_port}, {dir}, {auth_file}. users maps user to auth_file secret (default: every role
    with a secret it can log in with). On teardown each instance is stopped and must have
    exited with status 0 and printed no sanitizer report."""
    binary = weir_bin()
    started = []

    def factory(config=None, users=None, args=("-v",)):
        workdir = make_run_user_dir("weir-")
        inst = Weir(pg, binary, workdir, config, default_users(pg) if users is None else users,
                    args)
        started.append(inst)
        return inst.start()

    yield factory

    failures = []
    for inst in started:
        inst.stop()
        problems = inst.check_clean_exit()
        if problems:
            tail = inst.log()[-20000:]
            failures.append("; ".join(problems) + f"\n--- weir log ({inst.log_path}) ---\n{tail}")
        else:
            shutil.rmtree(inst.dir, ignore_errors=True)
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


@pytest.fixture
def run_dir():
    """A temporary directory owned by the unprivileged user, removed after the test."""
    path = make_run_user_dir("weir-t-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def run_weir(pg):
    """run_weir(args, as_root=False, timeout=10) runs weir to completion and returns
    (returncode, output). weir still running at the deadline is killed and the test fails.
    A sanitizer report in the output fails the test."""
    binary = weir_bin()

    def run(args, as_root=False, timeout=10.0):
        kwargs = {} if as_root else as_run_user()
        proc = subprocess.Popen([str(binary), *[str(a) for a in args]],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, **kwargs)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            pytest.fail(f"weir {' '.join(map(str, args))} still running after {timeout:g}s"
                        f"\n--- output ---\n{out.decode(errors='replace')}")
        text = out.decode(errors="replace")
        marker = sanitizer_report(text)
        assert marker is None, f"sanitizer report ({marker!r}) in weir output:\n{text}"
        return proc.returncode, text

    return run


# ---------------------------------------------------------------------------------------
# a hand-written wire client (PostgreSQL protocol 3), for what psycopg does not expose

PROTOCOL_3_0 = 3 << 16
PROTOCOL_3_2 = (3 << 16) | 2
SSL_REQUEST_CODE = 80877103
CANCEL_REQUEST_CODE = 80877102


class WireError(Exception):
    """An ErrorResponse: .fields maps field codes ('C', 'M', 'S', ...) to strings; .login is
    the LoginResult so far when it ended a login (which authentication requests came)."""

    def __init__(self, fields):
        self.fields = fields
        self.login = None
        super().__init__(f"{fields.get('S', '?')} {fields.get('C', '?')}: {fields.get('M', '?')}")

    @property
    def sqlstate(self):
        return self.fields.get("C")

    @property
    def message(self):
        return self.fields.get("M")


def startup_message(params, version=PROTOCOL_3_0):
    body = struct.pack("!I", version)
    for key, value in params.items():
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def ssl_request():
    return struct.pack("!II", 8, SSL_REQUEST_CODE)


def cancel_request(pid, key):
    return struct.pack("!IIII", 16, CANCEL_REQUEST_CODE, pid, key)


def message(kind, payload=b""):
    return kind + struct.pack("!I", len(payload) + 4) + payload


def query_message(text):
    return message(b"Q", text.encode() + b"\0")


def parse_data_row(payload):
    """A DataRow's columns as text (None for NULL)."""
    (ncols,) = struct.unpack("!H", payload[:2])
    pos, row = 2, []
    for _ in range(ncols):
        (n,) = struct.unpack("!i", payload[pos:pos + 4])
        pos += 4
        if n < 0:
            row.append(None)
        else:
            row.append(payload[pos:pos + n].decode())
            pos += n
    return row


def parse_error_fields(payload):
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return fields


class PgWire:
    """A blocking TCP connection that reads whole protocol messages under deadlines."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, n, deadline):
        """Reads until n bytes are buffered; False on EOF. TimeoutError past deadline."""
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from the server before the deadline")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout as exc:
                raise TimeoutError("no answer from the server before the deadline") from exc
            except ConnectionResetError:
                return False
            if not chunk:
                return False
            self.buf += chunk
        return True

    def read_bytes(self, n, timeout=10.0):
        """Exactly n bytes, or None on EOF."""
        if not self._fill(n, time.monotonic() + timeout):
            return None
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_message(self, timeout=10.0):
        """(type byte, payload), or None on EOF."""
        deadline = time.monotonic() + timeout
        if not self._fill(5, deadline):
            return None
        kind = self.buf[:1]
        (length,) = struct.unpack("!I", self.buf[1:5])
        assert 4 <= length <= 1 << 30, f"implausible message length {length} (type {kind!r})"
        if not self._fill(1 + length, deadline):
            return None
        payload, self.buf = self.buf[5:1 + length], self.buf[1 + length:]
        return kind, payload

    def read_to_eof(self, timeout=10.0):
        """All bytes until the peer closes. TimeoutError if it does not close in time."""
        deadline = time.monotonic() + timeout
        while self._fill(len(self.buf) + 1, deadline):
            pass
        data, self.buf = self.buf, b""
        return data

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class LoginResult:
    def __init__(self):
        self.parameters = {}
        self.backend_key = None
        # NegotiateProtocolVersion: (protocol version offered, [unrecognised options]),
        # and whether it came before AuthenticationOk, as libpq requires.
        self.negotiate = None
        self.negotiate_before_auth_ok = None
        self.auth_methods = []
        self.notices = []


def _scram_exchange(wire, password, mechanisms, timeout):
    assert "SCRAM-SHA-256" in mechanisms, f"server offers {mechanisms}"
    nonce = base64.b64encode(secrets.token_bytes(18)).decode()
    first_bare = f"n=,r={nonce}"
    first = "n,," + first_bare
    wire.send(message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first.encode()))
    kind, payload = wire.read_message(timeout) or (None, None)
    if kind == b"E":
        raise WireError(parse_error_fields(payload))
    assert kind == b"R" and struct.unpack("!I", payload[:4])[0] == 11, f"got {kind!r}"
    server_first = payload[4:].decode()
    attrs = dict(item.split("=", 1) for item in server_first.split(","))
    assert attrs["r"].startswith(nonce), "server nonce does not extend the client nonce"
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    final_no_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{first_bare},{server_first},{final_no_proof}".encode()
    signature = hmac.new(stored_key, auth_message, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    final = f"{final_no_proof},p={base64.b64encode(proof).decode()}"
    wire.send(message(b"p", final.encode()))
    kind, payload = wire.read_message(timeout) or (None, None)
    if kind == b"E":
        raise WireError(parse_error_fields(payload))
    assert kind == b"R" and struct.unpack("!I", payload[:4])[0] == 12, f"got {kind!r}"
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    expected = base64.b64encode(hmac.new(server_key, auth_message, "sha256").digest()).decode()
    assert payload[4:].decode() == f"v={expected}", "server signature does not verify"


def wire_login(wire, user, password=None, database="app", version=PROTOCOL_3_0, extra=None,
               timeout=10.0, send_startup=True):
    """Sends a startup packet and answers cleartext, md5 and SCRAM-SHA-256 requests until
    ReadyForQuery. Returns a LoginResult; raises WireError on an ErrorResponse and
    AssertionError if the server closes or says something unexpected."""
    result = LoginResult()
    if send_startup:
        params = {"user": user, "database": database}
        params.update(extra or {})
        wire.send(startup_message(params, version))
    while True:
        msg = wire.read_message(timeout)
        assert msg is not None, "server closed the connection during login"
        kind, payload = msg
        if kind == b"E":
            error = WireError(parse_error_fields(payload))
            error.login = result
            raise error
        if kind == b"v":
            assert result.negotiate is None, "NegotiateProtocolVersion sent twice"
            version, count = struct.unpack("!II", payload[:8])
            names = [n.decode() for n in payload[8:].split(b"\0")[:count]]
            result.negotiate = (version, names)
            result.negotiate_before_auth_ok = 0 not in result.auth_methods
        elif kind == b"R":
            (code,) = struct.unpack("!I", payload[:4])
            result.auth_methods.append(code)
            if code == 0:
                continue
            assert password is not None, f"server asked for a password (auth request {code})"
            if code == 3:
                wire.send(message(b"p", password.encode() + b"\0"))
            elif code == 5:
                inner = hashlib.md5((password + user).encode()).hexdigest().encode()
                outer = "md5" + hashlib.md5(inner + payload[4:8]).hexdigest()
                wire.send(message(b"p", outer.encode() + b"\0"))
            elif code == 10:
                mechanisms = [m.decode() for m in payload[4:].split(b"\0") if m]
                try:
                    _scram_exchange(wire, password, mechanisms, timeout)
                except WireError as error:
                    error.login = result
                    raise
            else:
                raise AssertionError(f"unexpected authentication request {code}")
        elif kind == b"S":
            key, value = payload.split(b"\0")[:2]
            result.parameters[key.decode()] = value.decode()
        elif kind == b"K":
            result.backend_key = struct.unpack("!II", payload[:8])
        elif kind == b"N":
            result.notices.append(parse_error_fields(payload))
        elif kind == b"Z":
            return result
        else:
            raise AssertionError(f"unexpected message {kind!r} during login")


def wire_query(wire, text, timeout=10.0):
    """Runs a simple query; returns the rows as lists of str/None. WireError on error."""
    wire.send(query_message(text))
    rows, error = [], None
    while True:
        msg = wire.read_message(timeout)
        assert msg is not None, "server closed the connection during a query"
        kind, payload = msg
        if kind == b"D":
            rows.append(parse_data_row(payload))
        elif kind == b"E":
            error = WireError(parse_error_fields(payload))
        elif kind == b"Z":
            if error:
                raise error
            return rows


def read_error_or_close(wire, timeout=10.0):
    """After bad input: the ErrorResponse fields if the server answered with one (it must
    then close the connection), or None if it closed without answering. Anything else,
    or no close before the deadline, fails."""
    try:
        msg = wire.read_message(timeout)
    except (ConnectionResetError, BrokenPipeError):
        return None
    except TimeoutError:
        pytest.fail(f"the server neither answered nor closed the connection within {timeout:g}s")
    if msg is None:
        return None
    kind, payload = msg
    assert kind == b"E", f"expected an ErrorResponse or a close, got message {kind!r}"
    fields = parse_error_fields(payload)
    try:
        rest = wire.read_to_eof(timeout)
    except (ConnectionResetError, BrokenPipeError):
        rest = b""
    except TimeoutError:
        pytest.fail(f"the server sent {fields} but did not close the connection "
                    f"within {timeout:g}s")
    assert rest == b"", f"server sent more after its ErrorResponse: {rest[:100]!r}"
    return fields


# ---------------------------------------------------------------------------------------
# per-test deadline: a hung weir must fail its test, not the whole run


def pytest_configure(config):
    config.addinivalue_line("markers", "deadline(seconds): time limit for one test")


@pytest.fixture(autouse=True)
def _test_deadline(request):
    marker = request.node.get_closest_marker("deadline")
    seconds = int(marker.args[0]) if marker else int(DEFAULT_TEST_DEADLINE)

    def expired(signum, frame):
        pytest.fail(f"test still running after its deadline of {seconds}s", pytrace=True)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
