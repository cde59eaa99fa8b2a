# SPDX-License-Identifier: ISC
"""Helpers for the transaction-pooling driver tests (test_tx_*.py).

- Locating the drivers: asyncpg (Debian python3-asyncpg), pgjdbc
  (/usr/share/java/postgresql.jar), javac/java, node and node-postgres in js/node_modules.
  When one is missing, tools/install-test-deps is run once; if it is still missing the
  test fails (it is not skipped: a missing driver is a broken test setup).
- Running an external program (pgbench, node, java) under a deadline, killing its whole
  process group when the deadline passes.
- Running blocking client code under deadlines in threads, and cutting a client's socket
  (what a killed client process looks like to weir).
- A small extended-protocol client on top of conftest's PgWire: Parse/Bind/Describe/
  Execute/Close/Sync and a reader that collects everything up to ReadyForQuery.
- Config and pg_stat_activity helpers shared by the tests.
"""

import functools
import importlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import (PgWire, message, parse_data_row, parse_error_fields, wait_until,
                      wire_login)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
JS_DIR = HERE / "js"
JAVA_DIR = HERE / "java"
JDBC_JAR = Path("/usr/share/java/postgresql.jar")
INSTALL_SCRIPT = REPO / "tools" / "install-test-deps"

# ---------------------------------------------------------------------------------------
# drivers


@functools.lru_cache(maxsize=None)
def _install_test_deps():
    """Runs tools/install-test-deps once per session; returns (ok, output)."""
    if os.geteuid() != 0:
        return False, "not root: cannot run tools/install-test-deps"
    try:
        proc = subprocess.run([str(INSTALL_SCRIPT)], capture_output=True, text=True,
                              timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, repr(exc)
    return proc.returncode == 0, proc.stdout + proc.stderr


def _ensure(check, what):
    """check() is true once the dependency is there; runs the install script if not."""
    if check():
        return
    ok, output = _install_test_deps()
    if not check():
        pytest.fail(f"{what} is missing and tools/install-test-deps did not provide it "
                    f"(status ok={ok})\n{output}")


def asyncpg_module():
    def check():
        importlib.invalidate_caches()  # it may have been installed a moment ago
        try:
            importlib.import_module("asyncpg")
            return True
        except ImportError:
            return False

    _ensure(check, "asyncpg (python3-asyncpg)")
    return importlib.import_module("asyncpg")


def node_bin():
    _ensure(lambda: shutil.which("node") and (JS_DIR / "node_modules" / "pg").is_dir(),
            f"node with node-postgres in {JS_DIR}/node_modules")
    return shutil.which("node")


def java_tools():
    """(javac, java) paths, with pgjdbc present."""
    _ensure(lambda: shutil.which("javac") and shutil.which("java") and JDBC_JAR.is_file(),
            f"javac/java and pgjdbc ({JDBC_JAR})")
    return shutil.which("javac"), shutil.which("java")


# ---------------------------------------------------------------------------------------
# external programs


def run_program(args, timeout, what, cwd=None, env=None, diagnose=None):
    """Runs a program to completion within timeout seconds; returns CompletedProcess with
    text stdout/stderr. Past the deadline diagnose() (if given) is called for a text to
    add to the report, the program's process group is killed, and the test fails with
    what it printed so far."""
    proc = subprocess.Popen([str(a) for a in args], cwd=cwd, env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
        extra = ""
        if diagnose is not None:
            try:
                extra = f"\n--- state at the deadline ---\n{diagnose()}"
            except Exception as exc:  # noqa: BLE001 - diagnostics only
                extra = f"\n--- state at the deadline: unavailable ({exc!r}) ---"
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
    if timed_out:
        pytest.fail(f"{what} still running after {timeout:g}s (killed){extra}\n"
                    f"--- stdout ---\n{out[-8000:]}\n--- stderr ---\n{err[-8000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def last_json_line(text, what):
    """The JSON object on the last line of text that holds one."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                break
    raise AssertionError(f"{what} printed no JSON result:\n{text[-8000:]}")


# ---------------------------------------------------------------------------------------
# blocking client code under deadlines


class Deadline(AssertionError):
    pass


def call_with_deadline(fn, timeout, what, on_timeout=None):
    """Runs fn() in a thread; returns its result or re-raises its exception. If it has not
    finished after timeout seconds, calls on_timeout() (e.g. to cut the client's socket so
    the thread ends) and raises Deadline."""
    box = {}

    def run():
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True, name=f"deadline: {what}")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        if on_timeout is not None:
            on_timeout()
            thread.join(5)
        raise Deadline(f"{what}: not done after {timeout:g}s")
    if "error" in box:
        raise box["error"]
    return box.get("result")


class Background:
    """fn() running in a thread: .wait(timeout) returns its result or raises its error;
    .done() says whether it has finished."""

    def __init__(self, fn, what):
        self.what = what
        self.box = {}
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True,
                                       name=f"background: {what}")
        self.started = time.monotonic()
        self.finished = None
        self.thread.start()

    def _run(self, fn):
        try:
            self.box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to .wait()
            self.box["error"] = exc
        self.finished = time.monotonic()

    def done(self):
        return not self.thread.is_alive()

    def wait(self, timeout):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise Deadline(f"{self.what}: not done after {timeout:g}s")
        if "error" in self.box:
            raise self.box["error"]
        return self.box.get("result")


def run_concurrently(fns, timeout, what, on_timeout=None):
    """Runs every fn in its own thread at once; returns their results in order. Fails if
    any raised (reporting the first errors in the order they happened) or if not all
    finished within timeout seconds. As soon as one worker fails, or at the deadline,
    on_timeout() is called (e.g. to cut every client socket) so that workers left waiting
    on a server held by the failed one end at once."""
    results = [None] * len(fns)
    errors = []
    lock = threading.Lock()
    failed = threading.Event()
    start = threading.Barrier(len(fns) + 1)

    def run(i, fn):
        try:
            start.wait(30)
            results[i] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append((i, exc))
            failed.set()

    threads = [threading.Thread(target=run, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    start.wait(30)
    deadline = time.monotonic() + timeout
    while any(t.is_alive() for t in threads) and not failed.is_set():
        if time.monotonic() >= deadline:
            break
        failed.wait(0.05)
    stuck = [i for i, t in enumerate(threads) if t.is_alive()]
    first_errors = list(errors)
    if stuck and on_timeout is not None:
        on_timeout()
        for t in threads:
            t.join(5)
    if first_errors:
        detail = "\n".join(f"  worker {i}: {exc!r}" for i, exc in first_errors[:5])
        raise AssertionError(f"{what}: {len(first_errors)} of {len(fns)} workers failed "
                             f"({len(stuck)} still running then):\n{detail}") \
            from first_errors[0][1]
    if stuck:
        raise Deadline(f"{what}: {len(stuck)} of {len(fns)} workers not done after "
                       f"{timeout:g}s")
    return results


def cut_socket(fd):
    """Shuts a socket down (both ways) through a duplicate of its descriptor: the peer sees
    the connection end as if the process had been killed, and a thread blocked on it
    wakes up."""
    try:
        s = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        s.close()


def cut_psycopg(conn):
    """Cuts a psycopg connection's socket (see cut_socket); safe on a closed one."""
    try:
        fd = conn.pgconn.socket
    except Exception:  # noqa: BLE001 - already closed
        return
    cut_socket(fd)


class ClientSet:
    """Tracks client connections (psycopg or PgWire) so that a test can cut them all when
    a deadline passes or when it ends, whatever state they are in."""

    def __init__(self):
        self.items = []

    def add(self, conn):
        self.items.append(conn)
        return conn

    def cut_all(self):
        for conn in self.items:
            if isinstance(conn, PgWire):
                if conn.sock.fileno() >= 0:
                    cut_socket(conn.sock.fileno())
            else:
                cut_psycopg(conn)

    def close_all(self):
        self.cut_all()
        for conn in self.items:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
        self.items.clear()


@pytest.fixture
def clients():
    """A ClientSet whose connections are cut and closed when the test ends."""
    cs = ClientSet()
    yield cs
    cs.close_all()


# ---------------------------------------------------------------------------------------
# extended protocol


def _cstr(text):
    return (text.encode() if isinstance(text, str) else text) + b"\0"


def parse_msg(name, query, param_oids=()):
    payload = _cstr(name) + _cstr(query) + struct.pack("!H", len(param_oids))
    payload += b"".join(struct.pack("!I", oid) for oid in param_oids)
    return message(b"P", payload)


def bind_msg(stmt, params=(), portal="", result_formats=()):
    """Bind with text-format parameters (str, bytes or None)."""
    payload = _cstr(portal) + _cstr(stmt) + struct.pack("!H", 0)
    payload += struct.pack("!H", len(params))
    for value in params:
        if value is None:
            payload += struct.pack("!i", -1)
        else:
            data = value.encode() if isinstance(value, str) else value
            payload += struct.pack("!i", len(data)) + data
    payload += struct.pack("!H", len(result_formats))
    payload += b"".join(struct.pack("!H", f) for f in result_formats)
    return message(b"B", payload)


def describe_msg(kind, name):
    return message(b"D", kind + _cstr(name))


def execute_msg(portal="", max_rows=0):
    return message(b"E", _cstr(portal) + struct.pack("!I", max_rows))


def close_msg(kind, name):
    return message(b"C", kind + _cstr(name))


def sync_msg():
    return message(b"S")


def flush_msg():
    return message(b"H")


class Reply:
    """Everything the server sent up to and including ReadyForQuery."""

    def __init__(self):
        self.kinds = []       # message type bytes in order
        self.rows = []        # DataRow values (str/None)
        self.errors = []      # ErrorResponse field dicts
        self.notices = []     # NoticeResponse field dicts
        self.tags = []        # CommandComplete tags
        self.status = None    # ReadyForQuery transaction status ('I', 'T', 'E')

    @property
    def error(self):
        return self.errors[0] if self.errors else None

    def __repr__(self):
        return (f"Reply(kinds={b''.join(self.kinds)!r}, rows={self.rows[:5]!r}, "
                f"errors={self.errors!r}, tags={self.tags!r}, status={self.status!r})")


def read_reply(wire, timeout=10.0):
    """Reads messages until ReadyForQuery. AssertionError if the server closes first."""
    reply = Reply()
    deadline = time.monotonic() + timeout
    while True:
        msg = wire.read_message(max(0.01, deadline - time.monotonic()))
        assert msg is not None, f"server closed the connection; got so far: {reply!r}"
        kind, payload = msg
        reply.kinds.append(kind)
        if kind == b"D":
            reply.rows.append(parse_data_row(payload))
        elif kind == b"E":
            reply.errors.append(parse_error_fields(payload))
        elif kind == b"N":
            reply.notices.append(parse_error_fields(payload))
        elif kind == b"C":
            reply.tags.append(payload.rstrip(b"\0").decode())
        elif kind == b"Z":
            reply.status = payload.decode()
            return reply


def extended(wire, *msgs, timeout=10.0):
    """Sends the messages followed by Sync and returns the Reply."""
    wire.send(b"".join(msgs) + sync_msg())
    return read_reply(wire, timeout)


def simple(wire, text, timeout=10.0):
    """Runs a simple query and returns the Reply (errors are in it, not raised)."""
    wire.send(message(b"Q", _cstr(text)))
    return read_reply(wire, timeout)


def wire_connect(inst, user="scram_user", password=None, database="app", timeout=10.0,
                 extra=None):
    """A logged-in PgWire to weir (or to anything with .port and .pg)."""
    if password is None:
        password = inst.pg.passwords.get(user)
    wire = PgWire(inst.port, timeout=timeout)
    try:
        wire.login = wire_login(wire, user, password, database, extra=extra, timeout=timeout)
    except BaseException:
        wire.close()
        raise
    return wire


def read_fatal_then_close(wire, timeout):
    """Waits up to timeout seconds for an ErrorResponse (possibly after notices) and then
    EOF; returns (error fields, seconds waited). Fails if the server sends anything
    else, closes without an error, or stays silent."""
    start = time.monotonic()
    deadline = start + timeout
    notices = []
    while True:
        try:
            msg = wire.read_message(max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            raise AssertionError(f"no ErrorResponse within {timeout:g}s") from None
        except ConnectionResetError:
            msg = None
        if msg is None:
            raise AssertionError("connection closed without an ErrorResponse "
                                 f"(notices: {notices})")
        kind, payload = msg
        if kind == b"N":
            notices.append(parse_error_fields(payload))
            continue
        assert kind == b"E", f"expected an ErrorResponse, got {kind!r} {payload[:200]!r}"
        waited = time.monotonic() - start
        fields = parse_error_fields(payload)
        try:
            rest = wire.read_to_eof(5)
        except ConnectionResetError:
            rest = b""
        except TimeoutError:
            raise AssertionError(f"after {fields} the connection stayed open") from None
        assert rest == b"", f"more data after the ErrorResponse: {rest[:200]!r}"
        return fields, waited


# ---------------------------------------------------------------------------------------
# configuration and PostgreSQL-side checks


def tx_config(pg, dbname, pool_size, mode="transaction", weir_extra=None, db_extra=""):
    """A weir config dict: a database entry named like the PostgreSQL database dbname
    (so the same client code can run against PostgreSQL directly), the given pool mode
    and pool size, room for 400 clients."""
    weir_keys = {"pool_mode": mode, "default_pool_size": pool_size, "max_client_conn": 400}
    weir_keys.update(weir_extra or {})
    entry = f"host=127.0.0.1 port={pg.port} dbname={dbname}"
    if db_extra:
        entry += " " + db_extra
    return {"weir": weir_keys, "databases": {dbname: entry}}


def start_tx_weir(pg, weir, pool, prefix, **weir_extra):
    """A new database named prefix_<random> and a weir in transaction pooling in front of
    it (tx_config); returns (database, weir instance)."""
    db = pg.create_database(prefix)
    return db, weir(tx_config(pg, db, pool, weir_extra=weir_extra))


QUEUED_NOTICE = "No server connection available in postgres backend, client being queued"


def assert_pooler_fatal(fields, reason):
    """weir's own FATAL for a timeout or limit: SQLSTATE 08P01 with the reason as text."""
    assert fields.get("M") == reason, fields
    assert fields.get("S") == "FATAL", fields
    assert fields.get("C") == "08P01", fields


def activity(pg, user, dbname, where="TRUE"):
    """Rows (pid, state, query) of the role's client backends in dbname; `where` is SQL
    (no % signs: the query has parameters)."""
    return pg.sql("SELECT pid, state, query FROM pg_stat_activity "
                  "WHERE backend_type = 'client backend' AND usename = %s AND datname = %s "
                  f"AND ({where}) ORDER BY pid", (user, dbname))


def sleeping_backends(pg, user, dbname):
    return activity(pg, user, dbname, "state = 'active' AND strpos(query, 'pg_sleep') > 0")


def wait_for_sleeping(pg, user, dbname, timeout=10.0):
    """Waits until a backend of the role runs pg_sleep; returns its rows."""
    return wait_until(lambda: sleeping_backends(pg, user, dbname), timeout,
                      f"a pg_sleep query of {user} running in {dbname}")


def wait_for_log(inst, text, timeout=10.0):
    """Waits until weir's log holds text; returns the log."""
    try:
        return wait_until(lambda: text in inst.log() and inst.log(), timeout,
                          f"{text!r} in weir's log")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- weir log (tail) ---\n{inst.log()[-4000:]}") from None
