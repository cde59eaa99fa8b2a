# SPDX-License-Identifier: ISC
"""A scriptable fake PostgreSQL server, for tests of what weir does when a server behaves
in ways a real one will not (or not on demand): asks for a given authentication, sends a
wrong SCRAM signature or none, announces odd or huge ParameterStatus values.

Pure Python, one thread per connection, listening on 127.0.0.1 on a free port::

    from fakepg import FakePG, Script

    with FakePG(Script(auth="scram", password="s3cret", iterations=4096)) as fake:
        # point a [databases] entry at host=127.0.0.1 port={fake.port}
        ...
        session = fake.wait_for_sessions(1)[0]
        assert session.startup["user"] == "alice"
        assert session.authenticated

``FakePG(script)``
    ``script`` is a ``Script`` used for every connection, or a callable ``f(index)``
    returning the ``Script`` for the index-th connection (from 0). ``fake.script`` may be
    replaced while the server runs; new connections use the new one. ``fake.port`` is the
    port, ``fake.host`` "127.0.0.1". ``start()`` (done by the constructor unless
    ``start=False``) and ``stop()``; it is also a context manager.

``fake.sessions``
    One ``Session`` per accepted connection, in accept order. ``wait_for_sessions(n,
    timeout=10)`` waits until n exist and returns the list; ``wait_for(predicate,
    timeout=10)`` waits until ``predicate(fake)`` is true.

``Script`` fields (all optional)
    ``auth``: "ok" (AuthenticationOk at once), "cleartext", "md5", "scram" (SCRAM-SHA-256),
    or "error" (the ErrorResponse ``error`` instead of any authentication).
    ``password``: what cleartext, md5 and SCRAM must prove (default "secret"); with
    ``check_password=False`` any password or proof is accepted (SCRAM still signs with
    ``password``). A wrong one gets FATAL 28P01 and the connection is closed.
    ``salt`` (bytes) and ``iterations`` for SCRAM; the keys are derived once per (password,
    salt, iterations) in this process and cached; ``script.prepare()`` derives them ahead
    of time, which matters for large iteration counts.
    ``scram_fault``: None (a correct exchange), "ok_after_client_final" (AuthenticationOk
    right after the client-final, no SASLFinal), "bad_signature" (a SASLFinal whose
    signature is wrong, then AuthenticationOk), "ok_after_client_first" (AuthenticationOk
    instead of the SASLContinue).
    ``auth_delay``: seconds to wait after the startup packet before answering it.
    ``parameters``: the ParameterStatus messages after AuthenticationOk, a dict or a list
    of (name, value) pairs, any names, any sizes (default ``DEFAULT_PARAMETERS``).
    ``backend_key``: (pid, secret key) for BackendKeyData; None sends none.
    ``columns`` and ``rows``: the answer to every query that returns rows (SELECT, VALUES,
    SHOW, TABLE, WITH): one RowDescription of text columns and one DataRow per row (values
    are str or None). Other statements get CommandComplete with their tag ("SET",
    "DISCARD ALL"); an empty query gets EmptyQueryResponse. BEGIN/COMMIT/ROLLBACK move the
    transaction status that ReadyForQuery reports.
    ``on_message``: ``f(session, kind, payload)`` called for every message after login;
    it returns bytes to send (the built-in answer is then skipped) or None.
    ``error``: the fields of the ErrorResponse for auth="error" (default FATAL 28000).

The extended protocol gets minimal answers (ParseComplete, BindComplete, RowDescription or
NoData, rows, CommandComplete, CloseComplete, ReadyForQuery at Sync), enough for drivers'
plain queries.

``Session`` (what weir sent)
    ``startup``: the StartupMessage parameters (dict); ``protocol``: its version;
    ``ssl_requests``: SSLRequest/GSSENCRequest packets seen (each answered 'N');
    ``cancel``: (pid, key) of a CancelRequest, else None; ``passwords``: the payloads of
    cleartext/md5 PasswordMessages (str); ``sasl_mechanism``, ``sasl_client_first``,
    ``sasl_client_final`` (str or None); ``authenticated``: whether AuthenticationOk was
    sent; ``queries``: the simple and extended query texts; ``messages``: every typed
    message after the startup as (type byte, payload); ``error``: why the handler stopped
    early, if it did (a protocol problem or an exception), else None; ``closed``: a
    threading.Event set when the connection is over. ``sent(kind)`` counts messages of a
    type that the fake sent.

Helpers: ``scram_verifier(password, salt, iterations)`` returns the
``SCRAM-SHA-256$...`` verifier PostgreSQL would store; ``message(kind, payload)`` frames a
typed message; ``error_response(fields)`` builds one.
"""

import base64
import functools
import hashlib
import hmac
import os
import socket
import struct
import threading
import time

PROTOCOL_3_0 = 3 << 16
SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104
CANCEL_REQUEST_CODE = 80877102

AUTH_OK = 0
AUTH_CLEARTEXT = 3
AUTH_MD5 = 5
AUTH_SASL = 10
AUTH_SASL_CONTINUE = 11
AUTH_SASL_FINAL = 12

DEFAULT_PARAMETERS = [
    ("server_version", "15.99 (fakepg)"),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("TimeZone", "UTC"),
    ("IntervalStyle", "postgres"),
    ("integer_datetimes", "on"),
    ("standard_conforming_strings", "on"),
    ("is_superuser", "off"),
    ("application_name", ""),
]

ROW_COMMANDS = ("SELECT", "VALUES", "SHOW", "TABLE", "WITH")
SCRAM_FAULTS = (None, "ok_after_client_final", "bad_signature", "ok_after_client_first")


def message(kind, payload=b""):
    """A typed protocol message: kind (one byte) and the payload with its length."""
    return kind + struct.pack("!I", len(payload) + 4) + payload


def error_response(fields):
    """An ErrorResponse from a dict of field codes ('S', 'C', 'M', ...) to str."""
    body = b"".join(code.encode() + value.encode() + b"\0" for code, value in fields.items())
    return message(b"E", body + b"\0")


def _auth(code, data=b""):
    return message(b"R", struct.pack("!I", code) + data)


def _cstring(text):
    return text.encode() + b"\0"


@functools.lru_cache(maxsize=64)
def scram_keys(password, salt, iterations):
    """(StoredKey, ServerKey) for a password, as RFC 5802 derives them."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    return hashlib.sha256(client_key).digest(), server_key


def scram_verifier(password, salt, iterations):
    """The verifier PostgreSQL stores in pg_authid.rolpassword for these inputs."""
    stored, server = scram_keys(password, salt, iterations)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731 - three uses, one line
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored)}:{b64(server)}"


class Script:
    """How the fake answers one connection; see the module docstring for the fields."""

    def __init__(self, auth="ok", password="secret", check_password=True, salt=None,
                 iterations=4096, scram_fault=None, auth_delay=0.0, parameters=None,
                 backend_key=(4242, 123456789), columns=("?column?",), rows=(("1",),),
                 on_message=None, error=None):
        assert auth in ("ok", "cleartext", "md5", "scram", "error"), auth
        assert scram_fault in SCRAM_FAULTS, scram_fault
        self.auth = auth
        self.password = password
        self.check_password = check_password
        self.salt = salt if salt is not None else os.urandom(16)
        self.iterations = iterations
        self.scram_fault = scram_fault
        self.auth_delay = auth_delay
        params = DEFAULT_PARAMETERS if parameters is None else parameters
        self.parameters = list(params.items()) if isinstance(params, dict) else list(params)
        self.backend_key = backend_key
        self.columns = tuple(columns)
        self.rows = [list(r) for r in rows]
        self.on_message = on_message
        self.error = error or {"S": "FATAL", "V": "FATAL", "C": "28000",
                               "M": "fakepg refuses this login"}

    def prepare(self):
        """Derives the SCRAM keys now (cached), so that a login does not wait for them."""
        scram_keys(self.password, self.salt, self.iterations)
        return self


class Session:
    """What one connection to the fake carried; see the module docstring."""

    def __init__(self, index, peer):
        self.index = index
        self.peer = peer
        self.startup = {}
        self.protocol = None
        self.ssl_requests = 0
        self.cancel = None
        self.passwords = []
        self.sasl_mechanism = None
        self.sasl_client_first = None
        self.sasl_client_final = None
        self.authenticated = False
        self.queries = []
        self.messages = []
        self.error = None
        self.closed = threading.Event()
        self._sent = {}

    def sent(self, kind):
        """How many messages of type kind (bytes, e.g. b"S") the fake sent."""
        return self._sent.get(kind, 0)

    def __repr__(self):
        return (f"<Session {self.index} startup={self.startup} auth={self.authenticated} "
                f"error={self.error!r}>")


class _ProtocolEnd(Exception):
    """The conversation is over (the peer closed, or the script ended it)."""


class _Conn:
    """One connection: socket reads and writes, and the script's conversation."""

    def __init__(self, sock, session, script):
        self.sock = sock
        self.session = session
        self.script = script
        self.buf = b""
        self.tx_status = b"I"
        self.last_sql = ""  # the statement of the last Parse

    # -- I/O

    def recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise _ProtocolEnd("peer closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_untyped(self):
        (length,) = struct.unpack("!I", self.recv_exact(4))
        if not 8 <= length <= 10000:
            raise _ProtocolEnd(f"bad startup packet length {length}")
        return self.recv_exact(length - 4)

    def read_message(self):
        kind = self.recv_exact(1)
        (length,) = struct.unpack("!I", self.recv_exact(4))
        if length < 4 or length > 1 << 30:
            raise _ProtocolEnd(f"bad message length {length}")
        payload = self.recv_exact(length - 4)
        self.session.messages.append((kind, payload))
        return kind, payload

    def send(self, data):
        pos = 0
        while pos + 5 <= len(data):
            kind = data[pos:pos + 1]
            (length,) = struct.unpack("!I", data[pos + 1:pos + 5])
            self.session._sent[kind] = self.session._sent.get(kind, 0) + 1
            pos += 1 + length
        self.sock.sendall(data)

    def fatal(self, sqlstate, text):
        self.send(error_response({"S": "FATAL", "V": "FATAL", "C": sqlstate, "M": text}))
        raise _ProtocolEnd(text)

    # -- startup

    def startup(self):
        while True:
            body = self.read_untyped()
            (code,) = struct.unpack("!I", body[:4])
            if code in (SSL_REQUEST_CODE, GSSENC_REQUEST_CODE):
                self.session.ssl_requests += 1
                self.sock.sendall(b"N")
                continue
            if code == CANCEL_REQUEST_CODE:
                self.session.cancel = struct.unpack("!II", body[4:12])
                raise _ProtocolEnd("cancel request")
            self.session.protocol = code
            parts = body[4:].split(b"\0")
            for key, value in zip(parts[0::2], parts[1::2]):
                if key:
                    self.session.startup[key.decode()] = value.decode()
            return

    # -- authentication

    def expect(self, kind):
        got, payload = self.read_message()
        if got != kind:
            self.fatal("08P01", f"fakepg expected message {kind!r}, got {got!r}")
        return payload

    def authenticate(self):
        script = self.script
        if script.auth_delay:
            time.sleep(script.auth_delay)
        if script.auth == "error":
            self.send(error_response(script.error))
            raise _ProtocolEnd("scripted error")
        if script.auth == "cleartext":
            self.send(_auth(AUTH_CLEARTEXT))
            self.check_password(self.read_password(), script.password)
        elif script.auth == "md5":
            salt = os.urandom(4)
            self.send(_auth(AUTH_MD5, salt))
            user = self.session.startup.get("user", "")
            inner = hashlib.md5((script.password + user).encode()).hexdigest().encode()
            self.check_password(self.read_password(),
                                "md5" + hashlib.md5(inner + salt).hexdigest())
        elif script.auth == "scram":
            if not self.scram():
                return
        self.welcome()

    def read_password(self):
        payload = self.expect(b"p")
        text = payload.rstrip(b"\0").decode(errors="replace")
        self.session.passwords.append(text)
        return text

    def check_password(self, got, want):
        if self.script.check_password and got != want:
            self.fatal("28P01", "password authentication failed for user "
                       f"\"{self.session.startup.get('user', '')}\"")

    def scram(self):
        """The SCRAM-SHA-256 exchange; False when the script ends it with AuthenticationOk
        before the SASLContinue (the welcome was sent)."""
        script = self.script
        self.send(_auth(AUTH_SASL, b"SCRAM-SHA-256\0\0"))
        payload = self.expect(b"p")
        mech, _, rest = payload.partition(b"\0")
        self.session.sasl_mechanism = mech.decode()
        (n,) = struct.unpack("!i", rest[:4])
        first = rest[4:4 + n].decode()
        self.session.sasl_client_first = first
        if script.scram_fault == "ok_after_client_first":
            self.welcome()
            return False
        _flag, _authzid, bare = first.split(",", 2)
        attrs = dict(item.split("=", 1) for item in bare.split(","))
        nonce = attrs["r"] + base64.b64encode(os.urandom(18)).decode()
        server_first = (f"r={nonce},s={base64.b64encode(script.salt).decode()},"
                        f"i={script.iterations}")
        self.send(_auth(AUTH_SASL_CONTINUE, server_first.encode()))
        final = self.expect(b"p").decode()
        self.session.sasl_client_final = final
        if script.scram_fault == "ok_after_client_final":
            return True
        without_proof, _, proof = final.rpartition(",p=")
        auth_message = f"{bare},{server_first},{without_proof}".encode()
        stored, server_key = scram_keys(script.password, script.salt, script.iterations)
        if script.check_password and not self.proof_ok(stored, auth_message, proof):
            self.fatal("28P01", "password authentication failed for user "
                       f"\"{self.session.startup.get('user', '')}\"")
        signature = hmac.new(server_key, auth_message, "sha256").digest()
        if script.scram_fault == "bad_signature":
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        self.send(_auth(AUTH_SASL_FINAL, b"v=" + base64.b64encode(signature)))
        return True

    @staticmethod
    def proof_ok(stored, auth_message, proof_b64):
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except ValueError:
            return False
        signature = hmac.new(stored, auth_message, "sha256").digest()
        client_key = bytes(a ^ b for a, b in zip(proof, signature))
        return len(proof) == 32 and hashlib.sha256(client_key).digest() == stored

    def welcome(self):
        out = [_auth(AUTH_OK)]
        for name, value in self.script.parameters:
            out.append(message(b"S", _cstring(name) + _cstring(value)))
        if self.script.backend_key:
            out.append(message(b"K", struct.pack("!II", *self.script.backend_key)))
        out.append(message(b"Z", self.tx_status))
        self.session.authenticated = True
        self.send(b"".join(out))

    # -- queries

    def row_description(self):
        fields = b"".join(_cstring(name) + struct.pack("!IhIhih", 0, 0, 25, -1, -1, 0)
                          for name in self.script.columns)
        return message(b"T", struct.pack("!h", len(self.script.columns)) + fields)

    def data_rows(self):
        out = []
        for row in self.script.rows:
            cols = b""
            for value in row:
                if value is None:
                    cols += struct.pack("!i", -1)
                else:
                    data = str(value).encode()
                    cols += struct.pack("!i", len(data)) + data
            out.append(message(b"D", struct.pack("!h", len(row)) + cols))
        return b"".join(out)

    def command(self, sql):
        """(returns rows, command tag) for a statement."""
        words = sql.strip().rstrip(";").split()
        first = words[0].upper() if words else ""
        if first in ROW_COMMANDS:
            return True, f"SELECT {len(self.script.rows)}"
        if first in ("BEGIN", "START"):
            self.tx_status = b"T"
        elif first in ("COMMIT", "ROLLBACK", "END", "ABORT"):
            self.tx_status = b"I"
        if first == "DISCARD" and len(words) > 1:
            return False, f"DISCARD {words[1].upper()}"
        return False, first

    def simple_query(self, sql):
        self.session.queries.append(sql)
        if not sql.strip():
            return message(b"I") + message(b"Z", self.tx_status)
        rows, tag = self.command(sql)
        out = self.row_description() + self.data_rows() if rows else b""
        return out + message(b"C", _cstring(tag)) + message(b"Z", self.tx_status)

    def extended(self, kind, payload):
        if kind == b"P":
            sql = payload.split(b"\0")[1].decode(errors="replace")
            self.session.queries.append(sql)
            self.last_sql = sql
            return message(b"1")
        if kind == b"B":
            return message(b"2")
        if kind == b"D":
            rows, _ = self.command(self.last_sql)
            return self.row_description() if rows else message(b"n")
        if kind == b"E":
            rows, tag = self.command(self.last_sql)
            return (self.data_rows() if rows else b"") + message(b"C", _cstring(tag))
        if kind == b"C":
            return message(b"3")
        if kind == b"S":
            return message(b"Z", self.tx_status)
        return b""

    def serve(self):
        while True:
            kind, payload = self.read_message()
            if self.script.on_message:
                answer = self.script.on_message(self.session, kind, payload)
                if answer is not None:
                    self.send(answer)
                    continue
            if kind == b"X":
                raise _ProtocolEnd("terminate")
            if kind == b"Q":
                self.send(self.simple_query(payload.rstrip(b"\0").decode(errors="replace")))
            else:
                answer = self.extended(kind, payload)
                if answer:
                    self.send(answer)

    def run(self):
        self.startup()
        self.authenticate()
        if self.session.authenticated:
            self.serve()


class FakePG:
    """The server: an accept thread and one thread per connection. See the module
    docstring."""

    def __init__(self, script=None, start=True):
        self.script = script if script is not None else Script()
        self.host = "127.0.0.1"
        self.sessions = []
        self._lock = threading.Lock()
        self._threads = []
        self._socks = []
        self._stopping = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.host, 0))
        self.port = self._listener.getsockname()[1]
        self._accepter = None
        if start:
            self.start()

    def start(self):
        self._listener.listen(128)
        self._listener.settimeout(0.1)
        self._accepter = threading.Thread(target=self._accept_loop, daemon=True,
                                          name=f"fakepg-{self.port}")
        self._accepter.start()
        return self

    def _script_for(self, index):
        script = self.script
        return script(index) if callable(script) else script

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                sock, peer = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.settimeout(None)
            with self._lock:
                session = Session(len(self.sessions), peer)
                self.sessions.append(session)
                self._socks.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock, session), daemon=True,
                                      name=f"fakepg-{self.port}-{session.index}")
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock, session):
        try:
            _Conn(sock, session, self._script_for(session.index)).run()
        except _ProtocolEnd as end:
            if str(end) not in ("peer closed", "terminate", "cancel request"):
                session.error = str(end)
        except OSError as exc:
            if not self._stopping.is_set():
                session.error = f"socket error: {exc!r}"
        except Exception as exc:  # noqa: BLE001 - recorded for the test to see
            session.error = f"fakepg handler failed: {exc!r}"
        finally:
            try:
                sock.close()
            except OSError:
                pass
            session.closed.set()

    def wait_for(self, predicate, timeout=10.0):
        """Waits until predicate(self) is true; AssertionError after timeout seconds."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() >= deadline:
                raise AssertionError(f"fakepg: condition not met within {timeout:g}s; "
                                     f"sessions: {self.sessions}")
            time.sleep(0.02)

    def wait_for_sessions(self, n, timeout=10.0):
        """The sessions, once at least n connections were accepted."""
        self.wait_for(lambda fake: len(fake.sessions) >= n, timeout)
        return list(self.sessions)

    def stop(self):
        self._stopping.set()
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._accepter:
            self._accepter.join(5)
        for thread in self._threads:
            thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
